package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bonsai-lineage/bonsai/bpf"
	"github.com/bonsai-lineage/bonsai/dht"
	"github.com/bonsai-lineage/bonsai/enforce"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/gologshim"
	ma "github.com/multiformats/go-multiaddr"
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
			"Settings can also come from HOME/config.json, a JSON object with the keys listen, bootstrap,\n" +
			"swarm_key, allow, keep_levels, gc_interval (a duration: \"10m\"), replication, watch,\n" +
			"log_level, enforce and audit_max, named like the flags; flags win. Any other key, or\n" +
			"anything after the object, is an error. Listen and metrics addresses are checked at\n" +
			"start: one that cannot be served is an error (exit status 2), not a log line. Once up,\n" +
			"the daemon says on stderr where it listens and whether the swarm is open to anyone.\n" +
			"SIGINT or SIGTERM stops it cleanly (exit status 0).\n\n" +
			"Web view (--ui ADDR, off by default): a read-only page to look up a file by path, content\n" +
			"or record CID or SHA-256 and see its ancestry as a graph, each record's verdict, executor\n" +
			"and inputs, and the node's pending outbox and pins. It answers GET only and changes nothing\n" +
			"(records fetched from peers for a check are cached, as for 'bonsai verify'). It binds\n" +
			"loopback only (another host needs --ui-public); the daemon says where on stderr.\n\n" +
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
			&cli.IntFlag{Name: "keep-levels", Usage: "λ: keep `N` levels of others' ancestry below own records", Value: node.DefaultKeepLevels},
			&cli.DurationFlag{Name: "gc-interval", Usage: "run GC every `DURATION` (0: only through 'bonsai gc')", Value: node.DefaultGCInterval},
			&cli.IntFlag{Name: "replication", Usage: "DHT replicas per record, `K` (the bucket size; at least 12)", Value: 20},
			&cli.StringFlag{Name: "log-level", Usage: "log at `LEVEL`: debug, info, warn or error", Value: "info"},
			&cli.StringSliceFlag{Name: "watch", Usage: "capture with eBPF and record every file written under `DIR` (repeatable; needs root or CAP_BPF+CAP_PERFMON)"},
			&cli.StringFlag{Name: "metrics", Usage: "serve Prometheus metrics on `ADDR` (host:port; off by default)"},
			&cli.StringFlag{Name: "ui", Usage: "serve a read-only web view of lineage, outbox and pins on `ADDR` (host:port, a loopback host such as 127.0.0.1:8737; port 0 picks one; off by default)"},
			&cli.BoolFlag{Name: "ui-public", Usage: "let --ui take a host that is not loopback, or none (every interface): anyone who reaches it reads the node's lineage"},
			&cli.BoolFlag{Name: "enforce", Usage: "enforce the applied policies (fanotify; needs root)", Value: true},
			&cli.IntFlag{Name: "audit-max", Usage: "keep at most `N` audit entries, dropping the oldest", Value: store.DefaultAuditEntries},
			&cli.DurationFlag{Name: "decision-timeout", Usage: "bound each enforcement decision to `DURATION`", Value: enforce.DefaultDecisionTimeout},
			&cli.StringFlag{Name: "on-timeout", Usage: "what a decision past --decision-timeout does: `deny` or allow (logged either way)", Value: "deny"},
			&cli.StringFlag{Name: "egress-pin", Usage: "pin the egress programs and maps under `DIR` (on bpffs)", Value: bpf.DefaultEgressPin},
		},
		Action: runDaemon,
	}
}

// loadDaemonConfig reads HOME/config.json, if there is one, strictly: a
// key it does not know (a typo such as "replicaton"), a value of the wrong
// type or anything after the JSON object is an error naming the file.
func loadDaemonConfig(h string) (daemonConfig, error) {
	var cfg daemonConfig
	path := filepath.Join(h, ConfigFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return cfg, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return daemonConfig{}, fmt.Errorf("%s: %w", path, configError(data, err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return daemonConfig{}, fmt.Errorf("%s: %w", path, errTrailingData)
	}
	return cfg, nil
}

// errTrailingData is a config file with more than one JSON value.
var errTrailingData = errors.New("trailing data after the JSON object")

// configKeys are the keys config.json may hold, in the order of
// daemonConfig's fields.
func configKeys() []string {
	t := reflect.TypeFor[daemonConfig]()
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		keys = append(keys, name)
	}
	return keys
}

// configError says in terms of the file what is wrong with config.json:
// which key is unknown or of the wrong type, or on which line the JSON
// breaks. It wraps err.
func configError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return &terseError{"empty: want a JSON object, such as {}", err}
	case errors.As(err, &syn):
		line := 1 + bytes.Count(data[:min(int(syn.Offset), len(data))], []byte("\n"))
		return fmt.Errorf("line %d: %w", line, err)
	case errors.As(err, &typ) && typ.Field != "":
		return &terseError{fmt.Sprintf("key %q: want %s, not a JSON %s", typ.Field, typ.Type, typ.Value), err}
	case errors.As(err, &typ):
		return &terseError{fmt.Sprintf("want a JSON object of settings, not a JSON %s", typ.Value), err}
	}
	// encoding/json has no type for this one; its text is stable.
	if key, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return &terseError{fmt.Sprintf("unknown key %s (known keys: %s)", key, strings.Join(configKeys(), ", ")), err}
	}
	return err
}

// terseError is an error whose text says in one short line what matters
// to whoever reads it, and that wraps the more detailed cause.
type terseError struct {
	msg string
	err error
}

func (e *terseError) Error() string { return e.msg }
func (e *terseError) Unwrap() error { return e.err }

// listenTimeout bounds the check of one listen address (a DNS name is
// resolved) and of the metrics address.
const listenTimeout = 10 * time.Second

// addrError is an address the daemon cannot serve: what it was for
// ("listen", "metrics"), the address as given and a short reason, all on
// one line; it wraps the cause.
type addrError struct {
	what, addr, reason string
	err                error
}

func (e *addrError) Error() string { return e.what + " " + e.addr + ": " + e.reason }
func (e *addrError) Unwrap() error { return e.err }

// netReason is the short reason of a failed listen: the system's error
// ("address already in use"), or the name lookup that failed, without the
// operation and address net repeats (the caller names the address).
func netReason(err error) string {
	var dnsErr *net.DNSError
	var addrErr *net.AddrError
	var errno syscall.Errno
	switch {
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("lookup %s: %s", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &addrErr):
		return addrErr.Err
	case errors.As(err, &errno):
		return errno.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no answer within %v", listenTimeout)
	}
	return err.Error()
}

// checkListen checks one listen address before the swarm starts: that it
// is a multiaddr of a transport the swarm runs (TCP, or QUIC v1 over UDP,
// on an IP address or a DNS name) and that its socket can be bound right
// now. The socket is closed again at once and the swarm binds its own; a
// bad address thus fails the start with its reason, where go-libp2p would
// only log it and run without it (unless none at all works).
func checkListen(ctx context.Context, s string) error {
	fail := func(reason string, err error) error {
		return &addrError{what: "listen", addr: s, reason: reason, err: err}
	}
	a, err := ma.NewMultiaddr(s)
	if err != nil {
		return fail("not a multiaddr: "+strings.TrimPrefix(err.Error(), fmt.Sprintf("failed to parse multiaddr %q: ", s)), err)
	}
	var udp bool
	switch ps := a.Protocols(); {
	case len(ps) == 2 && ps[1].Code == ma.P_TCP:
	case len(ps) == 3 && ps[1].Code == ma.P_UDP && ps[2].Code == ma.P_QUIC_V1:
		udp = true
	default:
		return fail(unsupportedTransport, errUnsupportedListen)
	}
	network := "tcp"
	if udp {
		network = "udp"
	}
	switch a[0].Code() {
	case ma.P_IP4, ma.P_DNS4:
		network += "4"
	case ma.P_IP6, ma.P_DNS6:
		network += "6"
	default:
		return fail(unsupportedTransport, errUnsupportedListen)
	}
	hostPort := net.JoinHostPort(a[0].Value(), a[1].Value())
	ctx, cancel := context.WithTimeout(ctx, listenTimeout)
	defer cancel()
	var lc net.ListenConfig
	var c io.Closer
	if udp {
		c, err = lc.ListenPacket(ctx, network, hostPort)
	} else {
		c, err = lc.Listen(ctx, network, hostPort)
	}
	if err != nil {
		return fail(netReason(err), err)
	}
	return c.Close()
}

// unsupportedTransport is the reason given for a listen address the swarm
// has no transport for.
const unsupportedTransport = "unsupported transport (want /ip4|ip6|dns4|dns6/HOST, then /tcp/PORT or /udp/PORT/quic-v1)"

// errUnsupportedListen is a listen multiaddr of a transport the swarm
// does not run.
var errUnsupportedListen = errors.New("unsupported listen transport")

// frameworkLogTarget is the handler of the running daemon's log, to which
// frameworkLog sends go-libp2p's own logs (nil: dropped).
var frameworkLogTarget atomic.Pointer[slog.Handler]

// quietFramework routes go-libp2p's own logs (package gologshim, which
// writes to stderr unless told otherwise) into the daemon's log, errors
// only, and drops fx's events altogether: when a transport fails to start,
// fx logs three multi-field error lines about its start hooks, all saying
// what the error New returns says. Left alone when GOLOG_LOG_LEVEL is set:
// whoever sets it wants go-libp2p's logs as go-libp2p writes them. It must
// run before the first go-libp2p log (each logger settles on its handler
// then), so before the swarm starts.
func quietFramework(h slog.Handler) {
	frameworkLogTarget.Store(&h)
	frameworkOnce.Do(func() {
		if os.Getenv("GOLOG_LOG_LEVEL") == "" {
			gologshim.SetDefaultHandler(frameworkLog{})
		}
	})
}

var frameworkOnce sync.Once

// frameworkLog is the slog handler go-libp2p's loggers write through when
// quietFramework set it: records at error level go to the handler in
// frameworkLogTarget, those of the fx subsystem nowhere.
type frameworkLog struct {
	attrs []slog.Attr
	fx    bool
}

func (f frameworkLog) Enabled(ctx context.Context, lv slog.Level) bool {
	t := frameworkLogTarget.Load()
	return !f.fx && lv >= slog.LevelError && t != nil && (*t).Enabled(ctx, lv)
}

func (f frameworkLog) Handle(ctx context.Context, r slog.Record) error {
	t := frameworkLogTarget.Load()
	if f.fx || t == nil {
		return nil
	}
	r = r.Clone()
	r.AddAttrs(f.attrs...)
	return (*t).Handle(ctx, r)
}

func (f frameworkLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	for _, a := range attrs {
		if a.Key == "system" && a.Value.String() == "fx" {
			f.fx = true
		}
	}
	f.attrs = append(slices.Clip(f.attrs), attrs...)
	return f
}

// WithGroup flattens: go-libp2p's loggers use no groups.
func (f frameworkLog) WithGroup(string) slog.Handler { return f }

// swarmState says in a few words who may use the swarm the daemon joins.
func swarmState(private bool, allowed int) string {
	var s []string
	if private {
		s = append(s, "private (pre-shared key)")
	}
	if allowed > 0 {
		peers := "peers"
		if allowed == 1 {
			peers = "peer"
		}
		s = append(s, fmt.Sprintf("admits only %d %s (--allow)", allowed, peers))
	}
	if len(s) == 0 {
		return "swarm OPEN: any peer may connect and fetch (use --allow PEERID or --swarm-key FILE to restrict)"
	}
	return "swarm " + strings.Join(s, ", ")
}

// runDaemon runs the node until its context ends (SIGINT or SIGTERM):
// that is its normal stop, and it then returns nil. Every start-up error
// (settings, config.json, listen or metrics address) is one line and
// comes before the daemon says where it listens.
func runDaemon(c *cli.Context) error {
	ctx := c.Context
	h, err := home(c)
	if err != nil {
		return err
	}
	cfg, err := loadDaemonConfig(h)
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	d, err := daemonSettings(c, h, cfg)
	if err != nil {
		return err
	}
	// The addresses first: a bad one is the error, not a log line later.
	metrics, err := checkDaemonAddrs(ctx, c.String("metrics"), d.listen)
	if err != nil {
		return err
	}
	if metrics != nil {
		defer metrics.Close() // in case the node does not start; ServeMetrics closes it too
	}
	if d.ui, err = listenUI(ctx, c.String("ui"), c.Bool("ui-public")); err != nil {
		return err
	}
	if d.ui != nil {
		defer d.ui.Close() // in case the node does not start; ServeUI closes it too
	}
	d.uiPublic = c.Bool("ui-public")

	quietFramework(d.logger.Handler())
	n, err := node.New(ctx, h, d.opts...)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting: the daemon's normal stop
		}
		return fmt.Errorf("daemon: %w", captureError(err))
	}
	defer n.Close()
	if err := serveDaemon(c, n, h, d, metrics); err != nil {
		return err
	}
	if err := n.Close(); err != nil {
		return fmt.Errorf("daemon: stop: %w", err)
	}
	return nil
}

// daemonSetup is what the daemon starts its node with, from the flags and
// config.json (flags win).
type daemonSetup struct {
	logger *slog.Logger
	opts   []node.Option
	// listen are the swarm's listen addresses, checked before it starts.
	listen []string
	// private: a swarm key is set; allowed: how many peers --allow admits
	// (0: any). The daemon says so when it is up.
	private bool
	allowed int
	// ui is the web view's listener (nil: --ui not given); uiPublic
	// admits any Host header.
	ui       net.Listener
	uiPublic bool
}

// daemonSettings reads the daemon's settings in a fixed order, so that of
// several bad ones the same is reported first: the log level, the swarm's,
// the retention's, then the enforcement's.
func daemonSettings(c *cli.Context, h string, cfg daemonConfig) (daemonSetup, error) {
	var d daemonSetup
	level := cfg.LogLevel
	if c.IsSet("log-level") || level == "" {
		level = c.String("log-level")
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return d, usagef("--log-level %q: %v", level, err)
	}
	d.logger = slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: lv}))
	d.opts = []node.Option{node.WithLogger(d.logger)}
	if err := d.swarm(c, cfg); err != nil {
		return d, err
	}
	if err := d.retention(c, h, cfg); err != nil {
		return d, err
	}
	return d, d.enforcement(c, cfg)
}

// flagOrFile is the string list of flag when it is set, else the config
// file's.
func flagOrFile(c *cli.Context, flag string, file []string) []string {
	if c.IsSet(flag) {
		return c.StringSlice(flag)
	}
	return file
}

// swarm adds the swarm's settings: bootstrap peers, swarm key, listen
// addresses (TCP only with a swarm key) and the peers admitted.
func (d *daemonSetup) swarm(c *cli.Context, cfg daemonConfig) error {
	d.listen = flagOrFile(c, "listen", cfg.Listen)
	if b := flagOrFile(c, "bootstrap", cfg.Bootstrap); len(b) > 0 {
		infos, err := dht.ParseAddrs(b)
		if err != nil {
			return usagef("--bootstrap: %v", err)
		}
		d.opts = append(d.opts, node.WithBootstrap(infos...))
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
		d.opts = append(d.opts, node.WithSwarmKey(psk))
		d.private = true
		if len(d.listen) == 0 {
			d.listen = []string{fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", dht.DefaultPort)}
		}
	}
	if len(d.listen) == 0 {
		d.listen = dht.DefaultListen
	}
	d.opts = append(d.opts, node.WithListen(d.listen...))
	allow := flagOrFile(c, "allow", cfg.Allow)
	if len(allow) > 0 {
		var ids []peer.ID
		for _, s := range allow {
			id, err := peer.Decode(s)
			if err != nil {
				return usagef("--allow %s: %v", s, err)
			}
			ids = append(ids, id)
		}
		d.opts = append(d.opts, node.WithAllow(ids...))
	}
	d.allowed = len(allow)
	return nil
}

// retention adds what the node keeps and where: λ levels, the GC
// interval, the DHT's replication.
func (d *daemonSetup) retention(c *cli.Context, h string, cfg daemonConfig) error {
	keep := c.Int("keep-levels")
	if !c.IsSet("keep-levels") && cfg.KeepLevels != nil {
		keep = *cfg.KeepLevels
	}
	d.opts = append(d.opts, node.WithKeepLevels(keep))
	every := c.Duration("gc-interval")
	if !c.IsSet("gc-interval") && cfg.GCInterval != "" {
		var err error
		if every, err = time.ParseDuration(cfg.GCInterval); err != nil {
			return fmt.Errorf("daemon: %s: gc_interval %q: %w", filepath.Join(h, ConfigFile), cfg.GCInterval, err)
		}
	}
	if every < 0 {
		return usagef("--gc-interval %v: must be 0 (off) or more", every)
	}
	d.opts = append(d.opts, node.WithGCInterval(every))
	repl := c.Int("replication")
	if !c.IsSet("replication") && cfg.Replication > 0 {
		repl = cfg.Replication
	}
	d.opts = append(d.opts, node.WithReplication(repl))
	return nil
}

// enforcement adds the enforcement's settings (the audit log's bound,
// what a late decision does) and the directories --watch captures.
func (d *daemonSetup) enforcement(c *cli.Context, cfg daemonConfig) error {
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
		d.opts = append(d.opts, node.WithEnforcement(auditMax), node.WithEgressPin(c.String("egress-pin")),
			node.WithDecisionTimeout(c.Duration("decision-timeout"), late == "allow"))
	}
	if w := flagOrFile(c, "watch", cfg.Watch); len(w) > 0 {
		d.opts = append(d.opts, node.WithWatch(w...))
	}
	return nil
}

// checkDaemonAddrs binds the metrics address (when one is given) and
// checks every listen address, before the node starts: a bad one is the
// start's error. The caller closes the metrics listener.
func checkDaemonAddrs(ctx context.Context, metricsAddr string, listen []string) (net.Listener, error) {
	var metrics net.Listener
	if metricsAddr != "" {
		var err error
		if metrics, err = node.ListenMetrics(ctx, metricsAddr); err != nil {
			return nil, fmt.Errorf("daemon: %w", &addrError{what: "metrics", addr: metricsAddr, reason: netReason(err), err: err})
		}
	}
	for _, a := range listen {
		if err := checkListen(ctx, a); err != nil {
			if metrics != nil {
				metrics.Close()
			}
			return nil, fmt.Errorf("daemon: %w", err)
		}
	}
	return metrics, nil
}

// listenUI binds the web view's address (nil, nil when addr is empty):
// an address that is not loopback, without public, is a usage error; one
// that cannot be bound is the start's error.
func listenUI(ctx context.Context, addr string, public bool) (net.Listener, error) {
	if addr == "" {
		if public {
			return nil, usagef("--ui-public: needs --ui ADDR")
		}
		return nil, nil
	}
	if err := node.CheckUIAddr(addr, public); err != nil {
		if errors.Is(err, node.ErrUIPublic) {
			return nil, usagef("--ui %s: not a loopback address (use 127.0.0.1:PORT, or add --ui-public to serve it to others)", addr)
		}
		return nil, usagef("--ui %s: want HOST:PORT, such as 127.0.0.1:8737", addr)
	}
	l, err := node.ListenUI(ctx, addr, public)
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", &addrError{what: "web view", addr: addr, reason: netReason(err), err: err})
	}
	return l, nil
}

// serveDaemon serves the local API, and metrics when metrics is not nil,
// of the started node n until the command's context ends (nil) or the
// local API fails (its error).
func serveDaemon(c *cli.Context, n *node.Node, h string, d daemonSetup, metrics net.Listener) error {
	ctx := c.Context
	// run ends with ctx, or sooner if the local API fails.
	run, stop := context.WithCancel(ctx)
	defer stop()
	apiErr := make(chan error, 1)
	go func() { apiErr <- n.ServeAPI(run) }()
	var metricsDone chan struct{}
	if metrics != nil {
		metricsDone = make(chan struct{})
		go func() {
			defer close(metricsDone)
			if err := n.ServeMetrics(run, metrics); err != nil {
				d.logger.Error("metrics server stopped", "err", err)
			}
		}()
	}
	var uiDone chan struct{}
	if d.ui != nil {
		uiDone = make(chan struct{})
		go func() {
			defer close(uiDone)
			if err := n.ServeUI(run, d.ui, d.uiPublic); err != nil {
				d.logger.Error("web view stopped", "err", err)
			}
		}()
	}
	announceDaemon(c.App.ErrWriter, n, h, d, metrics)
	var err error
	select {
	case <-ctx.Done():
		d.logger.Info("shutting down")
		err = <-apiErr
	case err = <-apiErr:
		// Before ctx ends, ServeAPI returns only on an error.
	}
	stop()
	if metricsDone != nil {
		<-metricsDone
	}
	if uiDone != nil {
		<-uiDone
	}
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

// announceDaemon says on w where the started daemon listens and who may
// use its swarm, and logs that it is ready.
func announceDaemon(w io.Writer, n *node.Node, h string, d daemonSetup, metrics net.Listener) {
	var bound []string
	for _, a := range n.Swarm.Host.Network().ListenAddresses() {
		bound = append(bound, a.String())
	}
	api := filepath.Join(h, node.APISocket)
	fmt.Fprintf(w, "bonsai: listening on %s; %s\n", strings.Join(bound, ", "), swarmState(d.private, d.allowed))
	if metrics != nil {
		fmt.Fprintf(w, "bonsai: local API on %s; metrics on http://%s/metrics\n", api, metrics.Addr())
	} else {
		fmt.Fprintf(w, "bonsai: local API on %s\n", api)
	}
	if d.ui != nil {
		fmt.Fprintf(w, "bonsai: web view (read-only) on http://%s/\n", d.ui.Addr())
	}
	var addrs []string
	for _, a := range n.Swarm.Addrs() {
		addrs = append(addrs, a.String())
	}
	d.logger.Info("daemon ready", "id", n.ID(), "addrs", addrs, "api", api)
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
