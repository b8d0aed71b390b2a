package bpf

// Regenerate the eBPF object and its Go bindings (needs clang and
// libbpf-dev), then record the sources' hashes for generate_test.go.
// `make generate` runs this. vmlinux.h comes from
// `bpftool btf dump file /sys/kernel/btf/vmlinux format c`.
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target amd64 -tags linux -type ev_hdr -type prefix capture capture.bpf.c -- -I. -O2 -g -Wall -Werror
//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target amd64 -tags linux -type addr4 -type addr6 egress egress.bpf.c -- -I. -O2 -g -Wall -Werror
//go:generate sh -c "sha256sum capture.bpf.c egress.bpf.c vmlinux.h gen.go > capture.bpf.c.sha256"
