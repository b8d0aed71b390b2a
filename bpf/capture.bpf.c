//go:build ignore

// SPDX-License-Identifier: GPL-2.0
//
// Kernel side of lineage capture (DESIGN.md section 5).
//
// Programs: tp_btf/sched_process_{fork,exec,exit} for the process table and
// one tp_btf program on each of sys_enter and sys_exit that switches on the
// x86_64 syscall number. Everything that can be decided from the syscall's
// result is handled at sys_exit (the arguments are still in pt_regs there,
// and the kernel has already faulted in any user string it read); only
// close(2) needs sys_enter, to see the file before the fd goes away.
//
// Every event is about a task in scope: its cgroup v2 id is in
// scope_cgroups, its tgid is in tracked (descendants of scoped tasks), or
// cfg_all is set. Read, write and truncate events are aggregated in the LRU
// map seen: one event per (process, file, direction).
//
// Records on the ring buffer are a struct ev_hdr, optionally followed by one
// or two PATH_MAX_LEN path buffers (see bpf/capture_linux.go for decoding).
// A failed reservation is counted in the per-CPU array lost, by kind.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

// Event kinds; keep in sync with bpf/event.go.
enum {
	KIND_EXEC = 1,
	KIND_FORK,
	KIND_EXIT,
	KIND_OPEN,
	KIND_READ,
	KIND_WRITE,
	KIND_CLOSE,
	KIND_RENAME,
	KIND_UNLINK,
	KIND_TRUNCATE,
	KIND_MAX,
};

#define PATH_MAX_LEN 256
#define AT_FDCWD_ -100
#define TS_COMPAT_ 0x0002
#define PROT_READ_ 0x1
#define PROT_WRITE_ 0x2
#define PROT_EXEC_ 0x4
#define MAP_SHARED_ 0x01
#define MAP_SHARED_VALIDATE_ 0x03
#define MAP_TYPE_ 0x0f
#define MAP_ANONYMOUS_ 0x20
#define O_WRONLY_ 01
#define O_CREAT_ 0100
#define O_TRUNC_ 01000
#define FMODE_WRITE_ 0x2
#define EEXIST_ 17

// x86_64 syscall numbers.
#define NR_read 0
#define NR_write 1
#define NR_open 2
#define NR_close 3
#define NR_mmap 9
#define NR_pread64 17
#define NR_pwrite64 18
#define NR_readv 19
#define NR_writev 20
#define NR_sendfile 40
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47
#define NR_truncate 76
#define NR_ftruncate 77
#define NR_rename 82
#define NR_creat 85
#define NR_unlink 87
#define NR_openat 257
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_splice 275
#define NR_tee 276
#define NR_vmsplice 278
#define NR_preadv 295
#define NR_pwritev 296
#define NR_recvmmsg 299
#define NR_sendmmsg 307
#define NR_renameat2 316
#define NR_copy_file_range 326
#define NR_preadv2 327
#define NR_pwritev2 328
#define NR_openat2 437

// The fixed part of every record. Layout is mirrored in Go (decode in
// capture_linux.go; a test checks it against the bpf2go-generated type).
struct ev_hdr {
	__u32 kind;
	__u32 pid;
	__u32 child;
	__s32 fd;
	__u64 dev; // kernel encoding (MAJOR << 20 | MINOR); Go converts
	__u64 ino;
	__u32 mode;
	__u32 flags;
	__s32 dirfd;
	__s32 dirfd2;
	__u64 time;
};

struct ev_path1 {
	struct ev_hdr h;
	char path[PATH_MAX_LEN];
};

struct ev_path2 {
	struct ev_hdr h;
	char path[PATH_MAX_LEN];
	char path2[PATH_MAX_LEN];
};

// Aggregation key: one Read/Write/Truncate per process, file and direction.
// start (the thread group leader's start time) tells a reused tgid apart.
struct seen_key {
	__u32 tgid;
	__u32 kind;
	__u64 start;
	__u64 dev;
	__u64 ino;
};

// A close(2) in flight: the file it closes, seen at sys_enter.
struct closing {
	__u64 dev;
	__u64 ino;
	__u32 mode;
	__s32 fd;
};

const volatile __u32 cfg_all = 0;

// Unused; keeps struct ev_hdr in the BTF so that bpf2go emits its Go twin
// (captureEvHdr), against which a test checks the decoder's offsets.
const struct ev_hdr *ev_hdr_btf __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} scope_cgroups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, __u8);
} tracked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct seen_key);
	__type(value, __u8);
} seen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct closing);
} closings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void count_lost(__u32 kind)
{
	__u64 *v = bpf_map_lookup_elem(&lost, &kind);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline bool in_scope(__u32 tgid)
{
	if (cfg_all)
		return true;
	if (bpf_map_lookup_elem(&tracked, &tgid))
		return true;
	__u64 cg = bpf_get_current_cgroup_id();
	return bpf_map_lookup_elem(&scope_cgroups, &cg) != NULL;
}

static __always_inline void *reserve(__u64 size, __u32 kind)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);
	if (!e)
		count_lost(kind);
	return e;
}

static __always_inline void fill_hdr(struct ev_hdr *h, __u32 kind, __u32 tgid)
{
	h->kind = kind;
	h->pid = tgid;
	h->child = 0;
	h->fd = -1;
	h->dev = 0;
	h->ino = 0;
	h->mode = 0;
	h->flags = 0;
	h->dirfd = AT_FDCWD_;
	h->dirfd2 = AT_FDCWD_;
	h->time = bpf_ktime_get_ns();
}

static __always_inline void read_user_path(char *dst, const char *src)
{
	if (!src || bpf_probe_read_user_str(dst, PATH_MAX_LEN, src) < 0)
		dst[0] = 0;
}

// The struct file behind fd in task's descriptor table, or NULL.
static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	if (fd < 0)
		return NULL;
	struct files_struct *files = BPF_CORE_READ(task, files);
	if (!files)
		return NULL;
	struct fdtable *fdt = BPF_CORE_READ(files, fdt);
	if (!fdt)
		return NULL;
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned int)fd >= max)
		return NULL;
	struct file **arr = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]) < 0)
		return NULL;
	return f;
}

struct file_id {
	__u64 dev;
	__u64 ino;
	__u32 mode;
};

static __always_inline bool file_ident(struct file *f, struct file_id *id)
{
	if (!f)
		return false;
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	if (!inode)
		return false;
	id->ino = BPF_CORE_READ(inode, i_ino);
	id->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	id->mode = BPF_CORE_READ(inode, i_mode);
	return true;
}

static __always_inline __u64 leader_start(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_time);
}

// Emit one aggregated Read/Write/Truncate for fd, unless this process has
// already been reported for that file and direction.
static __noinline int emit_io(struct task_struct *task, __u32 tgid, int fd, __u32 kind)
{
	struct file_id id = {};
	if (!file_ident(fd_file(task, fd), &id))
		return 0;

	struct seen_key key = {};
	key.tgid = tgid;
	key.kind = kind;
	key.start = leader_start(task);
	key.dev = id.dev;
	key.ino = id.ino;
	__u8 one = 1;
	long err = bpf_map_update_elem(&seen, &key, &one, BPF_NOEXIST);
	if (err == -EEXIST_)
		return 0; // already reported
	// Any other failure to remember it: report it now (and again later)
	// rather than never.

	struct ev_hdr *h = reserve(sizeof(*h), kind);
	if (!h) {
		// Let a later call try again.
		if (err == 0)
			bpf_map_delete_elem(&seen, &key);
		return 0;
	}
	fill_hdr(h, kind, tgid);
	h->fd = fd;
	h->dev = id.dev;
	h->ino = id.ino;
	h->mode = id.mode;
	bpf_ringbuf_submit(h, 0);
	return 0;
}

static __always_inline bool file_written(struct task_struct *task, __u32 tgid, struct file_id *id)
{
	struct seen_key key = {};
	key.tgid = tgid;
	key.kind = KIND_WRITE;
	key.start = leader_start(task);
	key.dev = id->dev;
	key.ino = id->ino;
	if (bpf_map_lookup_elem(&seen, &key))
		return true;
	key.kind = KIND_TRUNCATE;
	return bpf_map_lookup_elem(&seen, &key) != NULL;
}

static __always_inline int emit_open(struct task_struct *task, __u32 tgid, int fd, int dirfd,
				const char *path, __u32 flags)
{
	struct ev_path1 *e = reserve(sizeof(*e), KIND_OPEN);
	if (!e)
		return 0;
	fill_hdr(&e->h, KIND_OPEN, tgid);
	e->h.fd = fd;
	e->h.dirfd = dirfd;
	e->h.flags = flags;
	struct file_id id = {};
	if (file_ident(fd_file(task, fd), &id)) {
		e->h.dev = id.dev;
		e->h.ino = id.ino;
		e->h.mode = id.mode;
	}
	read_user_path(e->path, path);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __noinline int emit_path(__u32 kind, __u32 tgid, int dirfd, const char *path, __u32 flags)
{
	struct ev_path1 *e = reserve(sizeof(*e), kind);
	if (!e)
		return 0;
	fill_hdr(&e->h, kind, tgid);
	e->h.dirfd = dirfd;
	e->h.flags = flags;
	read_user_path(e->path, path);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline int emit_rename(__u32 tgid, int olddirfd, const char *oldpath, int newdirfd,
				  const char *newpath, __u32 flags)
{
	struct ev_path2 *e = reserve(sizeof(*e), KIND_RENAME);
	if (!e)
		return 0;
	fill_hdr(&e->h, KIND_RENAME, tgid);
	e->h.dirfd = olddirfd;
	e->h.dirfd2 = newdirfd;
	e->h.flags = flags;
	read_user_path(e->path, oldpath);
	read_user_path(e->path2, newpath);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

static __always_inline bool compat_task(struct task_struct *task)
{
	return (BPF_CORE_READ(task, thread_info.status) & TS_COMPAT_) != 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	if (id != NR_close)
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	if (!in_scope(tgid))
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (compat_task(task))
		return 0;

	int fd = (int)BPF_CORE_READ(regs, di);
	struct file_id fid = {};
	if (!file_ident(fd_file(task, fd), &fid))
		return 0;
	if (!file_written(task, tgid, &fid)) {
		bpf_map_delete_elem(&closings, &pid_tgid); // nothing stale
		return 0;
	}
	struct closing c = {
		.dev = fid.dev,
		.ino = fid.ino,
		.mode = fid.mode,
		.fd = fd,
	};
	bpf_map_update_elem(&closings, &pid_tgid, &c, BPF_ANY);
	return 0;
}

static __always_inline bool interesting_exit(long nr)
{
	switch (nr) {
	case NR_read:
	case NR_write:
	case NR_open:
	case NR_close:
	case NR_mmap:
	case NR_pread64:
	case NR_pwrite64:
	case NR_readv:
	case NR_writev:
	case NR_sendfile:
	case NR_sendto:
	case NR_recvfrom:
	case NR_sendmsg:
	case NR_recvmsg:
	case NR_truncate:
	case NR_ftruncate:
	case NR_rename:
	case NR_creat:
	case NR_unlink:
	case NR_openat:
	case NR_unlinkat:
	case NR_renameat:
	case NR_splice:
	case NR_tee:
	case NR_vmsplice:
	case NR_preadv:
	case NR_pwritev:
	case NR_recvmmsg:
	case NR_sendmmsg:
	case NR_renameat2:
	case NR_copy_file_range:
	case NR_preadv2:
	case NR_pwritev2:
	case NR_openat2:
		return true;
	}
	return false;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(on_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = BPF_CORE_READ(regs, orig_ax);
	if (!interesting_exit(nr))
		return 0;
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;

	if (nr == NR_close) {
		// Only a close that sys_enter decided to report has an entry.
		struct closing *c = bpf_map_lookup_elem(&closings, &pid_tgid);
		if (!c)
			return 0;
		if (c->fd != (int)BPF_CORE_READ(regs, di)) {
			// Stale: left by a sys_enter whose sys_exit we missed.
			bpf_map_delete_elem(&closings, &pid_tgid);
			return 0;
		}
		struct ev_hdr *h = reserve(sizeof(*h), KIND_CLOSE);
		if (h) {
			fill_hdr(h, KIND_CLOSE, tgid);
			h->fd = c->fd;
			h->dev = c->dev;
			h->ino = c->ino;
			h->mode = c->mode;
			bpf_ringbuf_submit(h, 0);
		}
		bpf_map_delete_elem(&closings, &pid_tgid);
		return 0;
	}

	if (!in_scope(tgid))
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (compat_task(task))
		return 0;
	if (ret < 0)
		return 0;

	__u64 a0 = BPF_CORE_READ(regs, di);
	__u64 a1 = BPF_CORE_READ(regs, si);
	__u64 a2 = BPF_CORE_READ(regs, dx);
	__u64 a3 = BPF_CORE_READ(regs, r10);

	switch (nr) {
	// Opens: ret is the new fd.
	case NR_open:
		return emit_open(task, tgid, ret, AT_FDCWD_, (const char *)a0, a1);
	case NR_creat:
		return emit_open(task, tgid, ret, AT_FDCWD_, (const char *)a0,
				 O_CREAT_ | O_WRONLY_ | O_TRUNC_);
	case NR_openat:
		return emit_open(task, tgid, ret, a0, (const char *)a1, a2);
	case NR_openat2: {
		__u64 flags = 0; // struct open_how starts with __u64 flags
		bpf_probe_read_user(&flags, sizeof(flags), (void *)a2);
		return emit_open(task, tgid, ret, a0, (const char *)a1, flags);
	}

	// Reads.
	case NR_read:
	case NR_pread64:
	case NR_readv:
	case NR_preadv:
	case NR_preadv2:
	case NR_recvfrom:
	case NR_recvmsg:
	case NR_recvmmsg:
		return emit_io(task, tgid, a0, KIND_READ);

	// Writes.
	case NR_write:
	case NR_pwrite64:
	case NR_writev:
	case NR_pwritev:
	case NR_pwritev2:
	case NR_sendto:
	case NR_sendmsg:
	case NR_sendmmsg:
		return emit_io(task, tgid, a0, KIND_WRITE);

	// Copies: copy_file_range(fd_in, off_in, fd_out, ...),
	// splice(fd_in, off_in, fd_out, ...), tee(fd_in, fd_out, ...),
	// sendfile(out_fd, in_fd, ...).
	case NR_copy_file_range:
	case NR_splice:
		emit_io(task, tgid, a0, KIND_READ);
		return emit_io(task, tgid, a2, KIND_WRITE);
	case NR_tee:
		emit_io(task, tgid, a0, KIND_READ);
		return emit_io(task, tgid, a1, KIND_WRITE);
	case NR_sendfile:
		emit_io(task, tgid, a1, KIND_READ);
		return emit_io(task, tgid, a0, KIND_WRITE);
	case NR_vmsplice: {
		// User memory into a pipe's write end, or out of its read end.
		struct file *f = fd_file(task, a0);
		if (!f)
			return 0;
		__u32 fmode = BPF_CORE_READ(f, f_mode);
		return emit_io(task, tgid, a0, (fmode & FMODE_WRITE_) ? KIND_WRITE : KIND_READ);
	}

	case NR_ftruncate:
		return emit_io(task, tgid, a0, KIND_TRUNCATE);
	case NR_truncate:
		return emit_path(KIND_TRUNCATE, tgid, AT_FDCWD_, (const char *)a0, 0);

	// mmap(addr, len, prot, flags, fd, off): a file mapping is a read of
	// the file; a writable shared one is also a write.
	case NR_mmap: {
		if ((unsigned long)ret >= (unsigned long)-4095)
			return 0;
		int fd = (int)BPF_CORE_READ(regs, r8);
		if (fd < 0 || (a3 & MAP_ANONYMOUS_))
			return 0;
		if (a2 & (PROT_READ_ | PROT_EXEC_))
			emit_io(task, tgid, fd, KIND_READ);
		__u64 type = a3 & MAP_TYPE_;
		if ((a2 & PROT_WRITE_) && (type == MAP_SHARED_ || type == MAP_SHARED_VALIDATE_))
			emit_io(task, tgid, fd, KIND_WRITE);
		return 0;
	}

	case NR_rename:
		return emit_rename(tgid, AT_FDCWD_, (const char *)a0, AT_FDCWD_, (const char *)a1, 0);
	case NR_renameat:
		return emit_rename(tgid, a0, (const char *)a1, a2, (const char *)a3, 0);
	case NR_renameat2: {
		__u32 flags = BPF_CORE_READ(regs, r8);
		return emit_rename(tgid, a0, (const char *)a1, a2, (const char *)a3, flags);
	}
	case NR_unlink:
		return emit_path(KIND_UNLINK, tgid, AT_FDCWD_, (const char *)a0, 0);
	case NR_unlinkat:
		return emit_path(KIND_UNLINK, tgid, a0, (const char *)a1, a2);
	}
	return 0;
}

// The task's cgroup v2 id, as bpf_get_current_cgroup_id reports it.
static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	if (ptgid == ctgid)
		return 0; // a new thread, not a new process

	// In scope: the parent is, or the child was born into a scoped cgroup
	// (clone3 with CLONE_INTO_CGROUP, as `bonsai run` starts commands).
	if (!in_scope(ptgid)) {
		__u64 cg = task_cgroup_id(child);
		if (!bpf_map_lookup_elem(&scope_cgroups, &cg))
			return 0;
	}

	// With cfg_all everything is in scope: no need to track.
	__u8 one = 1;
	if (!cfg_all && bpf_map_update_elem(&tracked, &ctgid, &one, BPF_ANY) != 0)
		count_lost(KIND_FORK); // the child may fall out of scope

	struct ev_hdr *h = reserve(sizeof(*h), KIND_FORK);
	if (!h)
		return 0;
	fill_hdr(h, KIND_FORK, ptgid);
	h->child = ctgid;
	bpf_ringbuf_submit(h, 0);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	if (!in_scope(tgid))
		return 0;

	struct ev_path1 *e = reserve(sizeof(*e), KIND_EXEC);
	if (!e)
		return 0;
	fill_hdr(&e->h, KIND_EXEC, tgid);
	struct file_id id = {};
	if (file_ident(BPF_CORE_READ(bprm, file), &id)) {
		e->h.dev = id.dev;
		e->h.ino = id.ino;
		e->h.mode = id.mode;
	}
	const char *filename = BPF_CORE_READ(bprm, filename);
	if (!filename || bpf_probe_read_kernel_str(e->path, PATH_MAX_LEN, filename) < 0)
		e->path[0] = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_exit, struct task_struct *p)
{
	// The tracepoint fires for every exiting thread; signal->live has
	// already been decremented, so 0 means the whole group is gone.
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0;
	__u32 tgid = BPF_CORE_READ(p, tgid);
	if (!in_scope(tgid))
		return 0;
	bpf_map_delete_elem(&tracked, &tgid);

	struct ev_hdr *h = reserve(sizeof(*h), KIND_EXIT);
	if (!h)
		return 0;
	fill_hdr(h, KIND_EXIT, tgid);
	bpf_ringbuf_submit(h, 0);
	return 0;
}
