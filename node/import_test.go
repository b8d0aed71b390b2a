package node

// Imported records: a record signed by another key than the store's owner
// is kept like an own record but never published as this node's own.

import (
	"context"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
)

func impOrigin(t *testing.T, st *Store, c cid.Cid) Origin {
	t.Helper()
	o, ok, err := st.OriginOf(c)
	if err != nil || !ok {
		t.Fatalf("OriginOf(%s) = %v, %v; want a stored record", c, ok, err)
	}
	return o
}

func impNoOutbox(t *testing.T, st *Store, c cid.Cid, what string) {
	t.Helper()
	if _, ok, err := st.OutboxEntry(c); err != nil || ok {
		t.Errorf("OutboxEntry(%s) = %v, %v; want no entry", what, ok, err)
	}
}

// TestPutForeignIsImported: with an owner set, Put of a record signed by
// another key stores it as imported (no outbox entry, no acquisition,
// kept by GC, reported as the signer's); the owner's records stay own.
func TestPutForeignIsImported(t *testing.T) {
	ctx := gcTestCtx(t)
	st := gcTestStore(t)
	owner, other := testkeys.Key(1), testkeys.Key(2)
	st.SetOwner(owner.ID())
	if id, ok := st.Owner(); !ok || id != owner.ID() {
		t.Fatalf("Owner = %s, %v; want %s", id, ok, owner.ID())
	}

	own := gcTestBlock(t, 1, "own", "own-src")
	gcTestPut(t, st, OriginOwn, own)
	if o := impOrigin(t, st, own.CID); o != OriginOwn {
		t.Errorf("origin of own record = %c, want %c", o, OriginOwn)
	}
	if e := obEntry(t, st, own.CID); e.State != OutboxPending {
		t.Errorf("outbox entry of own record = %+v, want pending", e)
	}
	pending, published, err := st.OutboxCounts()
	if err != nil || pending != 1 || published != 0 {
		t.Fatalf("OutboxCounts = %d, %d, %v; want 1 pending", pending, published, err)
	}
	acq, err := st.AcquirePending()
	if err != nil || acq != 1 {
		t.Fatalf("AcquirePending = %d, %v; want 1", acq, err)
	}

	foreign := gcTestBlock(t, 2, "theirs", "their-src")
	if n, err := st.Put([]lineage.Block{foreign}, nil); err != nil || n != 1 {
		t.Fatalf("Put(foreign) = %d, %v; want 1 new", n, err)
	}
	if o := impOrigin(t, st, foreign.CID); o != OriginImported {
		t.Errorf("origin of foreign record = %c, want %c (imported)", o, OriginImported)
	}
	impNoOutbox(t, st, foreign.CID, "foreign")
	if p, d, err := st.OutboxCounts(); err != nil || p != pending || d != published {
		t.Errorf("OutboxCounts after foreign Put = %d, %d, %v; want %d, %d (unchanged)", p, d, err, pending, published)
	}
	if n, err := st.AcquirePending(); err != nil || n != acq {
		t.Errorf("AcquirePending after foreign Put = %d, %v; want %d (unchanged)", n, err, acq)
	}

	s, err := LocalStatus(st, foreign.CID)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Local || s.Origin != "imported" || s.Own || s.Executor != other.ID().String() || s.Outbox != "" {
		t.Errorf("LocalStatus(foreign) = %+v, want local, imported, not own, executor %s, no outbox", s, other.ID())
	}
	s, err = LocalStatus(st, own.CID)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Local || s.Origin != "own" || !s.Own || s.Executor != owner.ID().String() || s.Outbox != "pending" {
		t.Errorf("LocalStatus(own) = %+v, want local, own, executor %s, outbox pending", s, owner.ID())
	}

	// A cached or replica copy later imported becomes imported; an own
	// record's cached copy becomes own; imported records stay imported
	// when fetched or replicated again.
	cachedForeign := gcTestBlock(t, 2, "cached-theirs")
	replicaForeign := gcTestBlock(t, 3, "replica-theirs")
	cachedOwn := gcTestBlock(t, 1, "cached-own")
	gcTestPut(t, st, OriginCached, cachedForeign, cachedOwn)
	gcTestPut(t, st, OriginReplica, replicaForeign)
	if n, err := st.Put([]lineage.Block{cachedForeign, replicaForeign, cachedOwn}, nil); err != nil || n != 0 {
		t.Fatalf("Put(held copies) = %d, %v; want 0 new", n, err)
	}
	for _, tc := range []struct {
		name string
		b    lineage.Block
		want Origin
	}{{"cached foreign", cachedForeign, OriginImported}, {"replica foreign", replicaForeign, OriginImported}, {"cached own", cachedOwn, OriginOwn}} {
		if o := impOrigin(t, st, tc.b.CID); o != tc.want {
			t.Errorf("origin of %s after Put = %c, want %c", tc.name, o, tc.want)
		}
	}
	impNoOutbox(t, st, cachedForeign.CID, "cached foreign, imported")
	impNoOutbox(t, st, replicaForeign.CID, "replica foreign, imported")
	obEntry(t, st, cachedOwn.CID)
	gcTestPut(t, st, OriginCached, foreign)
	gcTestPut(t, st, OriginReplica, foreign)
	gcTestPut(t, st, OriginReplica, own)
	if o := impOrigin(t, st, foreign.CID); o != OriginImported {
		t.Errorf("origin of imported record fetched again = %c, want imported", o)
	}
	if o := impOrigin(t, st, own.CID); o != OriginOwn {
		t.Errorf("origin of own record stored as a replica = %c, want own", o)
	}

	// GC keeps imported records, as it keeps own ones, and collects a
	// stray cached record.
	stray := gcTestBlock(t, 4, "stray")
	gcTestPut(t, st, OriginCached, stray)
	if _, err := st.GC(ctx, GCOptions{KeepLevels: 0}); err != nil {
		t.Fatal(err)
	}
	for _, b := range []lineage.Block{own, foreign, cachedForeign, replicaForeign, cachedOwn} {
		if !gcTestHas(t, st, b) {
			t.Errorf("GC dropped %s, want it kept", b.CID)
		}
	}
	if gcTestHas(t, st, stray) {
		t.Errorf("GC kept stray cached record %s", stray.CID)
	}
}

// TestPutWithoutOwnerIsOwn: a store that was not told its owner takes
// every record Put as own, as before imports were told apart.
func TestPutWithoutOwnerIsOwn(t *testing.T) {
	st := gcTestStore(t)
	foreign := gcTestBlock(t, 2, "theirs")
	gcTestPut(t, st, OriginOwn, foreign)
	if o := impOrigin(t, st, foreign.CID); o != OriginOwn {
		t.Errorf("origin without an owner = %c, want own", o)
	}
	obEntry(t, st, foreign.CID)
	s, err := LocalStatus(st, foreign.CID)
	if err != nil || s.Origin != "own" || !s.Own || s.Executor != testkeys.Key(2).ID().String() {
		t.Errorf("LocalStatus = %+v, %v; want own, executor %s", s, err, testkeys.Key(2).ID())
	}
	if s, err := LocalStatus(st, gcTestCID(t, "never stored")); err != nil || s.Local {
		t.Errorf("LocalStatus(unknown) = %+v, %v; want not local", s, err)
	}
}

// TestOutboxDropsForeignEntries: a store written before imports were told
// apart holds outbox entries for records signed by other keys. Once the
// owner is known, the outbox drops them (all, in one sweep, from the
// first it meets) and marks their records imported; it publishes only
// the owner's records.
func TestOutboxDropsForeignEntries(t *testing.T) {
	st := obOpen(t, t.TempDir())
	own := gcTestBlock(t, 1, "own", "own-src")
	var foreign []lineage.Block
	for _, out := range []string{"a", "b", "c"} {
		foreign = append(foreign, gcTestBlock(t, 2, "theirs-"+out, "their-src"))
	}
	gcTestPut(t, st, OriginOwn, append([]lineage.Block{own}, foreign...)...) // no owner yet: all own
	if p, _, err := st.OutboxCounts(); err != nil || p != 4 {
		t.Fatalf("OutboxCounts of the old store = %d, %v; want 4 pending", p, err)
	}
	// One foreign entry was even published by the old node.
	if err := st.MarkPublished(foreign[2].CID, time.Now(), 1); err != nil {
		t.Fatal(err)
	}

	st.SetOwner(testkeys.Key(1).ID())
	if s, err := LocalStatus(st, foreign[0].CID); err != nil || s.Origin != "imported" || s.Own {
		t.Errorf("LocalStatus(foreign, old store) = %+v, %v; want imported, not own", s, err)
	}
	var published []cid.Cid
	pub := obPublisher(func(_ context.Context, _ *lineage.Record, blk lineage.Block) (int, error) {
		published = append(published, blk.CID)
		return 1, nil
	})
	o := NewOutbox(st, pub, WithOutboxBatch(1), WithOutboxConcurrency(1), obQuiet)
	ctx := gcTestCtx(t)
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatal("outbox rounds never went idle")
		}
		wait, err := o.round(ctx)
		if err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
		if wait < 0 {
			break
		}
	}
	if len(published) != 1 || !published[0].Equals(own.CID) {
		t.Errorf("published %v, want only the own record %s", published, own.CID)
	}
	if p, d, err := st.OutboxCounts(); err != nil || p != 0 || d != 1 {
		t.Errorf("OutboxCounts after the rounds = %d, %d, %v; want 0 pending, 1 published", p, d, err)
	}
	for _, b := range foreign {
		impNoOutbox(t, st, b.CID, "foreign")
		if o := impOrigin(t, st, b.CID); o != OriginImported {
			t.Errorf("origin of foreign %s = %c, want imported", b.CID, o)
		}
	}
	if n, err := st.AcquirePending(); err != nil || n != 1 {
		t.Errorf("AcquirePending = %d, %v; want 1 (the own record only)", n, err)
	}
}
