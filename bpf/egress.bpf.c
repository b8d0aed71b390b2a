//go:build ignore

// SPDX-License-Identifier: GPL-2.0
//
// Egress control for confidential data (DESIGN.md section 6).
//
// tainted holds the processes that opened a confidential file: the
// enforcing daemon writes a process there while its open waits for the
// fanotify answer, so the data can never be read before the taint is in
// the kernel. A child inherits its parent's taint at fork; an exiting
// process leaves the map. The cgroup socket programs (connect and sendmsg,
// IPv4 and IPv6) refuse a tainted process any destination that is not in
// allow4/allow6. Maps and links are pinned by the daemon: a daemon that
// dies leaves egress denied.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "GPL";

// Sized for every pid the kernel can hand out (PID_MAX_LIMIT) and
// allocated as it fills: a full map would let a child escape its taint.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 22);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);   // tgid
	__type(value, __u64); // unused (0)
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} tainted SEC(".maps");

struct addr4 {
	__u32 ip;   // network order
	__u32 port; // network order, in the low 16 bits
};

struct addr6 {
	__u32 ip[4];
	__u32 port;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct addr4);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} allow4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct addr6);
	__type(value, __u8);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} allow6 SEC(".maps");

// denied counts refused connections and datagrams.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} denied SEC(".maps");

SEC("tp_btf/sched_process_fork")
int BPF_PROG(egress_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	if (ptgid == ctgid)
		return 0; // a thread shares its process's taint
	if (!bpf_map_lookup_elem(&tainted, &ptgid))
		return 0;
	__u64 start = BPF_CORE_READ(child, start_time);
	bpf_map_update_elem(&tainted, &ctgid, &start, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(egress_exit, struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);
	// Only when the whole thread group is gone: a leader may exit, or be
	// replaced by an exec in another thread, while the process goes on.
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	bpf_map_delete_elem(&tainted, &tgid);
	return 0;
}

static __always_inline int is_tainted(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	return bpf_map_lookup_elem(&tainted, &tgid) != 0;
}

static __always_inline int refuse(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&denied, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

static __always_inline int check4(struct bpf_sock_addr *ctx)
{
	if (!is_tainted())
		return 1;
	struct addr4 a = {.ip = ctx->user_ip4, .port = ctx->user_port & 0xffff};
	if (bpf_map_lookup_elem(&allow4, &a))
		return 1;
	return refuse();
}

static __always_inline int check6(struct bpf_sock_addr *ctx)
{
	if (!is_tainted())
		return 1;
	// An IPv4 destination through a dual-stack socket (::ffff:a.b.c.d).
	if (ctx->user_ip6[0] == 0 && ctx->user_ip6[1] == 0 && ctx->user_ip6[2] == bpf_htonl(0xffff)) {
		struct addr4 m = {.ip = ctx->user_ip6[3], .port = ctx->user_port & 0xffff};
		if (bpf_map_lookup_elem(&allow4, &m))
			return 1;
		return refuse();
	}
	struct addr6 a = {.port = ctx->user_port & 0xffff};
	a.ip[0] = ctx->user_ip6[0];
	a.ip[1] = ctx->user_ip6[1];
	a.ip[2] = ctx->user_ip6[2];
	a.ip[3] = ctx->user_ip6[3];
	if (bpf_map_lookup_elem(&allow6, &a))
		return 1;
	return refuse();
}

// A tainted process may create no socket that the connect and sendmsg
// programs do not see: IP sockets other than TCP and UDP (ICMP ping, raw)
// and packet sockets are refused. AF_UNIX stays (local).
SEC("cgroup/sock_create")
int egress_sock_create(struct bpf_sock *ctx)
{
	if (!is_tainted())
		return 1;
	__u32 family = ctx->family, proto = ctx->protocol;
	if (family == 2 /* AF_INET */ || family == 10 /* AF_INET6 */) {
		if (proto == 6 /* TCP */ || proto == 17 /* UDP */)
			return 1;
		return refuse();
	}
	if (family == 17 /* AF_PACKET */)
		return refuse();
	return 1;
}

SEC("cgroup/connect4")
int egress_connect4(struct bpf_sock_addr *ctx) { return check4(ctx); }

SEC("cgroup/sendmsg4")
int egress_sendmsg4(struct bpf_sock_addr *ctx) { return check4(ctx); }

SEC("cgroup/connect6")
int egress_connect6(struct bpf_sock_addr *ctx) { return check6(ctx); }

SEC("cgroup/sendmsg6")
int egress_sendmsg6(struct bpf_sock_addr *ctx) { return check6(ctx); }
