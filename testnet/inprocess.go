package testnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"

	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Options for an in-process swarm.
type Options struct {
	// Nodes is how many nodes to start (at least 1).
	Nodes int
	// Dir holds the nodes' homes, Dir/node1 … Dir/nodeN.
	Dir string
	// NodeOptions are applied to every node after the swarm's own
	// (loopback listen, no auto refresh, no periodic GC).
	NodeOptions []node.Option
	Logger      *slog.Logger
}

// Swarm is a set of running in-process nodes, all bootstrapped to the
// first and with filled routing tables.
type Swarm struct {
	Nodes  []*node.Node
	Dir    string
	mu     sync.Mutex
	down   map[int]bool
	opts   []node.Option
	logger *slog.Logger
}

// start starts one more node, bootstrapped to the first.
func (s *Swarm) start(ctx context.Context) (*node.Node, error) {
	i := len(s.Nodes)
	home := Home(s.Dir, i)
	if _, _, err := store.Init(home); err != nil {
		return nil, err
	}
	opts := []node.Option{
		node.WithListen("/ip4/127.0.0.1/tcp/0"),
		node.WithoutAutoRefresh(),
		node.WithGCInterval(0),
		node.WithLogger(s.logger.With("node", i+1)),
	}
	if i > 0 {
		first := s.Nodes[0]
		opts = append(opts, node.WithBootstrap(peer.AddrInfo{ID: first.ID(), Addrs: first.Swarm.Host.Addrs()}))
	}
	n, err := node.New(ctx, home, append(opts, s.opts...)...)
	if err != nil {
		return nil, fmt.Errorf("testnet: node %d: %w", i+1, err)
	}
	s.Nodes = append(s.Nodes, n)
	return n, nil
}

// Add starts a new node that joins the running swarm (through the first
// node, which must still run) and returns its index.
func (s *Swarm) Add(ctx context.Context) (int, error) {
	n, err := s.start(ctx)
	if err != nil {
		return 0, err
	}
	if err := n.Swarm.Refresh(ctx); err != nil {
		return 0, fmt.Errorf("testnet: refresh routing table: %w", err)
	}
	return len(s.Nodes) - 1, nil
}

// Home is the home directory of node i (0-based).
func Home(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("node%d", i+1)) }

// Start starts the swarm. Close it when done.
func Start(ctx context.Context, o Options) (*Swarm, error) {
	if o.Nodes < 1 {
		return nil, fmt.Errorf("testnet: %d nodes: need at least 1", o.Nodes)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Swarm{Dir: o.Dir, down: map[int]bool{}, opts: o.NodeOptions, logger: logger}
	for i := 0; i < o.Nodes; i++ {
		if _, err := s.start(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	// Every node refreshes its routing table once all exist, so lookups
	// find the whole swarm from anywhere.
	for _, n := range s.Nodes {
		if err := n.Swarm.Refresh(ctx); err != nil {
			s.Close()
			return nil, fmt.Errorf("testnet: refresh routing table: %w", err)
		}
	}
	return s, nil
}

// Settle waits until every running node has indexed the replicas it
// received and announced what it holds.
func (s *Swarm) Settle(ctx context.Context) error {
	for i, n := range s.Nodes {
		if s.isDown(i) {
			continue
		}
		if err := n.WaitIdle(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (s *Swarm) isDown(i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down[i]
}

// Stop stops node i (0-based), as if its machine went away.
func (s *Swarm) Stop(i int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down[i] {
		return nil
	}
	s.down[i] = true
	return s.Nodes[i].Close()
}

// Close stops every node still running.
func (s *Swarm) Close() error {
	var errs []error
	for i := range s.Nodes {
		errs = append(errs, s.Stop(i))
	}
	return errors.Join(errs...)
}
