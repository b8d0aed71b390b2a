package bpf

import (
	"os"
	"slices"
	"strings"
	"time"
)

const (
	modeType    = 0o170000
	modeReg     = 0o100000
	atRemoveDir = 0x200
	// renameExchange is renameat2's RENAME_EXCHANGE.
	renameExchange = 0x2
)

// Observed is one output the tracker concluded: a regular file written in
// scope that still exists, with the files it was made from.
type Observed struct {
	Path       string   // where the output is now
	Inputs     []string // regular files it was made from (outputs of the same run included)
	Program    string   // the executable of its (last) writer, when known
	UID        uint32
	Incomplete bool // a gap (see Gap) may concern it
}

// Gap is something the capture missed, with the outputs it may concern.
type Gap struct {
	// What went missing, in a phrase ("lost read events", ...).
	What string
	// Proc is the process it concerns (zero when it concerns a file),
	// and Program that process's executable when known.
	Proc    ProcID
	Program string
	// Path is the file it concerns, when known.
	Path string
	// Outputs are the outputs it made incomplete (possibly none).
	Outputs []string
}

// Result is what a conclusion found: the outputs, and every gap not
// reported before.
type Result struct {
	Outputs []Observed
	Gaps    []Gap
}

// Tracker keeps the process table and file table that capture events
// describe and turns them into lineage: which files each process had read
// (itself, or its ancestors before forking it) when it wrote a file.
// Temporary files and pipes are not outputs: what was written into them
// carries through to whoever reads them.
//
// Identities are the kernel's: a process is a ProcID, a file one life of
// an inode (FileID). A Create of an identity the tracker already holds
// starts a new life; the old one keeps its readers and writers, so a
// deleted temporary file and the next file given its inode never mix.
type Tracker struct {
	procs map[ProcID]*proc
	files map[FileID]*file // the current life of each identity
	// byPath finds the file a path names now (renames and unlinks name
	// paths); written holds the files with writers, what conclusions scan.
	byPath  map[string]*file
	written map[*file]struct{}
	pruned  time.Time
	// Ignore reports inputs that are not worth a lineage edge: the
	// system's own files (libraries, locale data, /proc …).
	Ignore func(path string) bool
	// Exists reports the inode number of the regular file at path, if
	// there is one: an output must still be where the tracker saw it
	// (the default asks the file system).
	Exists func(path string) (ino uint64, ok bool)
	// gaps are what the capture missed, in the order found; those in
	// global concern every output.
	gaps   []*gapSource
	global []*gapSource
	// notOutputs are files that are never outputs (by dev and inode): the
	// run's own standard output and error, which bonsai writes to itself.
	notOutputs map[[2]uint64]bool
	// Counts for the run's summary.
	events    [len(kindNames)]uint64
	processes int
	cut       int
}

type proc struct {
	id     ProcID
	parent *proc
	// inh is how many reads the process inherited: the first inh entries
	// of its history are its parent's history at the fork. Its own reads
	// follow, in order.
	inh     int
	order   []*file
	program string
	uid     uint32
	exited  bool
	// inScope: the process did something in scope itself. The parent of a
	// scoped child may be outside (bonsai run starts the command into its
	// cgroup), and its exit will never be seen.
	inScope bool
	// snap holds, per written file, the windows of its history read
	// before each Write of it (each since its previous Write of any file):
	// two numbers a Write, however much was read.
	snap map[*file][][2]int
	// lastWrite is the length of its history at its last Write: what it
	// read since is what its next output is made from.
	lastWrite int
	// gap: what the capture missed about this process (nil: nothing).
	gap *gapSource
}

type file struct {
	id      FileID
	path    string
	mode    uint32
	writers []*proc
	// removed: no path names this life of the file any more (unlinked,
	// replaced by a rename, or superseded by a new life of its inode).
	removed bool
	// gap: its path is unknown, or it was gone before it could be hashed.
	gap *gapSource
}

// gapSource is one thing the capture missed. inherit: it also concerns
// what the process's descendants inherited from it.
type gapSource struct {
	what     string
	proc     *proc
	file     *file
	inherit  bool
	outputs  []string
	reported bool
	resolved bool // what was missing was learned after all
}

// NewTracker returns an empty tracker with the default system-file filter.
func NewTracker() *Tracker {
	return &Tracker{procs: map[ProcID]*proc{}, files: map[FileID]*file{}, Ignore: SystemPath,
		Exists: regularIno, byPath: map[string]*file{}, written: map[*file]struct{}{}}
}

// regularIno stats path: the inode number of a regular file.
func regularIno(path string) (uint64, bool) {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return 0, false
	}
	id, ok := statID(st)
	return id.Ino, ok
}

// SystemPrefixes are where the system's own files live (programs and
// libraries, configuration, kernel files): a file under one, unless
// written in scope, is not an input worth a lineage edge. At most 16, each
// at most 16 bytes (the kernel program compares them).
var SystemPrefixes = []string{"/usr/", "/lib/", "/lib64/", "/bin/", "/sbin/", "/etc/", "/proc/", "/sys/", "/dev/", "/run/", "/var/cache/", "/var/lib/"}

// SystemPath reports paths under SystemPrefixes.
func SystemPath(p string) bool {
	for _, pre := range SystemPrefixes {
		if strings.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

func (t *Tracker) proc(id ProcID) *proc {
	p := t.procs[id]
	if p == nil {
		p = &proc{id: id, inScope: true}
		t.procs[id] = p
		t.processes++
	}
	return p
}

func isRegular(mode uint32) bool { return mode == 0 || mode&modeType == modeReg }

// file returns the current life of the identity the event names,
// starting a new one when the event shows the inode was given anew.
func (t *Tracker) file(ev *Event) *file {
	f := t.files[ev.File]
	fresh := f == nil || ev.Flags&FlagCreated != 0 ||
		// On a file system without generations, a life the tracker saw
		// end that shows up linked again is the inode given to a new
		// file (created outside the scope).
		(ev.File.Gen == 0 && f.removed && ev.Nlink > 0)
	if fresh {
		if f != nil {
			t.retire(f)
		}
		f = &file{id: ev.File}
		t.files[ev.File] = f
	}
	if ev.Mode != 0 {
		f.mode = ev.Mode
	}
	t.name(f, ev)
	return f
}

// name takes the path an event gives for f.
func (t *Tracker) name(f *file, ev *Event) {
	switch {
	case !isRegular(f.mode):
		// Pipes and sockets have no path.
	case ev.Flags&FlagCut != 0:
		if f.path == "" && f.gap == nil {
			f.gap = t.gap(&gapSource{what: "path not resolved (cut in the kernel)", file: f})
		}
		return
	case ev.Nlink == 0:
		// Deleted while still open: its old name names nothing now.
		t.unlinkPath(f)
		if f.path == "" {
			f.path = ev.Path // for reports only
		}
	case ev.Path != "" && (f.path != ev.Path || t.byPath[ev.Path] != f):
		t.setPath(f, ev.Path)
	}
	if f.gap != nil && f.path != "" && !f.removed && !f.gap.reported {
		f.gap.resolved, f.gap = true, nil // named after all
	}
}

func (t *Tracker) retire(f *file) {
	t.unlinkPath(f)
	delete(t.files, f.id)
}

func (t *Tracker) setPath(f *file, path string) {
	if f.path != "" && t.byPath[f.path] == f {
		delete(t.byPath, f.path)
	}
	if old := t.byPath[path]; old != nil && old != f {
		old.removed = true // the path names another file now
	}
	f.path, f.removed = path, false
	t.byPath[path] = f
}

func (t *Tracker) unlinkPath(f *file) {
	if f.path != "" && t.byPath[f.path] == f {
		delete(t.byPath, f.path)
	}
	f.removed = true
}

// gap registers a gap source.
func (t *Tracker) gap(g *gapSource) *gapSource {
	t.gaps = append(t.gaps, g)
	return g
}

// NotOutput says the file with device dev (stat's encoding) and inode ino
// is not an output, whoever writes it: `bonsai run` passes its standard
// output and error, which it writes to after recording.
func (t *Tracker) NotOutput(dev, ino uint64) {
	if t.notOutputs == nil {
		t.notOutputs = map[[2]uint64]bool{}
	}
	t.notOutputs[[2]uint64{dev, ino}] = true
}

// MarkLost records that the capture missed something it cannot charge to
// a process: every output is then reported incomplete.
func (t *Tracker) MarkLost(what string) {
	t.global = append(t.global, t.gap(&gapSource{what: what}))
}

// MarkProcLost records that the capture lost events of kinds ks of a
// process (see Capture.Lost). Lost reads, forks and execs concern what
// the process and its descendants made; lost exits nothing made (the
// process is taken as exited); lost events of the file table (creates,
// writes, renames, unlinks, truncates) could concern any file, and so
// every output.
func (t *Tracker) MarkProcLost(id ProcID, ks []Kind) {
	p := t.proc(id)
	var inherit, table bool
	var names []string
	for _, k := range ks {
		names = append(names, k.String())
		switch k {
		case KindRead, KindFork, KindExec:
			inherit = true
		case KindExit:
			p.exited = true
		default:
			table = true
		}
	}
	g := &gapSource{what: "lost " + strings.Join(names, ", ") + " events", proc: p, inherit: inherit}
	switch {
	case table:
		t.global = append(t.global, t.gap(g))
	case inherit:
		if p.gap == nil || !p.gap.inherit {
			p.gap = t.gap(g)
		}
	default:
		t.gap(g) // reported, concerning nothing made
	}
}

// MarkRunning records that processes of the run were still alive when it
// was concluded: what they wrote may not be final.
func (t *Tracker) MarkRunning() {
	for _, p := range t.procs {
		if p.inScope && !p.exited && p.gap == nil {
			p.gap = t.gap(&gapSource{what: "still running when the run ended", proc: p})
		}
	}
}

// Handle applies one event.
func (t *Tracker) Handle(ev *Event) {
	if int(ev.Kind) < len(t.events) {
		t.events[ev.Kind]++
	}
	if ev.Flags&(FlagCut|FlagUnread) != 0 {
		t.cut++
	}
	switch ev.Kind {
	case KindFork:
		parent, known := t.procs[ev.Proc]
		if !known {
			// A parent first seen forking is outside the scope (bonsai
			// run itself): nothing of it is known.
			parent = t.proc(ev.Proc)
			parent.inScope = false
		}
		child := t.proc(ev.Child)
		child.parent = parent
		child.inh = parent.inh + len(parent.order)
		child.program = parent.program
		child.uid = parent.uid
	case KindExec:
		p := t.proc(ev.Proc)
		p.program = ev.Path
		if ev.Flags&FlagCut != 0 {
			p.program = ""
		}
		p.uid = ev.UID
	case KindExit:
		t.proc(ev.Proc).exited = true
	case KindCreate:
		t.file(ev)
	case KindRead:
		p := t.proc(ev.Proc)
		p.order = append(p.order, t.file(ev))
	case KindWrite, KindTruncate:
		f := t.file(ev)
		p := t.proc(ev.Proc)
		if !slices.Contains(f.writers, p) {
			f.writers = append(f.writers, p)
		}
		t.written[f] = struct{}{}
		if p.snap == nil {
			p.snap = map[*file][][2]int{}
		}
		n := p.len()
		p.snap[f] = append(p.snap[f], [2]int{p.lastWrite, n})
		p.lastWrite = n
	case KindRename:
		t.rename(ev)
	case KindUnlink:
		if ev.Arg&atRemoveDir != 0 {
			return
		}
		if f := t.byPath[ev.Path]; f != nil && ev.Path != "" {
			t.unlinkPath(f)
		}
	}
}

func (t *Tracker) rename(ev *Event) {
	from, to := ev.Path, ev.Path2
	f := t.byPath[from]
	if from == "" {
		f = nil
	}
	if to == "" {
		if f != nil {
			// Moved where the kernel could not name: its path is lost.
			t.unlinkPath(f)
			f.gap = t.gap(&gapSource{what: "renamed to a path not resolved", file: f})
		}
		return
	}
	g := t.byPath[to]
	if ev.Arg&renameExchange != 0 {
		if g != nil {
			t.setPath(g, from)
		}
		if f != nil {
			t.setPath(f, to)
		}
		return
	}
	if g != nil && g != f {
		t.unlinkPath(g) // replaced by the rename
	}
	if f != nil {
		t.setPath(f, to)
		return
	}
	// Not a file the tracker knows: a directory moves what is under it.
	// (A scan, but only for renames of what nobody in scope wrote.)
	pre := from + "/"
	var moved []*file
	for p, h := range t.byPath {
		if strings.HasPrefix(p, pre) {
			moved = append(moved, h)
		}
	}
	for _, h := range moved {
		t.setPath(h, to+"/"+h.path[len(pre):])
	}
}

// len is the length of the process's history: inherited reads, then own.
func (p *proc) len() int { return p.inh + len(p.order) }

// each calls fn for the entries a..b-1 of the process's history.
func (p *proc) each(a, b int, fn func(*file)) {
	for p != nil && a < b {
		if b > p.inh {
			lo := max(a, p.inh)
			for _, f := range p.order[lo-p.inh : b-p.inh] {
				fn(f)
			}
			b = lo
		}
		p = p.parent // positions below inh are the parent's at the fork
	}
}

// windows are the parts of its history p made f from: for each Write of
// f, what it read since its previous Write of any file (a process that
// writes one output after another, like cp of many files, made each from
// what it read in between), or, when it read nothing new in between
// (split, tee), everything read so far.
func (p *proc) windows(f *file) [][2]int {
	ws := p.snap[f]
	if len(ws) == 0 {
		ws = [][2]int{{0, p.len()}}
	}
	out := make([][2]int, len(ws))
	for i, w := range ws {
		if w[1] <= w[0] {
			w[0] = 0
		}
		out[i] = w
	}
	return out
}

// eachInput calls fn for every entry of p's history that f was made from.
func (p *proc) eachInput(f *file, fn func(*file)) {
	for _, w := range p.windows(f) {
		p.each(w[0], w[1], fn)
	}
}

// Live reports how many processes in the capture's scope have not exited
// (processes tracked outside the scope are not counted).
func (t *Tracker) Live() int {
	n := 0
	for _, p := range t.procs {
		if p.inScope && !p.exited {
			n++
		}
	}
	return n
}

// Conclude concludes every output of the run so far, with the gaps not
// reported before.
func (t *Tracker) Conclude() Result {
	var fs []*file
	for f := range t.written {
		fs = append(fs, f)
	}
	return t.conclude(fs)
}

// conclusion memoizes, for one conclusion, which files are outputs.
type conclusion struct {
	t     *Tracker
	isOut map[*file]bool
}

// isOutput: a regular file written in scope that its path still names.
func (c *conclusion) isOutput(f *file) bool {
	if v, ok := c.isOut[f]; ok {
		return v
	}
	v := c.check(f)
	c.isOut[f] = v
	return v
}

func (c *conclusion) check(f *file) bool {
	if len(f.writers) == 0 || f.removed || f.path == "" || f.gap != nil || !isRegular(f.mode) || c.t.byPath[f.path] != f ||
		c.t.notOutputs[[2]uint64{f.id.Dev, f.id.Ino}] {
		return false
	}
	// Only the inode is compared: the kernel's s_dev and stat's st_dev
	// differ on some file systems (btrfs subvolumes).
	ino, ok := c.t.Exists(f.path)
	return ok && ino == f.id.Ino
}

func (t *Tracker) conclude(fs []*file) Result {
	return t.concludeWith(&conclusion{t: t, isOut: map[*file]bool{}}, fs)
}

func (t *Tracker) concludeWith(c *conclusion, fs []*file) Result {
	var outs []*file
	for _, f := range fs {
		if c.isOutput(f) {
			outs = append(outs, f)
		}
	}
	slices.SortFunc(outs, func(a, b *file) int { return strings.Compare(a.path, b.path) })
	var res Result
	var concerned []*gapSource
	for _, f := range outs {
		o := Observed{Path: f.path}
		seen := map[*file]bool{f: true}
		ins := map[string]bool{}
		srcs := map[*gapSource]bool{}
		for _, w := range f.writers {
			if w.program != "" {
				o.Program = w.program
			}
			o.UID = w.uid
			c.procGaps(w, srcs)
			c.collect(w, f, seen, ins, srcs)
		}
		for _, g := range t.global {
			srcs[g] = true
		}
		for in := range ins {
			o.Inputs = append(o.Inputs, in)
		}
		slices.Sort(o.Inputs)
		o.Incomplete = len(srcs) > 0
		for g := range srcs {
			if len(g.outputs) == 0 || g.outputs[len(g.outputs)-1] != f.path {
				g.outputs = append(g.outputs, f.path)
			}
			concerned = append(concerned, g)
		}
		res.Outputs = append(res.Outputs, o)
	}
	for _, g := range t.gaps {
		if g.resolved || (g.reported && !slices.Contains(concerned, g)) {
			continue
		}
		g.reported = true
		res.Gaps = append(res.Gaps, g.public())
	}
	return res
}

func (g *gapSource) public() Gap {
	out := Gap{What: g.what, Outputs: slices.Clone(g.outputs)}
	if g.proc != nil {
		out.Proc, out.Program = g.proc.id, g.proc.program
	}
	if g.file != nil {
		out.Path = g.file.path
	}
	return out
}

// procGaps adds the gaps that concern what p made: its own, and the
// inheritable ones of the processes it descends from.
func (c *conclusion) procGaps(p *proc, srcs map[*gapSource]bool) {
	if p.gap != nil {
		srcs[p.gap] = true
	}
	for a := p.parent; a != nil; a = a.parent {
		if a.gap != nil && a.gap.inherit {
			srcs[a.gap] = true
		}
	}
}

// collect adds to ins the files behind what writer p made out from: an
// output or a file not written in scope stands for itself; a temporary
// file or a pipe stands for what its writers had read.
func (c *conclusion) collect(p *proc, out *file, seen map[*file]bool, ins map[string]bool, srcs map[*gapSource]bool) {
	p.eachInput(out, func(f *file) {
		if seen[f] {
			return
		}
		seen[f] = true
		regular := isRegular(f.mode)
		switch {
		case regular && len(f.writers) == 0:
			if f.gap != nil {
				srcs[f.gap] = true
				return
			}
			if c.t.Ignore(f.path) {
				return
			}
			if f.removed || f.path == "" {
				// Read, then gone before the run ended: its content
				// cannot be hashed any more.
				f.gap = c.t.gap(&gapSource{what: "input removed before it could be hashed", file: f})
				srcs[f.gap] = true
				return
			}
			ins[f.path] = true
		case regular && c.isOutput(f):
			ins[f.path] = true
		default: // a pipe, a socket, or a temporary file gone by now
			for _, w := range f.writers {
				c.procGaps(w, srcs)
				c.collect(w, f, seen, ins, srcs)
			}
		}
	})
}

// Finish is for continuous capture: it concludes the outputs under the
// given directories whose writers have all exited, forgets their writers
// (so a file is reported again only when written again), and drops the
// processes and files nothing refers to any more, so the tables do not
// grow with the machine's uptime.
func (t *Tracker) Finish(dirs []string) Result {
	c := &conclusion{t: t, isOut: map[*file]bool{}}
	var ready []*file
	for f := range t.written {
		done := true
		for _, w := range f.writers {
			if !w.exited {
				done = false
				break
			}
		}
		if !done {
			continue
		}
		switch {
		case !isRegular(f.mode):
			// Pipes keep their writers: readers may still drain them.
		case !under(f.path, dirs):
			// Written elsewhere and finished with: as an input later it
			// stands for itself either way, so its writers need not be
			// kept.
			f.writers = nil
			delete(t.written, f)
		case c.isOutput(f):
			ready = append(ready, f)
		}
		// A temporary file of a watched directory keeps its writers: a
		// reader may still have it open.
	}
	var res Result
	if len(ready) > 0 {
		res = t.concludeWith(c, ready)
		for _, f := range ready {
			f.writers = nil
			delete(t.written, f)
		}
		t.global = nil
	}
	// Pruning walks both tables: at most once a second on a busy machine.
	if now := time.Now(); len(ready) > 0 || now.Sub(t.pruned) > time.Second {
		t.pruned = now
		t.prune()
	}
	return res
}

func under(p string, dirs []string) bool {
	for _, d := range dirs {
		if p == d || strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// prune drops exited processes no file names as a writer, the files that
// no process has written and no kept process has in its history, and the
// gaps already reported that concern nothing kept.
func (t *Tracker) prune() {
	writers := map[*proc]bool{}
	for f := range t.written {
		for _, w := range f.writers {
			writers[w] = true
		}
	}
	kept := map[*file]bool{}
	marked := map[*proc]bool{}
	for id, p := range t.procs {
		if p.exited && !writers[p] {
			delete(t.procs, id)
			continue
		}
		for a := p; a != nil && !marked[a]; a = a.parent {
			marked[a] = true
			for _, f := range a.order {
				kept[f] = true
			}
		}
	}
	for id, f := range t.files {
		if len(f.writers) == 0 && !kept[f] {
			if t.byPath[f.path] == f {
				delete(t.byPath, f.path)
			}
			delete(t.files, id)
			delete(t.written, f)
		}
	}
	t.gaps = slices.DeleteFunc(t.gaps, func(g *gapSource) bool { return g.reported || g.resolved })
}

// Size is the number of processes and files the tracker holds.
func (t *Tracker) Size() (procs, files int) { return len(t.procs), len(t.files) }

// Summary counts what the tracker has seen.
type Summary struct {
	Processes int
	Events    map[string]uint64
	// CutPaths counts events whose path the kernel could not resolve
	// (too deep, too long, a name it could not read).
	CutPaths int
}

// Summary returns the counts of processes and events seen so far.
func (t *Tracker) Summary() Summary {
	s := Summary{Processes: t.processes, Events: map[string]uint64{}, CutPaths: t.cut}
	for _, k := range Kinds {
		s.Events[k.String()] = t.events[k]
	}
	return s
}
