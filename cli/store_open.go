package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/urfave/cli/v2"
)

// DefaultLockWait is how long a command waits for a store another bonsai
// process (a command, not a daemon) holds: --lock-wait.
const DefaultLockWait = 10 * time.Second

var lockWaitFlag = &cli.DurationFlag{
	Name:    "lock-wait",
	Usage:   "wait up to `DURATION` for a store another bonsai command holds (0: fail at once)",
	EnvVars: []string{"BONSAI_LOCK_WAIT"},
	Value:   DefaultLockWait,
}

// openStoreWait opens the store of home h, waiting (with a note on stderr,
// once) while another process holds it, up to --lock-wait or until the
// command is interrupted. A home that cannot be read, or a store that
// cannot be written, is said as such (exit 2), never as "run init".
func openStoreWait(c *cli.Context, h string, mode access) (*store.Store, error) {
	open := store.Open
	if mode == reading {
		open = store.OpenReadOnly
	}
	return waitLock(c, h, open)
}

// openAppenderWait opens the home's journal for record (see
// store.Appender), waiting for the lock as openStoreWait does.
func openAppenderWait(c *cli.Context, h string) (*store.Appender, error) {
	return waitLock(c, h, store.OpenAppender)
}

// waitLock calls open until it does not find the store held by another
// process, up to --lock-wait or until the command is interrupted.
func waitLock[T any](c *cli.Context, h string, open func(home string) (T, error)) (T, error) {
	var zero T
	dir := filepath.Join(h, store.DirName)
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return zero, fmt.Errorf("no store in %s (run 'bonsai init' or pass --home)", h)
		}
		return zero, fmt.Errorf("store %s: %w", dir, unwrapPath(err))
	}
	wait := c.Duration("lock-wait")
	if wait < 0 {
		return zero, usagef("--lock-wait %v: must be 0 or more", wait)
	}
	deadline := time.Now().Add(wait)
	pause := 20 * time.Millisecond
	said := false
	for {
		st, err := open(h)
		var inUse *store.InUseError
		if !errors.As(err, &inUse) {
			return st, storeError(dir, err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			return zero, fmt.Errorf("%w (waited %v; --lock-wait sets how long)", err, wait)
		}
		if !said && wait > 0 {
			fmt.Fprintf(c.App.ErrWriter, "bonsai: %v; waiting up to %v…\n", err, wait)
			said = true
		}
		t := time.NewTimer(min(pause, left))
		select {
		case <-c.Context.Done():
			t.Stop()
			return zero, c.Context.Err()
		case <-t.C:
		}
		pause = min(2*pause, 250*time.Millisecond)
	}
}

// storeError says in one line why a store did not open: permissions and
// read-only file systems by name rather than as the storage engine's
// message.
func storeError(dir string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("store %s: permission denied (is it another user's? pass --home)", dir)
	case isReadOnly(err):
		return fmt.Errorf("store %s: read-only file system", dir)
	}
	return err
}

// unwrapPath drops the path an *fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
