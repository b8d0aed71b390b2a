package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bonsai-lineage/bonsai/dht"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"golang.org/x/sync/singleflight"
)

// DefaultKeepLevels is λ, the levels of other nodes' ancestry a node keeps
// below its own records (Bonsai pruning).
const DefaultKeepLevels = 2

// config is what Option functions set; New applies defaults first.
type config struct {
	listen       []string
	bootstrap    []peer.AddrInfo
	swarmKey     pnet.PSK
	allow        []peer.ID
	replication  int
	keepLevels   int
	gcInterval   time.Duration
	gcGrace      time.Duration
	reprovide    time.Duration
	watch        []string
	logger       *slog.Logger
	autoRefresh  bool
	fetchBatch   int
	maxProviders int
	enforce      bool
	auditEntries int
	egressPin    string
	decideWithin time.Duration
	allowLate    bool
}

// Option configures a Node.
type Option func(*config) error

func defaults() config {
	return config{
		keepLevels:   DefaultKeepLevels,
		gcInterval:   DefaultGCInterval,
		gcGrace:      DefaultProvideValidity,
		reprovide:    12 * time.Hour,
		logger:       slog.Default(),
		autoRefresh:  true,
		fetchBatch:   512,
		maxProviders: 8,
	}
}

// WithListen sets the listen multiaddrs (default dht.DefaultListen).
func WithListen(addrs ...string) Option {
	return func(c *config) error { c.listen = addrs; return nil }
}

// WithBootstrap sets the peers to join through (default none: a new swarm).
func WithBootstrap(peers ...peer.AddrInfo) Option {
	return func(c *config) error { c.bootstrap = peers; return nil }
}

// WithSwarmKey makes the swarm private (TCP only; default public).
func WithSwarmKey(k pnet.PSK) Option {
	return func(c *config) error { c.swarmKey = k; return nil }
}

// WithAllow admits only these peers (default anyone).
func WithAllow(ids ...peer.ID) Option {
	return func(c *config) error { c.allow = ids; return nil }
}

// MinReplication is the smallest k accepted: kad-dht sizes its routing
// table buckets by k and refreshes whenever a table holds fewer than 10
// peers, so below this a small swarm refreshes without end.
const MinReplication = 12

// WithReplication sets the DHT's k, the number of replicas of each record
// and the routing table's bucket size (default 20, at least MinReplication).
func WithReplication(k int) Option {
	return func(c *config) error {
		if k < MinReplication {
			return fmt.Errorf("replication %d: must be at least %d (the DHT's bucket size; smaller tables never settle)", k, MinReplication)
		}
		c.replication = k
		return nil
	}
}

// WithKeepLevels sets λ (default DefaultKeepLevels).
func WithKeepLevels(l int) Option {
	return func(c *config) error {
		if l < 0 {
			return fmt.Errorf("keep-levels %d: must be 0 or more", l)
		}
		c.keepLevels = l
		return nil
	}
}

// DefaultGCInterval is how often a daemon runs GC.
const DefaultGCInterval = 10 * time.Minute

// WithGCInterval sets how often GC runs (default DefaultGCInterval; 0
// turns the periodic pass off: GC then runs only when asked, see Node.GC).
func WithGCInterval(d time.Duration) Option {
	return func(c *config) error { c.gcInterval = d; return nil }
}

// DefaultProvideValidity is how long a provider record lives in the DHT
// (kad-dht's): a record GC retires is deleted this long afterwards.
const DefaultProvideValidity = 48 * time.Hour

// WithProvideValidity sets how long the provider records this node stores
// for others live, and how long a record GC retired is kept before it is
// deleted (default DefaultProvideValidity). Every node of a swarm should
// use the same; tests shorten it.
func WithProvideValidity(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("provide validity %v: must be positive", d)
		}
		c.gcGrace = d
		return nil
	}
}

// WithReprovideInterval sets how often the node announces again every
// output it holds records for (default 12 hours; provider records expire
// after 48). It also announces them once at start when it joins a swarm.
// 0 turns it off.
func WithReprovideInterval(d time.Duration) Option {
	return func(c *config) error { c.reprovide = d; return nil }
}

// WithEnforcement runs the node's policies (see package enforce): opens
// and execs under their scopes are decided through fanotify when the
// kernel allows it (root), and every decision goes to the audit log of
// at most auditEntries entries (0: store.DefaultAuditEntries). Default: off.
func WithEnforcement(auditEntries int) Option {
	return func(c *config) error {
		if auditEntries < 0 {
			return fmt.Errorf("audit entries %d: must be 0 or more", auditEntries)
		}
		c.enforce, c.auditEntries = true, auditEntries
		return nil
	}
}

// WithDecisionTimeout bounds each enforcement decision (default
// enforce.DefaultDecisionTimeout); past it the open is denied, or allowed
// when allow is set (and logged either way).
func WithDecisionTimeout(d time.Duration, allow bool) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("decision timeout %v: must be positive", d)
		}
		c.decideWithin, c.allowLate = d, allow
		return nil
	}
}

// WithEgressPin is where the egress programs are pinned (default
// bpf.DefaultEgressPin); tests use one of their own.
func WithEgressPin(dir string) Option {
	return func(c *config) error { c.egressPin = dir; return nil }
}

// WithLogger sets the structured logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { c.logger = l; return nil }
}

// WithoutAutoRefresh turns off the DHT's periodic routing-table refresh, for
// in-process test swarms whose background timers would only add noise.
func WithoutAutoRefresh() Option {
	return func(c *config) error { c.autoRefresh = false; return nil }
}

// Node is a running bonsai node: its store, identity, swarm, fetch server
// and outbox.
type Node struct {
	Home   string
	Store  *store.Store
	Key    *signer.Key
	Swarm  *dht.Swarm
	cfg    config
	log    *slog.Logger
	outbox *Outbox
	fetch  *dht.Server

	provideQ    chan cid.Cid
	provides    atomic.Int64 // outputs queued or being provided
	stats       fetchStats
	inflight    singleflight.Group // prefetches by output
	acquireWake chan struct{}
	missMu      sync.Mutex
	misses      map[cid.Cid]miss // what recent prefetches could not bring
	enf         *enforcement     // nil when enforcement is off
	rev         *revocations     // the revocation gossip

	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed sync.Once
}

// New opens the node in home (its key and store must exist: see
// store.Init) and joins the swarm.
func New(ctx context.Context, home string, opts ...Option) (*Node, error) {
	cfg := defaults()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	key, err := signer.Load(filepath.Join(home, signer.KeyFileName))
	if err != nil {
		return nil, err
	}
	st, err := store.Open(home)
	if err != nil {
		return nil, err
	}
	// Records signed by this key are the node's own; any other it is
	// given is imported, never published as its own.
	st.SetOwner(key.ID())
	n := &Node{Home: home, Store: st, Key: key, cfg: cfg, log: cfg.logger, provideQ: make(chan cid.Cid, 4096),
		acquireWake: make(chan struct{}, 1)}
	dstore, err := st.DHTDatastore()
	if err != nil {
		st.Close()
		return nil, err
	}
	sw, err := dht.New(dht.Config{
		Key:         key.PrivKey(),
		Listen:      cfg.listen,
		Bootstrap:   cfg.bootstrap,
		SwarmKey:    cfg.swarmKey,
		Allow:       cfg.allow,
		Replication: cfg.replication,
		OnReplica:   n.onReplica,
		OnRevocation: func(b lineage.Block) {
			if _, _, err := st.PutRevocation(b); err != nil {
				n.log.Warn("revocation replica not stored", "revocation", b.CID, "err", err)
			}
		},
		DisableAutoRefresh: !cfg.autoRefresh,
		Datastore:          dstore,
		ProvideValidity:    cfg.gcGrace,
		Logger:             cfg.logger,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	n.Swarm = sw
	n.fetch = dht.NewServer(sw.Host, storeSource{st})
	n.outbox = NewOutbox(st, publisher{n}, WithOutboxLogger(cfg.logger))
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	// Gossip joins before the node meets anyone: a peer met before it
	// would find no gossip protocol here and never send to it.
	if err := n.startRevocations(runCtx); err != nil {
		n.Close()
		return nil, err
	}
	if len(cfg.bootstrap) > 0 {
		if err := sw.Bootstrap(ctx); err != nil {
			n.Close()
			return nil, err
		}
	}
	n.goRun(func() { n.revocationLoop(runCtx) })
	n.goRun(func() { _ = n.outbox.Run(runCtx) })
	n.goRun(func() { n.provideLoop(runCtx) })
	n.goRun(func() { n.acquireLoop(runCtx) })
	if cfg.gcInterval > 0 {
		n.goRun(func() { n.gcLoop(runCtx) })
	}
	if len(cfg.watch) > 0 {
		if err := n.startWatch(runCtx); err != nil {
			n.Close()
			return nil, err
		}
	}
	if cfg.reprovide > 0 {
		n.goRun(func() { n.reprovideLoop(runCtx, len(cfg.bootstrap) > 0) })
	}
	if cfg.enforce {
		if err := n.startEnforcement(runCtx); err != nil {
			n.Close()
			return nil, fmt.Errorf("start enforcement: %w", err)
		}
	}
	return n, nil
}

func (n *Node) goRun(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Close stops the node: background work first, then the swarm, then the
// store (whose outbox keeps whatever was not yet published).
func (n *Node) Close() error {
	var err error
	n.closed.Do(func() {
		n.cancel()
		n.wg.Wait()
		if n.fetch != nil {
			n.fetch.Close()
		}
		err = n.Swarm.Close()
		if serr := n.Store.Close(); err == nil {
			err = serr
		}
	})
	return err
}

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.Key.ID() }

// Notify tells the outbox, and the acquisition of ancestry, that new own
// records are waiting.
func (n *Node) Notify() {
	n.outbox.Notify()
	n.wakeAcquire()
}

// Recorder records on this node; new records are published by the outbox.
func (n *Node) Recorder() *store.Recorder { return &store.Recorder{Store: nodeSink{n}, Key: n.Key} }

// nodeSink stores records and wakes the outbox at once.
type nodeSink struct{ n *Node }

func (s nodeSink) Put(blocks []lineage.Block, paths map[string]cid.Cid) (int, error) {
	added, err := s.n.Store.Put(blocks, paths)
	if err == nil && added > 0 {
		s.n.Notify()
	}
	return added, err
}

// onReplica indexes a record a peer stored on us through the DHT: this node
// can now hand it out, so it provides its output too.
func (n *Node) onReplica(b lineage.Block) {
	added, err := n.Store.PutReplica([]lineage.Block{b})
	if err != nil {
		n.log.Warn("replica not stored", "record", b.CID, "err", err)
		return
	}
	if added == 0 {
		return
	}
	rec, err := lineage.Decode(b.Data)
	if err != nil {
		return
	}
	n.queueProvide(rec.Output)
}

func (n *Node) queueProvide(out cid.Cid) {
	n.provides.Add(1)
	select {
	case n.provideQ <- out:
	default:
		n.provides.Add(-1)
		n.log.Warn("provide queue full: output not announced now", "output", out)
	}
}

// provideLoop announces outputs one at a time: each provide is a DHT walk,
// and a burst of replicas must not become a burst of walks.
func (n *Node) provideLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case out := <-n.provideQ:
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			if err := n.Swarm.Provide(pctx, out); err != nil && ctx.Err() == nil {
				n.log.Debug("provide failed", "output", out, "err", err)
			}
			cancel()
			n.provides.Add(-1)
		}
	}
}

// reprovideLoop announces every held output again, now (after a restart
// into a swarm) and then periodically, so provider records never lapse.
func (n *Node) reprovideLoop(ctx context.Context, now bool) {
	t := time.NewTicker(n.cfg.reprovide)
	defer t.Stop()
	for {
		if now {
			queue := func(out cid.Cid) error {
				n.provides.Add(1)
				select {
				case n.provideQ <- out:
					return nil
				case <-ctx.Done():
					n.provides.Add(-1)
					return ctx.Err()
				}
			}
			err := n.Store.Announced(queue)
			if err == nil {
				err = n.Store.DeepOutputs(func(out cid.Cid) error { return queue(dht.AncestryKey(out)) })
			}
			if err != nil && ctx.Err() == nil {
				n.log.Warn("reprovide failed", "err", err)
			}
		}
		now = true
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) gcLoop(ctx context.Context) {
	t := time.NewTicker(n.cfg.gcInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st, err := n.GC(ctx)
			if err != nil {
				n.log.Warn("gc failed", "err", err)
				continue
			}
			n.log.Info("gc", "examined", st.Examined, "kept", st.Kept, "retired", st.Retired,
				"removed", st.Removed, "restored", st.Restored, "freed", st.BytesFreed)
		}
	}
}

// GC runs one GC pass on the node's store: its own records, λ levels
// below them, the replicas it holds as one of the k closest peers and
// pinned ancestries stay; the rest is retired (no longer announced) and
// deleted a provider validity later. Restored records are announced again.
func (n *Node) GC(ctx context.Context) (store.GCStats, error) {
	return n.Store.GC(ctx, store.GCOptions{KeepLevels: n.cfg.keepLevels, Closest: n.Swarm.AmongClosest,
		Grace: n.cfg.gcGrace, Restore: n.queueProvide})
}

// publisher puts own records into the DHT and provides their outputs.
type publisher struct{ n *Node }

func (p publisher) Publish(ctx context.Context, rec *lineage.Record, blk lineage.Block) error {
	if len(p.n.Swarm.Host.Network().Peers()) == 0 {
		return errors.New("no peers connected")
	}
	if err := p.n.Swarm.PutRecord(ctx, blk); err != nil {
		return fmt.Errorf("put record: %w", err)
	}
	if err := p.n.Swarm.Provide(ctx, rec.Output); err != nil {
		return fmt.Errorf("provide output: %w", err)
	}
	if len(rec.Inputs) == 0 {
		// Nothing below it: this node holds its whole ancestry.
		p.n.queueProvide(dht.AncestryKey(rec.Output))
	}
	return nil
}

// storeSource serves the store over the fetch protocol.
type storeSource struct{ st *store.Store }

func (s storeSource) Block(c cid.Cid) ([]byte, bool, error) {
	data, err := s.st.Get(c)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

func (s storeSource) Resolve(ctx context.Context, out cid.Cid) ([]lineage.Block, error) {
	return s.st.Resolve(ctx, out)
}

func (s storeSource) Revocations() ([]lineage.Block, error) { return s.st.AllRevocations() }

// WaitIdle waits until every replica this node received is indexed and
// every output it queued is provided: after the publishers' Flush, it is
// how a swarm settles before a test or benchmark measures it.
func (n *Node) WaitIdle(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		acq, err := n.Store.AcquirePending()
		if err != nil {
			return err
		}
		if n.Swarm.PendingReplicas() == 0 && n.provides.Load() == 0 && acq == 0 {
			return nil
		}
		if acq > 0 {
			n.wakeAcquire()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("node %s not idle: %w", n.ID(), ctx.Err())
		}
	}
}

// WaitPublished waits until the outbox has nothing pending.
func (n *Node) WaitPublished(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		pending, _, err := n.Store.OutboxCounts()
		if err != nil {
			return err
		}
		if pending == 0 {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%d records still unpublished: %w", pending, ctx.Err())
		}
	}
}

// Flush publishes every pending record of the outbox now, whatever its
// backoff, and returns how many it published: for tests, benchmarks and
// anyone who must know the swarm has the records before going on.
func (n *Node) Flush(ctx context.Context) (int, error) {
	done := 0
	far := time.Now().Add(24 * 365 * time.Hour)
	for {
		due, err := n.Store.DueOutbox(far, 256)
		if err != nil {
			return done, err
		}
		if len(due) == 0 {
			return done, nil
		}
		for _, e := range due {
			if err := ctx.Err(); err != nil {
				return done, err // publishOne leaves the entry as it was
			}
			// The outbox's own publish step: same decoding, same marks.
			pubErr, err := n.outbox.publishOne(ctx, e)
			if err != nil {
				return done, err
			}
			if pubErr != nil {
				return done, fmt.Errorf("publish %s: %w", e.Record, pubErr)
			}
			done++
		}
	}
}
