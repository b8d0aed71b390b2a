//go:build !linux || !amd64

package bpf

import (
	"fmt"
	"time"
)

// Capture is unavailable on this platform: Open returns ErrNotSupported.
// (The programs use x86_64 syscall numbers and registers.)
type Capture struct{}

func errPlatform() error {
	return fmt.Errorf("bpf: %w (linux/amd64 only)", ErrNotSupported)
}

// Open returns an error wrapping ErrNotSupported.
func Open(opts Options) (*Capture, error) { return nil, errPlatform() }

// AddCgroup returns an error wrapping ErrNotSupported.
func (c *Capture) AddCgroup(id uint64) error { return errPlatform() }

// AddPID returns an error wrapping ErrNotSupported.
func (c *Capture) AddPID(pid uint32) error { return errPlatform() }

// Read returns an error wrapping ErrNotSupported.
func (c *Capture) Read() (Event, error) { return Event{}, errPlatform() }

// Flush returns an error wrapping ErrNotSupported.
func (c *Capture) Flush() error { return errPlatform() }

// Lost returns an error wrapping ErrNotSupported.
func (c *Capture) Lost() (Losses, error) { return Losses{}, errPlatform() }

// RunTime returns an error wrapping ErrNotSupported.
func (c *Capture) RunTime() (time.Duration, error) { return 0, errPlatform() }

// ForgetLosses returns an error wrapping ErrNotSupported.
func (c *Capture) ForgetLosses([]ProcID) error { return errPlatform() }

// Close does nothing.
func (c *Capture) Close() error { return nil }

// CgroupID returns an error wrapping ErrNotSupported.
func CgroupID(path string) (uint64, error) { return 0, errPlatform() }
