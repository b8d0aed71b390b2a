//go:build !linux

package cli

import (
	"errors"
	"syscall"
)

type runCgroup struct{ id uint64 }

func newRunCgroup() (*runCgroup, error) {
	return nil, errors.New("bonsai run needs Linux (cgroups and eBPF); use 'bonsai record'")
}

func (g *runCgroup) procAttr() *syscall.SysProcAttr { return nil }

func (g *runCgroup) remove() {}
