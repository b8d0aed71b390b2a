package dht

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p"
	kad "github.com/libp2p/go-libp2p-kad-dht"
	kadpb "github.com/libp2p/go-libp2p-kad-dht/pb"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	kb "github.com/libp2p/go-libp2p-kbucket"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	libp2ptls "github.com/libp2p/go-libp2p/p2p/security/tls"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

// ProtocolPrefix makes bonsai's DHT a swarm of its own, apart from the
// public IPFS network.
const ProtocolPrefix = "/bonsai"

// DefaultPort is the port the daemon listens on unless told otherwise.
const DefaultPort = 4737

// DefaultListen is where a daemon listens by default: loopback and all
// interfaces, TCP and QUIC, on DefaultPort.
var DefaultListen = []string{
	fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", DefaultPort),
	fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", DefaultPort),
}

// Config configures a Swarm. Zero fields take the defaults their comments
// name.
type Config struct {
	// Key is the node's identity; required.
	Key crypto.PrivKey
	// Listen addresses (default DefaultListen).
	Listen []string
	// Bootstrap peers, each a multiaddr ending in /p2p/PEERID.
	Bootstrap []peer.AddrInfo
	// SwarmKey, when set, makes the swarm private (libp2p pnet): peers
	// without the key cannot complete a connection. QUIC does not support
	// a pre-shared key, so a private swarm runs over TCP only.
	SwarmKey pnet.PSK
	// Allow, when not empty, admits only these peers.
	Allow []peer.ID
	// Replication is the DHT's k: how many closest peers keep a copy of
	// each record (default 20, kad-dht's).
	Replication int
	// OnReplica is called, off the DHT's message loop, with every valid
	// lineage record a peer stores on this node.
	OnReplica func(lineage.Block)
	// OnRevocation is called likewise with every valid revocation this
	// node is asked to store.
	OnRevocation func(lineage.Block)
	// DisableAutoRefresh turns kad-dht's periodic routing-table refresh
	// off (default: on, as daemons want; in-process test swarms turn it
	// off).
	DisableAutoRefresh bool
	// Datastore holds the DHT's provider records and values (default:
	// kad-dht's in-memory map, lost at exit and scanned on every miss).
	// Daemons give it an indexed, persistent one.
	Datastore ds.Batching
	// ProvideValidity is how long provider records stored on this node
	// live (default kad-dht's, 48 hours).
	ProvideValidity time.Duration
	Logger          *slog.Logger
}

// Swarm is a node's libp2p host and its DHT.
type Swarm struct {
	Host host.Host
	DHT  *kad.IpfsDHT
	cfg  Config
	log  *slog.Logger

	replicas chan lineage.Block
	pending  atomic.Int64 // replicas queued or being indexed
	done     chan struct{}
	wg       sync.WaitGroup
}

// New starts a libp2p host and the bonsai DHT on it (server mode).
func New(cfg Config) (*Swarm, error) {
	if cfg.Key == nil {
		return nil, errors.New("swarm: no identity key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	listen := cfg.Listen
	if len(listen) == 0 {
		listen = DefaultListen
	}
	opts := []libp2p.Option{
		libp2p.Identity(cfg.Key),
		libp2p.ListenAddrStrings(listen...),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Security(libp2ptls.ID, libp2ptls.New),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.DisableRelay(),
	}
	if cfg.SwarmKey != nil {
		for _, a := range listen {
			if strings.Contains(a, "/quic") || strings.Contains(a, "/udp/") {
				return nil, fmt.Errorf("listen %s: a private swarm (swarm key) runs over TCP only: go-libp2p's QUIC has no pre-shared key support", a)
			}
		}
		opts = append(opts, libp2p.PrivateNetwork(cfg.SwarmKey))
	} else {
		opts = append(opts, libp2p.Transport(quic.NewTransport))
	}
	if len(cfg.Allow) > 0 {
		allow := allowlist{}
		for _, p := range cfg.Allow {
			allow[p] = true
		}
		opts = append(opts, libp2p.ConnectionGater(allow))
	}
	h, err := libp2p.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("start libp2p host: %w", err)
	}
	s := &Swarm{
		Host:     h,
		cfg:      cfg,
		log:      cfg.Logger,
		replicas: make(chan lineage.Block, 1024),
		done:     make(chan struct{}),
	}
	dopts := []kad.Option{
		kad.Mode(kad.ModeServer),
		kad.ProtocolPrefix(ProtocolPrefix),
		kad.NamespacedValidator(Namespace, Validator{}),
		kad.OnRequestHook(s.onRequest),
	}
	if cfg.Replication > 0 {
		dopts = append(dopts, kad.BucketSize(cfg.Replication))
	}
	if len(cfg.Bootstrap) > 0 {
		dopts = append(dopts, kad.BootstrapPeers(cfg.Bootstrap...))
	}
	if cfg.DisableAutoRefresh {
		dopts = append(dopts, kad.DisableAutoRefresh())
	}
	if cfg.Datastore != nil {
		dopts = append(dopts, kad.Datastore(cfg.Datastore))
	}
	if cfg.ProvideValidity > 0 {
		dopts = append(dopts, kad.ProviderManagerOpts(records.ProvideValidity(cfg.ProvideValidity)))
	}
	d, err := kad.New(h, dopts...)
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("start DHT: %w", err)
	}
	s.DHT = d
	s.wg.Add(1)
	go s.indexReplicas()
	return s, nil
}

// Close stops the DHT and the host.
func (s *Swarm) Close() error {
	close(s.done)
	err := s.DHT.Close()
	if herr := s.Host.Close(); err == nil {
		err = herr
	}
	s.wg.Wait()
	return err
}

// onRequest sees every DHT message before its handler. A PUT of a record
// into our namespace makes this node a replica holder: the record is handed
// to indexReplicas, never handled here (the hook blocks the message loop).
func (s *Swarm) onRequest(_ context.Context, _ network.Stream, req *kadpb.Message) {
	if req.GetType() != kadpb.Message_PUT_VALUE || s.cfg.OnReplica == nil {
		return
	}
	rec := req.GetRecord()
	if rec == nil || !strings.HasPrefix(string(rec.GetKey()), keyPrefix) {
		return
	}
	c, err := ParseRecordKey(string(rec.GetKey()))
	if err != nil || len(rec.GetValue()) > lineage.MaxRecordSize {
		return
	}
	s.pending.Add(1)
	select {
	case s.replicas <- lineage.Block{CID: c, Data: append([]byte(nil), rec.GetValue()...)}:
	default:
		s.pending.Add(-1)
		s.log.Warn("replica queue full: a replica was not indexed (the record stays in the DHT)", "record", c)
	}
}

func (s *Swarm) indexReplicas() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case b := <-s.replicas:
			if _, err := lineage.Open(b.CID, b.Data); err == nil {
				s.cfg.OnReplica(b)
			} else if _, rerr := lineage.OpenRevocation(b.CID, b.Data); rerr == nil {
				if s.cfg.OnRevocation != nil {
					s.cfg.OnRevocation(b)
				}
			} else {
				s.log.Debug("refused replica", "record", b.CID, "err", err)
			}
			s.pending.Add(-1)
		}
	}
}

// PendingReplicas is how many received replicas are not yet indexed.
func (s *Swarm) PendingReplicas() int64 { return s.pending.Load() }

// Connect dials the given peers and waits until each either connected or
// failed; it returns how many connected.
func (s *Swarm) Connect(ctx context.Context, peers []peer.AddrInfo) int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	ok := 0
	for _, p := range peers {
		if p.ID == s.Host.ID() {
			continue
		}
		wg.Add(1)
		go func(p peer.AddrInfo) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := s.Host.Connect(cctx, p); err != nil {
				s.log.Warn("bootstrap peer unreachable", "peer", p.ID, "err", err)
				return
			}
			mu.Lock()
			ok++
			mu.Unlock()
		}(p)
	}
	wg.Wait()
	return ok
}

// Bootstrap connects to the configured bootstrap peers, waits until one of
// them is in the routing table, and fills the table from there.
func (s *Swarm) Bootstrap(ctx context.Context) error {
	if s.Connect(ctx, s.cfg.Bootstrap) == 0 {
		return fmt.Errorf("bootstrap: none of %d peers reachable", len(s.cfg.Bootstrap))
	}
	if err := s.WaitRoutable(ctx); err != nil {
		return err
	}
	if err := s.Refresh(ctx); err != nil {
		return fmt.Errorf("bootstrap DHT: %w", err)
	}
	return nil
}

// WaitRoutable waits until the routing table holds at least one peer. A
// connected peer enters it once identify has shown it speaks the bonsai DHT
// protocol; the DHT handles that event on its own goroutine, so this checks
// after every identify event and on a short tick.
func (s *Swarm) WaitRoutable(ctx context.Context) error {
	sub, err := s.Host.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return fmt.Errorf("subscribe to identify events: %w", err)
	}
	defer sub.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for s.DHT.RoutingTable().Size() == 0 {
		select {
		case <-sub.Out():
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("bootstrap: no peer entered the routing table: %w", ctx.Err())
		}
	}
	return nil
}

// Refresh refreshes the routing table now and waits for it.
func (s *Swarm) Refresh(ctx context.Context) error {
	select {
	case err := <-s.DHT.RefreshRoutingTable():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PutRecord stores a record in the DHT: the closest peers to its key keep
// copies, so it outlives this node.
func (s *Swarm) PutRecord(ctx context.Context, b lineage.Block) error {
	return s.DHT.PutValue(ctx, RecordKey(b.CID), b.Data)
}

// GetRecord fetches a record by CID from the DHT; the validator has
// checked it on the way.
func (s *Swarm) GetRecord(ctx context.Context, c cid.Cid) ([]byte, error) {
	return s.DHT.GetValue(ctx, RecordKey(c))
}

// Provide announces that this node can hand out the records producing out.
func (s *Swarm) Provide(ctx context.Context, out cid.Cid) error {
	return s.DHT.Provide(ctx, out, true)
}

// Providers finds up to max peers that announced records producing out.
func (s *Swarm) Providers(ctx context.Context, out cid.Cid, max int) []peer.AddrInfo {
	var ps []peer.AddrInfo
	for p := range s.DHT.FindProvidersAsync(ctx, out, max) {
		ps = append(ps, p)
	}
	return ps
}

// AmongClosest reports whether this node is among the k peers closest to
// record c's DHT key that its routing table knows: a replica it holds for
// the swarm.
func (s *Swarm) AmongClosest(c cid.Cid) bool {
	key := RecordKey(c)
	k := s.DHT.BucketSize()
	nearest := s.DHT.RoutingTable().NearestPeers(kb.ConvertKey(key), k)
	if len(nearest) < k {
		return true
	}
	return kb.Closer(s.Host.ID(), nearest[k-1], key)
}

// ClosestPeers returns the peers closest to record c's key.
func (s *Swarm) ClosestPeers(ctx context.Context, c cid.Cid) ([]peer.ID, error) {
	return s.DHT.GetClosestPeers(ctx, RecordKey(c))
}

// Addrs are this node's dialable addresses, each ending in /p2p/PEERID.
func (s *Swarm) Addrs() []ma.Multiaddr {
	info := peer.AddrInfo{ID: s.Host.ID(), Addrs: s.Host.Addrs()}
	addrs, err := peer.AddrInfoToP2pAddrs(&info)
	if err != nil {
		return nil
	}
	return addrs
}

// ParseAddrs turns multiaddr strings ending in /p2p/PEERID into peer infos.
func ParseAddrs(addrs []string) ([]peer.AddrInfo, error) {
	var mas []ma.Multiaddr
	for _, a := range addrs {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			return nil, fmt.Errorf("address %q: %w", a, err)
		}
		mas = append(mas, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("addresses: %w (each must end in /p2p/PEERID)", err)
	}
	return infos, nil
}
