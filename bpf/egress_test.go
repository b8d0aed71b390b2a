//go:build linux

package bpf

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/loopback"
	"golang.org/x/sys/unix"
)

// egressFixture: a loopback listener, a cgroup of the test's own with the
// egress programs attached, and pins of the test's own.
type egressFixture struct {
	eg     *Egress
	addr   netip.AddrPort
	cgFD   int
	cgPath string
	pin    string
}

func newEgressFixture(t testing.TB) *egressFixture {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: egress programs need root (CI runs the tests as root)")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("skipping: no bash (its /dev/tcp is the connecting client)")
	}
	la := loopback.Listen(t).AddrPort()
	addr := netip.AddrPortFrom(la.Addr().Unmap(), la.Port())
	root, err := Cgroup2Mount()
	if err != nil {
		t.Fatal(err)
	}
	cg := filepath.Join(root, fmt.Sprintf("bonsai-egress-test-%d", os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(cg) })
	fd, err := unix.Open(cg, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	pin := fmt.Sprintf("/sys/fs/bpf/bonsai-egress-test-%d", os.Getpid())
	t.Cleanup(func() {
		if err := RemoveEgress(pin); err != nil {
			t.Errorf("RemoveEgress: %v", err)
		}
	})
	eg, err := LoadEgress(cg, pin)
	if err != nil {
		t.Fatalf("LoadEgress: %v", err)
	}
	t.Cleanup(func() { eg.Close() })
	return &egressFixture{eg: eg, addr: addr, cgFD: fd, cgPath: cg, pin: pin}
}

// connect runs bash in the fixture's cgroup: it waits for a line on stdin
// (so the test can taint it first), then runs script, which connects with
// /dev/tcp. It returns whether the connection was made.
func (f *egressFixture) connect(t *testing.T, taint bool, script string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	script = strings.ReplaceAll(script, "DEST", fmt.Sprintf("/dev/tcp/%s/%d", f.addr.Addr(), f.addr.Port()))
	cmd := exec.CommandContext(ctx, "bash", "-c", "read go; "+script)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: f.cgFD}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if taint {
		if err := f.eg.Taint(uint32(cmd.Process.Pid), 0); err != nil {
			t.Fatal(err)
		}
	}
	io.WriteString(in, "go\n")
	in.Close()
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("bash %q: no end within 20 s", script)
	}
	ok := err == nil && strings.Contains(out.String(), "connected")
	if !ok && !strings.Contains(out.String(), "not permitted") {
		t.Logf("bash %q: %v %q", script, err, out.String())
	}
	return ok
}

// TestEgress: a tainted process cannot connect to a loopback listener, nor
// can its children; an untainted one can; an allowed destination works
// for a tainted one; a process leaves the taint map when it exits.
func TestEgress(t *testing.T) {
	f := newEgressFixture(t)
	const direct = `exec 3<>DEST && echo connected`
	const child = `bash -c 'exec 3<>DEST && echo connected'`
	for _, tc := range []struct {
		name   string
		taint  bool
		script string
		want   bool
	}{
		{"untainted connects", false, direct, true},
		{"tainted is refused", true, direct, false},
		{"a tainted process's child is refused", true, child, false},
		{"untainted child connects", false, child, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := f.connect(t, tc.taint, tc.script); got != tc.want {
				t.Errorf("connected = %v, want %v", got, tc.want)
			}
		})
	}
	if f.eg.Denied() < 2 {
		t.Errorf("denied counter = %d, want at least 2", f.eg.Denied())
	}
	if err := f.eg.SetAllowed([]netip.AddrPort{f.addr}); err != nil {
		t.Fatal(err)
	}
	if !f.connect(t, true, direct) {
		t.Error("a tainted process could not reach an allowed destination")
	}
	if err := f.eg.SetAllowed(nil); err != nil {
		t.Fatal(err)
	}
	if f.connect(t, true, direct) {
		t.Error("a destination no longer allowed was reached")
	}

	// A restarted daemon: the old handles go, a new load takes over the
	// pinned links and maps; a taint made before stays.
	f.eg.Close()
	eg2, err := LoadEgress(f.cgPath, f.pin)
	if err != nil {
		t.Fatalf("LoadEgress again: %v", err)
	}
	t.Cleanup(func() { eg2.Close() })
	f.eg = eg2
	if f.connect(t, true, direct) {
		t.Error("after a reload, a tainted process connected")
	}
	if !f.connect(t, false, direct) {
		t.Error("after a reload, an untainted process could not connect")
	}
}

func connectLoop(addr, count string) error {
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	start := time.Now()
	for range n {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			return err
		}
		c.Close()
	}
	fmt.Println(time.Since(start).Nanoseconds() / int64(n))
	return nil
}

// BenchmarkConnect: connect(2)+close to a loopback listener from an
// untainted process, in a cgroup with the egress programs attached and in
// one without, in the same run (the metrics; ns/op is the whole round).
func BenchmarkConnect(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("skipping: egress programs need root")
	}
	for b.Loop() {
		f := newEgressFixture(b)
		plain, err := unix.Open(filepath.Dir(f.cgPath), unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		run := func(cg int) float64 {
			cmd := exec.Command(os.Args[0], "-test.run=^$", f.addr.String(), "2000")
			cmd.Env = append(os.Environ(), helperEnv+"=connect")
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg}
			out, err := cmd.Output()
			if err != nil {
				b.Fatalf("connect helper: %v", err)
			}
			ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
			if err != nil {
				b.Fatalf("connect helper said %q", out)
			}
			return ns
		}
		bare1 := run(plain)
		guarded := run(f.cgFD)
		bare2 := run(plain)
		unix.Close(plain)
		bare := (bare1 + bare2) / 2
		b.ReportMetric(bare, "unguarded-ns/connect")
		b.ReportMetric(guarded, "egress-programs-ns/connect")
		b.ReportMetric(guarded-bare, "added-ns")
	}
}
