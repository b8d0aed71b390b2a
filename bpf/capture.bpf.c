//go:build ignore

// SPDX-License-Identifier: GPL-2.0
//
// Kernel side of lineage capture (DESIGN.md section 5).
//
// Programs: tp_btf/sched_process_{fork,exec,exit} for the process table and
// one tp_btf program on sys_exit that switches on the x86_64 syscall number
// (the arguments are still in pt_regs there). Nothing runs at sys_enter:
// a hook there would cost every syscall of the machine.
//
// Identities never repeat. A process is (tgid, start time of its thread
// group leader); a file is (device, inode, i_generation), and an open that
// created the file (FMODE_CREATED) is reported, so that a file system whose
// generations do not change still shows a reused inode as a new file.
//
// Paths are resolved here, at the event, by walking the dentry chain up to
// the root of the mount namespace (crossing mounts), never later from /proc.
// A path cut short (deeper than MAX_COMP components or longer than STR_MAX
// bytes) is flagged EVF_CUT, never guessed.
//
// Every event is about a task in scope: its cgroup v2 id is in
// scope_cgroups, its tgid is in tracked (descendants of scoped tasks), or
// cfg_all is set. Read and truncate events are aggregated in the LRU map
// seen: one event per (process, file, kind). A Write is reported again
// only when its process has read a new file since its last Write of that
// file (a write epoch, counted in epochs): what an output is made from is
// then told by the reads before each of its Writes, with no close(2) hook.
// With cfg_skip_system, a read of a file under a system prefix
// (sys_prefixes) that no process in scope wrote (written) is not reported.
//
// Records on the ring buffer are a struct ev_hdr followed by up to four
// strings whose lengths are in len[] (no terminating NULs; decoded in
// bpf/capture_linux.go). They are built in a per-CPU scratch buffer and
// copied out with bpf_ringbuf_output; consumers are woken only when a batch
// has accumulated (WAKE_BYTES) and otherwise poll. A record that does not
// fit is counted in the per-CPU array lost, by kind, and charged to its
// process in the map gaps, so that user space marks only what it concerns.

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
	KIND_CREATE,
	KIND_READ,
	KIND_WRITE,
	KIND_RENAME,
	KIND_UNLINK,
	KIND_TRUNCATE,
	KIND_MAX,
};

// lost[] slot for losses that could not be charged to a process (the gaps
// map was full): user space then marks everything incomplete.
#define LOST_UNCHARGED 15

// Event flags (ev_hdr.flags); keep in sync with bpf/event.go.
#define EVF_CUT 0x1	// a kernel path was cut short
#define EVF_UNREAD 0x2	// a user string could not be read
#define EVF_CREATED 0x4 // the open created the file

#define MAX_COMP 64		// path components walked
#define COMP_MASK (MAX_COMP - 1)
#define NAME_MAX_ 255
#define STR_MAX 4096		// one string (PATH_MAX)
#define STRS_MAX (4 * STR_MAX)	// all strings of a record
#define WAKE_BYTES (1 << 20)	// wake the reader past this much unread data
#define MAX_PREFIXES 16		// system path prefixes

#define AT_FDCWD_ -100
#define TS_COMPAT_ 0x0002
#define PROT_READ_ 0x1
#define PROT_WRITE_ 0x2
#define PROT_EXEC_ 0x4
#define MAP_SHARED_ 0x01
#define MAP_SHARED_VALIDATE_ 0x03
#define MAP_TYPE_ 0x0f
#define MAP_ANONYMOUS_ 0x20
#define FMODE_WRITE_ 0x2
#define FMODE_CREATED_ 0x100000
#define S_IFMT_ 0170000
#define S_IFREG_ 0100000
#define S_IFCHR_ 0020000
#define S_IFBLK_ 0060000
#define EEXIST_ 17

// x86_64 syscall numbers.
#define NR_read 0
#define NR_write 1
#define NR_open 2
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
	__u32 pid;	   // tgid
	__u64 start;	   // start time of the thread group leader (ns since boot)
	__u32 child;	   // Fork: the child's tgid
	__u32 flags;	   // EVF_*
	__u64 child_start; // Fork: the child's start time
	__u64 dev;	   // kernel encoding (MAJOR << 20 | MINOR); Go converts
	__u64 ino;
	__u32 gen;	   // i_generation
	__u32 mode;	   // i_mode
	__u32 nlink;
	__u32 uid;	   // Exec: the effective uid
	__u32 arg;	   // Create: open flags; Rename: renameat2 flags; Unlink: unlinkat flags
	__u16 len[4];	   // lengths of the strings that follow
	__u32 pad;
	__u64 time;
};

// A record being built.
struct scratch {
	struct ev_hdr h;
	char buf[STRS_MAX + STR_MAX];
};

// The components of a path being walked, leaf first.
struct walk {
	__u64 name[MAX_COMP];
	__u32 len[MAX_COMP];
};

// Aggregation key: one Read/Write/Truncate per process, file and direction.
struct seen_key {
	__u32 tgid;
	__u32 kind;
	__u64 start;
	__u64 dev;
	__u64 ino;
	__u32 gen;
	__u32 pad;
};

struct proc_key {
	__u32 tgid;
	__u32 pad;
	__u64 start;
};

// A path prefix, as two little-endian words and their masks (filled in by
// the loader from bpf.SystemPrefixes).
struct prefix {
	__u64 word[2];
	__u64 mask[2];
	__u32 len;
	__u32 pad;
};

struct file_id {
	__u64 dev;
	__u64 ino;
	__u32 gen;
	__u32 mode;
	__u32 nlink;
};

struct file_key {
	__u64 dev;
	__u64 ino;
	__u32 gen;
	__u32 pad;
};

const volatile __u32 cfg_all = 0;
const volatile __u32 cfg_skip_system = 0;

// Unused; keeps struct ev_hdr in the BTF so that bpf2go emits its Go twin
// (captureEvHdr), against which a test checks the decoder's offsets.
const struct ev_hdr *ev_hdr_btf __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratches SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct walk);
} walks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, __u8);
} scope_cgroups SEC(".maps");

// Maps that need no entry for most of their keys are allocated as they
// fill (BPF_F_NO_PREALLOC): preallocating them is most of a load's cost.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, __u8);
} tracked SEC(".maps");

// Value: for a Write, the write epoch of its process when it was reported.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct seen_key);
	__type(value, __u64);
} seen SEC(".maps");

// Per process: how many files it has been reported reading. Not an LRU: a
// forgotten epoch would hide a Write. Deleted at exit.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct proc_key);
	__type(value, __u64);
} epochs SEC(".maps");

// Files a process in scope wrote (reads of them are always reported).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct file_key);
	__type(value, __u8);
} written SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_PREFIXES);
	__type(key, __u32);
	__type(value, struct prefix);
} sys_prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

// Processes that lost events: value is a bit mask of the kinds (1 << kind).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct proc_key);
	__type(value, __u64);
} gaps SEC(".maps");

static __always_inline void count_lost(__u32 kind)
{
	__u64 *v = bpf_map_lookup_elem(&lost, &kind);
	if (v)
		__sync_fetch_and_add(v, 1);
}

// charge_lost counts a lost event of kind and charges it to the process
// (tgid, start): its outputs, and what descends from it, are incomplete.
static __always_inline void charge_lost(__u32 kind, __u32 tgid, __u64 start)
{
	count_lost(kind);
	struct proc_key key = {.tgid = tgid, .start = start};
	__u64 bit = 1ULL << (kind & 63);
	__u64 *v = bpf_map_lookup_elem(&gaps, &key);
	if (v) {
		__sync_fetch_and_or(v, bit);
		return;
	}
	if (bpf_map_update_elem(&gaps, &key, &bit, BPF_NOEXIST) == -EEXIST_) {
		v = bpf_map_lookup_elem(&gaps, &key);
		if (v)
			__sync_fetch_and_or(v, bit);
		return;
	}
	// Either stored, or the map is full: then say so.
	if (!bpf_map_lookup_elem(&gaps, &key))
		count_lost(LOST_UNCHARGED);
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

static __always_inline __u64 leader_start(struct task_struct *task)
{
	return BPF_CORE_READ(task, group_leader, start_time);
}

// begin starts a record in this CPU's scratch buffer.
static __always_inline struct scratch *begin(__u32 kind, __u32 tgid, __u64 start)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratches, &zero);
	if (!s)
		return NULL;
	__builtin_memset(&s->h, 0, sizeof(s->h));
	s->h.kind = kind;
	s->h.pid = tgid;
	s->h.start = start;
	s->h.time = bpf_ktime_get_ns();
	return s;
}

// submit copies the record out; 0 on success.
static __always_inline long submit(struct scratch *s)
{
	__u32 total = (__u32)s->h.len[0] + s->h.len[1] + s->h.len[2] + s->h.len[3];
	if (total > STRS_MAX)
		total = STRS_MAX;
	__u64 flags = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= WAKE_BYTES ? BPF_RB_FORCE_WAKEUP
										: BPF_RB_NO_WAKEUP;
	long err = bpf_ringbuf_output(&events, s, sizeof(s->h) + total, flags);
	if (err)
		charge_lost(s->h.kind, s->h.pid, s->h.start);
	return err;
}

// set_len sets the length of string slot (a switch: the verifier loses a
// masked index that the compiler knows is in range).
static __always_inline void set_len(struct scratch *s, __u32 slot, __u32 len)
{
	len &= STR_MAX * 2 - 1;
	switch (slot) {
	case 0:
		s->h.len[0] = len;
		break;
	case 1:
		s->h.len[1] = len;
		break;
	case 2:
		s->h.len[2] = len;
		break;
	case 3:
		s->h.len[3] = len;
		break;
	}
}

// slot_base is where string slot starts: after the strings before it.
static __always_inline __u32 slot_base(struct scratch *s, __u32 slot)
{
	__u32 base = 0;
	if (slot > 0)
		base += s->h.len[0] & (STR_MAX * 2 - 1);
	if (slot > 1)
		base += s->h.len[1] & (STR_MAX * 2 - 1);
	if (slot > 2)
		base += s->h.len[2] & (STR_MAX * 2 - 1);
	return base;
}

// The state of a path walk, shared by add_kpath's two bpf_loop callbacks
// (a callback is verified once, where an unrolled walk would be verified
// path by path).
struct walk_ctx {
	__u64 d;	// current dentry
	__u64 vm;	// current vfsmount
	__u64 mnt;	// its struct mount
	__u64 mnt_off;	// offsetof(struct mount, mnt)
	__u32 n;	// components collected
	__u32 done;	// reached the root
	__u32 base;	// where the string starts in the scratch buffer
	__u32 pos;	// bytes written
	__u32 cut;
};

// walk_up collects one component of the path, leaf first, or crosses a
// mount point. Returns 1 to stop.
static long walk_up(__u64 i, struct walk_ctx *c)
{
	__u32 zero = 0;
	struct walk *w = bpf_map_lookup_elem(&walks, &zero);
	if (!w)
		return 1;
	struct dentry *d = (struct dentry *)c->d;
	struct mount *mnt = (struct mount *)c->mnt;
	struct vfsmount *vm = (struct vfsmount *)c->vm; // not inside BPF_CORE_READ: walk_ctx is ours
	struct dentry *root = BPF_CORE_READ(vm, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);
	if (d == root || d == parent) {
		struct mount *up = BPF_CORE_READ(mnt, mnt_parent);
		// The namespace's root mount is its own parent; a dentry that
		// is its own parent without being the mount's root is not
		// reachable from the root (a pseudo file system).
		if (d == root && up == mnt) {
			c->done = 1;
			return 1;
		}
		if (d != root || !up)
			return 1;
		c->d = (__u64)BPF_CORE_READ(mnt, mnt_mountpoint);
		c->mnt = (__u64)up;
		c->vm = (__u64)up + c->mnt_off;
		return 0;
	}
	if (c->n >= MAX_COMP)
		return 1;
	w->name[c->n & COMP_MASK] = (__u64)BPF_CORE_READ(d, __d_name.name);
	w->len[c->n & COMP_MASK] = BPF_CORE_READ(d, __d_name.len);
	c->n++;
	c->d = (__u64)parent;
	return 0;
}

// write_down appends the components root first: "/" and a name each.
static long write_down(__u64 k, struct walk_ctx *c)
{
	__u32 zero = 0;
	struct walk *w = bpf_map_lookup_elem(&walks, &zero);
	struct scratch *s = bpf_map_lookup_elem(&scratches, &zero);
	if (!w || !s || k >= c->n)
		return 1;
	__u32 j = (c->n - 1 - k) & COMP_MASK;
	__u32 l = w->len[j];
	if (l > NAME_MAX_)
		l = NAME_MAX_;
	__u32 pos = c->pos;
	if (pos > STR_MAX || pos + 1 + l > STR_MAX - 1) {
		c->cut = 1;
		return 1;
	}
	s->buf[(c->base + pos) & (STRS_MAX - 1)] = '/';
	pos++;
	bpf_probe_read_kernel(&s->buf[(c->base + pos) & (STRS_MAX - 1)], l, (void *)w->name[j]);
	c->pos = pos + l;
	return 0;
}

// add_kpath appends, as string slot, the absolute path of the dentry
// under the mount vfsmnt (both kernel addresses), walking up to the root
// of the mount namespace. Slots must be filled in order.
__noinline int add_kpath(__u64 dentry_addr, __u64 vfsmnt_addr, __u32 slot)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratches, &zero);
	if (!s || slot > 3 || !dentry_addr || !vfsmnt_addr)
		return 0;
	struct walk_ctx c = {
		.d = dentry_addr,
		.vm = vfsmnt_addr,
		.mnt_off = bpf_core_field_offset(struct mount, mnt),
	};
	c.mnt = vfsmnt_addr - c.mnt_off;
	// MAX_COMP components plus a few mount crossings.
	bpf_loop(MAX_COMP + 8, walk_up, &c, 0);
	c.cut = !c.done;
	c.base = slot_base(s, slot);
	bpf_loop(MAX_COMP, write_down, &c, 0);
	__u32 pos = c.pos;
	if (c.cut)
		pos = 0; // a part of a path is no path: say it was cut instead
	if (c.n == 0 && !c.cut) {
		s->buf[c.base & (STRS_MAX - 1)] = '/';
		pos = 1;
	}
	set_len(s, slot, pos);
	if (c.cut)
		s->h.flags |= EVF_CUT;
	return c.cut;
}

// add_ustr appends, as string slot, a string from user memory.
__noinline int add_ustr(__u64 uaddr, __u32 slot)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratches, &zero);
	if (!s || slot > 3)
		return 0;
	__u32 base = slot_base(s, slot);
	long n = 0;
	if (uaddr)
		n = bpf_probe_read_user_str(&s->buf[base & (STRS_MAX - 1)], STR_MAX, (void *)uaddr);
	if (n <= 0) {
		set_len(s, slot, 0);
		s->h.flags |= EVF_UNREAD;
		return 1;
	}
	set_len(s, slot, (n - 1) & (STR_MAX - 1));
	return 0;
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

static __always_inline bool file_ident(struct file *f, struct file_id *id)
{
	if (!f)
		return false;
	struct inode *inode = BPF_CORE_READ(f, f_inode);
	if (!inode)
		return false;
	id->ino = BPF_CORE_READ(inode, i_ino);
	id->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	id->gen = BPF_CORE_READ(inode, i_generation);
	id->mode = BPF_CORE_READ(inode, i_mode);
	id->nlink = BPF_CORE_READ(inode, __i_nlink);
	return true;
}

static __always_inline void set_file(struct scratch *s, struct file_id *id)
{
	s->h.dev = id->dev;
	s->h.ino = id->ino;
	s->h.gen = id->gen;
	s->h.mode = id->mode;
	s->h.nlink = id->nlink;
}

// add_file_path appends the path of f as slot 0 when it is a regular file:
// pipes and sockets need none, and the walk is the costly part.
static __always_inline void add_file_path(struct file *f, struct file_id *id)
{
	if ((id->mode & S_IFMT_) != S_IFREG_)
		return;
	add_kpath((__u64)BPF_CORE_READ(f, f_path.dentry), (__u64)BPF_CORE_READ(f, f_path.mnt), 0);
}

// system_path reports whether the path in string slot 0 starts with one
// of sys_prefixes.
struct prefix_ctx {
	__u64 w0;
	__u64 w1;
	__u32 len;
	__u32 hit;
};

static long match_prefix(__u64 i, struct prefix_ctx *c)
{
	__u32 k = i;
	struct prefix *p = bpf_map_lookup_elem(&sys_prefixes, &k);
	if (!p || p->len == 0)
		return 1; // the list ends
	if (p->len <= c->len && (c->w0 & p->mask[0]) == p->word[0] && (c->w1 & p->mask[1]) == p->word[1]) {
		c->hit = 1;
		return 1;
	}
	return 0;
}

static __always_inline bool system_path(struct scratch *s)
{
	struct prefix_ctx c = {.len = s->h.len[0]};
	__builtin_memcpy(&c.w0, &s->buf[0], 8);
	__builtin_memcpy(&c.w1, &s->buf[8], 8);
	bpf_loop(MAX_PREFIXES, match_prefix, &c, 0);
	return c.hit;
}

// Emit an aggregated Read, Write or Truncate for fd: a Read or Truncate
// once per process and file; a Write once per write epoch of its process
// (again after the process has read a new file).
__noinline int emit_io(__u64 task_addr, __u32 tgid, __s32 fd, __u32 kind)
{
	struct task_struct *task = (struct task_struct *)task_addr;
	struct file *f = fd_file(task, fd);
	struct file_id id = {};
	if (!file_ident(f, &id))
		return 0;
	__u32 type = id.mode & S_IFMT_;
	if (kind == KIND_WRITE && (type == S_IFCHR_ || type == S_IFBLK_))
		return 0; // a terminal, /dev/null, a disk: no output, no lineage

	__u64 start = leader_start(task);
	struct proc_key pk = {.tgid = tgid, .start = start};
	struct seen_key key = {};
	key.tgid = tgid;
	key.kind = kind;
	key.start = start;
	key.dev = id.dev;
	key.ino = id.ino;
	key.gen = id.gen;
	__u64 epoch = 0;
	if (kind == KIND_WRITE) {
		__u64 *e = bpf_map_lookup_elem(&epochs, &pk);
		if (e)
			epoch = *e;
	}
	__u64 *last = bpf_map_lookup_elem(&seen, &key);
	if (last && (kind != KIND_WRITE || *last == epoch))
		return 0; // already reported (a Write: nothing new read since)

	struct scratch *s = begin(kind, tgid, start);
	if (!s)
		return 0;
	set_file(s, &id);
	add_file_path(f, &id);
	struct file_key fk = {.dev = id.dev, .ino = id.ino, .gen = id.gen};
	if (kind == KIND_READ && cfg_skip_system && !(s->h.flags & EVF_CUT) && system_path(s) &&
	    !bpf_map_lookup_elem(&written, &fk)) {
		// A system file nothing in scope wrote: not an input worth an
		// edge. Remembered, so the walk is not done again.
		bpf_map_update_elem(&seen, &key, &epoch, BPF_ANY);
		return 0;
	}
	if (submit(s))
		return 0; // charged to the process; a later call tries again
	if (last)
		*last = epoch;
	else
		bpf_map_update_elem(&seen, &key, &epoch, BPF_ANY);
	if (kind == KIND_READ) {
		__u64 *e = bpf_map_lookup_elem(&epochs, &pk);
		if (e) {
			__sync_fetch_and_add(e, 1);
		} else {
			__u64 one = 1;
			if (bpf_map_update_elem(&epochs, &pk, &one, BPF_NOEXIST) && !bpf_map_lookup_elem(&epochs, &pk))
				// Its Writes can no longer be told apart by what
				// was read before them: as good as lost reads.
				charge_lost(KIND_READ, tgid, start);
		}
	} else {
		__u8 one = 1;
		bpf_map_update_elem(&written, &fk, &one, BPF_ANY);
	}
	return 0;
}

// emit_create reports an open that created its file: the inode is new,
// whatever its number and generation say.
__noinline int emit_create(__u64 task_addr, __u32 tgid, __s32 fd, __u32 oflags)
{
	struct task_struct *task = (struct task_struct *)task_addr;
	struct file *f = fd_file(task, fd);
	if (!f)
		return 0;
	__u32 fmode = BPF_CORE_READ(f, f_mode);
	if (!(fmode & FMODE_CREATED_))
		return 0;
	struct file_id id = {};
	if (!file_ident(f, &id))
		return 0;
	struct scratch *s = begin(KIND_CREATE, tgid, leader_start(task));
	if (!s)
		return 0;
	set_file(s, &id);
	s->h.flags |= EVF_CREATED;
	s->h.arg = oflags;
	add_file_path(f, &id);
	submit(s);
	return 0;
}

// add_dir appends as slot the directory a *at syscall's dirfd names (the
// working directory for AT_FDCWD), unless the name is absolute.
static __always_inline void add_dir(struct task_struct *task, int dirfd, const char *name, __u32 slot)
{
	char c = 0;
	if (name)
		bpf_probe_read_user(&c, 1, name);
	if (c == '/')
		return; // the name says it all; the slot stays empty
	__u64 dentry, mnt;
	if (dirfd == AT_FDCWD_) {
		dentry = (__u64)BPF_CORE_READ(task, fs, pwd.dentry);
		mnt = (__u64)BPF_CORE_READ(task, fs, pwd.mnt);
	} else {
		struct file *f = fd_file(task, dirfd);
		if (!f) {
			struct scratch *s;
			__u32 zero = 0;
			s = bpf_map_lookup_elem(&scratches, &zero);
			if (s)
				s->h.flags |= EVF_CUT;
			return;
		}
		dentry = (__u64)BPF_CORE_READ(f, f_path.dentry);
		mnt = (__u64)BPF_CORE_READ(f, f_path.mnt);
	}
	add_kpath(dentry, mnt, slot);
}

// add_name appends a name given to a *at syscall as two string slots: the
// directory it is relative to (empty when the name is absolute) and the
// name as given.
__noinline int add_name(__u64 task_addr, __s32 dirfd, __u64 name, __u32 slot)
{
	add_dir((struct task_struct *)task_addr, dirfd, (const char *)name, slot);
	add_ustr(name, slot + 1);
	return 0;
}

// emit_names reports a rename (two names) or an unlink (one).
static __always_inline int emit_names(struct task_struct *task, __u32 tgid, __u32 kind, __s32 dirfd,
				      __u64 name, __s32 dirfd2, __u64 name2, __u32 arg)
{
	struct scratch *s = begin(kind, tgid, leader_start(task));
	if (!s)
		return 0;
	s->h.arg = arg;
	add_name((__u64)task, dirfd, name, 0);
	if (kind == KIND_RENAME)
		add_name((__u64)task, dirfd2, name2, 2);
	submit(s);
	return 0;
}

static __always_inline bool compat_task(struct task_struct *task)
{
	return (BPF_CORE_READ(task, thread_info.status) & TS_COMPAT_) != 0;
}

static __always_inline bool interesting_exit(long nr)
{
	switch (nr) {
	case NR_read:
	case NR_write:
	case NR_open:
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
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!in_scope(tgid))
		return 0;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (compat_task(task))
		return 0;
	if (ret < 0)
		return 0;
	__u64 t = (__u64)task;

	__u64 a0 = BPF_CORE_READ(regs, di);
	__u64 a1 = BPF_CORE_READ(regs, si);
	__u64 a2 = BPF_CORE_READ(regs, dx);
	__u64 a3 = BPF_CORE_READ(regs, r10);

	switch (nr) {
	// Opens: ret is the new fd; only a creation is reported (reads and
	// writes carry the path themselves).
	case NR_open:
		return emit_create(t, tgid, ret, a1);
	case NR_creat:
		return emit_create(t, tgid, ret, 0);
	case NR_openat:
		return emit_create(t, tgid, ret, a2);
	case NR_openat2: {
		__u64 flags = 0; // struct open_how starts with __u64 flags
		bpf_probe_read_user(&flags, sizeof(flags), (void *)a2);
		return emit_create(t, tgid, ret, flags);
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
		return emit_io(t, tgid, a0, KIND_READ);

	// Writes.
	case NR_write:
	case NR_pwrite64:
	case NR_writev:
	case NR_pwritev:
	case NR_pwritev2:
	case NR_sendto:
	case NR_sendmsg:
	case NR_sendmmsg:
		return emit_io(t, tgid, a0, KIND_WRITE);

	// Copies: copy_file_range(fd_in, off_in, fd_out, ...),
	// splice(fd_in, off_in, fd_out, ...), tee(fd_in, fd_out, ...),
	// sendfile(out_fd, in_fd, ...).
	case NR_copy_file_range:
	case NR_splice:
		emit_io(t, tgid, a0, KIND_READ);
		return emit_io(t, tgid, a2, KIND_WRITE);
	case NR_tee:
		emit_io(t, tgid, a0, KIND_READ);
		return emit_io(t, tgid, a1, KIND_WRITE);
	case NR_sendfile:
		emit_io(t, tgid, a1, KIND_READ);
		return emit_io(t, tgid, a0, KIND_WRITE);
	case NR_vmsplice: {
		// User memory into a pipe's write end, or out of its read end.
		struct file *f = fd_file(task, a0);
		if (!f)
			return 0;
		__u32 fmode = BPF_CORE_READ(f, f_mode);
		return emit_io(t, tgid, a0, (fmode & FMODE_WRITE_) ? KIND_WRITE : KIND_READ);
	}

	case NR_ftruncate:
		return emit_io(t, tgid, a0, KIND_TRUNCATE);

	// mmap(addr, len, prot, flags, fd, off): a file mapping is a read of
	// the file; a writable shared one is also a write.
	case NR_mmap: {
		if ((unsigned long)ret >= (unsigned long)-4095)
			return 0;
		int fd = (int)BPF_CORE_READ(regs, r8);
		if (fd < 0 || (a3 & MAP_ANONYMOUS_))
			return 0;
		if (a2 & (PROT_READ_ | PROT_EXEC_))
			emit_io(t, tgid, fd, KIND_READ);
		__u64 type = a3 & MAP_TYPE_;
		if ((a2 & PROT_WRITE_) && (type == MAP_SHARED_ || type == MAP_SHARED_VALIDATE_))
			emit_io(t, tgid, fd, KIND_WRITE);
		return 0;
	}

	case NR_rename:
		return emit_names(task, tgid, KIND_RENAME, AT_FDCWD_, a0, AT_FDCWD_, a1, 0);
	case NR_renameat:
		return emit_names(task, tgid, KIND_RENAME, a0, a1, a2, a3, 0);
	case NR_renameat2: {
		__u32 flags = BPF_CORE_READ(regs, r8);
		return emit_names(task, tgid, KIND_RENAME, a0, a1, a2, a3, flags);
	}
	case NR_unlink:
		return emit_names(task, tgid, KIND_UNLINK, AT_FDCWD_, a0, 0, 0, 0);
	case NR_unlinkat:
		return emit_names(task, tgid, KIND_UNLINK, a0, a1, 0, 0, a2);
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
	__u64 cstart = BPF_CORE_READ(child, start_time);

	// With cfg_all everything is in scope: no need to track.
	__u8 one = 1;
	if (!cfg_all && bpf_map_update_elem(&tracked, &ctgid, &one, BPF_ANY) != 0)
		charge_lost(KIND_FORK, ctgid, cstart); // the child may fall out of scope

	struct scratch *s = begin(KIND_FORK, ptgid, leader_start(parent));
	if (!s)
		return 0;
	s->h.child = ctgid;
	s->h.child_start = cstart;
	if (bpf_ringbuf_output(&events, s, sizeof(s->h), BPF_RB_NO_WAKEUP))
		// The child's parent, and so what it inherited, is unknown.
		charge_lost(KIND_FORK, ctgid, cstart);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 tgid = BPF_CORE_READ(p, tgid);
	if (!in_scope(tgid))
		return 0;

	struct scratch *s = begin(KIND_EXEC, tgid, leader_start(p));
	if (!s)
		return 0;
	s->h.uid = BPF_CORE_READ(p, cred, euid.val);
	struct file *f = BPF_CORE_READ(bprm, file);
	struct file_id id = {};
	if (file_ident(f, &id)) {
		set_file(s, &id);
		add_kpath((__u64)BPF_CORE_READ(f, f_path.dentry), (__u64)BPF_CORE_READ(f, f_path.mnt), 0);
	}
	submit(s);
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
	struct proc_key pk = {.tgid = tgid, .start = leader_start(p)};
	bpf_map_delete_elem(&epochs, &pk);

	struct scratch *s = begin(KIND_EXIT, tgid, pk.start);
	if (s)
		submit(s);
	return 0;
}
