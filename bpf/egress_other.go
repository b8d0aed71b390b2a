//go:build !linux

package bpf

import (
	"errors"
	"net/netip"
)

// DefaultEgressPin is where the egress programs would be pinned.
const DefaultEgressPin = "/sys/fs/bpf/bonsai-egress"

// Egress is the egress control; eBPF is Linux only.
type Egress struct{}

// LoadEgress reports that this system has no eBPF.
func LoadEgress(cgroup, pin string) (*Egress, error) {
	return nil, errors.New("bpf: egress control needs Linux")
}

func (e *Egress) Taint(tgid uint32, start uint64) error   { return nil }
func (e *Egress) Tainted(tgid uint32) bool                { return false }
func (e *Egress) SetAllowed(dests []netip.AddrPort) error { return nil }
func (e *Egress) Denied() uint64                          { return 0 }
func (e *Egress) Close() error                            { return nil }
func RemoveEgress(pin string) error                       { return nil }

// Cgroup2Mount: no cgroup v2 outside Linux.
func Cgroup2Mount() (string, error) { return "", errors.New("cgroup v2 needs Linux") }
