package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startDaemon runs `bonsai daemon` for home as a real process and returns
// once its local API answers with its addresses; it is stopped with SIGTERM
// at cleanup, and must exit 0.
func startDaemon(t *testing.T, home string, args ...string) []string {
	t.Helper()
	d := spawnDaemon(t, home, args...)
	t.Cleanup(func() {
		if d.killed {
			return
		}
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-d.exited:
			if err != nil {
				log, _ := os.ReadFile(d.logPath)
				t.Errorf("daemon exit after SIGTERM = %v\n%s", err, log)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("daemon did not stop within 20s of SIGTERM")
		}
		if _, err := os.Stat(filepath.Join(home, "api.sock")); !os.IsNotExist(err) {
			t.Errorf("API socket left behind after a clean stop (%v)", err)
		}
	})
	return d.addrs
}

// daemonProc is a daemon process started by spawnDaemon.
type daemonProc struct {
	cmd     *exec.Cmd
	exited  chan error
	logPath string
	addrs   []string
	killed  bool
}

// kill9 kills the daemon with SIGKILL (nothing of it runs after) and
// waits for it to be gone.
func (d *daemonProc) kill9(t *testing.T) {
	t.Helper()
	d.killed = true
	_ = d.cmd.Process.Kill()
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("daemon still running 20 s after SIGKILL")
	}
}

// spawnDaemon starts the daemon process and waits for its API; the
// process is killed at cleanup if still running.
func spawnDaemon(t *testing.T, home string, args ...string) *daemonProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	full := append([]string{"--home", home, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0"}, args...)
	cmd := exec.CommandContext(ctx, bonsaiBin, full...)
	cmd.Env = childEnv()
	logPath := filepath.Join(t.TempDir(), "daemon.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{cmd: cmd, exited: make(chan error, 1), logPath: logPath}
	go func() { d.exited <- cmd.Wait() }()
	// Registered first, so it runs last: after startDaemon's SIGTERM.
	t.Cleanup(func() {
		cancel()
		logf.Close()
	})
	// Wait for the API: `id --addrs` fails until the daemon serves it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := bonsai(t, "", home, "id", "--addrs")
		if r.code == 0 && strings.Contains(r.stdout, "/p2p/") {
			d.addrs = strings.Fields(r.stdout)
			return d
		}
		select {
		case err := <-d.exited:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("daemon exited early: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon API not up after 30s: %s", r)
		}
		time.Sleep(50 * time.Millisecond) // the process is starting; nothing to wait on but its socket
	}
}

// TestDaemonSwarm: daemons as processes; records made through A's local
// API (the daemon owns the store) verify from C, which joined later, held
// none of them, and fetched them over the swarm.
func TestDaemonSwarm(t *testing.T) {
	homeA, homeB, homeC, dir := t.TempDir(), t.TempDir(), t.TempDir(), t.TempDir()
	for _, h := range []string{homeA, homeB, homeC} {
		wantCode(t, bonsai(t, dir, h, "init"), 0)
	}
	addrsA := startDaemon(t, homeA)
	startDaemon(t, homeB, "--bootstrap", addrsA[0])

	writeFile(t, dir, "a", "alpha\n", time.Time{})
	wantCode(t, bonsai(t, dir, homeA, "record", "--out", "a"), 0)
	r := bonsai(t, dir, homeA, "record", "--in", "a", "--out", "b", "--", "sh", "-c", "tr a-z A-Z < a > b")
	wantCode(t, r, 0)
	rec := strings.Fields(r.stdout)[1]

	// Wait until node A's outbox has published it (a status, not a time).
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := bonsai(t, dir, homeA, "status", "--json", rec)
		if strings.Contains(st.stdout, `"outbox": "published"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("record not published after 30s: %s", st)
		}
		time.Sleep(50 * time.Millisecond)
	}

	startDaemon(t, homeC, "--bootstrap", addrsA[0])
	v := bonsai(t, dir, homeC, "verify", "--full", "--json", "b")
	wantCode(t, v, 0)
	var out struct {
		Verified bool
		Nodes    []struct{ Verdict string }
		Swarm    *struct {
			RoundTrips int `json:"round_trips"`
			Fetched    int `json:"records_fetched"`
		}
	}
	if err := json.Unmarshal([]byte(v.stdout), &out); err != nil {
		t.Fatalf("verify --json: %v\n%s", err, v.stdout)
	}
	if !out.Verified || len(out.Nodes) != 2 {
		t.Errorf("verify from C = verified %v, %d nodes; want true, 2", out.Verified, len(out.Nodes))
	}
	if out.Swarm == nil || out.Swarm.RoundTrips < 1 || out.Swarm.Fetched < 2 {
		t.Errorf("verify from C swarm stats = %+v, want records fetched over the swarm", out.Swarm)
	}
	// A second verification is served from C's cache.
	text := bonsai(t, dir, homeC, "verify", "b")
	wantCode(t, text, 0)
	if strings.Contains(text.stdout, "swarm:") {
		t.Errorf("second verify went to the swarm again:\n%s", text.stdout)
	}

	// GC through C's daemon: C's cache is no own record nor λ levels
	// below one; the records are A's and B's replicas on C in a 3-node
	// swarm, where C is among the k closest: all kept.
	g := bonsai(t, dir, homeC, "gc", "--json")
	wantCode(t, g, 0)
	var gc struct {
		Examined, Kept, Retired, Removed int
	}
	if err := json.Unmarshal([]byte(g.stdout), &gc); err != nil {
		t.Fatalf("gc --json: %v\n%s", err, g.stdout)
	}
	if gc.Examined != 2 || gc.Kept+gc.Retired != 2 || gc.Removed != 0 {
		t.Errorf("gc on C = %+v, want 2 examined, none removed (a retired record waits out its grace)", gc)
	}
	g = bonsai(t, dir, homeC, "gc")
	wantCode(t, g, 0)
	if !strings.HasPrefix(g.stdout, "examined 2 records: kept ") {
		t.Errorf("gc: %q", g.stdout)
	}
}
