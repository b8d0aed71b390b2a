package bpf

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/golden"
)

// The tracker is pure bookkeeping over events, so its tests are scripts of
// the events the kernel program emits, kept in testdata/tracker/*.txt with
// the edges they must give (go test -update rewrites the expectations).
// The capture tests check those events against real processes, and the
// run tests (package cli) the whole against real builds.
//
// Script lines (PID is a number; NAME a path relative to the run's
// directory, or a pipe when it starts with "|"):
//
//	fork PID CHILD        exec PID PROGRAM      exit PID
//	(a PID "N@S" is pid N started at S: the same pid, another process)
//	create PID NAME [ino=N] [gen=G]   an open that created NAME
//	read PID NAME [deleted] [cut] [as=OLD]   first read (deleted: nlink 0;
//	write PID NAME [deleted] [cut] [as=OLD]    cut: the kernel cut the path;
//	                                           as: the file OLD named)
//	truncate PID NAME
//	(the kernel reports a process's Write of a file again after it read
//	a new file: write the same file twice to say so)
//	rename PID OLD NEW [exchange]     unlink PID NAME
//	lost PID KIND...      the kernel lost events of PID (Capture.Lost)
//	lostall               losses not charged to any process
//	running               processes still alive at the end (MarkRunning)
//	finish DIR            continuous capture: Finish([DIR]), printed
//
// Output: one line per output, "OUT <- IN IN ..." (and " (incomplete)"),
// then one line per gap: "gap WHAT [pid N] [path P] -> OUT ...".
type script struct {
	t    *testing.T
	dir  string
	tr   *Tracker
	fs   map[string]FileID // what each path names now
	last map[string]FileID // what each path named last (for deleted reads)
	ino  uint64
	out  []string
}

func newScript(t *testing.T) *script {
	s := &script{t: t, dir: "/src", fs: map[string]FileID{}, last: map[string]FileID{}, ino: 100}
	s.tr = NewTracker()
	s.tr.Exists = func(p string) (uint64, bool) {
		id, ok := s.fs[p]
		return id.Ino, ok && !strings.Contains(p, "|")
	}
	return s
}

func (s *script) abs(name string) string {
	if strings.HasPrefix(name, "|") || path.IsAbs(name) {
		return name
	}
	return path.Join(s.dir, name)
}

func (s *script) rel(p string) string {
	if r, err := filepath.Rel(s.dir, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// pid parses "N" (started at 1000*N) or "N@S" (a reused pid N started at S).
func pid(s string) ProcID {
	n, start, reused := strings.Cut(s, "@")
	v, err := strconv.ParseUint(n, 10, 32)
	if err != nil {
		panic(fmt.Sprintf("bad pid %q", s))
	}
	id := ProcID{PID: uint32(v), Start: 1000 * v}
	if reused {
		if id.Start, err = strconv.ParseUint(start, 10, 64); err != nil {
			panic(fmt.Sprintf("bad pid %q", s))
		}
	}
	return id
}

// fileEvent builds the event of verb on name, giving name an identity the
// first time it is seen (a file that existed before the run).
func (s *script) fileEvent(k Kind, proc ProcID, name string, opts []string) Event {
	p := s.abs(name)
	ev := Event{Kind: k, Proc: proc, Mode: modeReg | 0o644, Nlink: 1, Path: p}
	if strings.HasPrefix(name, "|") {
		ev.Mode, ev.Path = 0o010600, ""
	}
	var ino uint64
	var gen *uint32
	deleted := false
	for _, o := range opts {
		switch {
		case o == "deleted":
			deleted = true
		case o == "cut":
			ev.Flags |= FlagCut
			ev.Path = ""
		case strings.HasPrefix(o, "ino="):
			ino, _ = strconv.ParseUint(o[4:], 10, 64)
		case strings.HasPrefix(o, "as="):
			// The file another path named, now named by this one (moved
			// by a process the capture did not see).
			other := s.abs(o[3:])
			asID, known := s.fs[other]
			if !known {
				s.t.Fatalf("as=%s: no such file", o[3:])
			}
			delete(s.fs, other)
			s.fs[p] = asID
		case strings.HasPrefix(o, "gen="):
			g, _ := strconv.ParseUint(o[4:], 10, 32)
			g32 := uint32(g)
			gen = &g32
		default:
			s.t.Fatalf("unknown option %q", o)
		}
	}
	id, ok := s.fs[p]
	switch {
	case deleted:
		id, ev.Nlink = s.last[p], 0
	case ino != 0:
		id = FileID{Dev: 1, Ino: ino, Gen: uint32(ino*7919 + 1)}
	case !ok || k == KindCreate:
		s.ino++
		id = FileID{Dev: 1, Ino: s.ino, Gen: uint32(s.ino * 7919)}
	}
	if gen != nil {
		id.Gen = *gen
	}
	if k == KindCreate {
		ev.Flags |= FlagCreated
	}
	if ev.Nlink > 0 {
		s.fs[p], s.last[p] = id, id
	}
	ev.File = id
	return ev
}

func (s *script) line(l string) {
	f := strings.Fields(l)
	switch f[0] {
	case "fork":
		s.tr.Handle(&Event{Kind: KindFork, Proc: pid(f[1]), Child: pid(f[2])})
	case "exec":
		s.tr.Handle(&Event{Kind: KindExec, Proc: pid(f[1]), Path: f[2]})
	case "exit":
		s.tr.Handle(&Event{Kind: KindExit, Proc: pid(f[1])})
	case "create", "read", "write", "truncate":
		k := map[string]Kind{"create": KindCreate, "read": KindRead, "write": KindWrite, "truncate": KindTruncate}[f[0]]
		ev := s.fileEvent(k, pid(f[1]), f[2], f[3:])
		s.tr.Handle(&ev)
	case "rename":
		from, to := s.abs(f[2]), s.abs(f[3])
		ev := Event{Kind: KindRename, Proc: pid(f[1]), Path: from, Path2: to}
		if len(f) > 4 && f[4] == "exchange" {
			ev.Arg = renameExchange
			s.fs[from], s.fs[to] = s.fs[to], s.fs[from]
		} else {
			for p, id := range s.fs {
				if p == from || strings.HasPrefix(p, from+"/") {
					s.fs[to+p[len(from):]] = id
					delete(s.fs, p)
				}
			}
		}
		s.tr.Handle(&ev)
	case "unlink":
		p := s.abs(f[2])
		delete(s.fs, p)
		s.tr.Handle(&Event{Kind: KindUnlink, Proc: pid(f[1]), Path: p})
	case "lost":
		var ks []Kind
		for _, name := range f[2:] {
			i := slices.Index(kindNames[:], name)
			if i < 1 {
				s.t.Fatalf("unknown kind %q", name)
			}
			ks = append(ks, Kind(i))
		}
		s.tr.MarkProcLost(pid(f[1]), ks)
	case "lostall":
		s.tr.MarkLost("lost events not charged to a process")
	case "running":
		s.tr.MarkRunning()
	case "finish":
		s.print(s.tr.Finish([]string{s.abs(f[1])}), "finish: ")
	default:
		s.t.Fatalf("unknown script line %q", l)
	}
}

func (s *script) print(r Result, prefix string) {
	for _, o := range r.Outputs {
		var ins []string
		for _, in := range o.Inputs {
			ins = append(ins, s.rel(in))
		}
		l := prefix + s.rel(o.Path) + " <-"
		if len(ins) > 0 {
			l += " " + strings.Join(ins, " ")
		}
		if o.Incomplete {
			l += " (incomplete)"
		}
		s.out = append(s.out, l)
	}
	for _, g := range r.Gaps {
		l := prefix + "gap " + g.What
		if g.Proc.PID != 0 {
			l += fmt.Sprintf(" [pid %d]", g.Proc.PID)
		}
		if g.Path != "" {
			l += " [path " + s.rel(g.Path) + "]"
		}
		l += " ->"
		for _, o := range g.Outputs {
			l += " " + s.rel(o)
		}
		s.out = append(s.out, l)
	}
}

func TestTrackerScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/tracker/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no tracker scripts: %v", err)
	}
	for _, file := range files {
		cases := golden.ReadCases(t, file)
		got := make([][]string, len(cases))
		for i, c := range cases {
			t.Run(filepath.Base(file)+"/"+c.Name, func(t *testing.T) {
				s := newScript(t)
				finished := false
				for _, l := range c.Input {
					s.line(l)
					finished = finished || strings.HasPrefix(l, "finish")
				}
				if !finished {
					s.print(s.tr.Conclude(), "")
				}
				got[i] = s.out
				if !golden.Updating() && !slices.Equal(s.out, c.Want) {
					t.Errorf("%s:%d: case %s:\ngot:\n  %s\nwant:\n  %s", file, c.Line, c.Name,
						strings.Join(s.out, "\n  "), strings.Join(c.Want, "\n  "))
				}
			})
		}
		if golden.Updating() {
			golden.WriteCases(t, file, cases, got)
		}
	}
}

// TestTrackerLiveIgnoresOutsideParent: the parent of the first scoped
// process is not in scope; only the processes of the run count as live.
func TestTrackerLiveIgnoresOutsideParent(t *testing.T) {
	s := newScript(t)
	s.line("fork 1 2") // 1 is bonsai itself, outside the cgroup
	if got := s.tr.Live(); got != 1 {
		t.Fatalf("Live = %d, want 1", got)
	}
	s.line("exit 2")
	if got := s.tr.Live(); got != 0 {
		t.Errorf("Live after the run's process exited = %d, want 0", got)
	}
}

// TestTrackerFinishPrunes: continuous capture forgets what it concluded,
// so its tables do not grow with the machine's uptime.
func TestTrackerFinishPrunes(t *testing.T) {
	s := newScript(t)
	for _, l := range []string{"fork 1 2", "read 2 a", "write 2 o", "exit 2", "write 3 /elsewhere/x", "exit 3"} {
		s.line(l)
	}
	if r := s.tr.Finish([]string{s.dir}); len(r.Outputs) != 1 {
		t.Fatalf("Finish = %+v, want o", r)
	}
	// Left: the parent, still running; the exited writers and all files
	// are gone.
	if procs, files := s.tr.Size(); procs != 1 || files != 0 {
		t.Errorf("after Finish the tables hold %d procs, %d files; want 1 (the live parent), 0", procs, files)
	}
}
