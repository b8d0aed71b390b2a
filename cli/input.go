package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/bonsai-lineage/bonsai/internal/fsx"
)

// readInput reads a whole input file of at most max bytes: a regular
// file, a pipe or FIFO (as from <(...)), or standard input for "-". A
// device, socket or directory is refused without blocking on it. Opening a FIFO waits for its writer and
// reading waits for its data, both until ctx ends: an interrupted command
// returns at once rather than hanging in open(2) or read(2).
func readInput(ctx context.Context, path string, max int64) ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := readInputBlocking(path, max)
		done <- result{data, err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-ctx.Done():
		// The reader stays blocked in the kernel until the process exits,
		// which an interrupted command is about to do.
		return nil, fmt.Errorf("read %s: %w", path, context.Cause(ctx))
	}
}

func readInputBlocking(path string, max int64) ([]byte, error) {
	f := os.Stdin
	name := "standard input"
	if path != "-" {
		// Non-blocking first: opening a device can act on it, and a FIFO
		// would wait; the type is checked on what was opened.
		nb, mode, err := fsx.Open(path)
		if err != nil {
			return nil, err
		}
		defer nb.Close()
		f, name = nb, path
		switch m := mode; {
		case m.IsRegular():
		case m&os.ModeNamedPipe != 0:
			// A FIFO: opened again, blocking, to wait for its writer (the
			// caller gives up on it when its context ends).
			nb.Close()
			if f, err = os.Open(path); err != nil {
				return nil, err
			}
			defer f.Close()
		case m.IsDir():
			return nil, fmt.Errorf("%s: is a directory", name)
		default:
			return nil, fmt.Errorf("%s: not a regular file or FIFO", name)
		}
	}
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	return data, nil
}
