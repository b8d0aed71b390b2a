package cli_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
)

// TestImportedRecordsAreOthers: records imported from another node's CAR
// are that node's, not this one's: `status` says imported and names the
// signer, the outbox never queues them, GC keeps them. A CID the node does
// not hold is an error, as for show.
func TestImportedRecordsAreOthers(t *testing.T) {
	t.Parallel()
	homeA, idA := initHome(t)
	dir := pipeline(t, homeA)
	car := filepath.Join(t.TempDir(), "a.car")
	wantCode(t, bonsai(t, dir, homeA, "export", "--car", car, "fin"), 0)
	fin := hashOf(t, filepath.Join(dir, "fin"))
	claims := decodeJSON[[]recJSON](t, bonsai(t, dir, homeA, "log", "--json", "fin"))
	if len(claims) != 1 {
		t.Fatalf("log fin = %d records, want 1", len(claims))
	}
	rec := claims[0].Record

	homeB, idB := initHome(t)
	r := bonsai(t, "", homeB, "import", car)
	wantCode(t, r, 0)

	r = bonsai(t, "", homeB, "status", rec)
	wantCode(t, r, 0)
	for _, s := range []string{rec + "  held (imported record", "signed by " + idA, "not published by this node"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("status of an imported record = %q, want it to contain %q", r.stdout, s)
		}
	}
	if strings.Contains(r.stdout, "own record") || strings.Contains(r.stdout, "outbox") || strings.Contains(r.stdout, idB) {
		t.Errorf("status of an imported record = %q, want no own record, no outbox, not this node's ID", r.stdout)
	}
	st := decodeJSON[node.APIStatus](t, bonsai(t, "", homeB, "status", "--json", rec))
	if st.Record != rec || !st.Local || st.Origin != "imported" || st.Own || st.Executor != idA || st.Outbox != "" {
		t.Errorf("status --json of an imported record = %+v, want local, imported, not own, executor %s, no outbox", st, idA)
	}
	// On the node that made it, it is its own.
	r = bonsai(t, "", homeA, "status", rec)
	wantCode(t, r, 0)
	if !strings.HasPrefix(r.stdout, rec+"  local (own record)\n") {
		t.Errorf("status of an own record = %q, want %q first", r.stdout, rec+"  local (own record)")
	}
	st = decodeJSON[node.APIStatus](t, bonsai(t, "", homeA, "status", "--json", rec))
	if st.Origin != "own" || !st.Own || st.Executor != idA || st.Outbox != "pending" {
		t.Errorf("status --json of an own record = %+v, want own, executor %s, outbox pending", st, idA)
	}

	// GC keeps imported records.
	wantCode(t, bonsai(t, "", homeB, "gc"), 0)
	wantCode(t, bonsai(t, "", homeB, "status", rec), 0)

	s, err := store.Open(homeB)
	if err != nil {
		t.Fatal(err)
	}
	pending, published, err := s.OutboxCounts()
	s.Close()
	if err != nil || pending != 0 || published != 0 {
		t.Errorf("outbox of the importing node = %d pending, %d published, %v; want empty", pending, published, err)
	}

	// A valid CID the node does not hold: one line, exit 2, like show.
	unknown := hashOf(t, writeFile(t, t.TempDir(), "other", "not recorded\n", time.Time{})).String()
	wantOneLineError(t, bonsai(t, "", homeB, "status", unknown), false, unknown, "not in local store")
	wantOneLineError(t, bonsai(t, "", homeB, "status", "--json", unknown), false, unknown, "not in local store")
	wantOneLineError(t, bonsai(t, "", homeB, "show", unknown), false, unknown, "not in local store")
	// An output CID: pointed at its record.
	wantOneLineError(t, bonsai(t, "", homeB, "status", fin.String()), false, "is an output, not a record", rec)
}
