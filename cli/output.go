package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bonsai-lineage/bonsai/node/store"
)

// checkOutput refuses an output path that exists, unless force is set and
// it is a regular file: a device, FIFO, socket, directory or symlink is
// never replaced. "-" (standard output) always passes.
func checkOutput(path string, force bool) error {
	if path == "-" {
		return nil
	}
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: exists and is a %s, not a regular file: not replaced", path, fileKind(st.Mode()))
	}
	if !force {
		return fmt.Errorf("%s: exists: not replaced (--force replaces it)", path)
	}
	return nil
}

// fileKind names a file's type for people.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "block device"
	}
	return "special file"
}

// writeStream runs write on w, buffered, and flushes: an export to
// standard output, written as it goes.
func writeStream(w io.Writer, write func(io.Writer) error) error {
	bw := bufio.NewWriter(w)
	if err := write(bw); err != nil {
		return fmt.Errorf("write to standard output: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write to standard output: %w", err)
	}
	return nil
}

// writeOutput runs write on a temporary file next to path, syncs it and
// puts it in place, so a failed export never leaves half a file under the
// name asked for. Without force it links rather than renames, so a file
// that appeared at path meanwhile is never replaced; with force, only a
// regular file is.
func writeOutput(path string, force bool, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bonsai-export-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	bw := bufio.NewWriter(tmp)
	if err := write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o666&^umask()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if force {
		if err := checkOutput(path, true); err != nil {
			return err
		}
		err = os.Rename(tmp.Name(), path)
	} else if err = os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return checkOutput(path, false)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return store.SyncDir(filepath.Dir(path))
}

// umask is the process's file mode creation mask, read from
// /proc/self/status (setting it to learn it would race with other
// goroutines creating files); 022 when it cannot be read.
func umask() os.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for line := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return os.FileMode(m) & os.ModePerm
				}
			}
		}
	}
	return 0o022
}
