package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/cli"
)

// TestDaemonStartupErrors: an address the daemon cannot serve, or a
// config.json it does not understand, ends the start with exit status 2
// and one line naming what failed, and nothing else on stderr (no
// go-libp2p or fx log). They run the real binary: framework logs go to the
// process's stderr, which cli.Main's writer would not see.
func TestDaemonStartupErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // after the parallel subtests
	busyPort := busy.Addr().(*net.TCPAddr).Port
	busyTCP := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", busyPort)
	const anyPort = "/ip4/127.0.0.1/tcp/0"

	tests := []struct {
		name   string
		config string // config.json's content; none when empty
		args   []string
		want   []string // each in the error line; "HOME" stands for the home
	}{
		{
			name: "listen UDP without QUIC",
			args: []string{"--listen", "/ip4/127.0.0.1/udp/1"},
			want: []string{"bonsai: daemon: listen /ip4/127.0.0.1/udp/1: unsupported transport"},
		},
		{
			name: "listen transport not run",
			args: []string{"--listen", "/ip4/127.0.0.1/tcp/0/ws"},
			want: []string{"bonsai: daemon: listen /ip4/127.0.0.1/tcp/0/ws: unsupported transport"},
		},
		{
			name: "listen not a multiaddr",
			args: []string{"--listen", "garbage"},
			want: []string{"bonsai: daemon: listen garbage: not a multiaddr"},
		},
		{
			name: "listen host unknown",
			args: []string{"--listen", "/dns4/nohost.invalid/tcp/1"},
			want: []string{"bonsai: daemon: listen /dns4/nohost.invalid/tcp/1: lookup nohost.invalid"},
		},
		{
			name: "listen port in use",
			args: []string{"--listen", busyTCP},
			want: []string{"bonsai: daemon: listen " + busyTCP + ": address already in use"},
		},
		{
			name: "second listen port in use",
			args: []string{"--listen", anyPort, "--listen", busyTCP},
			want: []string{"bonsai: daemon: listen " + busyTCP + ": address already in use"},
		},
		{
			name: "metrics address without port",
			args: []string{"--listen", anyPort, "--metrics", "nonsense"},
			want: []string{"bonsai: daemon: metrics nonsense: missing port in address"},
		},
		{
			name: "metrics port in use",
			args: []string{"--listen", anyPort, "--metrics", fmt.Sprintf("127.0.0.1:%d", busyPort)},
			want: []string{fmt.Sprintf("bonsai: daemon: metrics 127.0.0.1:%d: address already in use", busyPort)},
		},
		{
			name:   "config unknown key",
			config: `{"replicaton": 20}`,
			args:   []string{"--listen", anyPort},
			want:   []string{"bonsai: daemon: HOME/config.json: unknown key \"replicaton\" (known keys: listen, "},
		},
		{
			name:   "config trailing data",
			config: `{"replication": 20} garbage`,
			args:   []string{"--listen", anyPort},
			want:   []string{"bonsai: daemon: HOME/config.json: trailing data after the JSON object"},
		},
		{
			name:   "config second object",
			config: "{}\n{}\n",
			args:   []string{"--listen", anyPort},
			want:   []string{"bonsai: daemon: HOME/config.json: trailing data after the JSON object"},
		},
		{
			name:   "config wrong type",
			config: `{"replication": "20"}`,
			args:   []string{"--listen", anyPort},
			want:   []string{"bonsai: daemon: HOME/config.json: key \"replication\": want int, not a JSON string"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			home, _ := initHome(t)
			if tt.config != "" {
				if err := os.WriteFile(filepath.Join(home, cli.ConfigFile), []byte(tt.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			args := append([]string{"daemon", "--enforce=false"}, tt.args...)
			r := bonsai(t, "", home, args...)
			var want []string
			for _, w := range tt.want {
				want = append(want, strings.ReplaceAll(w, "HOME", home))
			}
			wantOneLineError(t, r, false, want...)
			if strings.Contains(r.stderr, "daemon ready") || strings.Contains(r.stderr, "listening on") {
				t.Errorf("the daemon reported ready before failing:\n%s", r.stderr)
			}
		})
	}
}

// TestDaemonConfigKeysDocumented: every key config.json may hold (the
// unknown-key error lists them) is in 'bonsai daemon --help'.
func TestDaemonConfigKeysDocumented(t *testing.T) {
	home, _ := initHome(t)
	if err := os.WriteFile(filepath.Join(home, cli.ConfigFile), []byte(`{"nokey": 1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := bonsai(t, "", home, "daemon", "--enforce=false", "--listen", "/ip4/127.0.0.1/tcp/0")
	wantOneLineError(t, r, false, `unknown key "nokey"`)
	m := regexp.MustCompile(`\(known keys: ([a-z_, ]+)\)`).FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no key list in %q", r.stderr)
	}
	help := bonsai(t, "", "", "daemon", "--help")
	wantCode(t, help, 0)
	text := strings.Join(strings.Fields(help.stdout), " ")
	for _, k := range strings.Split(m[1], ", ") {
		if !regexp.MustCompile(`\b` + k + `\b`).MatchString(text) {
			t.Errorf("config key %q not in 'bonsai daemon --help'", k)
		}
	}
}

// notifyWriter is a buffer safe for concurrent use that signals each
// write on wrote.
type notifyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
}

func newNotifyWriter() *notifyWriter { return &notifyWriter{wrote: make(chan struct{}, 1)} }

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	select {
	case w.wrote <- struct{}{}:
	default:
	}
	return n, err
}

func (w *notifyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestDaemonStartupReady: a daemon that starts says on stderr, in at most
// three lines, where it listens, whether the swarm is open, and where its
// local API (and metrics) are; it listens there, and exits 0 when its
// context ends (main cancels it on SIGINT and SIGTERM).
func TestDaemonStartupReady(t *testing.T) {
	home, id := initHome(t)
	keyFile := filepath.Join(t.TempDir(), "swarm.key")
	wantCode(t, bonsai(t, "", "", "swarm-key", keyFile), 0)
	tests := []struct {
		name    string
		args    []string
		swarm   string // what the listen line says of the swarm
		metrics bool
	}{
		{name: "open", swarm: "swarm OPEN: any peer may connect and fetch (use --allow PEERID or --swarm-key FILE to restrict)"},
		{name: "allow and metrics", args: []string{"--allow", id, "--metrics", "127.0.0.1:0"},
			swarm: "swarm admits only 1 peer (--allow)", metrics: true},
		{name: "private", args: []string{"--swarm-key", keyFile}, swarm: "swarm private (pre-shared key)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
			defer cancel()
			run, stop := context.WithCancel(ctx)
			defer stop()
			stdout, stderr := newNotifyWriter(), newNotifyWriter()
			args := append([]string{"bonsai", "--home", home, "daemon", "--enforce=false", "--listen", "/ip4/127.0.0.1/tcp/0"}, tt.args...)
			done := make(chan int, 1)
			go func() { done <- cli.Main(run, args, stdout, stderr) }()

			// "daemon ready" is logged after the lines under test.
			for !strings.Contains(stderr.String(), "daemon ready") {
				select {
				case <-stderr.wrote:
				case code := <-done:
					t.Fatalf("daemon exited %d before it was ready:\n%s", code, stderr)
				case <-ctx.Done():
					t.Fatalf("daemon not ready: %v\n%s", ctx.Err(), stderr)
				}
			}
			var own []string
			for _, l := range strings.Split(stderr.String(), "\n") {
				if strings.HasPrefix(l, "bonsai: ") {
					own = append(own, l)
				}
			}
			if len(own) < 2 || len(own) > 3 {
				t.Fatalf("start-up lines = %q, want 2 or 3", own)
			}
			m := regexp.MustCompile(`^bonsai: listening on /ip4/127\.0\.0\.1/tcp/(\d+); (.*)$`).FindStringSubmatch(own[0])
			if m == nil || m[1] == "0" {
				t.Fatalf("first line = %q, want where it listens (the port bound)", own[0])
			}
			if m[2] != tt.swarm {
				t.Errorf("swarm state = %q, want %q", m[2], tt.swarm)
			}
			c, err := net.DialTimeout("tcp", "127.0.0.1:"+m[1], 5*time.Second)
			if err != nil {
				t.Errorf("the address it says it listens on: %v", err)
			} else {
				c.Close()
			}
			apiLine := "bonsai: local API on " + filepath.Join(home, "api.sock")
			if !strings.HasPrefix(own[1], apiLine) {
				t.Errorf("second line = %q, want it to start with %q", own[1], apiLine)
			}
			if tt.metrics {
				url, ok := strings.CutPrefix(own[1], apiLine+"; metrics on ")
				if !ok {
					t.Fatalf("second line = %q, want the metrics URL", own[1])
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("GET %s: %v", url, err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: %s", url, resp.Status)
				}
			}
			if strings.Contains(stderr.String(), "system=fx") {
				t.Errorf("framework log on stderr:\n%s", stderr)
			}

			stop() // what SIGINT or SIGTERM does through main's context
			select {
			case code := <-done:
				if code != 0 {
					t.Errorf("exit after its context ended = %d, want 0\n%s", code, stderr)
				}
			case <-ctx.Done():
				t.Fatalf("daemon still running after its context ended:\n%s", stderr)
			}
			if stdout.String() != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			if _, err := os.Stat(filepath.Join(home, "api.sock")); !os.IsNotExist(err) {
				t.Errorf("API socket left behind after a clean stop (%v)", err)
			}
		})
	}
}
