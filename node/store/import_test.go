package store

// Imported records: a record signed by another key than the store's owner
// is kept like an own record but never published as this node's own.

import (
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

	s, ok, err := st.RecordStatus(foreign.CID)
	if err != nil || !ok {
		t.Fatalf("RecordStatus(foreign) = %v, %v; want a stored record", ok, err)
	}
	if s.Origin != OriginImported || s.Executor != other.ID() || s.HasOutbox {
		t.Errorf("RecordStatus(foreign) = %+v, want imported, executor %s, no outbox", s, other.ID())
	}
	s, ok, err = st.RecordStatus(own.CID)
	if err != nil || !ok {
		t.Fatalf("RecordStatus(own) = %v, %v; want a stored record", ok, err)
	}
	if s.Origin != OriginOwn || s.Executor != owner.ID() || !s.HasOutbox || s.Outbox.State != OutboxPending {
		t.Errorf("RecordStatus(own) = %+v, want own, executor %s, outbox pending", s, owner.ID())
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
	s, ok, err := st.RecordStatus(foreign.CID)
	if err != nil || !ok || s.Origin != OriginOwn || s.Executor != testkeys.Key(2).ID() {
		t.Errorf("RecordStatus = %+v, %v, %v; want own, executor %s", s, ok, err, testkeys.Key(2).ID())
	}
	if s, ok, err := st.RecordStatus(gcTestCID(t, "never stored")); err != nil || ok {
		t.Errorf("RecordStatus(unknown) = %+v, %v, %v; want not held", s, ok, err)
	}
}

// TestSweepForeign: a store written before imports were told apart holds
// outbox entries for records signed by other keys. Without an owner
// nothing is foreign; once the owner is known, DisownForeign makes the
// records it is given imported (outbox and acquire entries gone) and
// SweepForeign does it for the rest of the outbox, published entries too.
func TestSweepForeign(t *testing.T) {
	st := gcTestStore(t)
	own := gcTestBlock(t, 1, "own", "own-src")
	var foreign []lineage.Block
	for _, out := range []string{"a", "b", "c"} {
		foreign = append(foreign, gcTestBlock(t, 2, "theirs-"+out, "their-src"))
	}
	gcTestPut(t, st, OriginOwn, append([]lineage.Block{own}, foreign...)...) // no owner yet: all own
	if err := st.MarkPublished(foreign[2].CID, time.Now()); err != nil {
		t.Fatal(err)
	}
	all := []cid.Cid{own.CID, foreign[0].CID, foreign[1].CID, foreign[2].CID}
	if got, err := st.DisownForeign(all); err != nil || got != nil {
		t.Errorf("DisownForeign without an owner = %v, %v; want nil, nil", got, err)
	}

	st.SetOwner(testkeys.Key(1).ID())
	got, err := st.DisownForeign([]cid.Cid{own.CID, foreign[0].CID, gcTestCID(t, "not stored")})
	if err != nil || len(got) != 1 || !got[foreign[0].CID] {
		t.Errorf("DisownForeign = %v, %v; want only %s", got, err, foreign[0].CID)
	}
	if n, err := st.SweepForeign(); err != nil || n != 2 {
		t.Errorf("SweepForeign = %d, %v; want the 2 foreign records left", n, err)
	}
	if n, err := st.SweepForeign(); err != nil || n != 0 {
		t.Errorf("second SweepForeign = %d, %v; want 0", n, err)
	}
	for _, b := range foreign {
		impNoOutbox(t, st, b.CID, "foreign")
		if o := impOrigin(t, st, b.CID); o != OriginImported {
			t.Errorf("origin of foreign %s = %c, want imported", b.CID, o)
		}
	}
	if o := impOrigin(t, st, own.CID); o != OriginOwn {
		t.Errorf("origin of own record = %c, want own", o)
	}
	obEntry(t, st, own.CID)
	if n, err := st.AcquirePending(); err != nil || n != 1 {
		t.Errorf("AcquirePending = %d, %v; want 1 (the own record only)", n, err)
	}
}
