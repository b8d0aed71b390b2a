package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/bpf"
	"github.com/bonsai-lineage/bonsai/internal/loopback"
	"golang.org/x/sys/unix"
)

// catFile runs cat on path as a child process (not the test, not bonsai)
// and returns its output and error.
func catFile(t *testing.T, path string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "cat", path).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("cat %s: no answer within 20 s", path)
	}
	return string(out), err
}

type auditOut struct {
	Events []struct {
		Kind, Decision, Policy, Rule, Path, Program, Reason string
		CID                                                 string `json:"output"`
		PID                                                 int
	}
	Dropped int
}

func readAudit(t *testing.T, home string, args ...string) auditOut {
	t.Helper()
	r := bonsai(t, "", home, append([]string{"audit", "--json"}, args...)...)
	wantCode(t, r, 0)
	var a auditOut
	if err := json.Unmarshal([]byte(r.stdout), &a); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, r.stdout)
	}
	return a
}

// TestDaemonEnforces (root): a daemon process enforces an applied policy
// on a tmpfs: a recorded file opens, one with no record gets EPERM, the
// node's own commands (hash, verify, policy test) still work on it
// through the daemon; the decisions are in the audit log. Killed with
// SIGKILL, the documented fail mode holds: opens are allowed; the next
// start logs the gap, and the audit log survived.
func TestDaemonEnforces(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("enforcement needs root (fanotify permission events): run the tests as root (CI does)")
	}
	home, _ := initHome(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=16m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	guarded := filepath.Join(dir, "guarded")
	if err := os.Mkdir(guarded, 0o755); err != nil {
		t.Fatal(err)
	}
	src := writeFile(t, dir, "src", "source\n", fixedTime)
	good := writeFile(t, guarded, "good", "made from src\n", fixedTime)
	stray := writeFile(t, guarded, "stray", "nobody made this\n", fixedTime)
	policy := writeFile(t, t.TempDir(), "release.yaml", "apiVersion: bonsai/v1\nkind: Policy\nmetadata: {name: release}\n"+
		"spec:\n  mode: enforce\n  scope: {paths: ["+guarded+"/]}\n  rules: [{verifiedLineage: {depth: 8}}, {notRevoked: {}}]\n", fixedTime)

	d := spawnDaemon(t, home)
	wantCode(t, bonsai(t, "", home, "record", "--in", src, "--out", good), 0)
	wantCode(t, bonsai(t, "", home, "policy", "apply", policy), 0)

	st := bonsai(t, "", home, "status", "--enforcement")
	wantCode(t, st, 0)
	if !strings.Contains(st.stdout, "opens and execs: fanotify") || !strings.Contains(st.stdout, "policies: release") ||
		!strings.Contains(st.stdout, "BPF LSM: none") || !strings.Contains(st.stdout, "fail mode:") {
		t.Errorf("status --enforcement:\n%s", st.stdout)
	}
	if out, err := catFile(t, good); err != nil || out != "made from src\n" {
		t.Errorf("cat of a recorded file: %v %q", err, out)
	}
	if out, err := catFile(t, stray); err == nil || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("cat of a file with no record: %v %q, want EPERM", err, out)
	}
	// The node's own commands, through the daemon.
	if r := bonsai(t, "", home, "hash", stray); r.code != 0 || !strings.HasPrefix(r.stdout, "bafk") {
		t.Errorf("hash of a denied file through the daemon: %v", r)
	}
	wantCode(t, bonsai(t, "", home, "verify", stray), 1)
	wantCode(t, bonsai(t, "", home, "verify", good), 0)
	wantCode(t, bonsai(t, "", home, "policy", "test", policy, stray), 1)

	// A decision is answered first and logged after: wait (10 s at most)
	// for the deny to be in the log.
	var a auditOut
	for deadline := time.Now().Add(10 * time.Second); ; {
		a = readAudit(t, home, "--policy", "release")
		denied := false
		for _, e := range a.Events {
			if e.Path == stray && e.Decision == "deny" && e.Rule == "verifiedLineage" && e.CID != "" && strings.HasSuffix(e.Program, "cat") {
				denied = true
			}
		}
		if denied {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no deny of %s by cat in the audit log after 10 s: %+v", stray, a.Events)
		}
	}

	// Fail mode: SIGKILL, then nothing checks the opens.
	d.kill9(t)
	if out, err := catFile(t, stray); err != nil {
		t.Errorf("after the daemon was killed, cat %s = %v %q; the documented fail mode allows it", stray, err, out)
	}
	// Restart: the gap is logged, the earlier decisions survived, and
	// enforcement is back.
	startDaemon(t, home)
	after := readAudit(t, home)
	var gap bool
	for _, e := range after.Events {
		if e.Kind == "gap" && strings.Contains(e.Reason, "enforcement down from") {
			gap = true
		}
	}
	if !gap || len(after.Events) < len(a.Events)+1 {
		t.Errorf("audit after an unclean stop: gap=%v, %d events (before: %d)", gap, len(after.Events), len(a.Events))
	}
	if out, err := catFile(t, stray); err == nil {
		t.Errorf("after the restart cat %s succeeded: %q", stray, out)
	}
}

// bashConnect runs script under bash (it may open files and connect with
// /dev/tcp) and reports whether it printed "connected".
func bashConnect(t *testing.T, script string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "bash", "-c", script).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("bash %q: no end within 20 s", script)
	}
	return strings.Contains(string(out), "connected")
}

// loopbackListener accepts and closes connections until the test ends;
// it returns the /dev/tcp path of its address.
func loopbackListener(t *testing.T) string {
	t.Helper()
	return fmt.Sprintf("/dev/tcp/127.0.0.1/%d", loopback.Listen(t).Port)
}

// TestDaemonEgress (root): a process that read a confidential file cannot
// connect to a loopback listener, nor can its children; one that did not,
// can; the rule's allowEgress destination works; with the daemon killed,
// a process tainted before stays denied (the programs are pinned).
func TestDaemonEgress(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("egress control needs root (eBPF cgroup programs): run the tests as root (CI does)")
	}
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash: its /dev/tcp is the client")
	}
	home, _ := initHome(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=16m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	secretDir := filepath.Join(dir, "secret")
	if err := os.Mkdir(secretDir, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := writeFile(t, secretDir, "data", "confidential\n", fixedTime)
	denied, allowed := loopbackListener(t), loopbackListener(t)
	allowedAddr := strings.TrimPrefix(allowed, "/dev/tcp/")
	allowedAddr = strings.Replace(allowedAddr, "/", ":", 1)
	policy := writeFile(t, t.TempDir(), "secret.yaml", "apiVersion: bonsai/v1\nkind: Policy\nmetadata: {name: secret}\n"+
		"spec:\n  mode: enforce\n  scope: {paths: ["+secretDir+"/]}\n  rules: [{confidential: {allowEgress: ["+allowedAddr+"]}}]\n", fixedTime)
	pin := fmt.Sprintf("/sys/fs/bpf/bonsai-egress-clitest-%d", os.Getpid())
	t.Cleanup(func() {
		if err := bpf.RemoveEgress(pin); err != nil {
			t.Errorf("RemoveEgress: %v", err)
		}
	})
	d := spawnDaemon(t, home, "--egress-pin", pin)
	wantCode(t, bonsai(t, "", home, "policy", "apply", policy), 0)
	st := bonsai(t, "", home, "status", "--enforcement")
	if !strings.Contains(st.stdout, "egress: cgroup socket programs") {
		t.Fatalf("status --enforcement:\n%s", st.stdout)
	}

	for _, tc := range []struct {
		name, script string
		want         bool
	}{
		{"untainted connects", "exec 4<>" + denied + " && echo connected", true},
		{"a reader of the secret is refused", "exec 3<" + secret + "; exec 4<>" + denied + " && echo connected", false},
		{"and so is its child", "exec 3<" + secret + "; bash -c 'exec 4<>" + denied + "' && echo connected", false},
		{"allowEgress is reached", "exec 3<" + secret + "; exec 4<>" + allowed + " && echo connected", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := bashConnect(t, tc.script); got != tc.want {
				t.Errorf("connected = %v, want %v", got, tc.want)
			}
		})
	}

	// Fail mode: a process tainted while the daemon ran stays denied after
	// the daemon is killed. It opens the secret, then waits for a line.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", "exec 2>&1 3<"+secret+"; echo opened; read go; exec 4<>"+denied+" && echo connected")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(outPipe)
	if line, err := rd.ReadString('\n'); err != nil || line != "opened\n" {
		t.Fatalf("tainted bash: %q %v", line, err)
	}
	d.kill9(t)
	fmt.Fprintln(in, "go")
	rest, _ := io.ReadAll(rd)
	cmd.Wait()
	if strings.Contains(string(rest), "connected") || !strings.Contains(string(rest), "not permitted") {
		t.Errorf("after the daemon was killed, a process tainted before: %q, want EPERM", rest)
	}
}
