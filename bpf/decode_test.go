//go:build linux

package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"github.com/bonsai-lineage/bonsai/internal/golden"
	"golang.org/x/sys/unix"
)

// The decoder's offsets must match struct ev_hdr as compiled.
func TestRecordLayout(t *testing.T) {
	var h captureEvHdr
	if got := unsafe.Sizeof(h); got != hdrSize {
		t.Fatalf("sizeof(ev_hdr) = %d, decoder assumes %d", got, hdrSize)
	}
	for _, o := range []struct {
		name      string
		got, want uintptr
	}{
		{"kind", unsafe.Offsetof(h.Kind), 0},
		{"pid", unsafe.Offsetof(h.Pid), 4},
		{"start", unsafe.Offsetof(h.Start), 8},
		{"child", unsafe.Offsetof(h.Child), 16},
		{"flags", unsafe.Offsetof(h.Flags), 20},
		{"child_start", unsafe.Offsetof(h.ChildStart), 24},
		{"dev", unsafe.Offsetof(h.Dev), 32},
		{"ino", unsafe.Offsetof(h.Ino), 40},
		{"gen", unsafe.Offsetof(h.Gen), 48},
		{"mode", unsafe.Offsetof(h.Mode), 52},
		{"nlink", unsafe.Offsetof(h.Nlink), 56},
		{"uid", unsafe.Offsetof(h.Uid), 60},
		{"arg", unsafe.Offsetof(h.Arg), 64},
		{"len", unsafe.Offsetof(h.Len), 68},
		{"time", unsafe.Offsetof(h.Time), 80},
	} {
		if o.got != o.want {
			t.Errorf("offset of %s = %d, decoder assumes %d", o.name, o.got, o.want)
		}
	}
	for _, k := range Kinds {
		if strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("kind %d has no name", k)
		}
	}
}

// record builds a ring buffer record as the kernel program does.
func record(h captureEvHdr, strs ...string) []byte {
	b := make([]byte, hdrSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], h.Kind)
	le.PutUint32(b[4:], h.Pid)
	le.PutUint64(b[8:], h.Start)
	le.PutUint32(b[16:], h.Child)
	le.PutUint32(b[20:], h.Flags)
	le.PutUint64(b[24:], h.ChildStart)
	le.PutUint64(b[32:], h.Dev)
	le.PutUint64(b[40:], h.Ino)
	le.PutUint32(b[48:], h.Gen)
	le.PutUint32(b[52:], h.Mode)
	le.PutUint32(b[56:], h.Nlink)
	le.PutUint32(b[60:], h.Uid)
	le.PutUint32(b[64:], h.Arg)
	le.PutUint64(b[80:], h.Time)
	for i, s := range strs {
		le.PutUint16(b[68+2*i:], uint16(len(s)))
		b = append(b, s...)
	}
	return b
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		name string
		rec  []byte
		want Event
	}{
		{"read", record(captureEvHdr{Kind: uint32(KindRead), Pid: 42, Start: 7, Dev: 259<<20 | 3, Ino: 9, Gen: 5, Mode: 0o100644, Nlink: 1}, "/src/a.c"),
			Event{Kind: KindRead, Proc: ProcID{42, 7}, File: FileID{unix.Mkdev(259, 3), 9, 5}, Mode: 0o100644, Nlink: 1, Path: "/src/a.c"}},
		{"fork", record(captureEvHdr{Kind: uint32(KindFork), Pid: 1, Start: 2, Child: 3, ChildStart: 4}),
			Event{Kind: KindFork, Proc: ProcID{1, 2}, Child: ProcID{3, 4}}},
		{"rename relative", record(captureEvHdr{Kind: uint32(KindRename), Pid: 1, Arg: 2}, "/src", "t", "/src/sub", "../g"),
			Event{Kind: KindRename, Proc: ProcID{PID: 1}, Arg: 2, Path: "/src/t", Path2: "/src/g"}},
		{"rename absolute", record(captureEvHdr{Kind: uint32(KindRename), Pid: 1}, "", "/a//b", "", "/c/./d"),
			Event{Kind: KindRename, Proc: ProcID{PID: 1}, Path: "/a/b", Path2: "/c/d"}},
		{"unlink dir unknown", record(captureEvHdr{Kind: uint32(KindUnlink), Pid: 1, Flags: FlagCut}, "", "x"),
			Event{Kind: KindUnlink, Proc: ProcID{PID: 1}, Flags: FlagCut}},
	}
	for _, tt := range tests {
		got, err := decodeEvent(tt.rec)
		if err != nil || got != tt.want {
			t.Errorf("%s: decodeEvent = %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
	}
}

// decodeSeeds are the starting points of FuzzDecodeEvent, named for what
// they probe; "valid-" ones must decode, the others must be refused.
func decodeSeeds() map[string][]byte {
	read := record(captureEvHdr{Kind: uint32(KindRead), Pid: 42, Start: 7, Ino: 9, Mode: 0o100644, Nlink: 1}, "/src/a.c")
	withLen := func(b []byte, slot int, n uint16) []byte {
		c := append([]byte(nil), b...)
		binary.LittleEndian.PutUint16(c[68+2*slot:], n)
		return c
	}
	return map[string][]byte{
		"valid-read":     read,
		"valid-exec":     record(captureEvHdr{Kind: uint32(KindExec), Pid: 1, Uid: 1000}, "/usr/bin/cc"),
		"valid-rename":   record(captureEvHdr{Kind: uint32(KindRename), Pid: 1}, "/src", "t", "/src", "g"),
		"valid-no-path":  record(captureEvHdr{Kind: uint32(KindWrite), Pid: 1, Mode: 0o010600}),
		"short-header":   read[:hdrSize-1],                                        // cut inside the header
		"overrun":        withLen(read, 0, uint16(len("/src/a.c")+1)),             // a string longer than the record
		"second-overrun": withLen(read, 1, 1),                                     // a second string that is not there
		"trailing-byte":  append(append([]byte(nil), read...), 'x'),               // more than the strings
		"unknown-kind":   record(captureEvHdr{Kind: 99, Pid: 1}),                  // a kind this binary does not know
		"kind-zero":      record(captureEvHdr{Kind: 0, Pid: 1}),                   // no kind at all
		"nul-in-path":    record(captureEvHdr{Kind: uint32(KindRead)}, "/a\x00b"), // kernel strings hold no NUL
		"huge-length":    withLen(append(read, make([]byte, 5000)...), 0, 4096),   // over STR_MAX
	}
}

// FuzzDecodeEvent feeds arbitrary records to the decoder: it must never
// panic, refuse with ErrMalformed, and what it accepts must hold together.
func FuzzDecodeEvent(f *testing.F) {
	for _, s := range decodeSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := decodeEvent(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if ev.Kind < KindExec || ev.Kind > KindTruncate {
			t.Fatalf("accepted kind %d", ev.Kind)
		}
		for _, p := range []string{ev.Path, ev.Path2} {
			if strings.IndexByte(p, 0) >= 0 || len(p) > len(b) {
				t.Fatalf("accepted path %q from %d bytes", p, len(b))
			}
		}
	})
}

// TestDecodeSeeds checks the committed corpus equals the seeds above (go
// test -update rewrites it) and that each seed does what its name says.
func TestDecodeSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeEvent")
	for name, data := range decodeSeeds() {
		_, err := decodeEvent(data)
		if strings.HasPrefix(name, "valid-") != (err == nil) {
			t.Errorf("seed %s: decodeEvent error %v", name, err)
		}
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		path := filepath.Join(dir, name)
		if golden.Updating() {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != body {
			t.Errorf("seed %s: corpus file differs or is missing (%v); run go test ./bpf -run TestDecodeSeeds -update", path, err)
		}
	}
}
