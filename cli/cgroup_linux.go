//go:build linux

package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/bonsai-lineage/bonsai/bpf"
)

// runCgroup is the cgroup (v2) a `bonsai run` command starts in: the
// kernel program scopes capture by its id, and the child is placed in it at
// clone time, so not one of its events is missed.
type runCgroup struct {
	dir string
	fd  int
	id  uint64
}

func newRunCgroup() (*runCgroup, error) {
	mnt, err := bpf.Cgroup2Mount()
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	dir := filepath.Join(mnt, "bonsai", fmt.Sprintf("run-%d", os.Getpid()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("create cgroup %s: %w: needs root (or CAP_BPF, CAP_PERFMON and a delegated cgroup); without them use 'bonsai record'", dir, err)
		}
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	id, err := bpf.CgroupID(dir)
	if err != nil {
		os.Remove(dir)
		return nil, err
	}
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		os.Remove(dir)
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	return &runCgroup{dir: dir, fd: fd, id: id}, nil
}

func (g *runCgroup) procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: g.fd}
}

// remove deletes the cgroup once it is empty (a process the command left
// running keeps it, and it is left for the kernel to report).
func (g *runCgroup) remove() {
	syscall.Close(g.fd)
	if os.Remove(g.dir) == nil {
		os.Remove(filepath.Dir(g.dir)) // the shared parent, when no other run uses it
	}
}
