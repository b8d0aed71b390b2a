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
	// Rounds are the sequential waves of swarm prefetch: the latency a
	// verification pays grows with them.
	Rounds          int                   `json:"rounds"`
	ProviderLookups int                   `json:"provider_lookups"`
	RoundTrips      int                   `json:"round_trips"`
	Fetched         int                   `json:"records_fetched"`
	Peers           map[string]*PeerStats `json:"peers"`
}

type fetchStats struct {
	mu sync.Mutex
	FetchStats
}

func (s *fetchStats) add(f func(*FetchStats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.FetchStats)
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

// Resolver resolves from the local store, then from the swarm: a miss
// prefetches the output's whole ancestry in waves (see prefetch), so the
// levels below resolve locally. An output with providers none of which
// served a record is unreachable; forged blocks offered for it are
// returned for the verifier to judge and name.
func (n *Node) Resolver() lineage.Resolver { return swarmResolver{n} }

type swarmResolver struct{ n *Node }

// missTTL is how long a prefetch's verdict on an output it could not bring
// stands: the verifier's later calls for the same output (a source, an
// unreachable record) get it without a new search.
const missTTL = 30 * time.Second

type miss struct {
	at time.Time
	o  *outcome
}

func (r swarmResolver) Resolve(ctx context.Context, out cid.Cid) ([]lineage.Block, error) {
	n := r.n
	if blocks, err := n.Store.Resolve(ctx, out); err != nil || len(blocks) > 0 {
		return blocks, err
	}
	o, ok := n.recentMiss(out)
	if !ok {
		// One prefetch per output at a time; callers for an output being
		// fetched wait for it.
		v, _, _ := n.inflight.Do(out.KeyString(), func() (any, error) {
			for c, o := range n.prefetch(ctx, []cid.Cid{out}, 0) {
				n.noteMiss(c, o)
			}
			return nil, nil
		})
		_ = v
		if blocks, err := n.Store.Resolve(ctx, out); err != nil || len(blocks) > 0 {
			return blocks, err
		}
		o, _ = n.recentMiss(out)
	}
	switch {
	case o == nil || !o.providers:
		return nil, nil // no record anywhere: a source
	case len(o.refused) > 0:
		return o.refused, nil // only forgeries on offer
	}
	return nil, fmt.Errorf("%w: %d provider(s) asked, none served a record: %s", lineage.ErrUnreachable,
		len(o.problems), strings.Join(o.problems, "; "))
}

func (n *Node) noteMiss(out cid.Cid, o *outcome) {
	n.missMu.Lock()
	defer n.missMu.Unlock()
	if n.misses == nil || len(n.misses) > 1<<16 {
		n.misses = map[cid.Cid]miss{} // bounded: start over
	}
	n.misses[out] = miss{at: time.Now(), o: o}
}

func (n *Node) recentMiss(out cid.Cid) (*outcome, bool) {
	n.missMu.Lock()
	defer n.missMu.Unlock()
	m, ok := n.misses[out]
	if !ok || time.Since(m.at) > missTTL {
		return nil, false
	}
	return m.o, true
}

// countFetch records one round trip to p, opens its blocks and splits them
// into verified (with their records) and forged.
func (n *Node) countFetch(p peer.ID, resp *dht.Response, err error) (good []lineage.Block, recs []*lineage.Record, bad []lineage.Block) {
	n.stats.mu.Lock()
	defer n.stats.mu.Unlock()
	ps := n.stats.peer(p)
	ps.Requests++
	n.stats.RoundTrips++
	if err != nil {
		ps.Failures++
		ps.LastErr = err.Error()
		return nil, nil, nil
	}
	for _, b := range resp.Blocks {
		b.From = p.String()
		r, oerr := lineage.Open(b.CID, b.Data)
		if oerr != nil {
			ps.Refused++
			ps.LastErr = oerr.Error()
			bad = append(bad, b)
			continue
		}
		good = append(good, b)
		recs = append(recs, r)
	}
	ps.Records += len(good)
	n.stats.Fetched += len(good)
	return good, recs, bad
}

// cacheFetched stores verified records fetched from peers and announces
// their outputs: this node can hand them out now.
func (n *Node) cacheFetched(blocks []lineage.Block, recs []*lineage.Record) error {
	added, err := n.Store.PutCachedOpened(blocks, recs)
	if err != nil || added == 0 {
		return err
	}
	seen := map[cid.Cid]bool{}
	for _, r := range recs {
		if !seen[r.Output] {
			seen[r.Output] = true
			n.queueProvide(r.Output)
		}
	}
	return nil
}
