//go:build !linux

package enforce

import (
	"context"
	"errors"
)

// Guard is the fanotify backend; fanotify is Linux only.
type Guard struct{}

// ErrUnsupported is returned where fanotify permission events cannot be
// used.
var ErrUnsupported = errors.New("fanotify permission events unavailable")

// NewGuard reports that this system has no fanotify.
func NewGuard(opts ...Option) (*Guard, error) {
	if _, err := newConfig(opts); err != nil {
		return nil, err
	}
	return nil, ErrUnsupported
}

func (g *Guard) Mark([]string) error           { return ErrUnsupported }
func (g *Guard) Marks() []string               { return nil }
func (g *Guard) Run(ctx context.Context) error { return ErrUnsupported }
func (g *Guard) Close() error                  { return nil }
func (g *Guard) AuditDropped() uint64          { return 0 }
func (g *Guard) Invalidate()                   {}
func (g *Guard) Events() uint64                { return 0 }
