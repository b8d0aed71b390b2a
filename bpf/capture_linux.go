//go:build amd64

package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
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
	raiseMemlock()
	spec, err := loadCapture()
	if err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	for name, on := range map[string]bool{captureVarCfgAll: opts.All, captureVarCfgSkipSystem: opts.SkipSystemReads} {
		if !on {
			continue
		}
		v, ok := spec.Variables[name]
		if !ok {
			return nil, fmt.Errorf("bpf: variable %s missing from the object", name)
		}
		if err := v.Set(uint32(1)); err != nil {
			return nil, fmt.Errorf("bpf: set %s: %w", name, err)
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
	for i, pre := range SystemPrefixes {
		p, err := kernelPrefix(pre)
		if err == nil {
			err = c.objs.SysPrefixes.Put(uint32(i), p)
		}
		if err != nil {
			c.objs.Close()
			return nil, fmt.Errorf("bpf: system prefix %q: %w", pre, err)
		}
	}

	// The reader first, so that nothing the programs emit goes unread.
	c.rd, err = ringbuf.NewReader(c.objs.Events)
	if err != nil {
		c.objs.Close()
		return nil, classify("ring buffer reader", err)
	}
	// Records are submitted without waking the reader (but for large
	// batches): a reader waits at most PollInterval (see Read).
	c.rd.SetDeadline(time.Now().Add(PollInterval))
	// All programs are tp_btf: they attach by BTF id and need no tracefs.
	for _, p := range []struct {
		name string
		prog *ebpf.Program
	}{
		{"sched_process_fork", c.objs.OnFork},
		{"sched_process_exec", c.objs.OnExec},
		{"sched_process_exit", c.objs.OnExit},
		{"sys_exit", c.objs.OnSysExit},
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

// Read returns the next event, waiting for one. After Flush it returns
// the events already emitted, then ErrFlushed. After Close it returns an
// error wrapping os.ErrClosed (also to a Read that was waiting).
func (c *Capture) Read() (Event, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for {
		err := c.rd.ReadInto(&c.rec)
		switch {
		case err == nil:
			return decodeEvent(c.rec.RawSample)
		case errors.Is(err, os.ErrDeadlineExceeded):
			c.rd.SetDeadline(time.Now().Add(PollInterval))
		case errors.Is(err, ringbuf.ErrFlushed):
			return Event{}, ErrFlushed
		case errors.Is(err, os.ErrClosed):
			return Event{}, c.errClosed()
		default:
			return Event{}, fmt.Errorf("bpf: read ring buffer: %w", err)
		}
	}
}

// Flush makes Read return the events emitted so far, then ErrFlushed:
// once the processes of interest have exited, the reader knows it has
// seen all of their events.
func (c *Capture) Flush() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return c.errClosed()
	}
	if err := c.rd.Flush(); err != nil {
		return fmt.Errorf("bpf: flush: %w", err)
	}
	return nil
}

// Lost returns what the kernel could not deliver since Open.
func (c *Capture) Lost() (Losses, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return Losses{}, c.errClosed()
	}
	l := Losses{ByKind: make(map[Kind]uint64, len(Kinds)), Procs: map[ProcID][]Kind{}}
	sum := func(slot uint32) (uint64, error) {
		var perCPU []uint64
		if err := c.objs.Lost.Lookup(slot, &perCPU); err != nil {
			return 0, err
		}
		var n uint64
		for _, v := range perCPU {
			n += v
		}
		return n, nil
	}
	for _, k := range Kinds {
		n, err := sum(uint32(k))
		if err != nil {
			return Losses{}, fmt.Errorf("bpf: lost %s: %w", k, err)
		}
		l.ByKind[k] = n
	}
	n, err := sum(lostUncharged)
	if err != nil {
		return Losses{}, fmt.Errorf("bpf: lost (uncharged): %w", err)
	}
	l.Uncharged = n
	var key captureProcKey
	var bits uint64
	it := c.objs.Gaps.Iterate()
	for it.Next(&key, &bits) {
		var kinds []Kind
		for _, k := range Kinds {
			if bits&(1<<k) != 0 {
				kinds = append(kinds, k)
			}
		}
		l.Procs[ProcID{PID: key.Tgid, Start: key.Start}] = kinds
	}
	if err := it.Err(); err != nil {
		return Losses{}, fmt.Errorf("bpf: processes with losses: %w", err)
	}
	return l, nil
}

// RunTime is the CPU time the capture's kernel programs have spent since
// Open, counted only while the kernel's BPF statistics are on (sysctl
// kernel.bpf_stats_enabled=1); zero otherwise.
func (c *Capture) RunTime() (time.Duration, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return 0, c.errClosed()
	}
	var total time.Duration
	for _, p := range []*ebpf.Program{c.objs.OnFork, c.objs.OnExec, c.objs.OnExit, c.objs.OnSysExit} {
		st, err := p.Stats()
		if err != nil {
			return 0, fmt.Errorf("bpf: program statistics: %w", err)
		}
		total += st.Runtime
	}
	return total, nil
}

// kernelPrefix is pre as the kernel program compares it: its first 16
// bytes as two little-endian words, with masks for its length.
func kernelPrefix(pre string) (capturePrefix, error) {
	if len(SystemPrefixes) > maxPrefixes || len(pre) == 0 || len(pre) > 16 {
		return capturePrefix{}, fmt.Errorf("at most %d prefixes of 1 to 16 bytes", maxPrefixes)
	}
	var b, m [16]byte
	copy(b[:], pre)
	for i := range pre {
		m[i] = 0xff
	}
	le := binary.LittleEndian
	return capturePrefix{
		Word: [2]uint64{le.Uint64(b[:8]), le.Uint64(b[8:])},
		Mask: [2]uint64{le.Uint64(m[:8]), le.Uint64(m[8:])},
		Len:  uint32(len(pre)),
	}, nil
}

// maxPrefixes is MAX_PREFIXES in capture.bpf.c.
const maxPrefixes = 16

// ForgetLosses drops processes from the kernel's table of processes with
// losses, once they have been accounted for (continuous capture).
func (c *Capture) ForgetLosses(ids []ProcID) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return c.errClosed()
	}
	for _, id := range ids {
		key := captureProcKey{Tgid: id.PID, Start: id.Start}
		if err := c.objs.Gaps.Delete(&key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("bpf: forget losses of %d: %w", id.PID, err)
		}
	}
	return nil
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
