package fsx

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestOpenRegular(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, err string
	}{
		{file, ""},
		{fifo, "not a regular file"}, // refused at once: no writer waited for
		{dir, "not a regular file"},
		{"/dev/null", "not a regular file"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		f, err := OpenRegular(tc.path)
		if f != nil {
			f.Close()
		}
		switch {
		case tc.err == "" && err != nil, tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("OpenRegular(%s) = %v, want error containing %q", tc.path, err, tc.err)
		}
	}
	if _, mode, err := Open(fifo); err != nil || mode&os.ModeNamedPipe == 0 {
		t.Errorf("Open(fifo) = %v, %v; want a FIFO mode, nil", mode, err)
	}
}

func TestOpenUnaliased(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	linked := filepath.Join(dir, "linked")
	if err := os.WriteFile(linked, []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(linked, filepath.Join(dir, "second-name")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(file, filepath.Join(dir, "sym")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dir, filepath.Join(dir, "symdir")); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, err string
	}{
		{file, ""},
		{filepath.Join(dir, "sym"), "too many levels of symbolic links"}, // ELOOP
		{filepath.Join(dir, "symdir", "f"), "symbolic links"},            // a link on the way
		{linked, "2 hard links"},
		{fifo, "not a regular file"},
		{filepath.Join(dir, "missing"), "no such file"},
	} {
		f, err := OpenUnaliased(tc.path)
		if f != nil {
			f.Close()
		}
		switch {
		case tc.err == "" && err != nil, tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("OpenUnaliased(%s) = %v, want error containing %q", tc.path, err, tc.err)
		}
	}
}
