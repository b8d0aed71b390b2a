package node

import (
	"context"
	"time"

	"github.com/bonsai-lineage/bonsai/dht"
	"github.com/ipfs/go-cid"
)

// Status says where a record stands: stored here, published by the
// outbox, and how many of the DHT's closest peers hold a replica now
// (asked live over the fetch protocol).
func (n *Node) Status(ctx context.Context, c cid.Cid) (APIStatus, error) {
	st, err := LocalStatus(n.Store, c)
	if err != nil || !st.Local {
		return st, err
	}
	lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	peers, err := n.Swarm.ClosestPeers(lctx, c)
	if err != nil {
		st.LastError = "replica count: " + err.Error()
		return st, nil
	}
	for _, p := range peers {
		if p == n.ID() {
			continue
		}
		resp, err := dht.Fetch(lctx, n.Swarm.Host, p, dht.Request{Op: dht.OpHas, CIDs: []cid.Cid{c}})
		if err == nil && len(resp.Has) == 1 && resp.Has[0] {
			st.Replicas++
			st.Holders = append(st.Holders, p.String())
		}
	}
	return st, nil
}

// LocalStatus is the part of Status the store alone can tell.
func LocalStatus(s *Store, c cid.Cid) (APIStatus, error) {
	st := APIStatus{Record: c.String()}
	origin, ok, err := s.OriginOf(c)
	if err != nil {
		return st, err
	}
	if !ok {
		has, err := s.Has(c)
		if err != nil || !has {
			return st, err
		}
		origin = OriginOwn
	}
	st.Local = true
	st.Origin = map[Origin]string{OriginOwn: "own", OriginCached: "cached", OriginReplica: "replica"}[origin]
	e, ok, err := s.OutboxEntry(c)
	if err != nil {
		return st, err
	}
	if ok {
		st.Outbox = e.State.String()
		st.Attempts = e.Attempts
		st.LastError = e.LastError
	}
	return st, nil
}
