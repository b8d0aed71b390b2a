package bpf

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// FileID names a file the way the kernel does: device and inode. Paths
// come and go (rename, unlink); the identity stays.
type FileID struct{ Dev, Ino uint64 }

const (
	modeType = 0o170000
	modeReg  = 0o100000
	atFDCWD  = -100
)

// Observed is one output the tracker concluded: a regular file written in
// scope that still exists, with the files it was made from.
type Observed struct {
	Path       string   // where the output is now
	Inputs     []string // regular files it was made from (outputs of the same run included)
	Program    string   // the executable of its (last) writer, when known
	UID        uint32
	Incomplete bool // the capture missed something that may concern it
}

// Tracker keeps the process table and file table that capture events
// describe and turns them into lineage: which files each process had read
// (itself, or its ancestors before forking it) when it wrote a file.
// Temporary files and pipes are not outputs: what was written into them
// carries through to whoever reads them.
type Tracker struct {
	procs map[uint32]*proc
	files map[FileID]*file
	// byPath finds the file a path names now (renames and unlinks name
	// paths); written holds the files with writers, what Finish scans.
	byPath  map[string]FileID
	written map[FileID]bool
	pruned  time.Time
	// Resolve makes an event's path absolute for process pid; the default
	// reads /proc/PID/cwd and /proc/PID/fd/DIRFD.
	Resolve func(pid uint32, dirfd int32, path string) string
	// Ignore reports inputs that are not worth a lineage edge: the
	// system's own files (libraries, locale data, /proc …).
	Ignore func(path string) bool
	lost   bool
}

type proc struct {
	pid     uint32
	parent  uint32
	inputs  map[FileID]bool // files (and pipes) read by it or inherited
	order   []FileID        // the same, in the order first read
	program string
	uid     uint32
	exited  bool
	// inScope: the process did something in scope itself. The parent of a
	// scoped child may be outside (bonsai run starts the command into its
	// cgroup), and its exit will never be seen.
	inScope bool
	cwd     string
	// snap holds, per written file, the window of order read between the
	// previous close and this one: two numbers, so a close costs nothing
	// however much was read (cp of thousands of files closes thousands).
	snap map[FileID][2]int
	// lastClose is len(order) at the process's last close of a file it
	// wrote: what it read since is what its next output is made from.
	lastClose int
}

type file struct {
	id      FileID
	path    string
	mode    uint32
	writers []uint32
	removed bool
}

// NewTracker returns an empty tracker with the default path resolution and
// system-file filter.
func NewTracker() *Tracker {
	t := &Tracker{procs: map[uint32]*proc{}, files: map[FileID]*file{}, Ignore: SystemPath,
		byPath: map[string]FileID{}, written: map[FileID]bool{}}
	t.Resolve = t.procResolve
	return t
}

// SystemPath reports paths that belong to the system rather than to the
// work being traced: programs and libraries, configuration, kernel files.
func SystemPath(p string) bool {
	for _, pre := range []string{"/usr/", "/lib/", "/lib64/", "/bin/", "/sbin/", "/etc/", "/proc/", "/sys/", "/dev/", "/run/", "/var/cache/", "/var/lib/"} {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

func (t *Tracker) procResolve(pid uint32, dirfd int32, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	base := ""
	if dirfd == atFDCWD {
		base, _ = os.Readlink("/proc/" + strconv.Itoa(int(pid)) + "/cwd")
		if pr := t.procs[pid]; pr != nil {
			if base != "" {
				pr.cwd = base // remembered for after the process is gone
			} else {
				base = pr.cwd
			}
		}
	} else {
		base, _ = os.Readlink("/proc/" + strconv.Itoa(int(pid)) + "/fd/" + strconv.Itoa(int(dirfd)))
	}
	if base == "" {
		return ""
	}
	return filepath.Join(base, p)
}

func (t *Tracker) proc(pid uint32) *proc {
	p := t.procs[pid]
	if p == nil {
		p = &proc{pid: pid, inputs: map[FileID]bool{}, snap: map[FileID][2]int{}, inScope: true}
		t.procs[pid] = p
	}
	return p
}

func (t *Tracker) file(id FileID, mode uint32) *file {
	f := t.files[id]
	if f == nil {
		f = &file{id: id}
		t.files[id] = f
	}
	if mode != 0 {
		f.mode = mode
	}
	return f
}

func (t *Tracker) at(path string) *file {
	if path == "" {
		return nil
	}
	id, ok := t.byPath[path]
	if !ok {
		return nil
	}
	return t.files[id]
}

func (t *Tracker) setPath(f *file, path string) {
	if f.path != "" && t.byPath[f.path] == f.id {
		delete(t.byPath, f.path)
	}
	f.path, f.removed = path, false
	t.byPath[path] = f.id
}

func (t *Tracker) unlinkPath(f *file) {
	if t.byPath[f.path] == f.id {
		delete(t.byPath, f.path)
	}
	f.removed = true
}

// MarkLost records that the capture lost events: every output is then
// reported incomplete.
func (t *Tracker) MarkLost() { t.lost = true }

// Handle applies one event.
func (t *Tracker) Handle(ev Event) {
	switch ev.Kind {
	case KindFork:
		_, known := t.procs[ev.PID]
		parent := t.proc(ev.PID)
		if !known {
			// A parent first seen forking is outside the scope (bonsai
			// run itself) and alive: its cwd is the child's fallback.
			parent.inScope = false
			parent.cwd, _ = os.Readlink("/proc/" + strconv.Itoa(int(ev.PID)) + "/cwd")
		}
		child := t.proc(ev.Child)
		child.inScope = true
		// Read the cwd while the process surely lives (it may be gone by
		// the time its relative paths are resolved); the parent's is the
		// fallback, as a child starts where its parent is.
		if cwd, err := os.Readlink("/proc/" + strconv.Itoa(int(ev.Child)) + "/cwd"); err == nil {
			child.cwd = cwd
		} else if parent.cwd != "" {
			child.cwd = parent.cwd
		}
		child.parent = ev.PID
		child.program = parent.program
		child.uid = parent.uid
		for _, in := range parent.order {
			child.read(in)
		}
	case KindExec:
		p := t.proc(ev.PID)
		// Again at exec: a child started with a working directory of its
		// own changes to it between fork and exec.
		if cwd, err := os.Readlink("/proc/" + strconv.Itoa(int(ev.PID)) + "/cwd"); err == nil {
			p.cwd = cwd
		}
		p.program = t.Resolve(ev.PID, atFDCWD, ev.Path)
		if st, err := os.Stat("/proc/" + strconv.Itoa(int(ev.PID))); err == nil {
			if u, ok := statUID(st); ok {
				p.uid = u
			}
		}
	case KindExit:
		p := t.proc(ev.PID)
		p.exited = true
	case KindOpen:
		f := t.file(FileID{ev.Dev, ev.Ino}, ev.Mode)
		if path := t.Resolve(ev.PID, ev.Dirfd, ev.Path); path != "" {
			t.setPath(f, path)
		}
	case KindRead:
		p := t.proc(ev.PID)
		t.file(FileID{ev.Dev, ev.Ino}, ev.Mode)
		p.read(FileID{ev.Dev, ev.Ino})
	case KindWrite, KindTruncate:
		if ev.Kind == KindTruncate && ev.Ino == 0 {
			return // truncate(path) without an inode: the open that follows tells
		}
		f := t.file(FileID{ev.Dev, ev.Ino}, ev.Mode)
		if !slices.Contains(f.writers, ev.PID) {
			f.writers = append(f.writers, ev.PID)
		}
		t.written[f.id] = true
		t.proc(ev.PID)
	case KindClose:
		p := t.proc(ev.PID)
		id := FileID{ev.Dev, ev.Ino}
		if _, again := p.snap[id]; !again {
			p.snap[id] = [2]int{p.lastClose, len(p.order)}
			p.lastClose = len(p.order)
		}
	case KindRename:
		from := t.Resolve(ev.PID, ev.Dirfd, ev.Path)
		to := t.Resolve(ev.PID, ev.Dirfd2, ev.Path2)
		if to == "" {
			return
		}
		if f := t.at(to); f != nil {
			t.unlinkPath(f) // replaced by the rename
		}
		if f := t.at(from); f != nil && from != "" {
			t.setPath(f, to)
		}
	case KindUnlink:
		if f := t.at(t.Resolve(ev.PID, ev.Dirfd, ev.Path)); f != nil {
			t.unlinkPath(f)
		}
	}
}

// Live reports whether any tracked process has not exited.
func (t *Tracker) Live() int {
	n := 0
	for _, p := range t.procs {
		if p.inScope && !p.exited {
			n++
		}
	}
	return n
}

// isOutput: a regular file written in scope that still exists.
func (t *Tracker) isOutput(f *file) bool {
	if len(f.writers) == 0 || f.removed || f.path == "" {
		return false
	}
	if f.mode != 0 && f.mode&modeType != modeReg {
		return false
	}
	st, err := os.Stat(f.path)
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	// The path must still name this file. Only the inode is compared:
	// the kernel's s_dev and stat's st_dev encode devices differently.
	if id, ok := statID(st); ok && id.Ino != f.id.Ino {
		return false
	}
	return true
}

// Unnamed counts regular files written in scope, never unlinked, that the
// tracker cannot find by path: the process that opened them was gone (or
// had moved) before its relative path could be resolved. Their lineage is
// lost, and a run that has any must not pass for complete.
func (t *Tracker) Unnamed() int {
	n := 0
	for id := range t.written {
		f := t.files[id]
		if f == nil || f.removed || len(f.writers) == 0 || (f.mode != 0 && f.mode&modeType != modeReg) {
			continue
		}
		if !t.isOutput(f) && (f.path == "" || !exists(f.path)) {
			n++
		}
	}
	return n
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// inputsOf is what writer w had read when it closed f (or at the end, if
// it never closed it).
//
// A process that writes one output after another (cp of many files, a
// converter in a loop) made each from what it read since its previous
// output; when it read nothing new in between (split, tee), the output
// comes from everything read so far.
func (p *proc) inputsOf(f FileID) []FileID {
	w, ok := p.snap[f]
	if !ok {
		w = [2]int{p.lastClose, len(p.order)}
	}
	if w[1] > w[0] {
		return p.order[w[0]:w[1]]
	}
	return p.order[:w[1]]
}

func (p *proc) read(id FileID) {
	if !p.inputs[id] {
		p.inputs[id] = true
		p.order = append(p.order, id)
	}
}

// Outputs concludes the run: one Observed per output, inputs resolved
// through temporary files and pipes to the files they came from.
func (t *Tracker) Outputs() []Observed {
	var outs []Observed
	for id := range t.written {
		f := t.files[id]
		if f == nil || !t.isOutput(f) {
			continue
		}
		o := Observed{Path: f.path, Incomplete: t.lost}
		seen := map[FileID]bool{f.id: true}
		ins := map[string]bool{}
		for _, w := range f.writers {
			p := t.procs[w]
			if p == nil {
				continue
			}
			if p.program != "" {
				o.Program = p.program
			}
			o.UID = p.uid
			t.collect(p.inputsOf(f.id), seen, ins)
		}
		for in := range ins {
			o.Inputs = append(o.Inputs, in)
		}
		slices.Sort(o.Inputs)
		outs = append(outs, o)
	}
	slices.SortFunc(outs, func(a, b Observed) int { return strings.Compare(a.Path, b.Path) })
	return outs
}

// collect adds to ins the files behind the given inputs: an output or a
// file not written in scope stands for itself; a temporary file or a pipe
// stands for what its writers had read.
func (t *Tracker) collect(inputs []FileID, seen map[FileID]bool, ins map[string]bool) {
	for _, id := range inputs {
		if seen[id] {
			continue
		}
		seen[id] = true
		f := t.files[id]
		if f == nil {
			continue
		}
		regular := f.mode == 0 || f.mode&modeType == modeReg
		switch {
		case regular && len(f.writers) == 0:
			if f.path != "" && !f.removed && !t.Ignore(f.path) {
				ins[f.path] = true
			}
		case regular && t.isOutput(f):
			ins[f.path] = true
		default: // a pipe, a socket, or a temporary file gone by now
			for _, w := range f.writers {
				if p := t.procs[w]; p != nil {
					t.collect(p.inputsOf(id), seen, ins)
				}
			}
		}
	}
}

// Finish is for continuous capture: it concludes the outputs under the
// given directories whose writers have all exited, forgets their writers
// (so a file is reported again only when written again), and drops the
// processes and files nothing refers to any more, so the tables do not
// grow with the machine's uptime.
func (t *Tracker) Finish(dirs []string) []Observed {
	var ready []*file
	for id := range t.written {
		f := t.files[id]
		if f == nil || len(f.writers) == 0 {
			continue
		}
		done := true
		for _, w := range f.writers {
			if p := t.procs[w]; p != nil && !p.exited {
				done = false
			}
		}
		if !done {
			continue
		}
		switch {
		case !under(f.path, dirs):
			// Written elsewhere and finished with: as an input later it
			// stands for itself either way, so its writers need not be
			// kept (pipes keep theirs: readers may still drain them).
			if f.mode == 0 || f.mode&modeType == modeReg {
				f.writers = nil
				delete(t.written, id)
			}
		case t.isOutput(f):
			ready = append(ready, f)
		}
	}
	var outs []Observed
	if len(ready) > 0 {
		for _, o := range t.Outputs() {
			for _, f := range ready {
				if f.path == o.Path {
					outs = append(outs, o)
				}
			}
		}
		for _, f := range ready {
			f.writers = nil
			delete(t.written, f.id)
		}
		t.lost = false
	}
	// Pruning walks both tables: at most once a second on a busy machine.
	if now := time.Now(); len(ready) > 0 || now.Sub(t.pruned) > time.Second {
		t.pruned = now
		t.prune()
	}
	return outs
}

func under(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// prune drops exited processes no file names as a writer, and files that
// no process has written and no live process has read.
func (t *Tracker) prune() {
	writers := map[uint32]bool{}
	for _, f := range t.files {
		for _, w := range f.writers {
			writers[w] = true
		}
	}
	read := map[FileID]bool{}
	for pid, p := range t.procs {
		if p.exited && !writers[pid] {
			delete(t.procs, pid)
			continue
		}
		for in := range p.inputs {
			read[in] = true
		}
	}
	for id, f := range t.files {
		if len(f.writers) == 0 && !read[id] {
			if t.byPath[f.path] == id {
				delete(t.byPath, f.path)
			}
			delete(t.files, id)
			delete(t.written, id)
		}
	}
}

// Size is the number of processes and files the tracker holds.
func (t *Tracker) Size() (procs, files int) { return len(t.procs), len(t.files) }
