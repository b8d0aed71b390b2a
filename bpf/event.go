package bpf

import (
	"errors"
	"strconv"
	"time"
)

// Kind tells what an Event reports.
type Kind uint32

// The kinds of Event. The numbers are shared with capture.bpf.c.
const (
	KindExec Kind = iota + 1
	KindFork
	KindExit
	KindCreate
	KindRead
	KindWrite
	KindRename
	KindUnlink
	KindTruncate
)

// Kinds lists every Kind, in order.
var Kinds = []Kind{KindExec, KindFork, KindExit, KindCreate, KindRead, KindWrite, KindRename, KindUnlink, KindTruncate}

var kindNames = [...]string{
	KindExec:     "exec",
	KindFork:     "fork",
	KindExit:     "exit",
	KindCreate:   "create",
	KindRead:     "read",
	KindWrite:    "write",
	KindRename:   "rename",
	KindUnlink:   "unlink",
	KindTruncate: "truncate",
}

func (k Kind) String() string {
	if k >= 1 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.FormatUint(uint64(k), 10) + ")"
}

// Flags of an Event (shared with capture.bpf.c).
const (
	// FlagCut: a path resolved in the kernel was cut short (deeper than
	// 64 components or longer than 4095 bytes), or a directory descriptor
	// could not be followed. The event's path is not to be trusted.
	FlagCut uint32 = 0x1
	// FlagUnread: a name given to the syscall could not be read from the
	// process's memory.
	FlagUnread uint32 = 0x2
	// FlagCreated: the open created the file (Create).
	FlagCreated uint32 = 0x4
)

// ProcID names a process for as long as the machine runs: its tgid and
// the start time of its thread group leader (ns since boot). A tgid is
// reused; the pair is not.
type ProcID struct {
	PID   uint32
	Start uint64
}

// FileID names one life of a file: device, inode and the inode's
// generation. An inode number freed by a deletion is soon given to a new
// file; the generation (random on ext4, xfs, tmpfs) tells them apart, and
// where a file system keeps it at zero the tracker ends a life at the
// creation of the next (see Tracker).
type FileID struct {
	Dev, Ino uint64
	Gen      uint32
}

// Event is one observation of a process in scope.
//
// Read and Truncate are aggregated in the kernel: at most one per process,
// file and kind, however many syscalls did it. A Write is reported once per
// write epoch: again only after its process has been reported reading a
// new file, so the reads before each Write of a file are what it may be
// made from. A process here is a thread group during its lifetime (exec
// keeps it).
type Event struct {
	Kind Kind
	// Proc is the process the event is about (Fork: the parent).
	Proc ProcID
	// Child is, for Fork, the new process.
	Child ProcID
	// File identifies the file: Create, Read, Write, Truncate;
	// Exec: the executable. Dev is in the encoding of stat(2)'s st_dev.
	// Zero for Rename and Unlink (they name paths).
	File FileID
	// Mode is the inode's i_mode (S_IFREG, S_IFIFO, S_IFSOCK, ...) and
	// Nlink its link count (0: deleted), with File.
	Mode  uint32
	Nlink uint32
	// UID is, for Exec, the effective uid the program runs as.
	UID uint32
	// Flags are Flag* bits.
	Flags uint32
	// Arg: Create: the open flags (0 for creat(2)); Rename: renameat2's
	// flags (RENAME_NOREPLACE, RENAME_EXCHANGE, ...); Unlink: unlinkat's
	// flags (AT_REMOVEDIR).
	Arg uint32
	// Path is, for Create, Read, Write and Truncate of a regular file, and
	// for Exec, the file's absolute path as the kernel resolved it at the
	// event; for Rename (the old name) and Unlink, the absolute path the
	// name given to the syscall denotes (the directory resolved in the
	// kernel, joined with the name and cleaned).
	Path string
	// Path2 is, for Rename, the new name's absolute path.
	Path2 string
	// Time is bpf_ktime_get_ns (CLOCK_MONOTONIC) at the event.
	Time uint64
}

// PollInterval bounds how long an event waits in the ring buffer before
// Read returns it. The kernel wakes the reader only once a batch has
// accumulated (1 MiB), so that a busy workload costs a wake-up per batch
// rather than per event; Read picks up a smaller remainder at least this
// often.
const PollInterval = 50 * time.Millisecond

// ErrFlushed is returned by Read once every event that was in the ring
// buffer when Flush was called has been returned.
var ErrFlushed = errors.New("bpf: capture flushed")

// ErrMalformed: a ring buffer record does not decode (a capture program
// out of step with this binary). Read returns it for that record only;
// the next one may be fine.
var ErrMalformed = errors.New("bpf: malformed capture record")

// ErrNotSupported: this kernel, platform or build cannot run the capture
// (no BTF, a missing program or map type, not linux/amd64).
var ErrNotSupported = errors.New("eBPF capture not supported here")

// ErrPermission: loading the capture was refused for lack of privileges.
var ErrPermission = errors.New("eBPF capture needs privileges: run as root or with CAP_BPF and CAP_PERFMON (see 'bonsai record')")

// Options selects what a Capture observes. A process is in scope if any
// applies; children forked by a process in scope are in scope too.
type Options struct {
	// SkipSystemReads leaves out, in the kernel, reads of files under
	// SystemPrefixes that no process in scope wrote: the Tracker ignores
	// them as inputs anyway, and they are most of a build's reads.
	SkipSystemReads bool
	// All observes every process on the machine.
	All bool
	// Cgroups are cgroup v2 ids (see CgroupID) whose processes are in scope.
	Cgroups []uint64
	// PIDs are tgids in scope, with their future descendants.
	PIDs []uint32
}
