package node

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bonsai-lineage/bonsai/dht"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Revocations spread over the swarm by flooding (libp2p floodsub, one
// topic; they are rare and small, and gossipsub's mesh lost messages
// published soon after a node joined): a node that revokes, or imports a
// revocation, publishes it; every node verifies it before it is relayed or
// stored. A node that was away asks the peers it joins through for every
// revocation they hold, and every node asks a few peers each minute.

// RevocationTopic is the gossip topic revocations travel on.
const RevocationTopic = "/bonsai/revocations/1.0.0"

// revocationSyncTimeout bounds the revocation sync with one peer.
const revocationSyncTimeout = 10 * time.Second

type revocations struct {
	topic *pubsub.Topic
}

// startRevocations joins the revocation topic and stores what arrives.
func (n *Node) startRevocations(ctx context.Context) error {
	ps, err := pubsub.NewFloodSub(ctx, n.Swarm.Host, pubsub.WithMaxMessageSize(lineage.MaxRevocationSize+1024))
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	// Relayed only once verified: a peer sending garbage or a forgery
	// reaches no one.
	err = ps.RegisterTopicValidator(RevocationTopic, func(_ context.Context, _ peer.ID, m *pubsub.Message) bool {
		_, err := lineage.OpenRevocation(lineage.RecordCID(m.Data), m.Data)
		return err == nil
	})
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	topic, err := ps.Join(RevocationTopic)
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		return fmt.Errorf("gossip: %w", err)
	}
	n.rev = &revocations{topic: topic}
	n.goRun(func() {
		defer sub.Cancel()
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				return
			}
			b := lineage.Block{CID: lineage.RecordCID(m.Data), Data: m.Data, From: m.ReceivedFrom.String()}
			if v, added, err := n.Store.PutRevocation(b); err != nil {
				n.log.Warn("revocation refused", "from", m.ReceivedFrom, "err", err)
			} else if added {
				n.log.Info("revocation received", "record", v.Target, "revoker", v.Revoker, "reason", v.Reason)
			}
		}
	})
	return nil
}

// revocationSyncEvery is how often a node asks a few peers for the
// revocations they hold: gossip reaches the peers connected when a
// revocation is published, and this reaches everyone else.
const revocationSyncEvery = time.Minute

// revocationLoop syncs revocations from the bootstrap peers at start, then
// from up to three connected peers every revocationSyncEvery.
func (n *Node) revocationLoop(ctx context.Context) {
	var first []peer.ID
	for _, p := range n.cfg.bootstrap {
		first = append(first, p.ID)
	}
	n.syncRevocations(ctx, first)
	t := time.NewTicker(revocationSyncEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			peers := n.Swarm.Host.Network().Peers()
			rand.Shuffle(len(peers), func(i, j int) { peers[i], peers[j] = peers[j], peers[i] })
			n.syncRevocations(ctx, peers[:min(3, len(peers))])
		}
	}
}

// syncRevocations asks each of peers for the revocations it holds and
// keeps those that verify.
func (n *Node) syncRevocations(ctx context.Context, peers []peer.ID) {
	for _, p := range peers {
		sctx, cancel := context.WithTimeout(ctx, revocationSyncTimeout)
		resp, err := dht.Fetch(sctx, n.Swarm.Host, p, dht.Request{Op: dht.OpRevocations})
		cancel()
		if err != nil {
			n.log.Debug("revocation sync", "peer", p, "err", err)
			continue
		}
		added := 0
		for _, b := range resp.Blocks {
			if _, ok, err := n.Store.PutRevocation(b); err != nil {
				n.log.Warn("revocation refused", "from", p, "err", err)
			} else if ok {
				added++
			}
		}
		if added > 0 {
			n.log.Info("revocations synced", "peer", p, "new", added)
		}
	}
}

// Revoke signs a revocation of record (with reason), stores it and
// publishes it to the swarm.
func (n *Node) Revoke(ctx context.Context, record cid.Cid, reason string) (lineage.Block, error) {
	v := &lineage.Revocation{Target: record, Reason: reason, Time: time.Now().Unix()}
	b, err := v.Sign(n.Key)
	if err != nil {
		return lineage.Block{}, err
	}
	if err := n.AddRevocation(ctx, b); err != nil {
		return lineage.Block{}, err
	}
	return b, nil
}

// AddRevocation verifies and stores a revocation block and publishes it
// (a new one, or one imported from a bundle) to the swarm.
func (n *Node) AddRevocation(ctx context.Context, b lineage.Block) error {
	if _, _, err := n.Store.PutRevocation(b); err != nil {
		return err
	}
	if n.rev == nil {
		return nil
	}
	if err := n.rev.topic.Publish(ctx, b.Data); err != nil {
		return fmt.Errorf("publish revocation %s: %w", b.CID, err)
	}
	// Also into the DHT under its CID (the validator accepts it only if it
	// verifies): its k closest peers keep it for the swarm. Best effort:
	// the flood and the syncs carry it anyway.
	pctx, cancel := context.WithTimeout(ctx, revocationSyncTimeout)
	defer cancel()
	if err := n.Swarm.PutRecord(pctx, b); err != nil {
		n.log.Debug("revocation not put into the DHT", "revocation", b.CID, "err", err)
	}
	return nil
}

// Revocations is what the node holds against a record, for
// lineage.Options.Revocations (errors read as none: the store logged).
func (n *Node) Revocations(record cid.Cid) []*lineage.Revocation {
	vs, err := n.Store.Revocations(record)
	if err != nil {
		n.log.Warn("reading revocations", "record", record, "err", err)
	}
	return vs
}

// Revocations makes the swarm resolver a revocation source too.
func (r swarmResolver) Revocations(record cid.Cid) []*lineage.Revocation {
	return r.n.Revocations(record)
}

// GossipPeers are the peers this node knows on the revocation topic.
func (n *Node) GossipPeers() []peer.ID {
	if n.rev == nil {
		return nil
	}
	return n.rev.topic.ListPeers()
}
