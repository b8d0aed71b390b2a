//go:build !linux

package bpf

import "io/fs"

func statID(fs.FileInfo) (FileID, bool) { return FileID{}, false }

func statUID(fs.FileInfo) (uint32, bool) { return 0, false }
