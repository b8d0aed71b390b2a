//go:build !linux

package bpf

import "io/fs"

func statID(fs.FileInfo) (FileID, bool) { return FileID{}, false }
