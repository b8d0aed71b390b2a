// Package bpf is bonsai's capture: eBPF programs (tracepoints on process
// fork, exec and exit, and on the file syscalls) that tell, for every
// process in scope, which files it read and wrote, aggregated in the kernel
// to one event per process, file and direction and delivered through a ring
// buffer whose losses are counted; and the Tracker, which keeps the process
// and file tables those events describe and concludes, for each written
// file, the files it was made from — through pipes and temporary files.
//
// bpf reports observations; package node turns them into records. bpf
// knows no network and no store. The programs are compiled with bpf2go
// (make generate) and the objects are committed, so building needs no clang.
package bpf
