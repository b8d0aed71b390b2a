// Package fsx opens files named from outside without trusting their
// names: non-blocking, with the type checked on what was opened.
package fsx

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// Open opens path for reading without blocking on it (a FIFO does not
// wait for a writer) and returns it with its type, read from the opened
// descriptor, so the check and the use are of one file.
func Open(path string) (*os.File, fs.FileMode, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Mode(), nil
}

// OpenRegular is Open refusing anything but a regular file with
// "PATH: not a regular file".
func OpenRegular(path string) (*os.File, error) {
	f, mode, err := Open(path)
	if err != nil {
		return nil, err
	}
	if !mode.IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	return f, nil
}
