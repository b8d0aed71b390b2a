//go:build linux

package bpf

import (
	"io/fs"
	"syscall"
)

func statID(st fs.FileInfo) (FileID, bool) {
	s, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}, false
	}
	return FileID{Dev: uint64(s.Dev), Ino: s.Ino}, true
}
