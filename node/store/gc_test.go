package store

// Internal tests: GC must handle records stored before metadata existed,
// which only a test inside the package can fake.

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/testrec"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
)

func gcTestCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func gcTestStore(t *testing.T) *Store {
	t.Helper()
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func gcTestCID(t *testing.T, s string) cid.Cid { return testrec.Content(t, s) }

func gcTestBlock(t *testing.T, key byte, out string, inputs ...string) lineage.Block {
	return testrec.Block(t, key, out, 1, inputs...)
}

func gcTestPut(t *testing.T, st *Store, origin Origin, blocks ...lineage.Block) {
	t.Helper()
	var err error
	switch origin {
	case OriginOwn:
		_, err = st.Put(blocks, nil)
	case OriginReplica:
		_, err = st.PutReplica(blocks)
	default:
		_, err = st.PutCached(blocks)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func gcTestHas(t *testing.T, st *Store, b lineage.Block) bool {
	t.Helper()
	has, err := st.Has(b.CID)
	if err != nil {
		t.Fatal(err)
	}
	return has
}

// The store: an own record "top" made from c1 and a source; cached records
// c1 <- c2 <- c3 <- c4 <- c5 <- source, a second claim of c2 (level 2), and
// a stray cached record in no kept ancestry. GC(k) keeps top and exactly
// the cached records of levels 1..k.
func TestGCKeepLevels(t *testing.T) {
	for _, k := range []int{0, 1, 2, 3, 5, 10} {
		t.Run(fmt.Sprintf("keep=%d", k), func(t *testing.T) {
			ctx := gcTestCtx(t)
			st := gcTestStore(t)
			top := gcTestBlock(t, 1, "top", "c1", "top-src")
			levels := [][]lineage.Block{
				1: {gcTestBlock(t, 2, "c1", "c2")},
				2: {gcTestBlock(t, 2, "c2", "c3"), gcTestBlock(t, 3, "c2", "c2-other-src")},
				3: {gcTestBlock(t, 2, "c3", "c4")},
				4: {gcTestBlock(t, 2, "c4", "c5")},
				5: {gcTestBlock(t, 2, "c5", "c5-src")},
			}
			stray := gcTestBlock(t, 4, "stray", "c1")
			gcTestPut(t, st, OriginOwn, top)
			all := []lineage.Block{stray}
			for _, l := range levels {
				all = append(all, l...)
			}
			gcTestPut(t, st, OriginCached, all...)

			stats, err := st.GC(ctx, GCOptions{KeepLevels: k})
			if err != nil {
				t.Fatalf("GC(%d) = %v", k, err)
			}
			kept := 1
			for lvl, l := range levels {
				for _, b := range l {
					want := lvl <= k
					if want {
						kept++
					}
					if got := gcTestHas(t, st, b); got != want {
						t.Errorf("level %d record %s kept = %v, want %v", lvl, b.CID, got, want)
					}
				}
			}
			if !gcTestHas(t, st, top) {
				t.Error("own record removed")
			}
			if gcTestHas(t, st, stray) {
				t.Error("stray cached record kept")
			}
			total := 1 + len(all)
			if stats.Examined != total || stats.Kept != kept || stats.Removed != total-kept || stats.BytesFreed <= 0 {
				t.Errorf("GC(%d) = %+v; want %d examined, %d kept, %d removed, bytes freed", k, stats, total, kept, total-kept)
			}

			// Removed records leave no index entry or metadata behind, and
			// a second GC finds nothing more to do.
			for _, b := range all {
				if gcTestHas(t, st, b) {
					continue
				}
				r, err := lineage.Decode(b.Data)
				if err != nil {
					t.Fatal(err)
				}
				claims, err := st.Claims(r.Output)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range claims {
					if c.Record.Equals(b.CID) {
						t.Errorf("index entry of removed record %s left", b.CID)
					}
				}
				if _, ok, err := st.OriginOf(b.CID); err != nil || ok {
					t.Errorf("metadata of removed record %s: %v, %v", b.CID, ok, err)
				}
			}
			again, err := st.GC(ctx, GCOptions{KeepLevels: k})
			if err != nil || again != (GCStats{Examined: kept, Kept: kept}) {
				t.Errorf("second GC(%d) = %+v, %v; want %d examined and kept", k, again, err, kept)
			}
		})
	}
}

// Own records are never collected, even deep in another own record's
// ancestry; records stored before metadata existed count as own, and so
// does a cached record Put again as own.
func TestGCOwnRecords(t *testing.T) {
	ctx := gcTestCtx(t)
	st := gcTestStore(t)
	own := gcTestBlock(t, 1, "own", "legacy")
	legacy := gcTestBlock(t, 1, "legacy", "c1")
	c1 := gcTestBlock(t, 2, "c1", "c2")
	c2 := gcTestBlock(t, 2, "c2", "src")
	adopted := gcTestBlock(t, 3, "adopted", "c3")
	c3 := gcTestBlock(t, 2, "c3", "src3")
	gcTestPut(t, st, OriginOwn, own, legacy)
	gcTestPut(t, st, OriginCached, c1, c2, adopted, c3)
	gcTestPut(t, st, OriginOwn, adopted)
	if o, _, _ := st.OriginOf(adopted.CID); o != OriginOwn {
		t.Fatalf("adopted record origin %c, want own", o)
	}
	// legacy: written before origins were recorded.
	if err := st.db.Delete(key(prefixMeta, legacy.CID.Bytes()), pebble.Sync); err != nil {
		t.Fatal(err)
	}

	stats, err := st.GC(ctx, GCOptions{KeepLevels: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    lineage.Block
		want bool
	}{
		{"own", own, true},
		{"legacy (no metadata)", legacy, true},
		{"level 1 of legacy", c1, true},
		{"level 2 of legacy", c2, false},
		{"adopted", adopted, true},
		{"level 1 of adopted", c3, true},
	} {
		if got := gcTestHas(t, st, tc.b); got != tc.want {
			t.Errorf("%s kept = %v, want %v", tc.name, got, tc.want)
		}
	}
	if stats != (GCStats{Examined: 6, Kept: 5, Removed: 1, BytesFreed: stats.BytesFreed}) || stats.BytesFreed <= int64(len(c2.Data)) {
		t.Errorf("GC(1) = %+v; want 6 examined, 5 kept, 1 removed", stats)
	}
	if stats, err := st.GC(ctx, GCOptions{KeepLevels: 0}); err != nil || stats.Kept != 3 || stats.Removed != 2 {
		t.Errorf("GC(0) = %+v, %v; want the 3 own records kept, 2 removed", stats, err)
	}
}

func TestGCBatches(t *testing.T) {
	old := gcBatchRecords
	gcBatchRecords = 3
	t.Cleanup(func() { gcBatchRecords = old })
	ctx := gcTestCtx(t)
	st := gcTestStore(t)
	var blocks []lineage.Block
	for i := range 10 {
		blocks = append(blocks, gcTestBlock(t, 2, fmt.Sprintf("cached-%d", i), "src"))
	}
	gcTestPut(t, st, OriginCached, blocks...)
	stats, err := st.GC(ctx, GCOptions{KeepLevels: 3})
	if err != nil || stats.Examined != 10 || stats.Removed != 10 || stats.Kept != 0 {
		t.Fatalf("GC = %+v, %v; want all 10 removed", stats, err)
	}
	for _, b := range blocks {
		if gcTestHas(t, st, b) {
			t.Errorf("%s kept", b.CID)
		}
	}
}

func TestGCArguments(t *testing.T) {
	st := gcTestStore(t)
	if stats, err := st.GC(gcTestCtx(t), GCOptions{KeepLevels: 2}); err != nil || stats != (GCStats{}) {
		t.Errorf("GC(empty store) = %+v, %v; want zeros", stats, err)
	}
	if _, err := st.GC(gcTestCtx(t), GCOptions{KeepLevels: -1}); err == nil {
		t.Error("GC(-1) succeeded")
	}
	gcTestPut(t, st, OriginCached, gcTestBlock(t, 2, "cached", "src"))
	ctx, cancel := context.WithCancel(gcTestCtx(t))
	cancel()
	if _, err := st.GC(ctx, GCOptions{KeepLevels: 0}); !errors.Is(err, context.Canceled) {
		t.Errorf("GC(cancelled) = %v; want context.Canceled", err)
	}
}

func TestPinEntryStrict(t *testing.T) {
	c := gcTestCID(t, "x")
	good, err := encodePin(PinInfo{Roots: []cid.Cid{c}, Records: 2, Bytes: 300, PinnedAt: time.Unix(0, 12345)})
	if err != nil {
		t.Fatal(err)
	}
	p, err := decodePin(good)
	if err != nil || !p.Roots[0].Equals(c) || p.Records != 2 || p.Bytes != 300 || p.PinnedAt.UnixNano() != 12345 {
		t.Fatalf("decodePin(encodePin) = %+v, %v", p, err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"trailing bytes", append(append([]byte(nil), good...), 0)},
		{"unknown field", mustCBOR(t, map[string]any{"v": 1, "r": [][]byte{c.Bytes()}, "n": 1, "b": 1, "t": 1, "z": 1})},
		{"missing field", mustCBOR(t, map[string]any{"v": 1, "r": [][]byte{c.Bytes()}, "n": 1, "b": 1})},
		{"version", mustCBOR(t, map[string]any{"v": 2, "r": [][]byte{c.Bytes()}, "n": 1, "b": 1, "t": 1})},
		{"no roots", mustCBOR(t, map[string]any{"v": 1, "r": [][]byte{}, "n": 1, "b": 1, "t": 1})},
		{"bad root", mustCBOR(t, map[string]any{"v": 1, "r": [][]byte{{1, 2, 3}}, "n": 1, "b": 1, "t": 1})},
		{"fewer records than roots", mustCBOR(t, map[string]any{"v": 1, "r": [][]byte{c.Bytes()}, "n": 0, "b": 1, "t": 1})},
		{"duplicate key", append([]byte{0xa6}, append(good[1:], 0x61, 'v', 0x01)...)},
	} {
		if _, err := decodePin(tc.data); err == nil {
			t.Errorf("%s: decodePin accepted %x", tc.name, tc.data)
		}
	}
}

func mustCBOR(t *testing.T, v any) []byte {
	t.Helper()
	b, err := pinEnc.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// announced lists the outputs the store announces.
func announced(t *testing.T, st *Store) map[cid.Cid]bool {
	t.Helper()
	m := map[cid.Cid]bool{}
	if err := st.Announced(func(out cid.Cid) error { m[out] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestGCRetiresThenRemoves: a record nothing keeps is first retired (no
// longer announced, still served), then removed once its grace is over; a
// retired record needed again is restored and announced again. Replicas
// stay while the node is among their k closest peers.
func TestGCRetiresThenRemoves(t *testing.T) {
	ctx := gcTestCtx(t)
	st := gcTestStore(t)
	stray := gcTestBlock(t, 2, "stray", "src")
	later := gcTestBlock(t, 2, "later", "src")
	near := gcTestBlock(t, 3, "near", "src")
	far := gcTestBlock(t, 3, "far", "src")
	gcTestPut(t, st, OriginCached, stray, later)
	gcTestPut(t, st, OriginReplica, near, far)
	now := time.Unix(1_800_000_000, 0)
	var restored []cid.Cid
	opts := GCOptions{
		KeepLevels: 1,
		Closest:    func(c cid.Cid) bool { return c == near.CID },
		Grace:      48 * time.Hour,
		Now:        func() time.Time { return now },
		Restore:    func(out cid.Cid) { restored = append(restored, out) },
	}
	pass := func(want GCStats) {
		t.Helper()
		got, err := st.GC(ctx, opts)
		if err != nil || got != want {
			t.Fatalf("GC at %v = %+v, %v; want %+v", now, got, err, want)
		}
	}
	pass(GCStats{Examined: 4, Kept: 1, Retired: 3})
	ann := announced(t, st)
	if !ann[gcTestCID(t, "near")] || ann[gcTestCID(t, "stray")] || ann[gcTestCID(t, "far")] {
		t.Errorf("announced after retiring = %v; want near only", ann)
	}
	for _, b := range []lineage.Block{stray, later, far} {
		if !gcTestHas(t, st, b) {
			t.Errorf("%s deleted by the pass that retired it", b.CID)
		}
	}
	// An own record made from "later" now keeps it: restored.
	gcTestPut(t, st, OriginOwn, gcTestBlock(t, 1, "mine", "later"))
	now = now.Add(47 * time.Hour)
	pass(GCStats{Examined: 5, Kept: 3, Restored: 1})
	if len(restored) != 1 || restored[0] != gcTestCID(t, "later") {
		t.Errorf("restored outputs = %v, want [later]", restored)
	}
	now = now.Add(2 * time.Hour) // stray and far: retired 49 hours ago
	got, err := st.GC(ctx, opts)
	if err != nil || got.Removed != 2 || got.Kept != 3 || got.BytesFreed <= 0 {
		t.Fatalf("GC after the grace = %+v, %v; want 2 removed, 3 kept", got, err)
	}
	if gcTestHas(t, st, stray) || gcTestHas(t, st, far) || !gcTestHas(t, st, later) || !gcTestHas(t, st, near) {
		t.Error("after the grace: stray and far should be gone, later and near kept")
	}
}

// TestPutReplicaUpgradesCached: a cached record that arrives as a DHT
// replica is a replica from then on; an own record stays own.
func TestPutReplicaUpgradesCached(t *testing.T) {
	st := gcTestStore(t)
	cached, own := gcTestBlock(t, 2, "cached", "src"), gcTestBlock(t, 1, "own", "src")
	gcTestPut(t, st, OriginCached, cached)
	gcTestPut(t, st, OriginOwn, own)
	gcTestPut(t, st, OriginReplica, cached, own)
	for _, tt := range []struct {
		b    lineage.Block
		want Origin
	}{{cached, OriginReplica}, {own, OriginOwn}} {
		if o, ok, err := st.OriginOf(tt.b.CID); err != nil || !ok || o != tt.want {
			t.Errorf("OriginOf(%s) = %c, %v, %v; want %c", tt.b.CID, o, ok, err, tt.want)
		}
	}
}
