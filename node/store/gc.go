package store

// Bonsai pruning: a node keeps its own records plus λ levels of their
// ancestry, the records its user imported, the records it holds as one of
// the k peers closest to their DHT key, and pinned ancestries; every other
// record is dropped, and
// fetched from the swarm again when a verification needs it. Dropping is
// in two steps so that no provider record outlives the block it announces:
// GC first retires a record (it is no longer announced), and deletes it
// only once the announcements already made have lapsed.

import (
	"context"
	"fmt"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
)

// GCOptions says what a GC pass keeps and how it drops the rest.
type GCOptions struct {
	// KeepLevels is λ: the levels of ancestry below own records kept.
	KeepLevels int
	// Closest reports whether this node is still among the k peers
	// closest to record c's DHT key: a replica it must keep. Nil keeps
	// every replica.
	Closest func(c cid.Cid) bool
	// Grace is how long a retired record stays before it is deleted: the
	// provider records announcing it lapse meanwhile (a node's own last
	// announcement is at most a reprovide interval old, and announcements
	// live a provider validity). 0 deletes at once.
	Grace time.Duration
	// Now is the pass's clock (default time.Now).
	Now func() time.Time
	// Restore is called, once the pass is written, with the output of
	// every record that was retired and is needed again: announce it.
	Restore func(out cid.Cid)
}

// GCStats says what a GC pass did (also the local API's and `bonsai gc
// --json`'s answer).
type GCStats struct {
	// Examined records were in the store; Kept stayed announced.
	Examined int `json:"examined"`
	Kept     int `json:"kept"`
	// Retired were no longer needed and are no longer announced; Removed
	// were deleted (their grace over); Restored were retired and needed
	// again: announced again.
	Retired  int `json:"retired"`
	Removed  int `json:"removed"`
	Restored int `json:"restored"`
	// BytesFreed is the size of the keys and values deleted (record,
	// output index entry, metadata); the disk space returns as pebble
	// compacts.
	BytesFreed int64 `json:"bytes_freed"`
}

// gcBatchRecords bounds how many records one deletion batch removes (a
// variable for tests).
var gcBatchRecords = 4096

// GC runs one pass. It keeps:
//   - every own record (OriginOwn, or stored before origins were recorded);
//   - the records within KeepLevels levels of ancestry of the own records
//     (level 1: the records claiming an own record's inputs);
//   - every imported record (OriginImported): the user added it on
//     purpose, like an own record, though another key signed it. Only
//     the records imported are kept, not λ levels below them: an import
//     carries the ancestry it means to keep (bonsai export writes all of
//     it), and what it lacks is fetched, cached, when a verification
//     needs it;
//   - every replica for which Closest holds;
//   - every record in the stored ancestry of a pinned output (or of one
//     being pinned).
//
// Every other record is retired (metadata marked, no longer announced by
// the reprovide), or deleted with its output index entry and metadata
// once it has been retired for Grace. Writers wait while GC runs, so no
// record becomes own or imported, and no pin starts caching, between the
// choice and the deletion. If ctx ends during the deletion, the stats
// count what was deleted so far.
func (s *Store) GC(ctx context.Context, o GCOptions) (GCStats, error) {
	var st GCStats
	if o.KeepLevels < 0 {
		return st, fmt.Errorf("gc: keep levels %d < 0", o.KeepLevels)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	now := o.Now().Unix()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()

	metas, err := s.metas()
	if err != nil {
		return st, fmt.Errorf("gc: %w", err)
	}
	type candidate struct {
		rec, out cid.Cid
		size     int64
		meta     []byte
	}
	var (
		others    []candidate
		keep      = map[cid.Cid]bool{}
		ownInputs []cid.Cid
	)
	prefix := []byte{prefixRecord}
	err = s.scanPrefix(prefix, func(k, v []byte) (bool, error) {
		if st.Examined%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		st.Examined++
		rc, err := cid.Cast(k[len(prefix):])
		if err != nil {
			return false, fmt.Errorf("corrupt record key %x: %w", k, err)
		}
		rec, err := lineage.Decode(v)
		if err != nil {
			return false, fmt.Errorf("stored record %s: %w", rc, err)
		}
		m, ok := metas[rc]
		origin := OriginOwn // stored before origins were recorded
		if ok && len(m) > 0 {
			origin = Origin(m[0])
		}
		switch {
		case origin == OriginOwn:
			keep[rc] = true
			ownInputs = append(ownInputs, rec.Inputs...)
			return true, nil
		case origin == OriginImported:
			keep[rc] = true
			return true, nil
		case origin == OriginReplica && (o.Closest == nil || o.Closest(rc)):
			keep[rc] = true
		}
		size := int64(len(k) + len(v))                             // r entry
		size += int64(len(outputKey(rec.Output, rc)) + 8 + len(v)) // o entry
		size += int64(len(key(prefixMeta, rc.Bytes())) + len(m))   // m entry
		others = append(others, candidate{rec: rc, out: rec.Output, size: size, meta: m})
		return true, nil
	})
	if err != nil {
		return GCStats{}, fmt.Errorf("gc: %w", err)
	}

	if len(others) > 0 {
		if err := s.keepAncestry(ctx, ownInputs, o.KeepLevels, keep); err != nil {
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
	var restore []cid.Cid
	b := s.db.NewBatch()
	defer func() { b.Close() }()
	inBatch, removed, bytes := 0, 0, int64(0)
	commit := func() error {
		if inBatch == 0 {
			return nil
		}
		if err := b.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("gc: write store: %w", err)
		}
		st.Removed += removed
		st.BytesFreed += bytes
		inBatch, removed, bytes = 0, 0, 0
		b.Close()
		b = s.db.NewBatch()
		return nil
	}
	for _, c := range others {
		metaKey := key(prefixMeta, c.rec.Bytes())
		retiredAt, retired := metaRetired(c.meta)
		switch {
		case keep[c.rec] && retired:
			// Needed again: announced again.
			if err := b.Set(metaKey, c.meta[:9], nil); err != nil {
				return st, fmt.Errorf("gc: %w", err)
			}
			st.Restored++
			restore = append(restore, c.out)
		case keep[c.rec]:
			continue
		case o.Grace > 0 && !retired:
			if err := b.Set(metaKey, retiredMeta(c.meta, now), nil); err != nil {
				return st, fmt.Errorf("gc: %w", err)
			}
			st.Retired++
			st.Kept--
		case o.Grace > 0 && now-retiredAt < int64(o.Grace/time.Second):
			st.Kept-- // retired, waiting out its grace
			continue
		default:
			for _, k := range [][]byte{recordKey(c.rec), outputKey(c.out, c.rec), metaKey} {
				if err := b.Delete(k, nil); err != nil {
					return st, fmt.Errorf("gc: %w", err)
				}
			}
			st.Kept--
			removed++
			bytes += c.size
		}
		inBatch++
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
	if o.Restore != nil {
		for _, out := range restore {
			o.Restore(out)
		}
	}
	return st, nil
}

// metas reads every record's metadata entry.
func (s *Store) metas() (map[cid.Cid][]byte, error) {
	prefix := []byte{prefixMeta}
	m := map[cid.Cid][]byte{}
	err := s.scanPrefix(prefix, func(k, v []byte) (bool, error) {
		c, err := cid.Cast(k[len(prefix):])
		if err != nil {
			return false, fmt.Errorf("corrupt metadata key %x: %w", k, err)
		}
		if len(v) < 9 {
			return false, fmt.Errorf("corrupt metadata for %s", c)
		}
		m[c] = append([]byte(nil), v...)
		return true, nil
	})
	if err != nil {
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

// Announced calls f with every output the store holds a record of that GC
// has not retired, each once, in key order: what the node announces.
func (s *Store) Announced(f func(out cid.Cid) error) error {
	var last cid.Cid
	lastOK := false
	return s.scanPrefix([]byte{prefixOutput}, func(k, _ []byte) (bool, error) {
		n, out, err := cid.CidFromBytes(k[1:])
		if err != nil {
			return false, fmt.Errorf("corrupt index key: %w", err)
		}
		if out.Equals(last) && lastOK {
			return true, nil // announced already for another record
		}
		if !out.Equals(last) {
			last, lastOK = out, false
		}
		rc, err := cid.Cast(k[1+n:])
		if err != nil {
			return false, fmt.Errorf("corrupt index key: %w", err)
		}
		v, closer, err := s.rd.Get(key(prefixMeta, rc.Bytes()))
		retired := false
		if err == nil {
			_, retired = metaRetired(v)
			closer.Close()
		}
		if retired {
			return true, nil
		}
		lastOK = true
		return true, f(out)
	})
}
