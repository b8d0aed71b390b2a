package node

// Bonsai pruning: a node keeps its own records and λ levels of their
// ancestry; deeper cached records are dropped and fetched again from the
// swarm when a verification needs them. Pinned ancestries are kept whole.

import (
	"context"
	"fmt"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
)

// GCStats says what a GC did.
type GCStats struct {
	// Examined records were in the store; Kept stayed, Removed went.
	Examined, Kept, Removed int
	// BytesFreed is the size of the keys and values deleted (record,
	// output index entry, metadata); the disk space returns as pebble
	// compacts.
	BytesFreed int64
}

// gcBatchRecords bounds how many records one deletion batch removes (a
// variable for tests).
var gcBatchRecords = 4096

// GC deletes the cached records the node no longer needs. It keeps:
//   - every own record (OriginOwn, or stored before origins were recorded);
//   - the records within keepLevels levels of ancestry of the own records
//     (level 1: the records claiming an own record's inputs);
//   - every record in the stored ancestry of a pinned output (or of one
//     being pinned).
//
// Every other cached record goes, with its output index entry and its
// metadata, in synced batches. Writers wait while GC runs, so no record
// becomes own, and no pin starts caching, between the choice and the
// deletion. If ctx ends during the deletion, the stats count what was
// deleted so far.
func (s *Store) GC(ctx context.Context, keepLevels int) (GCStats, error) {
	var st GCStats
	if keepLevels < 0 {
		return st, fmt.Errorf("gc: keep levels %d < 0", keepLevels)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	origins, err := s.origins()
	if err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	type candidate struct {
		rec, out cid.Cid
		size     int64
	}
	var (
		cached    []candidate
		keep      = map[cid.Cid]bool{}
		ownInputs []cid.Cid
	)
	prefix := []byte{prefixRecord}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return st, fmt.Errorf("gc: read store: %w", err)
	}
	for it.First(); it.Valid(); it.Next() {
		if st.Examined%1024 == 0 {
			if err := ctx.Err(); err != nil {
				it.Close()
				return GCStats{}, fmt.Errorf("gc: %w", err)
			}
		}
		st.Examined++
		rc, err := cid.Cast(it.Key()[len(prefix):])
		if err != nil {
			it.Close()
			return GCStats{}, fmt.Errorf("gc: corrupt record key %x: %w", it.Key(), err)
		}
		rec, err := lineage.Decode(it.Value())
		if err != nil {
			it.Close()
			return GCStats{}, fmt.Errorf("gc: stored record %s: %w", rc, err)
		}
		m, ok := origins[rc]
		if !ok || m.origin != OriginCached {
			// Own, or stored before the origin was recorded: kept.
			keep[rc] = true
			ownInputs = append(ownInputs, rec.Inputs...)
			continue
		}
		size := int64(len(it.Key()) + len(it.Value()))                      // r entry
		size += int64(len(outputKey(rec.Output, rc)) + 8 + len(it.Value())) // o entry
		size += int64(len(key(prefixMeta, rc.Bytes())) + m.size)            // m entry
		cached = append(cached, candidate{rec: rc, out: rec.Output, size: size})
	}
	if err := it.Close(); err != nil {
		return GCStats{}, fmt.Errorf("gc: read store: %w", err)
	}

	if len(cached) > 0 {
		if err := s.keepAncestry(ctx, ownInputs, keepLevels, keep); err != nil {
			return GCStats{}, fmt.Errorf("gc: %w", err)
		}
		pinned, err := s.pinnedOutputs()
		if err != nil {
			return GCStats{}, fmt.Errorf("gc: %w", err)
		}
		if err := s.keepAncestry(ctx, pinned, -1, keep); err != nil {
			return GCStats{}, fmt.Errorf("gc: %w", err)
		}
	}

	st.Kept = st.Examined
	b := s.db.NewBatch()
	defer func() { b.Close() }()
	inBatch, inBatchBytes := 0, int64(0)
	commit := func() error {
		if inBatch == 0 {
			return nil
		}
		if err := b.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("gc: write store: %w", err)
		}
		st.Removed += inBatch
		st.Kept -= inBatch
		st.BytesFreed += inBatchBytes
		inBatch, inBatchBytes = 0, 0
		b.Close()
		b = s.db.NewBatch()
		return nil
	}
	for _, c := range cached {
		if keep[c.rec] {
			continue
		}
		for _, k := range [][]byte{recordKey(c.rec), outputKey(c.out, c.rec), key(prefixMeta, c.rec.Bytes())} {
			if err := b.Delete(k, nil); err != nil {
				return st, fmt.Errorf("gc: %w", err)
			}
		}
		inBatch++
		inBatchBytes += c.size
		if inBatch == gcBatchRecords {
			if err := commit(); err != nil {
				return st, err
			}
			if err := ctx.Err(); err != nil {
				return st, fmt.Errorf("gc: %w", err)
			}
		}
	}
	if err := commit(); err != nil {
		return st, err
	}
	return st, nil
}

type metaEntry struct {
	origin Origin
	size   int // of the value
}

// origins reads every record's metadata entry.
func (s *Store) origins() (map[cid.Cid]metaEntry, error) {
	prefix := []byte{prefixMeta}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	defer it.Close()
	m := map[cid.Cid]metaEntry{}
	for it.First(); it.Valid(); it.Next() {
		c, err := cid.Cast(it.Key()[len(prefix):])
		if err != nil {
			return nil, fmt.Errorf("corrupt metadata key %x: %w", it.Key(), err)
		}
		v := it.Value()
		if len(v) == 0 {
			return nil, fmt.Errorf("corrupt metadata for %s", c)
		}
		m[c] = metaEntry{origin: Origin(v[0]), size: len(v)}
	}
	if err := it.Error(); err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	return m, nil
}

// keepAncestry marks the stored records claiming the outputs in start (level
// 1) and, breadth first, those claiming their inputs, down to levels levels
// (levels < 0: all of them). Each output is visited once, at its shallowest
// level.
func (s *Store) keepAncestry(ctx context.Context, start []cid.Cid, levels int, keep map[cid.Cid]bool) error {
	seen := make(map[cid.Cid]bool, len(start))
	var frontier []cid.Cid
	for _, out := range start {
		if !seen[out] {
			seen[out] = true
			frontier = append(frontier, out)
		}
	}
	for level := 1; len(frontier) > 0 && (levels < 0 || level <= levels); level++ {
		var next []cid.Cid
		for _, out := range frontier {
			if err := ctx.Err(); err != nil {
				return err
			}
			claims, err := s.Claims(out)
			if err != nil {
				return err
			}
			for _, cl := range claims {
				keep[cl.Record] = true
				rec, err := lineage.Decode(cl.Data)
				if err != nil {
					return fmt.Errorf("stored record %s: %w", cl.Record, err)
				}
				for _, in := range rec.Inputs {
					if !seen[in] {
						seen[in] = true
						next = append(next, in)
					}
				}
			}
		}
		frontier = next
	}
	return nil
}
