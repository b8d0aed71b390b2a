//go:build linux

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

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

// populated reports whether any process is still in the cgroup (or one
// of its descendants), from cgroup.events.
func (g *runCgroup) populated() (bool, error) {
	b, err := os.ReadFile(filepath.Join(g.dir, "cgroup.events"))
	if err != nil {
		return false, fmt.Errorf("cgroup %s: %w", g.dir, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "populated "); ok {
			return v != "0", nil
		}
	}
	return false, fmt.Errorf("cgroup %s: cgroup.events has no populated line", g.dir)
}

// waitEmpty waits until every process of the cgroup has exited, or grace
// has passed (false: some still run), or ctx ends.
func (g *runCgroup) waitEmpty(ctx context.Context, grace time.Duration) (bool, error) {
	deadline := time.Now().Add(grace)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		busy, err := g.populated()
		if err != nil || !busy {
			return !busy, err
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return false, nil
		}
	}
}

// kill ends every process of the cgroup (cgroup.kill, Linux 5.14).
func (g *runCgroup) kill() error {
	if err := os.WriteFile(filepath.Join(g.dir, "cgroup.kill"), []byte("1"), 0); err != nil {
		return fmt.Errorf("kill the processes of cgroup %s: %w", g.dir, err)
	}
	return nil
}

// remove deletes the cgroup once it is empty (a process the command left
// running keeps it, and it is left for the kernel to report).
func (g *runCgroup) remove() {
	syscall.Close(g.fd)
	if os.Remove(g.dir) == nil {
		os.Remove(filepath.Dir(g.dir)) // the shared parent, when no other run uses it
	}
}
