package enforce

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/bonsai-lineage/bonsai/lineage"
	"golang.org/x/sys/unix"
)

// Guard is the fanotify backend: it holds permission marks on the
// filesystems of the policies' scopes and answers every open and exec there. Files in
// no policy's scope are allowed at once; the others are hashed through
// the event's descriptor (never by path) and decided, with a verdict
// cache keyed by the file's identity and content.
//
// Fail mode: if the process holding the guard dies, the kernel allows the
// events pending and checks nothing more until a guard starts again.
type Guard struct {
	cfg   *config
	fd    int
	self  int32
	cache *verdictCache
	mu    sync.Mutex // marks
	marks []string

	auditDropped atomic.Uint64
	ignoreMarks  atomic.Int64 // ignore marks set since the last flush
	marksMu      sync.RWMutex // Invalidate (write) against markAllowed (read)
	events       atomic.Uint64
}

// Events counts the permission events of other processes the guard has
// read (those the kernel answered through an ignore mark never come).
func (g *Guard) Events() uint64 { return g.events.Load() }

// ErrUnsupported is returned where fanotify permission events cannot be
// used (not root, a kernel without them).
var ErrUnsupported = errors.New("fanotify permission events unavailable")

// NewGuard opens a fanotify group for permission events with an unlimited
// queue (a full queue would let events through unchecked).
func NewGuard(opts ...Option) (*Guard, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_UNLIMITED_QUEUE|unix.FAN_UNLIMITED_MARKS,
		unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("%w: fanotify_init: %v", ErrUnsupported, err)
	}
	return &Guard{cfg: cfg, fd: fd, self: int32(os.Getpid()), cache: newVerdictCache(cfg.cacheEntries)}, nil
}

// permMask is what the guard asks the kernel to hold for it.
const permMask = unix.FAN_OPEN_PERM | unix.FAN_OPEN_EXEC_PERM

// Mark replaces the guard's marks with the filesystems holding paths
// (each path, or its nearest existing parent when it does not exist yet).
// Another filesystem mounted under a scope later is not covered until the
// next Mark.
func (g *Guard) Mark(paths []string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := unix.FanotifyMark(g.fd, unix.FAN_MARK_FLUSH|unix.FAN_MARK_FILESYSTEM, 0, unix.AT_FDCWD, ""); err != nil {
		return fmt.Errorf("fanotify: flush marks: %w", err)
	}
	g.marks = nil
	for _, p := range paths {
		at := existingParent(p)
		// The whole filesystem, not one mount: other mount namespaces,
		// bind mounts and containers see the same files through mounts
		// of their own.
		if err := unix.FanotifyMark(g.fd, unix.FAN_MARK_ADD|unix.FAN_MARK_FILESYSTEM, permMask, unix.AT_FDCWD, at); err != nil {
			return fmt.Errorf("fanotify: mark the filesystem of %s: %w", at, err)
		}
		g.marks = append(g.marks, at)
	}
	return nil
}

// Close releases a guard that never ran (Run closes its own).
func (g *Guard) Close() error { return unix.Close(g.fd) }

// Marks are the paths whose mounts are marked.
func (g *Guard) Marks() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.marks...)
}

func existingParent(p string) string {
	for {
		if _, err := os.Stat(p); err == nil || p == "/" || p == "." {
			return p
		}
		i := strings.LastIndexByte(strings.TrimSuffix(p, "/"), '/')
		if i <= 0 {
			return "/"
		}
		p = p[:i]
	}
}

// Run answers permission events until ctx is done, then closes the group
// (the kernel allows what is still pending). A Guard runs once.
//
// The reader never waits: the node's own opens (its store, its logs) are
// answered by it and must never queue behind a decision, or the node
// would wait for itself. Decisions go to the workers without blocking the
// reader (a burst spills into goroutines of its own); audits of cached
// verdicts are dropped, and counted, when the workers are behind. After
// ctx is done the reader allows everything until the workers have
// answered, then closes the group.
func (g *Guard) Run(ctx context.Context) error {
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(g.fd)
		return fmt.Errorf("eventfd: %w", err)
	}
	idle, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(g.fd)
		unix.Close(wake)
		return fmt.Errorf("eventfd: %w", err)
	}
	signal := func(fd int) {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(fd, one[:])
	}
	jobs := make(chan *job, 1024)
	var wg sync.WaitGroup
	for range g.cfg.workers {
		wg.Go(func() {
			for j := range jobs {
				g.handle(ctx, j)
			}
		})
	}
	stop := context.AfterFunc(ctx, func() { signal(wake) })
	stopping := false
	defer func() {
		stop()
		if !stopping {
			close(jobs)
		}
		wg.Wait()
		unix.Close(g.fd)
		unix.Close(wake)
		unix.Close(idle)
	}()
	buf := make([]byte, 64<<10)
	const metaSize = int(unsafe.Sizeof(unix.FanotifyEventMetadata{}))
	fds := []unix.PollFd{{Fd: int32(g.fd), Events: unix.POLLIN}, {Fd: int32(wake), Events: unix.POLLIN}, {Fd: int32(idle), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("fanotify: poll: %w", err)
		}
		if fds[2].Revents != 0 {
			return nil // stopping, and every worker has answered
		}
		if fds[1].Revents != 0 && !stopping {
			stopping = true
			fds[1].Events = 0
			close(jobs)
			go func() {
				wg.Wait()
				signal(idle)
			}()
		}
		if fds[0].Revents&unix.POLLIN == 0 {
			continue
		}
		n, err := unix.Read(g.fd, buf)
		if err != nil {
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			return fmt.Errorf("fanotify: read: %w", err)
		}
		for off := 0; off+metaSize <= n; {
			ev := *(*unix.FanotifyEventMetadata)(unsafe.Pointer(&buf[off]))
			if ev.Vers != unix.FANOTIFY_METADATA_VERSION || ev.Event_len < uint32(metaSize) {
				return fmt.Errorf("fanotify: event of %d bytes, metadata version %d (want %d)", ev.Event_len, ev.Vers, unix.FANOTIFY_METADATA_VERSION)
			}
			off += int(ev.Event_len)
			if ev.Fd < 0 {
				continue // queue overflow: cannot happen with an unlimited queue
			}
			if ev.Pid != g.self {
				g.events.Add(1)
			}
			if ev.Pid == g.self || stopping {
				// The node's own accesses (it would wait for itself), and
				// everything once stopping: the kernel would allow it anyway
				// when the group closes.
				g.respond(ev.Fd, true)
				unix.Close(int(ev.Fd))
				continue
			}
			j := g.quick(ev)
			if j == nil {
				continue
			}
			select {
			case jobs <- j:
			default:
				if j.decisions == nil {
					// Answered by nobody yet: never dropped, never waited for.
					wg.Go(func() { g.handle(ctx, j) })
				} else {
					g.auditDropped.Add(1)
				}
			}
		}
	}
}

// AuditDropped counts decisions answered but not audited because the
// workers were behind.
func (g *Guard) AuditDropped() uint64 { return g.auditDropped.Load() }

func (g *Guard) respond(fd int32, allow bool) {
	r := uint32(unix.FAN_ALLOW)
	if !allow {
		r = unix.FAN_DENY
	}
	var b [8]byte
	binary.NativeEndian.PutUint32(b[0:], uint32(fd))
	binary.NativeEndian.PutUint32(b[4:], r)
	_, _ = unix.Write(g.fd, b[:])
}

// job is an event past the reader: to decide (decisions nil), or
// decided already and only to audit.
type job struct {
	ev        unix.FanotifyEventMetadata
	start     time.Time
	path      string
	scoped    []*Policy
	key       fileKey
	size      int64
	nlink     uint64
	regular   bool
	decisions []Decision
	cid       string
	cached    bool
	program   string // the opener's executable
	uid       int
}

// quick answers what needs no work in the reader itself: opens outside
// every scope, and files whose verdicts are cached. It returns the job
// for a worker: nil when nothing is left to do.
func (g *Guard) quick(ev unix.FanotifyEventMetadata) *job {
	j := &job{ev: ev, start: time.Now()}
	fd := int(ev.Fd)
	path, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	// An unlinked file still open: its scope is where it was.
	path = strings.TrimSuffix(path, " (deleted)")
	j.path = path
	for _, p := range g.cfg.policies() {
		// A path the kernel cannot name (too long) could be anywhere:
		// every policy judges it.
		if err != nil || p.Covers(path) {
			j.scoped = append(j.scoped, p)
		}
	}
	if err != nil {
		j.path = fmt.Sprintf("(unnamed: %v)", err)
	}
	if len(j.scoped) == 0 {
		g.respond(ev.Fd, true)
		unix.Close(fd)
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		j.decisions = g.failAll(j.scoped, path, "", fmt.Sprintf("stat: %v", err))
	} else {
		j.regular = st.Mode&unix.S_IFMT == unix.S_IFREG
		j.size = st.Size
		j.nlink = uint64(st.Nlink)
		j.key = fileKey{dev: st.Dev, ino: st.Ino, ctime: st.Ctim.Nano(), mtime: st.Mtim.Nano(), size: st.Size, generation: g.cfg.generation()}
		if v, ok := g.cache.get(j.key); ok && samePolicies(v.decisions, j.scoped) {
			j.decisions, j.cid, j.cached = v.decisions, v.cid, true
		}
	}
	if j.decisions != nil {
		j.whoOpened()
		g.answer(j)
	}
	return j
}

// whoOpened reads the opener's program and user while it still waits for
// the answer (a denied process is soon gone).
func (j *job) whoOpened() {
	j.program, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", j.ev.Pid))
	j.uid = -1
	if st, err := os.Stat(fmt.Sprintf("/proc/%d", j.ev.Pid)); err == nil {
		j.uid = int(st.Sys().(*syscall.Stat_t).Uid)
	}
}

// answer responds to a decided job and closes its descriptor. A file
// every policy allows without a failing rule, with one link, gets an
// ignore mark when all policies have the same rules: its next opens and
// execs are allowed by the kernel without an event (nor an audit entry),
// until it is modified (the kernel drops the mark) or the generation
// changes (Invalidate drops them all).
func (g *Guard) answer(j *job) {
	allow, clean, confidential := true, true, false
	for _, d := range j.decisions {
		if !d.Allow {
			allow = false
		}
		if d.Fails || d.Unsettled {
			clean = false
		}
		confidential = confidential || d.Confidential
	}
	if confidential {
		// Never an ignore mark: every opener must be seen, and tainted.
		clean = false
	}
	if allow && confidential && g.cfg.taint != nil {
		// In the kernel before the data can be read.
		if err := g.cfg.taint(j.ev.Pid); err != nil {
			allow = false
			j.decisions = slices.Clone(j.decisions) // the cache's stay as they were
			for i := range j.decisions {
				j.decisions[i].Fails, j.decisions[i].Allow = true, false
				j.decisions[i].Rule, j.decisions[i].Reason = "confidential", "could not taint the opener: "+err.Error()
			}
		}
	}
	if allow && clean && j.regular && j.nlink == 1 && uniform(g.cfg.policies()) {
		g.markAllowed(j)
	}
	g.respond(j.ev.Fd, allow)
	unix.Close(int(j.ev.Fd))
}

// uniform reports whether every policy has the same mode and rules: then a
// file allowed under one scope is allowed under any, and an ignore mark
// stays right when the file is renamed into another scope (the kernel
// does not drop ignore marks on rename).
func uniform(ps []*Policy) bool {
	for _, p := range ps[min(1, len(ps)):] {
		if !reflect.DeepEqual(p.Spec.Rules, ps[0].Spec.Rules) || p.Spec.Mode != ps[0].Spec.Mode ||
			!slices.Equal(p.Spec.Revokers, ps[0].Spec.Revokers) {
			return false
		}
	}
	return true
}

// maxIgnoreMarks bounds the ignore marks held (each pins an inode in the
// kernel): past it no more are set until the next generation drops them.
const maxIgnoreMarks = 1 << 16

// markAllowed sets the ignore mark of an allowed file, on the event's
// descriptor, before the answer. Under marksMu's read side, so an
// Invalidate cannot pass between the generation check and the mark. The
// file is checked again after: a change made while it was decided (which
// no mark yet could catch) removes the mark. Only on local file systems
// whose writes the kernel sees (not network or FUSE ones).
func (g *Guard) markAllowed(j *job) {
	if !localFS(int(j.ev.Fd)) {
		return
	}
	g.marksMu.RLock()
	defer g.marksMu.RUnlock()
	if j.key.generation != g.cfg.generation() || g.ignoreMarks.Load() >= maxIgnoreMarks {
		return
	}
	if err := markIgnore(g.fd, int(j.ev.Fd)); err != nil {
		return
	}
	g.ignoreMarks.Add(1)
	var st unix.Stat_t
	if err := unix.Fstat(int(j.ev.Fd), &st); err != nil || st.Ctim.Nano() != j.key.ctime || st.Mtim.Nano() != j.key.mtime || st.Size != j.key.size {
		_, _, _ = unix.Syscall6(unix.SYS_FANOTIFY_MARK, uintptr(g.fd),
			uintptr(unix.FAN_MARK_REMOVE|unix.FAN_MARK_IGNORED_MASK), uintptr(permMask), uintptr(j.ev.Fd), 0, 0)
	}
}

// localFS reports whether fd's file system is one whose every write the
// kernel sees (and so drops an ignore mark on).
func localFS(fd int) bool {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return false
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.TMPFS_MAGIC, unix.F2FS_SUPER_MAGIC:
		return true
	}
	return false
}

// markIgnore adds an ignore mark for the permission events on the inode
// open as fd (fanotify_mark with a NULL path marks the descriptor's file).
func markIgnore(group, fd int) error {
	_, _, errno := unix.Syscall6(unix.SYS_FANOTIFY_MARK, uintptr(group),
		uintptr(unix.FAN_MARK_ADD|unix.FAN_MARK_IGNORED_MASK), uintptr(permMask), uintptr(fd), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// Invalidate drops every ignore mark: records, revocations or policies
// changed, and an allowed file must be decided again. Called by the
// node on every change of generation.
func (g *Guard) Invalidate() {
	g.marksMu.Lock()
	defer g.marksMu.Unlock()
	if g.ignoreMarks.Load() == 0 {
		return
	}
	// Inode marks only: the filesystem marks stay.
	if err := unix.FanotifyMark(g.fd, unix.FAN_MARK_FLUSH, 0, unix.AT_FDCWD, ""); err == nil {
		g.ignoreMarks.Store(0)
	}
}

// handle decides a job not answered yet, then audits it.
func (g *Guard) handle(ctx context.Context, j *job) {
	if j.decisions == nil {
		j.decisions, j.cid = g.decide(ctx, j)
		j.whoOpened()
		g.answer(j)
	}
	lat := time.Since(j.start)
	kind := "open"
	if j.ev.Mask&unix.FAN_OPEN_EXEC_PERM != 0 {
		kind = "exec"
	}
	for _, d := range j.decisions {
		g.cfg.audit(Event{Time: j.start.UTC(), Kind: kind, Policy: d.Policy, Rule: d.Rule, Mode: d.Mode, Decision: decisionWord(d),
			Path: j.path, CID: j.cid, PID: j.ev.Pid, Program: j.program, UID: j.uid, Reason: d.Reason, Latency: lat, Cached: j.cached})
	}
}

// decide makes the scoped policies' decisions on a job's file, hashing it
// through the event's descriptor, and caches them.
func (g *Guard) decide(ctx context.Context, j *job) ([]Decision, string) {
	if !j.regular {
		// Directories and devices carry no lineage: not this backend's.
		allow := make([]Decision, len(j.scoped))
		for i, p := range j.scoped {
			allow[i] = Decision{Policy: p.Metadata.Name, Mode: p.Spec.Mode, File: j.path, Allow: true, Reason: "not a regular file"}
		}
		return allow, ""
	}
	dctx, cancel := context.WithTimeout(ctx, g.cfg.timeout)
	defer cancel()
	c, err := lineage.HashReader(io.NewSectionReader(preader{fd: j.ev.Fd, ctx: dctx}, 0, j.size), g.cfg.hash)
	if err != nil {
		return g.failAll(j.scoped, j.path, "", fmt.Sprintf("hash: %v", err)), ""
	}
	var decs []Decision
	settled := true // every decision made, on an ancestry fully reached
	for _, p := range j.scoped {
		d, err := Decide(dctx, p, j.path, c, g.cfg.resolver)
		if err == nil && dctx.Err() != nil {
			err = dctx.Err() // the ancestry was cut by the deadline
		}
		if err != nil {
			d = g.timeoutDecision(p, j.path, c.String(), err)
			settled = false
		} else if d.Unsettled {
			settled = false
		}
		decs = append(decs, d)
	}
	if settled {
		g.cache.put(j.key, cached{cid: c.String(), decisions: decs})
	}
	return decs, c.String()
}

func samePolicies(ds []Decision, ps []*Policy) bool {
	if len(ds) != len(ps) {
		return false
	}
	for i := range ds {
		if ds[i].Policy != ps[i].Metadata.Name {
			return false
		}
	}
	return true
}

// timeoutDecision is the verdict when a decision could not be made.
func (g *Guard) timeoutDecision(p *Policy, path, c string, err error) Decision {
	d := Decision{Policy: p.Metadata.Name, Mode: p.Spec.Mode, File: path, CID: c, Fails: !g.cfg.allowOnTimeout,
		Rule: "decision", Reason: "could not decide: " + err.Error()}
	d.Allow = !d.Fails || p.Spec.Mode == Audit
	return d
}

func (g *Guard) failAll(ps []*Policy, path, c, why string) []Decision {
	ds := make([]Decision, len(ps))
	for i, p := range ps {
		ds[i] = g.timeoutDecision(p, path, c, errors.New(why))
	}
	return ds
}

// preader reads a descriptor at offsets (pread), leaving it open (the
// guard closes event descriptors itself), until its context is done.
type preader struct {
	fd  int32
	ctx context.Context
}

func (p preader) ReadAt(b []byte, off int64) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := unix.Pread(int(p.fd), b, off)
	if err != nil {
		return 0, err
	}
	if n == 0 && len(b) > 0 {
		return 0, io.EOF
	}
	return n, nil
}
