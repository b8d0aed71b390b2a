//go:build !linux

package cli

import (
	"context"
	"errors"
	"syscall"
	"time"
)

type runCgroup struct{ id uint64 }

func newRunCgroup() (*runCgroup, error) {
	return nil, errors.New("bonsai run needs Linux (cgroups and eBPF); use 'bonsai record'")
}

func (g *runCgroup) procAttr() *syscall.SysProcAttr { return nil }

func (g *runCgroup) waitEmpty(context.Context, time.Duration) (bool, error) { return true, nil }

func (g *runCgroup) kill() error { return nil }

func (g *runCgroup) remove() {}
