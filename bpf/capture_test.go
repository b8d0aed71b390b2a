//go:build linux && amd64

package bpf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// helperEnv makes the test binary act as a small program (see TestMain).
const helperEnv = "BONSAI_BPF_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "mmap-write":
		// Write the file through a shared writable mapping only.
		helperExit(mmapWrite(os.Args[len(os.Args)-1]))
	case "truncate-path":
		helperExit(unix.Truncate(os.Args[len(os.Args)-1], 5))
	default:
		fmt.Fprintln(os.Stderr, "unknown helper", os.Getenv(helperEnv))
		os.Exit(2)
	}
}

func helperExit(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func mmapWrite(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := unix.Mmap(int(f.Fd()), 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return err
	}
	copy(m, "written through mmap")
	if err := unix.Msync(m, unix.MS_SYNC); err != nil {
		return err
	}
	return unix.Munmap(m)
}

// The decoder's offsets must match struct ev_hdr as compiled.
func TestRecordLayout(t *testing.T) {
	var h captureEvHdr
	if got := unsafe.Sizeof(h); got != hdrSize {
		t.Fatalf("sizeof(ev_hdr) = %d, decoder assumes %d", got, hdrSize)
	}
	offs := []struct {
		name      string
		got, want uintptr
	}{
		{"kind", unsafe.Offsetof(h.Kind), 0},
		{"pid", unsafe.Offsetof(h.Pid), 4},
		{"child", unsafe.Offsetof(h.Child), 8},
		{"fd", unsafe.Offsetof(h.Fd), 12},
		{"dev", unsafe.Offsetof(h.Dev), 16},
		{"ino", unsafe.Offsetof(h.Ino), 24},
		{"mode", unsafe.Offsetof(h.Mode), 32},
		{"flags", unsafe.Offsetof(h.Flags), 36},
		{"dirfd", unsafe.Offsetof(h.Dirfd), 40},
		{"dirfd2", unsafe.Offsetof(h.Dirfd2), 44},
		{"time", unsafe.Offsetof(h.Time), 48},
	}
	for _, o := range offs {
		if o.got != o.want {
			t.Errorf("offset of %s = %d, decoder assumes %d", o.name, o.got, o.want)
		}
	}

	b := make([]byte, hdrSize+2*pathBufSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], uint32(KindRename))
	le.PutUint32(b[4:], 42)
	le.PutUint32(b[12:], uint32(0xffffffff))
	le.PutUint64(b[16:], 259<<20|3) // kernel MKDEV(259, 3)
	le.PutUint64(b[24:], 7)
	le.PutUint32(b[40:], uint32(0xffffff9c))
	le.PutUint32(b[44:], 5)
	copy(b[hdrSize:], "old\x00junk")
	copy(b[hdrSize+pathBufSize:], "new")
	ev, err := decodeEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	want := Event{Kind: KindRename, PID: 42, FD: -1, Dev: unix.Mkdev(259, 3), Ino: 7, Dirfd: AtFDCWD, Dirfd2: 5, Path: "old", Path2: "new"}
	if ev != want {
		t.Errorf("decode = %+v, want %+v", ev, want)
	}
	if _, err := decodeEvent(b[:hdrSize-1]); err == nil {
		t.Error("short record decoded")
	}
	for _, k := range Kinds {
		if strings.HasPrefix(k.String(), "kind(") {
			t.Errorf("kind %d has no name", k)
		}
	}
}

func TestCgroupIDNotCgroup2(t *testing.T) {
	if _, err := CgroupID(t.TempDir()); err == nil {
		t.Error("CgroupID of a plain directory succeeded")
	}
}

// env is one capture scoped to a fresh cgroup, and the events read so far.
type env struct {
	t      *testing.T
	cap    *Capture
	cgDir  string
	cgFD   int
	events chan Event
	errs   chan error
	log    []Event
}

func newEnv(t *testing.T, all bool) *env {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: eBPF capture needs root (CI runs the tests as root)")
	}
	mnt, err := Cgroup2Mount()
	if err != nil {
		t.Skipf("skipping: %v", err)
	}
	cgDir, err := os.MkdirTemp(mnt, "bonsai-capture-test-")
	if err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := os.Remove(cgDir); err != nil {
			t.Errorf("remove cgroup: %v", err)
		}
	})
	id, err := CgroupID(cgDir)
	if err != nil {
		t.Fatal(err)
	}
	cgFD, err := unix.Open(cgDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(cgFD) })

	c, err := Open(Options{All: all, Cgroups: []uint64{id}})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	e := &env{t: t, cap: c, cgDir: cgDir, cgFD: cgFD, events: make(chan Event, 1<<16), errs: make(chan error, 1)}
	go func() {
		for {
			ev, err := c.Read()
			if err != nil {
				e.errs <- err
				close(e.events)
				return
			}
			e.events <- ev
		}
	}()
	t.Cleanup(func() {
		lost, err := c.Lost()
		if err != nil {
			t.Errorf("Lost: %v", err)
		}
		for k, n := range lost {
			// With All, the rest of the machine (other packages' tests
			// under go test ./...) could in principle fill the buffer.
			if n != 0 && !all {
				t.Errorf("lost %d %s events", n, k)
			} else if n != 0 {
				t.Logf("lost %d %s events", n, k)
			}
		}
		if len(lost) != len(Kinds) {
			t.Errorf("Lost has %d kinds, want %d", len(lost), len(Kinds))
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		// The reader returns os.ErrClosed once closed.
		for range e.events {
		}
		if err := <-e.errs; !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read after Close: %v, want os.ErrClosed", err)
		}
		if _, err := c.Read(); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Read after Close: %v, want os.ErrClosed", err)
		}
		if err := c.AddPID(1); !errors.Is(err, os.ErrClosed) {
			t.Errorf("AddPID after Close: %v, want os.ErrClosed", err)
		}
	})
	return e
}

// run runs argv in dir, inside the test cgroup when inside is set, and
// returns its pid once it has exited successfully.
func (e *env) run(dir string, inside bool, argv ...string) uint32 {
	e.t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	if inside {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: e.cgFD}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("%q: %v\n%s", argv, err, out)
	}
	return uint32(cmd.Process.Pid)
}

// helper runs this test binary as the named helper (see TestMain) on arg,
// inside the cgroup, and returns its pid once it has exited successfully.
func (e *env) helper(dir, name, arg string) uint32 {
	e.t.Helper()
	self, err := os.Executable()
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(self, arg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), helperEnv+"="+name)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: e.cgFD}
	if out, err := cmd.CombinedOutput(); err != nil {
		e.t.Fatalf("helper %s: %v\n%s", name, err, out)
	}
	return uint32(cmd.Process.Pid)
}

// until reads events until cond holds for the log, or fails the test after
// a deadline.
func (e *env) until(what string, cond func() bool) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !cond() {
		select {
		case ev, ok := <-e.events:
			if !ok {
				e.t.Fatalf("waiting for %s: reader stopped: %v", what, <-e.errs)
			}
			e.log = append(e.log, ev)
		case <-ctx.Done():
			e.t.Fatalf("waiting for %s: %v; events so far:\n%s", what, ctx.Err(), e.dump())
		}
	}
}

func (e *env) dump() string {
	var b strings.Builder
	for _, ev := range e.log {
		fmt.Fprintf(&b, "  %+v\n", ev)
	}
	return b.String()
}

// tree is root and its descendants, by the Fork events logged so far.
func (e *env) tree(root uint32) map[uint32]bool {
	pids := map[uint32]bool{root: true}
	for grew := true; grew; {
		grew = false
		for _, ev := range e.log {
			if ev.Kind == KindFork && pids[ev.PID] && !pids[ev.Child] {
				pids[ev.Child] = true
				grew = true
			}
		}
	}
	return pids
}

// waitTree waits until root and every descendant it forked have exited, so
// that every event of theirs has been read (the ring buffer keeps order).
func (e *env) waitTree(root uint32) map[uint32]bool {
	e.t.Helper()
	var pids map[uint32]bool
	e.until(fmt.Sprintf("exit of process tree %d", root), func() bool {
		pids = e.tree(root)
		exited := map[uint32]bool{}
		for _, ev := range e.log {
			if ev.Kind == KindExit {
				exited[ev.PID] = true
			}
		}
		for p := range pids {
			if !exited[p] {
				return false
			}
		}
		return true
	})
	return pids
}

// of returns the logged events of kind k from pids matching match.
func (e *env) of(pids map[uint32]bool, k Kind, match func(Event) bool) []Event {
	var out []Event
	for _, ev := range e.log {
		if ev.Kind == k && pids[ev.PID] && (match == nil || match(ev)) {
			out = append(out, ev)
		}
	}
	return out
}

type fileID struct{ dev, ino uint64 }

func statFile(t *testing.T, path string) fileID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return fileID{st.Dev, st.Ino}
}

func onFile(id fileID) func(Event) bool {
	return func(ev Event) bool { return ev.Dev == id.dev && ev.Ino == id.ino }
}

func (e *env) expectN(pids map[uint32]bool, k Kind, n int, what string, match func(Event) bool) []Event {
	e.t.Helper()
	got := e.of(pids, k, match)
	if len(got) != n {
		e.t.Errorf("%s: got %d %s events, want %d; events:\n%s", what, len(got), k, n, e.dump())
	}
	return got
}

func writeFile(t *testing.T, path string, size int) {
	t.Helper()
	b := make([]byte, size)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCapture(t *testing.T) {
	e := newEnv(t, false)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}

	t.Run("cat", func(t *testing.T) {
		e.t = t
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "in"), 4096)
		// "; true" makes sh fork for cat rather than exec it.
		root := e.run(dir, true, sh, "-c", "cat in > out; true")
		pids := e.waitTree(root)
		in, out := statFile(t, filepath.Join(dir, "in")), statFile(t, filepath.Join(dir, "out"))
		shID := statFile(t, sh)

		execs := e.expectN(pids, KindExec, 1, "exec of sh", func(ev Event) bool { return ev.PID == root })
		if len(execs) == 1 && (execs[0].Path != sh || execs[0].Dev != shID.dev || execs[0].Ino != shID.ino) {
			t.Errorf("exec of sh: %+v, want path %s and file %+v", execs[0], sh, shID)
		}
		e.expectN(pids, KindExec, 1, "exec of cat", func(ev Event) bool { return filepath.Base(ev.Path) == "cat" })
		forks := e.expectN(pids, KindFork, 1, "fork of cat", func(ev Event) bool { return ev.PID == root })
		if len(forks) != 1 || len(pids) != 2 {
			t.Fatalf("process tree %v", pids)
		}
		cat := forks[0].Child

		opens := e.expectN(pids, KindOpen, 1, "open of in", func(ev Event) bool { return ev.Path == "in" })
		if len(opens) == 1 && (opens[0].PID != cat || !onFile(in)(opens[0]) || opens[0].Mode&unix.S_IFMT != unix.S_IFREG ||
			opens[0].Dirfd != AtFDCWD || opens[0].FD < 0) {
			t.Errorf("open of in: %+v", opens[0])
		}
		opens = e.expectN(pids, KindOpen, 1, "open of out", func(ev Event) bool { return ev.Path == "out" })
		if len(opens) == 1 {
			o := opens[0]
			if !onFile(out)(o) || o.Flags&(unix.O_CREAT|unix.O_TRUNC) != unix.O_CREAT|unix.O_TRUNC || o.Flags&unix.O_ACCMODE != unix.O_WRONLY {
				t.Errorf("open of out: %+v", o)
			}
		}
		e.expectN(pids, KindRead, 1, "read of in", onFile(in))
		e.expectN(pids, KindWrite, 1, "write of out", onFile(out))
		e.expectN(pids, KindRead, 0, "read of out", onFile(out))
		e.expectN(pids, KindWrite, 0, "write of in", onFile(in))
		closes := e.expectN(pids, KindClose, 1, "close of out", onFile(out))
		if len(closes) == 1 && closes[0].PID != cat {
			t.Errorf("close of out by %d, want cat %d", closes[0].PID, cat)
		}
		e.expectN(pids, KindClose, 0, "close of in (never written)", onFile(in))
	})

	t.Run("dd", func(t *testing.T) {
		e.t = t
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "in"), 4096)
		root := e.run(dir, true, "dd", "if=in", "of=out", "bs=1")
		pids := e.waitTree(root)
		in, out := statFile(t, filepath.Join(dir, "in")), statFile(t, filepath.Join(dir, "out"))
		// 4096 read(2)s and write(2)s, one event each way.
		e.expectN(pids, KindRead, 1, "dd read of in", onFile(in))
		e.expectN(pids, KindWrite, 1, "dd write of out", onFile(out))
		e.expectN(pids, KindClose, 1, "dd close of out", onFile(out))
	})

	t.Run("pipe", func(t *testing.T) {
		e.t = t
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "in"), 4096)
		root := e.run(dir, true, sh, "-c", "cat in | cat > out")
		pids := e.waitTree(root)
		in, out := statFile(t, filepath.Join(dir, "in")), statFile(t, filepath.Join(dir, "out"))
		reads := e.expectN(pids, KindRead, 1, "read of in", onFile(in))
		fifo := func(ev Event) bool { return ev.Mode&unix.S_IFMT == unix.S_IFIFO }
		pw := e.expectN(pids, KindWrite, 1, "write to the pipe", fifo)
		pr := e.expectN(pids, KindRead, 1, "read from the pipe", fifo)
		e.expectN(pids, KindWrite, 1, "write of out", onFile(out))
		if len(pw) == 1 && len(pr) == 1 && len(reads) == 1 {
			if pw[0].Dev != pr[0].Dev || pw[0].Ino != pr[0].Ino {
				t.Errorf("pipe ends differ: write %+v, read %+v", pw[0], pr[0])
			}
			if pw[0].PID == pr[0].PID || pw[0].PID != reads[0].PID {
				t.Errorf("pipe: writer %d (reader of in %d), reader %d", pw[0].PID, reads[0].PID, pr[0].PID)
			}
		}
	})

	t.Run("cp", func(t *testing.T) {
		e.t = t
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "in"), 4096)
		// GNU cp copies with copy_file_range(2).
		root := e.run(dir, true, "cp", "in", "out")
		pids := e.waitTree(root)
		in, out := statFile(t, filepath.Join(dir, "in")), statFile(t, filepath.Join(dir, "out"))
		e.expectN(pids, KindRead, 1, "cp read of in", onFile(in))
		e.expectN(pids, KindWrite, 1, "cp write of out", onFile(out))
		e.expectN(pids, KindClose, 1, "cp close of out", onFile(out))
	})

	t.Run("truncate-rename-unlink", func(t *testing.T) {
		e.t = t
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "t"), 100)
		tID := statFile(t, filepath.Join(dir, "t"))
		root := e.run(dir, true, sh, "-c", "truncate -s 10 t && mv t g && rm g")
		pids := e.waitTree(root)
		e.expectN(pids, KindTruncate, 1, "ftruncate of t", onFile(tID))
		ren := e.expectN(pids, KindRename, 1, "mv t g", nil)
		if len(ren) == 1 && (ren[0].Path != "t" || ren[0].Path2 != "g" || ren[0].Dirfd != AtFDCWD || ren[0].Dirfd2 != AtFDCWD) {
			t.Errorf("rename: %+v", ren[0])
		}
		un := e.expectN(pids, KindUnlink, 1, "rm g", nil)
		if len(un) == 1 && (un[0].Path != "g" || un[0].Dirfd != AtFDCWD) {
			t.Errorf("unlink: %+v", un[0])
		}
	})

	t.Run("truncate-path", func(t *testing.T) {
		e.t = t
		dir := t.TempDir()
		path := filepath.Join(dir, "f")
		writeFile(t, path, 100)
		pids := e.waitTree(e.helper(dir, "truncate-path", path))
		tr := e.expectN(pids, KindTruncate, 1, "truncate(2) of f", nil)
		if len(tr) == 1 && (tr[0].Path != path || tr[0].Ino != 0) {
			t.Errorf("truncate by path: %+v", tr[0])
		}
	})

	t.Run("mmap", func(t *testing.T) {
		e.t = t
		dir := t.TempDir()
		path := filepath.Join(dir, "m")
		writeFile(t, path, 4096)
		pids := e.waitTree(e.helper(dir, "mmap-write", path))
		id := statFile(t, path)
		e.expectN(pids, KindRead, 1, "read through a mapping", onFile(id))
		e.expectN(pids, KindWrite, 1, "write through a shared mapping", onFile(id))
		e.expectN(pids, KindClose, 1, "close of the mapped file", onFile(id))
	})

	t.Run("pid", func(t *testing.T) {
		e.t = t
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "in"), 100)
		// Started outside the cgroup, waiting on its stdin until AddPID.
		cmd := exec.Command(sh, "-c", "read x; cat in > out")
		cmd.Dir = dir
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := uint32(cmd.Process.Pid)
		if err := e.cap.AddPID(pid); err != nil {
			t.Fatal(err)
		}
		if _, err := stdin.Write([]byte("go\n")); err != nil {
			t.Fatal(err)
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		pids := e.waitTree(pid)
		in := statFile(t, filepath.Join(dir, "in"))
		e.expectN(pids, KindFork, 1, "fork of cat by the added pid", nil)
		e.expectN(pids, KindRead, 1, "read of in by the added pid's child", onFile(in))
	})

	t.Run("outside", func(t *testing.T) {
		e.t = t
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "outside-in"), 100)
		// Inode numbers of earlier subtests' deleted files get reused.
		e.until("the earlier events", func() bool { return len(e.events) == 0 })
		start := len(e.log)
		outside := e.run(dir, false, sh, "-c", "cat outside-in > outside-out; true")
		// A marker inside the cgroup: once its exit is read, anything the
		// earlier outside process produced would have been read too.
		marker := e.run(dir, true, "true")
		e.waitTree(marker)
		in := statFile(t, filepath.Join(dir, "outside-in"))
		for _, ev := range e.log[start:] {
			if ev.PID == outside || ev.Child == outside || strings.HasPrefix(ev.Path, "outside-") || onFile(in)(ev) {
				t.Errorf("event from outside the scope: %+v", ev)
			}
		}
	})
}

// With Options.All, processes outside any scoped cgroup are seen too.
func TestCaptureAll(t *testing.T) {
	e := newEnv(t, true)
	pid := e.run(t.TempDir(), false, "true")
	pids := e.waitTree(pid)
	e.expectN(pids, KindExec, 1, "exec of true outside the cgroup", nil)
}

// Without privileges Open fails with ErrPermission (as root, see TestCapture).
func TestOpenUnprivileged(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("skipping: running as root")
	}
	c, err := Open(Options{All: true})
	if err == nil {
		c.Close() // CAP_BPF and CAP_PERFMON without root
		t.Skip("skipping: Open succeeded without root")
	}
	if !errors.Is(err, ErrPermission) {
		t.Errorf("Open unprivileged: %v, want ErrPermission", err)
	}
	t.Log(err)
}
