package node

import (
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
)

// TestLocalStatus: the store's record status as the local API says it:
// origin names, the executor, own only for the owner's records, and the
// outbox entry of own records.
func TestLocalStatus(t *testing.T) {
	st := obOpen(t, t.TempDir())
	legacy := obSigned(t, 2, "put before the owner was known")
	if _, err := st.Put([]lineage.Block{legacy}, nil); err != nil {
		t.Fatal(err)
	}
	if s, err := LocalStatus(st, legacy.CID); err != nil || s.Origin != "own" || !s.Own || s.Executor != testkeys.Key(2).ID().String() {
		t.Errorf("LocalStatus(no owner) = %+v, %v; want own, executor %s", s, err, testkeys.Key(2).ID())
	}

	owner := testkeys.Key(1)
	st.SetOwner(owner.ID())
	own, foreign, cached := obSigned(t, 1, "own", "src"), obSigned(t, 2, "theirs"), obSigned(t, 3, "cached")
	if _, err := st.Put([]lineage.Block{own, foreign}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutCached([]lineage.Block{cached}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		b      lineage.Block
		origin string
		own    bool
		outbox string
		signer byte
	}{
		{"own", own, "own", true, "pending", 1},
		{"foreign", foreign, "imported", false, "", 2},
		{"cached", cached, "cached", false, "", 3},
		{"legacy foreign, owner known", legacy, "imported", false, "pending", 2},
	} {
		s, err := LocalStatus(st, tc.b.CID)
		if err != nil {
			t.Fatalf("LocalStatus(%s) = %v", tc.name, err)
		}
		if !s.Local || s.Record != tc.b.CID.String() || s.Origin != tc.origin || s.Own != tc.own || s.Outbox != tc.outbox ||
			s.Executor != testkeys.Key(tc.signer).ID().String() {
			t.Errorf("LocalStatus(%s) = %+v, want local, origin %s, own %v, outbox %q, executor %s",
				tc.name, s, tc.origin, tc.own, tc.outbox, testkeys.Key(tc.signer).ID())
		}
	}
	missing := obSigned(t, 1, "never stored")
	if s, err := LocalStatus(st, missing.CID); err != nil || s.Local || s.Record != missing.CID.String() {
		t.Errorf("LocalStatus(unknown) = %+v, %v; want not local", s, err)
	}
}
