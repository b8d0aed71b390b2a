package cli

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/bonsai-lineage/bonsai/bpf"
	"github.com/bonsai-lineage/bonsai/dht"
	"github.com/bonsai-lineage/bonsai/enforce"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/urfave/cli/v2"
)

// ConfigFile is the daemon's settings file in the home; flags win over it.
const ConfigFile = "config.json"

// daemonConfig is the config file's shape; every field is optional.
type daemonConfig struct {
	Listen      []string `json:"listen"`
	Bootstrap   []string `json:"bootstrap"`
	SwarmKey    string   `json:"swarm_key"`
	Allow       []string `json:"allow"`
	KeepLevels  *int     `json:"keep_levels"`
	GCInterval  string   `json:"gc_interval"`
	Replication int      `json:"replication"`
	Watch       []string `json:"watch"`
	LogLevel    string   `json:"log_level"`
	Enforce     *bool    `json:"enforce"`
	AuditMax    int      `json:"audit_max"`
}

func daemonCommand() *cli.Command {
	return &cli.Command{
		Name:  "daemon",
		Usage: "run the node: join the swarm, publish records, serve peers and the local API",
		Description: "Joins the lineage swarm (libp2p, Kademlia DHT under /bonsai), publishes the node's records\n" +
			"through a durable outbox, serves records to peers, and serves the local API on\n" +
			"HOME/api.sock (owner-only), through which every other command then works.\n" +
			"Settings can also come from HOME/config.json (keys: listen, bootstrap, swarm_key, allow,\n" +
			"keep_levels, gc_interval, replication, log_level, enforce, audit_max); flags win. Stops\n" +
			"cleanly on SIGINT or SIGTERM.\n\n" +
			"Enforcement (on by default; as root): the policies applied with 'bonsai policy apply' are\n" +
			"enforced with fanotify permission events on the filesystems of their scopes: an open or exec\n" +
			"a policy in enforce mode denies fails with EPERM, and every decision on a file in scope\n" +
			"goes to the audit log ('bonsai audit'). Fail mode: if the daemon dies, the kernel allows\n" +
			"what was pending and checks nothing more until it restarts; the next start logs the gap\n" +
			"('enforcement down from T1 to T2'). A process that opens a file a confidential rule\n" +
			"covers is tainted in the kernel before the open returns; it and its children may then\n" +
			"connect or send only to the rule's allowEgress (cgroup socket programs on the whole\n" +
			"cgroup v2 hierarchy, pinned under --egress-pin: still denied if the daemon dies).\n" +
			"'bonsai status --enforcement' says what is active.\n\n" +
			"GC keeps the node's own records, λ levels of ancestry below them (--keep-levels), the\n" +
			"replicas the node holds as one of the k peers closest to their key, and pinned\n" +
			"ancestries; it stops announcing anything else and deletes it two days later, once the\n" +
			"announcements already made have lapsed. 'bonsai gc' runs a pass now.",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "listen", Usage: "listen on `MULTIADDR` (repeatable; default TCP and QUIC on port 4737, all interfaces)"},
			&cli.StringSliceFlag{Name: "bootstrap", Usage: "join through `MULTIADDR/p2p/PEERID` (repeatable)"},
			&cli.StringFlag{Name: "swarm-key", Usage: "private swarm: pre-shared key `FILE` (TCP only; see 'bonsai swarm-key')"},
			&cli.StringSliceFlag{Name: "allow", Usage: "admit only `PEERID` (repeatable; default anyone)"},
			&cli.IntFlag{Name: "keep-levels", Usage: "λ: levels of others' ancestry kept below own records", Value: node.DefaultKeepLevels},
			&cli.DurationFlag{Name: "gc-interval", Usage: "run GC every `DURATION` (0: only through 'bonsai gc')", Value: node.DefaultGCInterval},
			&cli.IntFlag{Name: "replication", Usage: "DHT replicas per record, `K` (the bucket size; at least 12)", Value: 20},
			&cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"},
			&cli.StringSliceFlag{Name: "watch", Usage: "capture with eBPF and record every file written under `DIR` (repeatable; needs root or CAP_BPF+CAP_PERFMON)"},
			&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus metrics on `ADDR` (host:port; off by default)"},
			&cli.BoolFlag{Name: "enforce", Usage: "enforce the applied policies (fanotify; needs root)", Value: true},
			&cli.IntFlag{Name: "audit-max", Usage: "keep at most `N` audit entries, dropping the oldest", Value: node.DefaultAuditEntries},
			&cli.DurationFlag{Name: "decision-timeout", Usage: "bound each enforcement decision to `DURATION`", Value: enforce.DefaultDecisionTimeout},
			&cli.StringFlag{Name: "on-timeout", Usage: "what a decision past --decision-timeout does: `deny` or allow (logged either way)", Value: "deny"},
			&cli.StringFlag{Name: "egress-pin", Usage: "pin the egress programs and maps under `DIR` (on bpffs)", Value: bpf.DefaultEgressPin},
		},
		Action: runDaemon,
	}
}

func loadDaemonConfig(h string) (daemonConfig, error) {
	var cfg daemonConfig
	data, err := os.ReadFile(filepath.Join(h, ConfigFile))
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %w", filepath.Join(h, ConfigFile), err)
	}
	return cfg, nil
}

func runDaemon(c *cli.Context) error {
	h, err := home(c)
	if err != nil {
		return err
	}
	cfg, err := loadDaemonConfig(h)
	if err != nil {
		return err
	}
	pick := func(flag string, file []string) []string {
		if c.IsSet(flag) {
			return c.StringSlice(flag)
		}
		return file
	}
	level := cfg.LogLevel
	if c.IsSet("log-level") || level == "" {
		level = c.String("log-level")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return usagef("--log-level %q: %v", level, err)
	}
	logger := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: lv}))
	opts := []node.Option{node.WithLogger(logger)}
	if l := pick("listen", cfg.Listen); len(l) > 0 {
		opts = append(opts, node.WithListen(l...))
	}
	if b := pick("bootstrap", cfg.Bootstrap); len(b) > 0 {
		infos, err := dht.ParseAddrs(b)
		if err != nil {
			return usagef("--bootstrap: %v", err)
		}
		opts = append(opts, node.WithBootstrap(infos...))
	}
	keyFile := cfg.SwarmKey
	if c.IsSet("swarm-key") {
		keyFile = c.String("swarm-key")
	}
	if keyFile != "" {
		psk, err := readSwarmKey(keyFile)
		if err != nil {
			return err
		}
		opts = append(opts, node.WithSwarmKey(psk))
		if !c.IsSet("listen") && len(cfg.Listen) == 0 {
			opts = append(opts, node.WithListen(fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", dht.DefaultPort)))
		}
	}
	if a := pick("allow", cfg.Allow); len(a) > 0 {
		var ids []peer.ID
		for _, s := range a {
			id, err := peer.Decode(s)
			if err != nil {
				return usagef("--allow %s: %v", s, err)
			}
			ids = append(ids, id)
		}
		opts = append(opts, node.WithAllow(ids...))
	}
	keep := c.Int("keep-levels")
	if !c.IsSet("keep-levels") && cfg.KeepLevels != nil {
		keep = *cfg.KeepLevels
	}
	opts = append(opts, node.WithKeepLevels(keep))
	every := c.Duration("gc-interval")
	if !c.IsSet("gc-interval") && cfg.GCInterval != "" {
		if every, err = time.ParseDuration(cfg.GCInterval); err != nil {
			return fmt.Errorf("%s: gc_interval %q: %w", filepath.Join(h, ConfigFile), cfg.GCInterval, err)
		}
	}
	if every < 0 {
		return usagef("--gc-interval %v: must be 0 (off) or more", every)
	}
	opts = append(opts, node.WithGCInterval(every))
	repl := c.Int("replication")
	if !c.IsSet("replication") && cfg.Replication > 0 {
		repl = cfg.Replication
	}
	opts = append(opts, node.WithReplication(repl))
	enforcing := c.Bool("enforce")
	if !c.IsSet("enforce") && cfg.Enforce != nil {
		enforcing = *cfg.Enforce
	}
	auditMax := c.Int("audit-max")
	if !c.IsSet("audit-max") && cfg.AuditMax > 0 {
		auditMax = cfg.AuditMax
	}
	if auditMax < 1 {
		return usagef("--audit-max %d: must be 1 or more", auditMax)
	}
	if enforcing {
		late := c.String("on-timeout")
		if late != "deny" && late != "allow" {
			return usagef("--on-timeout %q: want deny or allow", late)
		}
		if c.Duration("decision-timeout") <= 0 {
			return usagef("--decision-timeout %v: must be positive", c.Duration("decision-timeout"))
		}
		opts = append(opts, node.WithEnforcement(auditMax), node.WithEgressPin(c.String("egress-pin")),
			node.WithDecisionTimeout(c.Duration("decision-timeout"), late == "allow"))
	}
	if w := pick("watch", cfg.Watch); len(w) > 0 {
		opts = append(opts, node.WithWatch(w...))
	}

	n, err := node.New(c.Context, h, opts...)
	if err != nil {
		return captureError(err)
	}
	defer n.Close()
	apiErr := make(chan error, 1)
	go func() { apiErr <- n.ServeAPI(c.Context) }()
	if addr := c.String("metrics"); addr != "" {
		go func() {
			if err := n.ServeMetrics(c.Context, addr); err != nil {
				logger.Error("metrics server stopped", "err", err)
			}
		}()
	}
	var addrs []string
	for _, a := range n.Swarm.Addrs() {
		addrs = append(addrs, a.String())
	}
	logger.Info("daemon ready", "id", n.ID(), "addrs", addrs, "api", filepath.Join(h, node.APISocket))
	select {
	case <-c.Context.Done():
		logger.Info("shutting down")
	case err := <-apiErr:
		if err != nil {
			return err
		}
	}
	<-apiErr
	return n.Close()
}

// readSwarmKey reads a libp2p pre-shared key file, refusing one that
// others can read.
func readSwarmKey(path string) (pnet.PSK, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("swarm key: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("swarm key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("swarm key %s has mode %04o, want 0600 (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	psk, err := pnet.DecodeV1PSK(f)
	if err != nil {
		return nil, fmt.Errorf("swarm key %s: %w", path, err)
	}
	return psk, nil
}

func swarmKeyCommand() *cli.Command {
	return &cli.Command{
		Name:      "swarm-key",
		Usage:     "write a new pre-shared key for a private swarm to FILE (mode 0600)",
		ArgsUsage: "FILE",
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("swarm-key needs exactly one FILE")
			}
			var k [32]byte
			if _, err := rand.Read(k[:]); err != nil {
				return err
			}
			body := "/key/swarm/psk/1.0.0/\n/base16/\n" + hex.EncodeToString(k[:]) + "\n"
			f, err := os.OpenFile(c.Args().First(), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("swarm key: %w", err)
			}
			if _, err := f.WriteString(body); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
}
