//go:build linux

package bpf

import (
	"encoding/binary"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Record layout (struct ev_hdr in capture.bpf.c) and the lost[] slot of
// uncharged losses.
const (
	hdrSize       = 88
	maxStrings    = 4
	maxString     = 4096 // STR_MAX: a string is at most 4095 bytes
	lostUncharged = 15
)

// decodeEvent decodes one ring buffer record: the header, then up to four
// strings whose lengths the header gives, and nothing else.
func decodeEvent(b []byte) (Event, error) {
	if len(b) < hdrSize {
		return Event{}, fmt.Errorf("%w: %d bytes, shorter than its header", ErrMalformed, len(b))
	}
	le := binary.LittleEndian
	ev := Event{
		Kind:  Kind(le.Uint32(b[0:])),
		Proc:  ProcID{PID: le.Uint32(b[4:]), Start: le.Uint64(b[8:])},
		Child: ProcID{PID: le.Uint32(b[16:]), Start: le.Uint64(b[24:])},
		Flags: le.Uint32(b[20:]),
		File:  FileID{Dev: userDev(le.Uint64(b[32:])), Ino: le.Uint64(b[40:]), Gen: le.Uint32(b[48:])},
		Mode:  le.Uint32(b[52:]),
		Nlink: le.Uint32(b[56:]),
		UID:   le.Uint32(b[60:]),
		Arg:   le.Uint32(b[64:]),
		Time:  le.Uint64(b[80:]),
	}
	if ev.Kind < KindExec || ev.Kind > KindTruncate {
		return Event{}, fmt.Errorf("%w: unknown kind %d", ErrMalformed, ev.Kind)
	}
	if ev.File == (FileID{Dev: userDev(0)}) {
		ev.File = FileID{}
	}
	var strs [maxStrings]string
	rest := b[hdrSize:]
	for i := range strs {
		n := int(le.Uint16(b[68+2*i:]))
		if n > len(rest) || n >= maxString {
			return Event{}, fmt.Errorf("%w: %d bytes: string %d of %d bytes overruns it", ErrMalformed, len(b), i, n)
		}
		strs[i], rest = string(rest[:n]), rest[n:]
		if strings.IndexByte(strs[i], 0) >= 0 {
			return Event{}, fmt.Errorf("%w: string %d holds a NUL byte", ErrMalformed, i)
		}
	}
	if len(rest) != 0 {
		return Event{}, fmt.Errorf("%w: %d bytes after the strings", ErrMalformed, len(rest))
	}
	switch ev.Kind {
	case KindRename:
		ev.Path = joinName(strs[0], strs[1])
		ev.Path2 = joinName(strs[2], strs[3])
	case KindUnlink:
		ev.Path = joinName(strs[0], strs[1])
	default:
		ev.Path = strs[0]
	}
	return ev, nil
}

// joinName is the absolute path a name given to a *at syscall denotes:
// the name when absolute, else the directory it is relative to (resolved
// in the kernel) joined with it. "" when neither is known.
func joinName(dir, name string) string {
	switch {
	case name == "":
		return ""
	case path.IsAbs(name):
		return path.Clean(name)
	case dir == "":
		return ""
	}
	return path.Join(dir, name)
}

// userDev turns the kernel's internal dev_t (major<<20 | minor) into the
// encoding stat(2) reports in st_dev.
func userDev(kdev uint64) uint64 {
	return unix.Mkdev(uint32(kdev>>20), uint32(kdev&(1<<20-1)))
}
