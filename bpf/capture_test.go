//go:build linux && amd64

package bpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
	case "read":
		// Read a file by a path given relative to the working directory.
		_, err := os.ReadFile(os.Args[len(os.Args)-1])
		helperExit(err)
	case "connect":
		// Connect to the address N times; print the nanoseconds per connect.
		helperExit(connectLoop(os.Args[len(os.Args)-2], os.Args[len(os.Args)-1]))
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
	return newEnvOpts(t, Options{All: all})
}

// newEnvOpts is newEnv with options of its own (the test cgroup is added
// to opts.Cgroups).
func newEnvOpts(t *testing.T, opts Options) *env {
	t.Helper()
	all := opts.All
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

	opts.Cgroups = append(opts.Cgroups, id)
	c, err := Open(opts)
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
		for k, n := range lost.ByKind {
			// With All, the rest of the machine (other packages' tests
			// under go test ./...) could in principle fill the buffer.
			if n != 0 && !all {
				t.Errorf("lost %d %s events", n, k)
			} else if n != 0 {
				t.Logf("lost %d %s events", n, k)
			}
		}
		if len(lost.ByKind) != len(Kinds) {
			t.Errorf("Lost has %d kinds, want %d", len(lost.ByKind), len(Kinds))
		}
		if !all && (len(lost.Procs) != 0 || lost.Uncharged != 0) {
			t.Errorf("losses charged: %+v", lost)
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
			if ev.Kind == KindFork && pids[ev.Proc.PID] && !pids[ev.Child.PID] {
				pids[ev.Child.PID] = true
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
				exited[ev.Proc.PID] = true
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
		if ev.Kind == k && pids[ev.Proc.PID] && (match == nil || match(ev)) {
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
	return func(ev Event) bool { return ev.File.Dev == id.dev && ev.File.Ino == id.ino }
}

// fsIocGetversion is FS_IOC_GETVERSION, _IOR('v', 1, long).
const fsIocGetversion = 0x80087601

// generation is the inode's i_generation (FS_IOC_GETVERSION), or false
// where the file system does not say.
func generation(t *testing.T, path string) (uint32, bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := unix.IoctlGetInt(int(f.Fd()), fsIocGetversion)
	if err != nil {
		return 0, false
	}
	return uint32(v), true
}

// tempDir is t.TempDir with symbolic links resolved: the kernel reports
// real paths.
func tempDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
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
		dir := tempDir(t)
		writeFile(t, filepath.Join(dir, "in"), 4096)
		// "; true" makes sh fork for cat rather than exec it.
		root := e.run(dir, true, sh, "-c", "cat in > out; true")
		pids := e.waitTree(root)
		in, out := statFile(t, filepath.Join(dir, "in")), statFile(t, filepath.Join(dir, "out"))
		shPath, err := filepath.EvalSymlinks(sh)
		if err != nil {
			t.Fatal(err)
		}
		shID := statFile(t, shPath)

		execs := e.expectN(pids, KindExec, 1, "exec of sh", func(ev Event) bool { return ev.Proc.PID == root })
		if len(execs) == 1 && (execs[0].Path != shPath || !onFile(shID)(execs[0]) || execs[0].UID != 0) {
			t.Errorf("exec of sh: %+v, want path %s (the kernel's), file %+v, uid 0", execs[0], shPath, shID)
		}
		e.expectN(pids, KindExec, 1, "exec of cat", func(ev Event) bool { return filepath.Base(ev.Path) == "cat" })
		forks := e.expectN(pids, KindFork, 1, "fork of cat", func(ev Event) bool { return ev.Proc.PID == root })
		if len(forks) != 1 || len(pids) != 2 {
			t.Fatalf("process tree %v", pids)
		}
		cat := forks[0].Child
		if cat.Start == 0 || cat.Start == forks[0].Proc.Start {
			t.Errorf("fork: child start %d, parent start %d: want a start of its own", cat.Start, forks[0].Proc.Start)
		}
		for _, ev := range e.of(pids, KindExec, nil) {
			if ev.Proc.PID == cat.PID && ev.Proc != cat {
				t.Errorf("exec of cat as %+v, forked as %+v: identities differ", ev.Proc, cat)
			}
		}

		// The shell opens out (creating it), in itself or in the child
		// that execs cat.
		creates := e.expectN(pids, KindCreate, 1, "creation of out", onFile(out))
		if len(creates) == 1 {
			c := creates[0]
			if (c.Proc != cat && c.Proc.PID != root) || c.Path != filepath.Join(dir, "out") || c.Flags&FlagCreated == 0 ||
				c.Arg&(unix.O_CREAT|unix.O_TRUNC) != unix.O_CREAT|unix.O_TRUNC || c.Arg&unix.O_ACCMODE != unix.O_WRONLY {
				t.Errorf("creation of out: %+v; cat is %+v", c, cat)
			}
		}
		e.expectN(pids, KindCreate, 0, "creation of in (it existed)", onFile(in))
		reads := e.expectN(pids, KindRead, 1, "read of in", onFile(in))
		if len(reads) == 1 && (reads[0].Path != filepath.Join(dir, "in") || reads[0].Proc != cat || reads[0].Nlink != 1) {
			t.Errorf("read of in: %+v, want path %s by cat", reads[0], filepath.Join(dir, "in"))
		}
		if g, ok := generation(t, filepath.Join(dir, "in")); ok && len(reads) == 1 && reads[0].File.Gen != g {
			t.Errorf("read of in: generation %d, the inode's is %d", reads[0].File.Gen, g)
		}
		writes := e.expectN(pids, KindWrite, 1, "write of out", onFile(out))
		if len(writes) == 1 && (writes[0].Path != filepath.Join(dir, "out") || writes[0].Proc != cat) {
			t.Errorf("write of out: %+v, want path %s by cat %+v", writes[0], filepath.Join(dir, "out"), cat)
		}
		e.expectN(pids, KindRead, 0, "read of out", onFile(out))
		e.expectN(pids, KindWrite, 0, "write of in", onFile(in))
	})

	// A Write is reported again once its process has read a new file
	// (a write epoch), and only then.
	t.Run("epochs", func(t *testing.T) {
		e.t = t
		dir := tempDir(t)
		writeFile(t, filepath.Join(dir, "b"), 10)
		root := e.run(dir, true, sh, "-c", "exec 3>o; echo x >&3; echo y >&3; read l < b; echo z >&3; echo w >&3")
		pids := e.waitTree(root)
		o, b := statFile(t, filepath.Join(dir, "o")), statFile(t, filepath.Join(dir, "b"))
		e.expectN(pids, KindRead, 1, "read of b", onFile(b))
		e.expectN(pids, KindWrite, 2, "writes of o, before and after reading b", onFile(o))
	})

	// Writes to a character device (/dev/null, a terminal) make no
	// output and carry no lineage: not reported.
	t.Run("devices", func(t *testing.T) {
		e.t = t
		dir := tempDir(t)
		writeFile(t, filepath.Join(dir, "a"), 10)
		writeFile(t, filepath.Join(dir, "b"), 10)
		pids := e.waitTree(e.run(dir, true, "sh", "-c", "cat a b > /dev/null"))
		e.expectN(pids, KindRead, 2, "reads of a and b", func(ev Event) bool { return strings.HasPrefix(ev.Path, dir+"/") })
		e.expectN(pids, KindWrite, 0, "writes to a character device", func(ev Event) bool { return ev.Mode&unix.S_IFMT == unix.S_IFCHR })
	})

	t.Run("pipe", func(t *testing.T) {
		e.t = t
		dir := tempDir(t)
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
			if pw[0].File != pr[0].File || pw[0].Path != "" {
				t.Errorf("pipe ends: write %+v, read %+v; want one file, no path", pw[0], pr[0])
			}
			if pw[0].Proc == pr[0].Proc || pw[0].Proc != reads[0].Proc {
				t.Errorf("pipe: writer %+v (reader of in %+v), reader %+v", pw[0].Proc, reads[0].Proc, pr[0].Proc)
			}
		}
	})

	// One read and one write event however many syscalls: dd makes 4096
	// of each; GNU cp copies with copy_file_range(2).
	for _, tt := range []struct {
		name string
		argv []string
	}{
		{"dd", []string{"dd", "if=in", "of=out", "bs=1"}},
		{"cp", []string{"cp", "in", "out"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			dir := tempDir(t)
			writeFile(t, filepath.Join(dir, "in"), 4096)
			pids := e.waitTree(e.run(dir, true, tt.argv...))
			in, out := statFile(t, filepath.Join(dir, "in")), statFile(t, filepath.Join(dir, "out"))
			e.expectN(pids, KindRead, 1, tt.name+" read of in", onFile(in))
			e.expectN(pids, KindWrite, 1, tt.name+" write of out", onFile(out))
		})
	}

	t.Run("truncate-rename-unlink", func(t *testing.T) {
		e.t = t
		dir := tempDir(t)
		if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, "t"), 100)
		tID := statFile(t, filepath.Join(dir, "t"))
		// Names relative to the working directory, to another, and absolute.
		root := e.run(dir, true, sh, "-c", "truncate -s 10 t && mv t sub/g && cd sub && mv g ../h && rm "+filepath.Join(dir, "h"))
		pids := e.waitTree(root)
		e.expectN(pids, KindTruncate, 1, "ftruncate of t", onFile(tID))
		ren := e.expectN(pids, KindRename, 2, "mv t sub/g, mv g ../h", nil)
		if len(ren) == 2 {
			want := [][2]string{{dir + "/t", dir + "/sub/g"}, {dir + "/sub/g", dir + "/h"}}
			for i, r := range ren {
				if r.Path != want[i][0] || r.Path2 != want[i][1] || r.Flags != 0 {
					t.Errorf("rename %d: %+v, want %s -> %s", i, r, want[i][0], want[i][1])
				}
			}
		}
		un := e.expectN(pids, KindUnlink, 1, "rm h", nil)
		if len(un) == 1 && un[0].Path != dir+"/h" {
			t.Errorf("unlink: %+v, want %s", un[0], dir+"/h")
		}
	})

	t.Run("mmap", func(t *testing.T) {
		e.t = t
		dir := tempDir(t)
		path := filepath.Join(dir, "m")
		writeFile(t, path, 4096)
		pids := e.waitTree(e.helper(dir, "mmap-write", path))
		id := statFile(t, path)
		e.expectN(pids, KindRead, 1, "read through a mapping", onFile(id))
		e.expectN(pids, KindWrite, 1, "write through a shared mapping", onFile(id))
	})

	// A path crossing a mount point (a tmpfs mounted under the test
	// directory) is resolved through it.
	t.Run("mount", func(t *testing.T) {
		e.t = t
		dir := tempDir(t)
		mnt := filepath.Join(dir, "mnt")
		if err := os.Mkdir(mnt, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
			t.Fatalf("mount tmpfs: %v", err)
		}
		t.Cleanup(func() {
			if err := unix.Unmount(mnt, 0); err != nil {
				t.Errorf("unmount: %v", err)
			}
		})
		writeFile(t, filepath.Join(mnt, "f"), 10)
		pids := e.waitTree(e.helper(mnt, "read", "f"))
		reads := e.expectN(pids, KindRead, 1, "read under the mount", onFile(statFile(t, filepath.Join(mnt, "f"))))
		if len(reads) == 1 && (reads[0].Path != filepath.Join(mnt, "f") || reads[0].Flags&FlagCut != 0) {
			t.Errorf("read under a mount: %+v, want path %s", reads[0], filepath.Join(mnt, "f"))
		}
	})

	// A path deeper than the kernel walks is said to be cut, not guessed.
	t.Run("deep", func(t *testing.T) {
		e.t = t
		dir := tempDir(t)
		deep := dir
		for range 70 {
			deep = filepath.Join(deep, "d")
		}
		if err := os.MkdirAll(deep, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(deep, "f"), 10)
		pids := e.waitTree(e.helper(deep, "read", "f"))
		reads := e.expectN(pids, KindRead, 1, "read of a deep file", onFile(statFile(t, filepath.Join(deep, "f"))))
		if len(reads) == 1 && (reads[0].Flags&FlagCut == 0 || reads[0].Path != "") {
			t.Errorf("read of a file 70 levels down: %+v, want FlagCut and no path", reads[0])
		}
	})

	// Effective uid at exec.
	t.Run("uid", func(t *testing.T) {
		e.t = t
		cmd := exec.Command("true")
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: e.cgFD,
			Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("true as nobody: %v: %s", err, out)
		}
		pids := e.waitTree(uint32(cmd.Process.Pid))
		execs := e.expectN(pids, KindExec, 1, "exec as nobody", nil)
		if len(execs) == 1 && execs[0].UID != 65534 {
			t.Errorf("exec as nobody: uid %d, want 65534", execs[0].UID)
		}
	})

	t.Run("pid", func(t *testing.T) {
		e.t = t
		dir := tempDir(t)
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
		dir := tempDir(t)
		writeFile(t, filepath.Join(dir, "outside-in"), 100)
		e.until("the earlier events", func() bool { return len(e.events) == 0 })
		start := len(e.log)
		outside := e.run(dir, false, sh, "-c", "cat outside-in > outside-out; true")
		// A marker inside the cgroup: once its exit is read, anything the
		// earlier outside process produced would have been read too.
		marker := e.run(dir, true, "true")
		e.waitTree(marker)
		in := statFile(t, filepath.Join(dir, "outside-in"))
		for _, ev := range e.log[start:] {
			if ev.Proc.PID == outside || ev.Child.PID == outside || strings.Contains(ev.Path, "outside-") || onFile(in)(ev) {
				t.Errorf("event from outside the scope: %+v", ev)
			}
		}
	})
}

// TestCaptureSkipSystemReads: with SkipSystemReads, reads of system files
// (libraries, /etc) are left out in the kernel, but not reads of a file
// under a system prefix that a process in scope wrote.
func TestCaptureSkipSystemReads(t *testing.T) {
	e := newEnvOpts(t, Options{SkipSystemReads: true})
	dir := tempDir(t)
	writeFile(t, filepath.Join(dir, "in"), 10)
	shm, err := os.MkdirTemp("/dev/shm", "bonsai-test-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	pids := e.waitTree(e.run(dir, true, "sh", "-c", "cat /etc/passwd in > out && cat in > "+shm+"/t && cat "+shm+"/t > out2"))
	for _, ev := range e.of(pids, KindRead, nil) {
		if SystemPath(ev.Path) && !strings.HasPrefix(ev.Path, shm) {
			t.Errorf("read of a system file reported: %+v", ev)
		}
	}
	e.expectN(pids, KindRead, 2, "reads of in", onFile(statFile(t, filepath.Join(dir, "in"))))
	e.expectN(pids, KindRead, 1, "read of a file written in scope under /dev/shm", onFile(statFile(t, filepath.Join(shm, "t"))))
	execs := e.expectN(pids, KindExec, 4, "execs of sh and three cats", nil)
	if len(execs) == 4 && execs[1].Path == "" {
		t.Errorf("exec of cat without a path: %+v", execs[1])
	}
}

// TestCaptureInodeReuse: a file deleted and the next file given its inode
// (ext4 reuses inode numbers at once) are told apart by their generation.
func TestCaptureInodeReuse(t *testing.T) {
	e := newEnv(t, false)
	dir := tempDir(t)
	seen := map[FileID]bool{}
	reused := 0
	for i := range 20 {
		p := filepath.Join(dir, "f")
		pids := e.waitTree(e.run(dir, true, "sh", "-c", fmt.Sprintf("echo %d > f", i)))
		id := statFile(t, p)
		w := e.expectN(pids, KindWrite, 1, "write of f", onFile(id))
		if len(w) == 1 {
			if seen[w[0].File] {
				t.Errorf("run %d: file identity %+v seen for an earlier life of the inode", i, w[0].File)
			}
			for f := range seen {
				if f.Ino == w[0].File.Ino {
					reused++
				}
			}
			seen[w[0].File] = true
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("inode numbers reused %d times in 20 lives", reused)
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
