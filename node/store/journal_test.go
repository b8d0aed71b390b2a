package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

// journalHome is an initialized home (store created, nothing in it).
func journalHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	st, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return home
}

func appendRecords(t *testing.T, home string, paths map[string]cid.Cid, blocks ...lineage.Block) {
	t.Helper()
	a, err := store.OpenAppender(home)
	if err != nil {
		t.Fatalf("OpenAppender = %v", err)
	}
	if n, err := a.Put(blocks, paths); err != nil || n != len(blocks) {
		t.Fatalf("Appender.Put = %d, %v; want %d, nil", n, err, len(blocks))
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Appender.Close = %v", err)
	}
}

// holds reports what a store opened by open sees of b and its path.
func holds(t *testing.T, st *store.Store, b lineage.Block, path string) (has, resolves, pathOK bool) {
	t.Helper()
	r, err := lineage.DecodeBlock(b.CID, b.Data)
	if err != nil {
		t.Fatal(err)
	}
	has, err = st.Has(b.CID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Resolve(context.Background(), r.Output)
	if err != nil {
		t.Fatal(err)
	}
	c, ok, err := st.PathCID(path)
	if err != nil {
		t.Fatal(err)
	}
	return has, len(got) == 1 && got[0].CID == b.CID, ok && c == r.Output
}

// TestJournal: records appended through the journal (one synced write
// each) are seen by a read-only open, which writes nothing; a writable
// open writes them into the store as own records (outbox entries
// included) and empties the journal.
func TestJournal(t *testing.T) {
	home := journalHome(t)
	b1 := block(t, 1, "one", 10)
	b2 := block(t, 1, "two", 11, "one")
	appendRecords(t, home, map[string]cid.Cid{"/w/one": contentOf(t, "one")}, b1)
	appendRecords(t, home, map[string]cid.Cid{"/w/two": contentOf(t, "two")}, b2)
	journal := filepath.Join(home, store.JournalName)
	before, err := os.ReadFile(journal)
	if err != nil || len(before) == 0 {
		t.Fatalf("journal after two appends: %d bytes, %v", len(before), err)
	}

	ro, err := store.OpenReadOnly(home)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		b    lineage.Block
		path string
	}{{b1, "/w/one"}, {b2, "/w/two"}} {
		if has, res, p := holds(t, ro, tc.b, tc.path); !has || !res || !p {
			t.Errorf("read-only open over the journal: Has %v, Resolve %v, path %v; want all true", has, res, p)
		}
	}
	if pending, _, err := ro.OutboxCounts(); err != nil || pending != 2 {
		t.Errorf("read-only OutboxCounts = %d, %v; want 2 pending", pending, err)
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(journal); string(after) != string(before) {
		t.Errorf("a read-only open changed the journal")
	}

	st := openStore(t, home)
	if has, res, p := holds(t, st, b2, "/w/two"); !has || !res || !p {
		t.Errorf("writable open: Has %v, Resolve %v, path %v; want all true", has, res, p)
	}
	if pending, _, err := st.OutboxCounts(); err != nil || pending != 2 {
		t.Errorf("OutboxCounts after ingest = %d, %v; want 2 pending", pending, err)
	}
	if fi, err := os.Stat(journal); err != nil || fi.Size() != 0 {
		t.Errorf("journal after a writable open: %v, %v; want empty", fi, err)
	}
}

// TestJournalTornTail: a crash mid-append leaves part of a frame; it is
// ignored, and what came before stays.
func TestJournalTornTail(t *testing.T) {
	for _, tail := range [][]byte{{0, 0}, {0, 0, 0, 40, 1, 2, 3, 4, 9}, {0, 0, 0, 1, 0, 0, 0, 0, 0xff}} {
		home := journalHome(t)
		b1 := block(t, 1, "kept", 10)
		appendRecords(t, home, nil, b1)
		f, err := os.OpenFile(filepath.Join(home, store.JournalName), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(tail); err != nil {
			t.Fatal(err)
		}
		f.Close()
		st, err := store.OpenReadOnly(home)
		if err != nil {
			t.Fatalf("tail %x: OpenReadOnly = %v", tail, err)
		}
		has, err := st.Has(b1.CID)
		st.Close()
		if err != nil || !has {
			t.Errorf("tail %x: Has(the record before it) = %v, %v; want true", tail, has, err)
		}
		w := openStore(t, home)
		if has, err := w.Has(b1.CID); err != nil || !has {
			t.Errorf("tail %x: after ingest Has = %v, %v", tail, has, err)
		}
	}
}

// TestAppenderRefuses: a forged block is refused and nothing appended; a
// store held by another opener keeps the appender out.
func TestAppenderRefuses(t *testing.T) {
	home := journalHome(t)
	good := block(t, 1, "good", 10)
	bad := lineage.Block{CID: good.CID, Data: append([]byte(nil), good.Data...)}
	bad.Data[len(bad.Data)-1] ^= 1
	a, err := store.OpenAppender(home)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Put([]lineage.Block{bad}, nil); err == nil {
		t.Errorf("Appender.Put(a forged block) = nil, want an error")
	}
	if _, err := store.Open(home); !errors.Is(err, store.ErrInUse) {
		t.Errorf("Open while the appender holds the lock = %v, want ErrInUse", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(home, store.JournalName)); err != nil || fi.Size() != 0 {
		t.Errorf("journal after a refused Put: %v, %v; want empty", fi, err)
	}
	st := openStore(t, home)
	if _, err := store.OpenAppender(home); !errors.Is(err, store.ErrInUse) {
		t.Errorf("OpenAppender while the store is open = %v, want ErrInUse", err)
	}
	_ = st
}

// TestAppenderIngestsPastSize: once the journal passes JournalIngestSize
// the appender writes it into the store as it closes.
func TestAppenderIngestsPastSize(t *testing.T) {
	home := journalHome(t)
	var blocks []lineage.Block
	size := 0
	for i := 0; size <= store.JournalIngestSize; i++ {
		b := block(t, 1, "big-"+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676)), int64(i))
		blocks = append(blocks, b)
		size += len(b.Data)
	}
	appendRecords(t, home, nil, blocks...)
	if fi, err := os.Stat(filepath.Join(home, store.JournalName)); err != nil || fi.Size() != 0 {
		t.Fatalf("journal past %d bytes after Close: %v, %v; want empty (written into the store)", store.JournalIngestSize, fi, err)
	}
	st, err := store.OpenReadOnly(home)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, b := range blocks {
		if has, err := st.Has(b.CID); err != nil || !has {
			t.Fatalf("Has(%s) = %v, %v after the ingest", b.CID, has, err)
		}
	}
}

// FuzzDecodeJournal: whatever the journal holds, an open either brings in
// its whole frames or fails with an error; it never panics.
func FuzzDecodeJournal(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0xa0})
	f.Add([]byte{0, 0, 0, 40, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, data []byte) {
		home := t.TempDir()
		st, err := store.Open(home)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		if err := os.WriteFile(filepath.Join(home, store.JournalName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		if st, err := store.OpenReadOnly(home); err == nil {
			st.Close()
		}
	})
}
