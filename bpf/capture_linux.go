//go:build amd64

package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Capture is a loaded and attached set of capture programs. Read delivers
// their events; Close detaches them.
type Capture struct {
	objs  captureObjects
	links []link.Link
	rd    *ringbuf.Reader

	readMu sync.Mutex // one Read at a time
	rec    ringbuf.Record

	mu     sync.RWMutex // guards closed against the maps' users
	closed bool
}

// Open loads the capture programs, scopes them by opts and attaches them.
// Events flow from then on; read them with Read.
//
// An error wraps ErrPermission when the kernel refused for lack of
// privileges, and ErrNotSupported when the kernel lacks what the programs
// need (BTF, ring buffers, tp_btf).
func Open(opts Options) (*Capture, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, classify("raise RLIMIT_MEMLOCK", err)
	}
	spec, err := loadCapture()
	if err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	if opts.All {
		v, ok := spec.Variables[captureVarCfgAll]
		if !ok {
			return nil, fmt.Errorf("bpf: variable %s missing from the object", captureVarCfgAll)
		}
		if err := v.Set(uint32(1)); err != nil {
			return nil, fmt.Errorf("bpf: set %s: %w", captureVarCfgAll, err)
		}
	}

	c := &Capture{}
	if err := spec.LoadAndAssign(&c.objs, nil); err != nil {
		return nil, classify("load", err)
	}
	for _, id := range opts.Cgroups {
		if err := c.objs.ScopeCgroups.Put(id, uint8(1)); err != nil {
			c.objs.Close()
			return nil, fmt.Errorf("bpf: scope cgroup %d: %w", id, err)
		}
	}
	for _, pid := range opts.PIDs {
		if err := c.objs.Tracked.Put(pid, uint8(1)); err != nil {
			c.objs.Close()
			return nil, fmt.Errorf("bpf: scope pid %d: %w", pid, err)
		}
	}

	// The reader first, so that nothing the programs emit goes unread.
	c.rd, err = ringbuf.NewReader(c.objs.Events)
	if err != nil {
		c.objs.Close()
		return nil, classify("ring buffer reader", err)
	}
	// All programs are tp_btf: they attach by BTF id and need no tracefs.
	for _, p := range []struct {
		name string
		prog *ebpf.Program
	}{
		// sys_exit before sys_enter: a close(2) seen entering is then
		// always seen leaving.
		{"sched_process_fork", c.objs.OnFork},
		{"sched_process_exec", c.objs.OnExec},
		{"sched_process_exit", c.objs.OnExit},
		{"sys_exit", c.objs.OnSysExit},
		{"sys_enter", c.objs.OnSysEnter},
	} {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.prog})
		if err != nil {
			c.Close()
			return nil, classify("attach tp_btf/"+p.name, err)
		}
		c.links = append(c.links, l)
	}
	return c, nil
}

// classify wraps err in ErrPermission or ErrNotSupported when it is one.
func classify(what string, err error) error {
	var verr *ebpf.VerifierError
	switch {
	case errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, os.ErrPermission):
		return fmt.Errorf("bpf: %s: %w: %w", what, ErrPermission, err)
	case errors.As(err, &verr):
		// A rejected program; the log says why. Not a missing feature as
		// such, but the capture cannot run on this kernel either.
		return fmt.Errorf("bpf: %s: %w: %w", what, ErrNotSupported, err)
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, btf.ErrNotSupported),
		errors.Is(err, btf.ErrNotFound), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.ENOTSUP):
		return fmt.Errorf("bpf: %s: %w: %w", what, ErrNotSupported, err)
	}
	return fmt.Errorf("bpf: %s: %w", what, err)
}

func (c *Capture) errClosed() error { return fmt.Errorf("bpf: capture: %w", os.ErrClosed) }

// AddCgroup puts the processes of a cgroup v2 (by id, see CgroupID) in
// scope.
func (c *Capture) AddCgroup(id uint64) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return c.errClosed()
	}
	if err := c.objs.ScopeCgroups.Put(id, uint8(1)); err != nil {
		return fmt.Errorf("bpf: add cgroup %d: %w", id, err)
	}
	return nil
}

// AddPID puts a process (a tgid) and its future children in scope.
func (c *Capture) AddPID(pid uint32) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return c.errClosed()
	}
	if err := c.objs.Tracked.Put(pid, uint8(1)); err != nil {
		return fmt.Errorf("bpf: add pid %d: %w", pid, err)
	}
	return nil
}

// Read returns the next event, waiting for one. After Close it returns an
// error wrapping os.ErrClosed (also to a Read that was waiting).
func (c *Capture) Read() (Event, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if err := c.rd.ReadInto(&c.rec); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return Event{}, c.errClosed()
		}
		return Event{}, fmt.Errorf("bpf: read ring buffer: %w", err)
	}
	return decodeEvent(c.rec.RawSample)
}

// Lost returns, per kind, how many events the kernel could not deliver
// (ring buffer full) since Open. Every kind is present, zero or not. A lost
// Fork also counts a child that could not be added to the tracked table.
func (c *Capture) Lost() (map[Kind]uint64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, c.errClosed()
	}
	out := make(map[Kind]uint64, len(Kinds))
	var perCPU []uint64
	for _, k := range Kinds {
		if err := c.objs.Lost.Lookup(uint32(k), &perCPU); err != nil {
			return nil, fmt.Errorf("bpf: lost %s: %w", k, err)
		}
		var n uint64
		for _, v := range perCPU {
			n += v
		}
		out[k] = n
	}
	return out, nil
}

// Close detaches the programs and frees the maps; a waiting Read returns.
func (c *Capture) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	var errs []error
	for _, l := range c.links {
		errs = append(errs, l.Close())
	}
	if c.rd != nil {
		errs = append(errs, c.rd.Close())
	}
	errs = append(errs, c.objs.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bpf: close: %w", err)
	}
	return nil
}

// CgroupID returns the id of a cgroup v2 directory (such as
// /sys/fs/cgroup/unified/NAME on a hybrid layout): its inode number, which
// is what the kernel's bpf_get_current_cgroup_id reports.
func CgroupID(path string) (uint64, error) {
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil {
		return 0, fmt.Errorf("bpf: cgroup id of %s: %w", path, &os.PathError{Op: "statfs", Path: path, Err: err})
	}
	if fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return 0, fmt.Errorf("bpf: cgroup id of %s: not on a cgroup v2 file system", path)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("bpf: cgroup id of %s: %w", path, &os.PathError{Op: "stat", Path: path, Err: err})
	}
	return st.Ino, nil
}

// Record layout (struct ev_hdr and the path buffers in capture.bpf.c).
const (
	hdrSize     = 56
	pathBufSize = 256
)

func decodeEvent(b []byte) (Event, error) {
	if len(b) < hdrSize {
		return Event{}, fmt.Errorf("bpf: short record (%d bytes)", len(b))
	}
	le := binary.LittleEndian
	ev := Event{
		Kind:   Kind(le.Uint32(b[0:])),
		PID:    le.Uint32(b[4:]),
		Child:  le.Uint32(b[8:]),
		FD:     int32(le.Uint32(b[12:])),
		Dev:    userDev(le.Uint64(b[16:])),
		Ino:    le.Uint64(b[24:]),
		Mode:   le.Uint32(b[32:]),
		Flags:  le.Uint32(b[36:]),
		Dirfd:  int32(le.Uint32(b[40:])),
		Dirfd2: int32(le.Uint32(b[44:])),
		Time:   le.Uint64(b[48:]),
	}
	rest := b[hdrSize:]
	if len(rest) >= pathBufSize {
		ev.Path = cString(rest[:pathBufSize])
		rest = rest[pathBufSize:]
	}
	if len(rest) >= pathBufSize {
		ev.Path2 = cString(rest[:pathBufSize])
	}
	return ev, nil
}

func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// userDev turns the kernel's internal dev_t (major<<20 | minor) into the
// encoding stat(2) reports in st_dev.
func userDev(kdev uint64) uint64 {
	return unix.Mkdev(uint32(kdev>>20), uint32(kdev&(1<<20-1)))
}
