package node

// Acquisition: a node keeps its own records and λ levels of their ancestry
// (Bonsai pruning), so it must first hold them. Every own record with
// inputs enters the acquire queue in the batch that stores it; the acquire
// loop brings the λ levels below queued records from the swarm (one
// prefetch for a batch of them) and takes them off the queue. A node that
// holds them can serve an ancestry λ levels deep in one answer.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/bonsai-lineage/bonsai/dht"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
)

// acquireBatch is how many queued records one prefetch serves.
const acquireBatch = 256

func queueAcquire(b *pebble.Batch, rc cid.Cid, r *lineage.Record) error {
	if len(r.Inputs) == 0 {
		return nil
	}
	return b.Set(key(prefixAcq, rc.Bytes()), nil, nil)
}

// acquireEntry is a queued own record, its inputs, and how many passes
// have tried it.
type acquireEntry struct {
	record   cid.Cid
	inputs   []cid.Cid
	attempts byte
}

// acquireTries bounds the passes that try a record whose inputs have
// providers that do not serve them.
const acquireTries = 5

// acquireQueue returns up to limit queued records with their inputs.
func (s *Store) acquireQueue(limit int) ([]acquireEntry, error) {
	var es []acquireEntry
	err := s.scanPrefix([]byte{prefixAcq}, func(k, v []byte) (bool, error) {
		rc, err := cid.Cast(k[1:])
		if err != nil {
			return false, fmt.Errorf("corrupt acquire key %x: %w", k, err)
		}
		e := acquireEntry{record: rc}
		if len(v) > 0 {
			e.attempts = v[0]
		}
		data, err := s.Get(rc)
		if err == nil {
			r, derr := lineage.Decode(data)
			if derr != nil {
				return false, fmt.Errorf("stored record %s: %w", rc, derr)
			}
			e.inputs = r.Inputs
		} else if err != ErrNotFound {
			return false, err
		}
		es = append(es, e)
		return len(es) < limit, nil
	})
	return es, err
}

// acquireUpdate takes done records off the acquire queue and counts a pass
// for those to try again.
func (s *Store) acquireUpdate(done []cid.Cid, again []acquireEntry) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, rc := range done {
		if err := b.Delete(key(prefixAcq, rc.Bytes()), nil); err != nil {
			return err
		}
	}
	for _, e := range again {
		if err := b.Set(key(prefixAcq, e.record.Bytes()), []byte{e.attempts + 1}, nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.NoSync)
}

// AcquirePending counts the own records whose λ levels no pass has tried
// to bring yet.
func (s *Store) AcquirePending() (int, error) {
	n := 0
	err := s.scanPrefix([]byte{prefixAcq}, func(_, v []byte) (bool, error) {
		if len(v) == 0 {
			n++
		}
		return true, nil
	})
	return n, err
}

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
		es, err := n.Store.acquireQueue(acquireBatch + len(retried))
		if err != nil {
			return err
		}
		es = slices.DeleteFunc(es, func(e acquireEntry) bool { return retried[e.record] })
		if len(es) == 0 {
			return nil
		}
		var roots []cid.Cid
		seen := map[cid.Cid]bool{}
		for _, e := range es {
			for _, in := range e.inputs {
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
		var again []acquireEntry
		for _, e := range es {
			failed := false
			for _, in := range e.inputs {
				if o := outcomes[in]; o != nil && o.providers {
					if held, err := n.Store.HasOutput(in); err == nil && !held {
						failed = true
					}
				}
			}
			if failed && e.attempts+1 < acquireTries {
				again = append(again, e)
				retried[e.record] = true
			} else {
				done = append(done, e.record)
			}
		}
		if err := n.Store.acquireUpdate(done, again); err != nil {
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

// deepOutputs calls f with the output of every own record whose λ levels
// are held (not in the acquire queue): what the node announces under
// ancestry keys.
func (s *Store) deepOutputs(f func(out cid.Cid) error) error {
	metas, err := s.metas()
	if err != nil {
		return err
	}
	for rc, m := range metas {
		if Origin(m[0]) != OriginOwn {
			continue
		}
		if _, closer, err := s.db.Get(key(prefixAcq, rc.Bytes())); err == nil {
			closer.Close()
			continue // still acquiring
		}
		data, err := s.Get(rc)
		if err != nil {
			continue
		}
		r, err := lineage.Decode(data)
		if err != nil {
			return fmt.Errorf("stored record %s: %w", rc, err)
		}
		if err := f(r.Output); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) wakeAcquire() {
	select {
	case n.acquireWake <- struct{}{}:
	default:
	}
}
