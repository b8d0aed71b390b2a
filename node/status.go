package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bonsai-lineage/bonsai/dht"
	"github.com/bonsai-lineage/bonsai/lineage"
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

// LocalStatus is the part of Status the store alone can tell: whether the
// store holds record c, why (its origin), who signed it (its executor),
// whether it is the node's own, and its outbox entry if it has one. A
// record signed by another key is never reported own, even one an older
// store took as own (its outbox drops it when it falls due).
func LocalStatus(s *Store, c cid.Cid) (APIStatus, error) {
	st := APIStatus{Record: c.String()}
	data, err := s.Get(c)
	if errors.Is(err, ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	origin, ok, err := s.OriginOf(c)
	if err != nil {
		return st, err
	}
	if !ok {
		origin = OriginOwn // stored before origins were recorded
	}
	st.Local = true
	rec, err := lineage.Decode(data)
	if err != nil {
		return st, fmt.Errorf("stored record %s: %w", c, err)
	}
	st.Executor = rec.Executor.Peer.String()
	if origin == OriginOwn && !s.signedByOwner(rec) {
		origin = OriginImported
	}
	st.Own = origin == OriginOwn
	st.Origin = originNames[origin]
	if st.Origin == "" {
		st.Origin = fmt.Sprintf("unknown (%q)", byte(origin))
	}
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

// originNames are the origins as the local API and `bonsai status` name
// them.
var originNames = map[Origin]string{
	OriginOwn:      "own",
	OriginImported: "imported",
	OriginCached:   "cached",
	OriginReplica:  "replica",
}
