package bpf

import "golang.org/x/sys/unix"

// raiseMemlock lifts RLIMIT_MEMLOCK as far as the process may, for kernels
// before 5.11 that charge BPF maps and programs to it (later ones charge
// the memory cgroup, and the limit does not matter). Best effort: where it
// cannot be raised, loading fails on its own and says so. It stands in for
// cilium/ebpf/rlimit, whose package init probes the kernel (creating a BPF
// map) in every process that links it, `bonsai verify` included.
func raiseMemlock() {
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim) != nil || lim.Cur == unix.RLIM_INFINITY {
		return
	}
	want := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if unix.Setrlimit(unix.RLIMIT_MEMLOCK, &want) != nil {
		// Without CAP_SYS_RESOURCE: up to the hard limit.
		want = unix.Rlimit{Cur: lim.Max, Max: lim.Max}
		_ = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &want)
	}
}
