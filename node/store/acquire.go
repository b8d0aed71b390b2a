package store

// The acquire queue: a node keeps its own records and λ levels of their
// ancestry (Bonsai pruning), so it must first hold them. Every own record
// with inputs enters the queue in the batch that stores it; node's acquire
// loop brings the λ levels below queued records from the swarm and takes
// them off the queue here. An entry lives under a + record CID; its value
// is empty until a pass failed to bring the levels, then the count of such
// passes (one byte).

import (
	"fmt"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
)

func queueAcquire(b *pebble.Batch, rc cid.Cid, r *lineage.Record) error {
	if len(r.Inputs) == 0 {
		return nil
	}
	return b.Set(key(prefixAcq, rc.Bytes()), nil, nil)
}

// AcquireEntry is a queued own record, its inputs, and how many passes
// have tried it.
type AcquireEntry struct {
	Record   cid.Cid
	Inputs   []cid.Cid // nil when the record is no longer stored
	Attempts byte
}

// AcquireQueue returns up to limit queued records with their inputs, in
// key order.
func (s *Store) AcquireQueue(limit int) ([]AcquireEntry, error) {
	var es []AcquireEntry
	err := s.scanPrefix([]byte{prefixAcq}, func(k, v []byte) (bool, error) {
		rc, err := cid.Cast(k[1:])
		if err != nil {
			return false, fmt.Errorf("corrupt acquire key %x: %w", k, err)
		}
		e := AcquireEntry{Record: rc}
		if len(v) > 0 {
			e.Attempts = v[0]
		}
		data, err := s.Get(rc)
		if err == nil {
			r, derr := lineage.Decode(data)
			if derr != nil {
				return false, fmt.Errorf("stored record %s: %w", rc, derr)
			}
			e.Inputs = r.Inputs
		} else if err != ErrNotFound {
			return false, err
		}
		es = append(es, e)
		return len(es) < limit, nil
	})
	return es, err
}

// AcquireUpdate takes done records off the acquire queue and counts one
// more pass for those in again (their Attempts + 1), in one batch (not
// synced: a queue entry lost in a crash is only a pass more or less).
func (s *Store) AcquireUpdate(done []cid.Cid, again []AcquireEntry) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, rc := range done {
		if err := b.Delete(key(prefixAcq, rc.Bytes()), nil); err != nil {
			return err
		}
	}
	for _, e := range again {
		if err := b.Set(key(prefixAcq, e.Record.Bytes()), []byte{e.Attempts + 1}, nil); err != nil {
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

// DeepOutputs calls f with the output of every own record whose λ levels
// are held (not in the acquire queue): what the node announces under
// ancestry keys.
func (s *Store) DeepOutputs(f func(out cid.Cid) error) error {
	metas, err := s.metas()
	if err != nil {
		return err
	}
	for rc, m := range metas {
		if Origin(m[0]) != OriginOwn {
			continue
		}
		if _, closer, err := s.rd.Get(key(prefixAcq, rc.Bytes())); err == nil {
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
