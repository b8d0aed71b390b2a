package bpf

import (
	"errors"
	"strconv"
)

// Kind tells what an Event reports.
type Kind uint32

// The kinds of Event. The numbers are shared with capture.bpf.c.
const (
	KindExec Kind = iota + 1
	KindFork
	KindExit
	KindOpen
	KindRead
	KindWrite
	KindClose
	KindRename
	KindUnlink
	KindTruncate
)

// Kinds lists every Kind, in order.
var Kinds = []Kind{KindExec, KindFork, KindExit, KindOpen, KindRead, KindWrite, KindClose, KindRename, KindUnlink, KindTruncate}

var kindNames = [...]string{
	KindExec:     "exec",
	KindFork:     "fork",
	KindExit:     "exit",
	KindOpen:     "open",
	KindRead:     "read",
	KindWrite:    "write",
	KindClose:    "close",
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

// AtFDCWD is the Dirfd of a path that is relative to the process's working
// directory (AT_FDCWD).
const AtFDCWD = -100

// Event is one observation of a process in scope.
//
// Read, Write and Truncate (with a file) are aggregated in the kernel: at most
// one per process, file and kind, however many syscalls did it (a process
// that closes a file and writes it again yields no second Write; its Closes
// are all reported). A process here is a thread group during its lifetime
// (exec keeps it).
type Event struct {
	Kind Kind
	// PID is the tgid of the process the event is about (Fork: the parent).
	PID uint32
	// Child is, for Fork, the child's tgid.
	Child uint32
	// FD is the file descriptor: Open (the new fd), Close, Read, Write and
	// Truncate (the descriptor first used); -1 when there is none.
	FD int32
	// Dev and Ino identify the file: Dev in the encoding of stat(2)'s
	// st_dev (so it compares with syscall.Stat_t.Dev), Ino the inode number.
	// Open, Read, Write, Close, Truncate by descriptor; Exec: the executable.
	// Zero when unknown (Rename, Unlink, Truncate by path).
	Dev uint64
	Ino uint64
	// Mode is the inode's i_mode (S_IFREG, S_IFIFO, S_IFSOCK, ...), with Dev.
	Mode uint32
	// Flags: Open: the open flags (creat(2) reports O_CREAT|O_WRONLY|O_TRUNC);
	// Rename: renameat2's flags (RENAME_NOREPLACE, RENAME_EXCHANGE, ...);
	// Unlink: unlinkat's flags (AT_REMOVEDIR).
	Flags uint32
	// Path: Open: the path as passed (relative to Dirfd when not absolute);
	// Exec: the filename as passed to execve; Rename: the old path; Unlink,
	// Truncate by path: the path. At most 255 bytes (longer ones are cut).
	Path string
	// Path2 is, for Rename, the new path (relative to Dirfd2).
	Path2 string
	// Dirfd is the directory descriptor Path is relative to (AtFDCWD when
	// the syscall took none): Open, Rename (old path), Unlink, Truncate.
	Dirfd int32
	// Dirfd2 is, for Rename, the directory descriptor of Path2.
	Dirfd2 int32
	// Time is bpf_ktime_get_ns (CLOCK_MONOTONIC) at the event.
	Time uint64
}

// ErrNotSupported: this kernel, platform or build cannot run the capture
// (no BTF, a missing program or map type, not linux/amd64).
var ErrNotSupported = errors.New("eBPF capture not supported here")

// ErrPermission: loading the capture was refused for lack of privileges.
var ErrPermission = errors.New("eBPF capture needs privileges: run as root or with CAP_BPF and CAP_PERFMON (see 'bonsai record')")

// Options selects what a Capture observes. A process is in scope if any
// applies; children forked by a process in scope are in scope too.
type Options struct {
	// All observes every process on the machine.
	All bool
	// Cgroups are cgroup v2 ids (see CgroupID) whose processes are in scope.
	Cgroups []uint64
	// PIDs are tgids in scope, with their future descendants.
	PIDs []uint32
}
