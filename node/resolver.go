package node

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bonsai-lineage/bonsai/dht"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

// PeerStats is what one peer did for this node's verifications.
type PeerStats struct {
	Requests int    `json:"requests"`
	Records  int    `json:"records"`
	Refused  int    `json:"refused"` // blocks that failed verification
	Failures int    `json:"failures"`
	LastErr  string `json:"last_error,omitempty"`
}

// FetchStats counts the swarm work behind verifications.
type FetchStats struct {
	ProviderLookups int                   `json:"provider_lookups"`
	RoundTrips      int                   `json:"round_trips"`
	Fetched         int                   `json:"records_fetched"`
	Peers           map[string]*PeerStats `json:"peers"`
}

type fetchStats struct {
	mu sync.Mutex
	FetchStats
}

func (s *fetchStats) peer(p peer.ID) *PeerStats {
	if s.Peers == nil {
		s.Peers = map[string]*PeerStats{}
	}
	ps := s.Peers[p.String()]
	if ps == nil {
		ps = &PeerStats{}
		s.Peers[p.String()] = ps
	}
	return ps
}

// Stats returns a copy of the fetch counters since the node started.
func (n *Node) Stats() FetchStats {
	n.stats.mu.Lock()
	defer n.stats.mu.Unlock()
	out := n.stats.FetchStats
	out.Peers = map[string]*PeerStats{}
	for k, v := range n.stats.Peers {
		c := *v
		out.Peers[k] = &c
	}
	return out
}

// Resolver resolves from the local store, then from the swarm: providers
// of the output are asked for its ancestry in one batch, whose verified
// records are cached so the levels below resolve locally. When providers
// exist but none serves a record, the output is unreachable.
func (n *Node) Resolver() lineage.Resolver { return swarmResolver{n} }

type swarmResolver struct{ n *Node }

func (r swarmResolver) Resolve(ctx context.Context, out cid.Cid) ([]lineage.Block, error) {
	n := r.n
	blocks, err := n.Store.Resolve(ctx, out)
	if err != nil || len(blocks) > 0 {
		return blocks, err
	}
	n.stats.mu.Lock()
	n.stats.ProviderLookups++
	n.stats.mu.Unlock()
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	providers := n.Swarm.Providers(lctx, out, n.cfg.maxProviders)
	cancel()
	var problems []string
	var refused []lineage.Block
	asked := 0
	for _, p := range providers {
		if p.ID == n.ID() {
			continue
		}
		asked++
		n.Swarm.Host.Peerstore().AddAddrs(p.ID, p.Addrs, peerstore.TempAddrTTL)
		good, bad, err := n.fetchAncestry(ctx, p.ID, out)
		refused = append(refused, bad...)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", p.ID, err))
			continue
		}
		if len(good) > 0 {
			if _, err := n.Store.PutCached(good); err != nil {
				return nil, err
			}
		}
		blocks, err := n.Store.Resolve(ctx, out)
		if err != nil {
			return nil, err
		}
		if len(blocks) > 0 {
			return append(blocks, refused...), nil
		}
		problems = append(problems, fmt.Sprintf("%s: no record of it", p.ID))
	}
	if len(refused) > 0 {
		// Only forgeries on offer: let the verifier judge and name them.
		return refused, nil
	}
	if asked == 0 {
		return nil, nil
	}
	return nil, fmt.Errorf("%w: %d provider(s), none served a record: %s", lineage.ErrUnreachable, asked, strings.Join(problems, "; "))
}

// fetchAncestry asks p for the ancestry of out, following the frontier the
// peer could not fit in one answer for up to maxFollow more requests (the
// peer that provides an output usually holds what lies below it), and
// checks every block: good ones are returned for caching, forged ones
// (marked with the peer) for the verifier to report.
func (n *Node) fetchAncestry(ctx context.Context, p peer.ID, out cid.Cid) (good, bad []lineage.Block, err error) {
	const maxFollow = 8
	want := []cid.Cid{out}
	for round := 0; len(want) > 0 && round <= maxFollow; round++ {
		batch := want[:min(len(want), dht.MaxRequestCIDs)]
		resp, err := dht.Fetch(ctx, n.Swarm.Host, p, dht.Request{Op: dht.OpAncestry, CIDs: batch, MaxRecords: n.cfg.fetchBatch})
		g, b := n.countFetch(p, resp, err)
		good, bad = append(good, g...), append(bad, b...)
		if err != nil {
			if round == 0 {
				return nil, bad, err
			}
			break // keep what the earlier rounds brought
		}
		want = append(want[len(batch):], resp.Frontier...)
	}
	return good, bad, nil
}

// countFetch records one round trip to p and splits its blocks into
// verified and forged.
func (n *Node) countFetch(p peer.ID, resp *dht.Response, err error) (good, bad []lineage.Block) {
	n.stats.mu.Lock()
	defer n.stats.mu.Unlock()
	ps := n.stats.peer(p)
	ps.Requests++
	n.stats.RoundTrips++
	if err != nil {
		ps.Failures++
		ps.LastErr = err.Error()
		return nil, nil
	}
	for _, b := range resp.Blocks {
		b.From = p.String()
		if _, oerr := lineage.Open(b.CID, b.Data); oerr != nil {
			ps.Refused++
			ps.LastErr = oerr.Error()
			bad = append(bad, b)
			continue
		}
		good = append(good, b)
	}
	ps.Records += len(good)
	n.stats.Fetched += len(good)
	return good, bad
}
