// Package bpf is bonsai's capture: eBPF programs (tracepoints on process
// fork, exec and exit, and on the file syscalls' exit) that tell, for every
// process in scope, which files it created, read and wrote, aggregated in
// the kernel (a read once, a write once per write epoch), with identities
// that never repeat (ProcID, FileID) and paths resolved in the kernel at the
// event; and the Tracker, which keeps the process and file tables those
// events describe and concludes, for each written file, the files it was
// made from (through pipes and temporary files) and the gaps that concern it.
//
// bpf reports observations; package node turns them into records. bpf
// knows no network and no store. The programs are compiled with bpf2go
// (make generate) and the objects are committed, so building needs no clang.
package bpf
