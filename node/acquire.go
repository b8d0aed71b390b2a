package node

// Acquisition: a node keeps its own records and λ levels of their ancestry
// (Bonsai pruning), so it must first hold them. Every own record with
// inputs enters the store's acquire queue in the batch that stores it; the
// acquire loop brings the λ levels below queued records from the swarm (one
// prefetch for a batch of them) and takes them off the queue. A node that
// holds them can serve an ancestry λ levels deep in one answer.

import (
	"context"
	"slices"
	"time"

	"github.com/bonsai-lineage/bonsai/dht"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

// acquireBatch is how many queued records one prefetch serves.
const acquireBatch = 256

// acquireTries bounds the passes that try a record whose inputs have
// providers that do not serve them.
const acquireTries = 5

// acquireLoop drains the acquire queue when woken (a new own record), at
// start, and every minute (what failed is tried again).
func (n *Node) acquireLoop(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if err := n.acquire(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("acquiring ancestry failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-n.acquireWake:
		case <-t.C:
		}
	}
}

// acquire brings the λ levels below queued own records, a batch at a
// time. A record is done when its inputs are held here or have no record
// anywhere (sources); one whose inputs have providers that did not serve
// them is tried again on a later pass, acquireTries times at most. Without
// peers it waits for the next wake.
func (n *Node) acquire(ctx context.Context) error {
	retried := map[cid.Cid]bool{}
	for ctx.Err() == nil {
		if len(n.Swarm.Host.Network().Peers()) == 0 {
			return nil
		}
		es, err := n.Store.AcquireQueue(acquireBatch + len(retried))
		if err != nil {
			return err
		}
		es = slices.DeleteFunc(es, func(e store.AcquireEntry) bool { return retried[e.Record] })
		if len(es) == 0 {
			return nil
		}
		var roots []cid.Cid
		seen := map[cid.Cid]bool{}
		for _, e := range es {
			for _, in := range e.Inputs {
				if seen[in] {
					continue
				}
				seen[in] = true
				if held, err := n.Store.HasOutput(in); err != nil {
					return err
				} else if !held {
					roots = append(roots, in)
				}
			}
		}
		var outcomes map[cid.Cid]*outcome
		if n.cfg.keepLevels > 0 && len(roots) > 0 {
			outcomes = n.prefetch(ctx, roots, n.cfg.keepLevels)
		}
		var done []cid.Cid
		var again []store.AcquireEntry
		for _, e := range es {
			failed := false
			for _, in := range e.Inputs {
				if o := outcomes[in]; o != nil && o.providers {
					if held, err := n.Store.HasOutput(in); err == nil && !held {
						failed = true
					}
				}
			}
			if failed && e.Attempts+1 < acquireTries {
				again = append(again, e)
				retried[e.Record] = true
			} else {
				done = append(done, e.Record)
			}
		}
		if err := n.Store.AcquireUpdate(done, again); err != nil {
			return err
		}
		// Their λ levels are here (or have no record anywhere): announce
		// that this node answers for their ancestry.
		for _, rc := range done {
			if data, err := n.Store.Get(rc); err == nil {
				if r, err := lineage.Decode(data); err == nil {
					n.queueProvide(dht.AncestryKey(r.Output))
				}
			}
		}
	}
	return ctx.Err()
}

func (n *Node) wakeAcquire() {
	select {
	case n.acquireWake <- struct{}{}:
	default:
	}
}
