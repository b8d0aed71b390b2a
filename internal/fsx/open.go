// Package fsx opens files named from outside without trusting their
// names: non-blocking, with the type checked on what was opened.
package fsx

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
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

// OpenUnaliased is OpenRegular for a file opened on behalf of someone
// else (the daemon's web view, for any local user): it refuses a path
// that passes through a symbolic link anywhere (openat2's
// RESOLVE_NO_SYMLINKS) and a file with more than one link, so a path
// cannot be pointed at a file its asker could not read. Kernels before
// 5.6 lack openat2: then it refuses every path.
func OpenUnaliased(path string) (*os.File, error) {
	fd, err := unix.Openat2(unix.AT_FDCWD, path, &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return nil, &fs.PathError{Op: "open without symlinks", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		f.Close()
		return nil, fmt.Errorf("%s: not a regular file", path)
	case st.Nlink != 1:
		f.Close()
		return nil, fmt.Errorf("%s: %d hard links to it", path, st.Nlink)
	}
	return f, nil
}
