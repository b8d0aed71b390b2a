package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ErrInUse means another process owns the store.
var ErrInUse = errors.New("store in use")

// InUseError names the process that holds the store.
type InUseError struct {
	Path string
	PID  int // 0 when the owner did not write its pid
}

func (e *InUseError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("store %s in use by pid %d", e.Path, e.PID)
	}
	return fmt.Sprintf("store %s in use by another process", e.Path)
}

func (e *InUseError) Unwrap() error { return ErrInUse }

// lockFile takes an exclusive, non-blocking flock on path and writes our
// pid into it. A flock is per open file, so a second Open in the same
// process is refused too, and the kernel drops it when the process dies:
// kill -9 never leaves a stale lock.
func lockFile(path, store string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			b, _ := io.ReadAll(io.LimitReader(f, 32))
			line, _, _ := strings.Cut(string(b), "\n")
			pid, _ := strconv.Atoi(strings.TrimSpace(line))
			return nil, &InUseError{Path: store, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Overwrite, then cut: a reader never sees an empty file, only our
	// pid line (possibly followed by the tail of an older one).
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if _, err := f.WriteAt(pid, 0); err == nil {
		_ = f.Truncate(int64(len(pid)))
	}
	return f, nil
}
