package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// SignalGrace is how long a command has to stop after SIGINT or SIGTERM
// before the process exits anyway (128+n); a second signal exits at once.
const SignalGrace = 10 * time.Second

// SignalError is the cause of a context cancelled by a signal.
type SignalError struct{ Signal syscall.Signal }

func (e *SignalError) Error() string { return "interrupted by " + signalName(e.Signal) }

// Code is the shell's exit status for a process stopped by the signal.
func (e *SignalError) Code() int { return 128 + int(e.Signal) }

// WithSignals returns a context cancelled, with a *SignalError cause, at
// the first SIGINT or SIGTERM. Past SignalGrace, or at a second signal,
// the process exits with 128+n whatever the command is doing. stop
// releases the signals.
func WithSignals(parent context.Context, stderr *os.File) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var first syscall.Signal
		select {
		case s := <-sigs:
			first = s.(syscall.Signal)
		case <-done:
			return
		}
		cancel(&SignalError{Signal: first})
		at := time.Now()
		grace := time.NewTimer(SignalGrace)
		defer grace.Stop()
		for {
			select {
			case s := <-sigs:
				sig := s.(syscall.Signal)
				if sig == first && time.Since(at) < time.Second {
					// timeout(1) and terminals signal the process group
					// too: the same signal twice at once is one request.
					continue
				}
				fmt.Fprintf(stderr, "bonsai: %s again: stopping now\n", signalName(sig))
				os.Exit(128 + int(sig))
			case <-grace.C:
				fmt.Fprintf(stderr, "bonsai: did not stop within %v of %s: stopping now\n", SignalGrace, signalName(first))
				os.Exit(128 + int(first))
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel(nil)
	}
}

// signalName is the signal's name as shells print it (SIGTERM).
func signalName(s syscall.Signal) string {
	if name := unix.SignalName(s); name != "" {
		return name
	}
	return fmt.Sprintf("signal %d", int(s))
}
