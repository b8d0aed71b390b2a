package node

import (
	"context"
	"time"

	"github.com/bonsai-lineage/bonsai/dht"
	"github.com/bonsai-lineage/bonsai/node/store"
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

// LocalStatus is the part of Status the store alone can tell (see
// store.Store.RecordStatus), as the local API says it: whether the store
// holds record c, why (its origin), who signed it (its executor), whether
// it is the node's own, and its outbox entry if it has one. A record
// signed by another key is never reported own, even one an older store
// took as own (its outbox drops it when it falls due).
func LocalStatus(s *store.Store, c cid.Cid) (APIStatus, error) {
	st := APIStatus{Record: c.String()}
	rs, ok, err := s.RecordStatus(c)
	if err != nil || !ok {
		return st, err
	}
	st.Local = true
	st.Executor = rs.Executor.String()
	st.Own = rs.Origin == store.OriginOwn
	st.Origin = rs.Origin.String()
	if rs.HasOutbox {
		st.Outbox = rs.Outbox.State.String()
		st.Attempts = rs.Outbox.Attempts
		st.LastError = rs.Outbox.LastError
	}
	return st, nil
}
