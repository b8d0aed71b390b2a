package bpf

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// A scripted run: the tracker is pure bookkeeping over events, so these
// tests feed it the events the kernel program emits for real commands (the
// capture tests check those events against real processes) with files that
// really exist, since outputs are confirmed on disk.
type script struct {
	t   *testing.T
	dir string
	tr  *Tracker
}

func newScript(t *testing.T) *script {
	dir := t.TempDir()
	tr := NewTracker()
	tr.Resolve = func(_ uint32, _ int32, p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	return &script{t: t, dir: dir, tr: tr}
}

// file writes name and returns its identity.
func (s *script) file(name, body string) FileID {
	s.t.Helper()
	p := filepath.Join(s.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		s.t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		s.t.Fatal(err)
	}
	return FileID{Dev: 1, Ino: st.Sys().(*syscall.Stat_t).Ino}
}

func (s *script) ev(e Event) { s.tr.Handle(e) }

func (s *script) open(pid uint32, name string, id FileID) {
	s.ev(Event{Kind: KindOpen, PID: pid, Path: name, Dirfd: -100, Dev: id.Dev, Ino: id.Ino, Mode: 0o100644})
}
func (s *script) read(pid uint32, id FileID, mode uint32) {
	s.ev(Event{Kind: KindRead, PID: pid, Dev: id.Dev, Ino: id.Ino, Mode: mode})
}
func (s *script) write(pid uint32, id FileID, mode uint32) {
	s.ev(Event{Kind: KindWrite, PID: pid, Dev: id.Dev, Ino: id.Ino, Mode: mode})
}
func (s *script) close(pid uint32, id FileID) {
	s.ev(Event{Kind: KindClose, PID: pid, Dev: id.Dev, Ino: id.Ino})
}
func (s *script) fork(parent, child uint32) { s.ev(Event{Kind: KindFork, PID: parent, Child: child}) }
func (s *script) exit(pid uint32)           { s.ev(Event{Kind: KindExit, PID: pid}) }

// edges renders outputs as "out<-in1,in2" with base names.
func (s *script) edges() []string {
	var out []string
	for _, o := range s.tr.Outputs() {
		var ins []string
		for _, in := range o.Inputs {
			ins = append(ins, filepath.Base(in))
		}
		e := filepath.Base(o.Path) + "<-"
		for i, in := range ins {
			if i > 0 {
				e += ","
			}
			e += in
		}
		out = append(out, e)
	}
	return out
}

const reg, fifo = 0o100644, 0o010600

func TestTrackerShellPipeline(t *testing.T) {
	// sh -c 'sort a > b; cat b c > d; tr a-z A-Z < d > e'
	s := newScript(t)
	a, b, c, d, e := s.file("a", "x"), s.file("b", "x"), s.file("c", "y"), s.file("d", "xy"), s.file("e", "XY")
	s.fork(10, 11)
	s.open(11, "b", b)
	s.open(11, "a", a)
	s.read(11, a, reg)
	s.write(11, b, reg)
	s.close(11, b)
	s.exit(11)
	s.fork(10, 12)
	s.open(12, "d", d)
	s.open(12, "b", b)
	s.read(12, b, reg)
	s.open(12, "c", c)
	s.read(12, c, reg)
	s.write(12, d, reg)
	s.close(12, d)
	s.exit(12)
	s.fork(10, 13)
	s.open(13, "d", d)
	s.open(13, "e", e)
	s.read(13, d, reg)
	s.write(13, e, reg)
	s.close(13, e)
	s.exit(13)
	s.exit(10)
	want := []string{"b<-a", "d<-b,c", "e<-d"}
	if got := s.edges(); !slices.Equal(got, want) {
		t.Errorf("edges = %v, want %v", got, want)
	}
}

func TestTrackerPipe(t *testing.T) {
	// cat a | sort > f
	s := newScript(t)
	a, f := s.file("a", "x"), s.file("f", "x")
	pipe := FileID{Dev: 9, Ino: 4242}
	s.fork(1, 2)
	s.open(2, "a", a)
	s.read(2, a, reg)
	s.write(2, pipe, fifo)
	s.exit(2)
	s.fork(1, 3)
	s.open(3, "f", f)
	s.read(3, pipe, fifo)
	s.write(3, f, reg)
	s.close(3, f)
	s.exit(3)
	if got, want := s.edges(), []string{"f<-a"}; !slices.Equal(got, want) {
		t.Errorf("edges = %v, want %v", got, want)
	}
}

func TestTrackerRenameAndTemporaries(t *testing.T) {
	// cp a t && mv t g ; and a compiler: main.c -> x.s -> x.o (+ util.o) -> prog, temps unlinked
	s := newScript(t)
	a := s.file("a", "x")
	tmp := s.file("t", "x")
	s.open(5, "a", a)
	s.read(5, a, reg)
	s.open(5, "t", tmp)
	s.write(5, tmp, reg)
	s.close(5, tmp)
	s.exit(5)
	if err := os.Rename(filepath.Join(s.dir, "t"), filepath.Join(s.dir, "g")); err != nil {
		t.Fatal(err)
	}
	s.ev(Event{Kind: KindRename, PID: 6, Path: "t", Path2: "g", Dirfd: -100, Dirfd2: -100})

	main, util := s.file("main.c", "int main(){}"), s.file("util.c", "int u;")
	xs, xo, uo, prog := s.file("x.s", "asm"), s.file("x.o", "obj"), s.file("u.o", "obj2"), s.file("prog", "elf")
	s.fork(100, 101) // cc1 main.c -> x.s
	s.open(101, "main.c", main)
	s.read(101, main, reg)
	s.open(101, "x.s", xs)
	s.write(101, xs, reg)
	s.close(101, xs)
	s.exit(101)
	s.fork(100, 102) // as x.s -> x.o
	s.open(102, "x.s", xs)
	s.read(102, xs, reg)
	s.open(102, "x.o", xo)
	s.write(102, xo, reg)
	s.close(102, xo)
	s.exit(102)
	s.fork(100, 103) // cc1+as util.c -> u.o
	s.open(103, "util.c", util)
	s.read(103, util, reg)
	s.open(103, "u.o", uo)
	s.write(103, uo, reg)
	s.close(103, uo)
	s.exit(103)
	s.fork(100, 104) // ld x.o u.o -> prog
	s.open(104, "x.o", xo)
	s.read(104, xo, reg)
	s.open(104, "u.o", uo)
	s.read(104, uo, reg)
	s.open(104, "prog", prog)
	s.write(104, prog, reg)
	s.close(104, prog)
	s.exit(104)
	for _, tmpf := range []string{"x.s", "x.o", "u.o"} {
		if err := os.Remove(filepath.Join(s.dir, tmpf)); err != nil {
			t.Fatal(err)
		}
		s.ev(Event{Kind: KindUnlink, PID: 100, Path: tmpf, Dirfd: -100})
	}
	s.exit(100)
	want := []string{"g<-a", "prog<-main.c,util.c"}
	if got := s.edges(); !slices.Equal(got, want) {
		t.Errorf("edges = %v, want %v", got, want)
	}
}

func TestTrackerInheritanceAndLoss(t *testing.T) {
	// A parent reads a, then forks a child that writes o: o <- a. A child
	// forked before the read inherits nothing.
	s := newScript(t)
	a, o, early := s.file("a", "x"), s.file("o", "y"), s.file("early", "z")
	s.fork(1, 2)
	s.open(1, "a", a)
	s.read(1, a, reg)
	s.fork(1, 3)
	s.open(3, "o", o)
	s.write(3, o, reg)
	s.close(3, o)
	s.open(2, "early", early)
	s.write(2, early, reg)
	s.close(2, early)
	s.tr.MarkLost()
	got := s.tr.Outputs()
	if e := s.edges(); !slices.Equal(e, []string{"early<-", "o<-a"}) {
		t.Errorf("edges = %v, want [early<- o<-a]", e)
	}
	for _, o := range got {
		if !o.Incomplete {
			t.Errorf("%s: Incomplete = false after lost events, want true", o.Path)
		}
	}
}

// TestTrackerLiveIgnoresOutsideParent: the parent of the first scoped
// process is not in scope; only the processes of the run count as live.
func TestTrackerLiveIgnoresOutsideParent(t *testing.T) {
	s := newScript(t)
	s.fork(1, 2) // 1 is bonsai itself, outside the cgroup
	if got := s.tr.Live(); got != 1 {
		t.Fatalf("Live = %d, want 1", got)
	}
	s.exit(2)
	if got := s.tr.Live(); got != 0 {
		t.Errorf("Live after the run's process exited = %d, want 0", got)
	}
}

func TestTrackerFinish(t *testing.T) {
	s := newScript(t)
	a, o := s.file("a", "x"), s.file("o", "y")
	s.fork(1, 2)
	s.open(2, "a", a)
	s.read(2, a, reg)
	s.open(2, "o", o)
	s.write(2, o, reg)
	s.close(2, o)
	if got := s.tr.Finish([]string{s.dir}); len(got) != 0 {
		t.Fatalf("Finish while the writer runs = %v, want nothing", got)
	}
	s.exit(2)
	got := s.tr.Finish([]string{s.dir})
	if len(got) != 1 || filepath.Base(got[0].Path) != "o" || len(got[0].Inputs) != 1 {
		t.Fatalf("Finish after exit = %+v, want o<-a", got)
	}
	if again := s.tr.Finish([]string{s.dir}); len(again) != 0 {
		t.Errorf("second Finish = %v, want nothing (reported once)", again)
	}
	// Left: the parent, still running; the exited writer and both files
	// are gone.
	if procs, files := s.tr.Size(); procs != 1 || files != 0 {
		t.Errorf("after Finish the tables hold %d procs, %d files; want 1 (the live parent), 0", procs, files)
	}
}

func TestTrackerFinishOutsideWatch(t *testing.T) {
	s := newScript(t)
	o := s.file("o", "y")
	s.open(2, "o", o)
	s.write(2, o, reg)
	s.exit(2)
	if got := s.tr.Finish([]string{"/elsewhere"}); len(got) != 0 {
		t.Fatalf("Finish outside the watched dirs = %v, want nothing", got)
	}
	if procs, files := s.tr.Size(); procs != 0 || files != 0 {
		t.Errorf("tables after finishing an unwatched write: %d procs, %d files; want 0, 0", procs, files)
	}
}

func TestTrackerUnnamed(t *testing.T) {
	s := newScript(t)
	o := s.file("o", "y")
	s.write(2, o, reg) // never opened by a path the tracker could resolve
	s.exit(2)
	if got := s.tr.Unnamed(); got != 1 {
		t.Errorf("Unnamed = %d, want 1", got)
	}
}

// TestTrackerSequentialOutputs: cp a b dst/ makes dst/a from a and dst/b
// from b; split-like output after no new read comes from all read so far.
func TestTrackerSequentialOutputs(t *testing.T) {
	s := newScript(t)
	a, b, da, db := s.file("a", "1"), s.file("b", "2"), s.file("da", "1"), s.file("db", "2")
	s.open(5, "a", a)
	s.open(5, "b", b)
	for _, step := range []struct {
		in, out FileID
		name    string
	}{{a, da, "da"}, {b, db, "db"}} {
		s.read(5, step.in, reg)
		s.open(5, step.name, step.out)
		s.write(5, step.out, reg)
		s.close(5, step.out)
	}
	x, y := s.file("x", "3"), s.file("y", "4")
	s.read(6, a, reg)
	for _, o := range []struct {
		id   FileID
		name string
	}{{x, "x"}, {y, "y"}} {
		s.open(6, o.name, o.id)
		s.write(6, o.id, reg)
		s.close(6, o.id)
	}
	want := []string{"da<-a", "db<-b", "x<-a", "y<-a"}
	if got := s.edges(); !slices.Equal(got, want) {
		t.Errorf("edges = %v, want %v", got, want)
	}
}
