package store

// Outbox entry tests: the data side of the outbox (encoding, backoff, the
// due list, the marks). They live in package store (not store_test) to
// write corrupt entries straight into pebble. The loop that publishes the
// entries is node's Outbox, tested there.

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bonsai-lineage/bonsai/internal/testrec"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
)

func obOpen(t *testing.T, home string) *Store {
	t.Helper()
	st, err := Open(home)
	if err != nil {
		t.Fatalf("Open(%s) = %v", home, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// obBlock signs a record of test key 1 whose output is the content out.
func obBlock(t *testing.T, out string) lineage.Block { return testrec.Block(t, 1, out, 1_700_000_000) }

// obPut stores n own records and returns their blocks.
func obPut(t *testing.T, st *Store, n int) []lineage.Block {
	t.Helper()
	blocks := make([]lineage.Block, n)
	for i := range blocks {
		blocks[i] = obBlock(t, fmt.Sprintf("%s-%d", t.Name(), i))
	}
	if added, err := st.Put(blocks, nil); err != nil || added != n {
		t.Fatalf("Put = %d, %v; want %d, nil", added, err, n)
	}
	return blocks
}

func obEntry(t *testing.T, st *Store, c cid.Cid) OutboxEntry {
	t.Helper()
	e, ok, err := st.OutboxEntry(c)
	if err != nil || !ok {
		t.Fatalf("OutboxEntry(%s) = %v, %v; want an entry", c, ok, err)
	}
	return e
}

func TestOutboxEntryEncoding(t *testing.T) {
	w, err := decodeOutboxWire(newOutboxEntry())
	if err != nil {
		t.Fatalf("newOutboxEntry does not decode: %v", err)
	}
	if w != (outboxWire{}) {
		t.Errorf("new entry = %+v, want pending, 0 attempts, due at once", w)
	}
	full := outboxWire{State: 1, Attempts: 3, NextTry: 1_750_000_000_123, LastError: "no peers", PublishedAt: 1_750_000_000}
	b, err := encodeOutboxEntry(full)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeOutboxWire(b); err != nil || got != full {
		t.Errorf("round trip = %+v, %v; want %+v", got, err, full)
	}
	if len(b) > 64 {
		t.Errorf("entry of %d bytes, want a small one", len(b))
	}
	for s, want := range map[OutboxState]string{OutboxPending: "pending", OutboxPublished: "published", 9: "OutboxState(9)"} {
		if s.String() != want {
			t.Errorf("OutboxState(%d).String() = %q, want %q", s, s.String(), want)
		}
	}
}

func TestOutboxBackoffSchedule(t *testing.T) {
	for _, tc := range []struct {
		attempts int
		want     time.Duration
	}{
		{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second},
		{9, 256 * time.Second}, {10, 5 * time.Minute}, {64, 5 * time.Minute}, {1 << 30, 5 * time.Minute},
	} {
		if got := outboxBackoff(tc.attempts); got != tc.want {
			t.Errorf("outboxBackoff(%d) = %v, want %v", tc.attempts, got, tc.want)
		}
	}
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{{0, 8 * time.Second}, {0.5, 10 * time.Second}, {0.999999, 12 * time.Second}} {
		if got := outboxJitterOf(10*time.Second, tc.r); got.Round(time.Millisecond) != tc.want {
			t.Errorf("outboxJitterOf(10s, %v) = %v, want %v", tc.r, got, tc.want)
		}
	}
}

func TestOutboxErrorText(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"short", "no peers"},
		{"long ascii", strings.Repeat("x", 1000)},
		{"long multibyte", strings.Repeat("é", 200)}, // 400 bytes, 2 per rune
		{"invalid utf8", "bad \xff\xfe bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := outboxErrorText(errors.New(tc.in))
			if len(got) > MaxOutboxError || !utf8.ValidString(got) {
				t.Errorf("outboxErrorText = %d bytes, valid UTF-8 %v; want <= %d, valid", len(got), utf8.ValidString(got), MaxOutboxError)
			}
			if len(tc.in) <= MaxOutboxError && utf8.ValidString(tc.in) && got != tc.in {
				t.Errorf("outboxErrorText(%q) = %q, want it unchanged", tc.in, got)
			}
		})
	}
}

func TestPutQueuesOwnRecordsOnly(t *testing.T) {
	st := obOpen(t, t.TempDir())
	own := obPut(t, st, 2)
	for _, b := range own {
		e := obEntry(t, st, b.CID)
		if e.State != OutboxPending || e.Attempts != 0 || !e.NextTry.IsZero() || !e.Due(time.Now()) {
			t.Errorf("entry of %s = %+v, want pending and due at once", b.CID, e)
		}
	}
	due, err := st.DueOutbox(time.Now(), 0)
	if err != nil || len(due) != 2 {
		t.Fatalf("DueOutbox = %d entries, %v; want 2", len(due), err)
	}
	if wake, ok, err := st.NextOutboxWake(); err != nil || !ok || !wake.IsZero() {
		t.Errorf("NextOutboxWake = %v, %v, %v; want due at once", wake, ok, err)
	}

	cached := obBlock(t, "someone else's")
	if n, err := st.PutCached([]lineage.Block{cached}); err != nil || n != 1 {
		t.Fatalf("PutCached = %d, %v", n, err)
	}
	if _, ok, err := st.OutboxEntry(cached.CID); err != nil || ok {
		t.Errorf("OutboxEntry(cached) = %v, %v; want no entry", ok, err)
	}
	if p, d, err := st.OutboxCounts(); err != nil || p != 2 || d != 0 {
		t.Errorf("OutboxCounts = %d, %d, %v; want 2 pending, 0 published", p, d, err)
	}
}

func TestDueOutboxOrderAndLimit(t *testing.T) {
	st := obOpen(t, t.TempDir())
	blocks := obPut(t, st, 3)
	now := time.UnixMilli(1_750_000_000_000)
	late, early := blocks[0].CID, blocks[1].CID
	if err := st.MarkFailed(late, errors.New("x"), now); err != nil { // due in ~4s
		t.Fatal(err)
	}
	if err := st.MarkFailed(late, errors.New("x"), now); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkFailed(late, errors.New("x"), now); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkFailed(early, errors.New("x"), now); err != nil { // due in ~1s
		t.Fatal(err)
	}
	if err := st.MarkPublished(blocks[2].CID, now); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		at    time.Time
		limit int
		want  []cid.Cid
	}{
		{"none due yet", now, 0, nil},
		{"early due", now.Add(1500 * time.Millisecond), 0, []cid.Cid{early}},
		{"both due, earliest first", now.Add(time.Minute), 0, []cid.Cid{early, late}},
		{"limit keeps the earliest", now.Add(time.Minute), 1, []cid.Cid{early}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			due, err := st.DueOutbox(tc.at, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []cid.Cid
			for _, e := range due {
				got = append(got, e.Record)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("DueOutbox = %v, want %v", got, tc.want)
			}
		})
	}
	wake, ok, err := st.NextOutboxWake()
	if e := obEntry(t, st, early); err != nil || !ok || !wake.Equal(e.NextTry) {
		t.Errorf("NextOutboxWake = %v, %v, %v; want %v (the earliest)", wake, ok, err, e.NextTry)
	}
}

func TestOutboxCorruptEntry(t *testing.T) {
	tooLongErr, err := encodeOutboxEntry(outboxWire{LastError: strings.Repeat("e", MaxOutboxError+1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		v    []byte
	}{
		{"empty", nil},
		{"not cbor", []byte{0xff, 0x00}},
		{"null", []byte{0xf6}},
		{"array", []byte{0x80}},
		{"unknown field", []byte{0xa1, 0x09, 0x01}},
		{"string key", []byte{0xa1, 0x61, '1', 0x01}},
		{"unknown state", []byte{0xa1, 0x01, 0x07}},
		{"negative next try", []byte{0xa1, 0x03, 0x20}},
		{"negative attempts", []byte{0xa1, 0x02, 0x20}},
		{"error too long", tooLongErr},
		{"invalid utf8", []byte{0xa1, 0x04, 0x61, 0xff}},
		{"trailing bytes", append(newOutboxEntry(), 0x00)},
		{"indefinite map", []byte{0xbf, 0xff}},
		{"duplicate key", []byte{0xa2, 0x01, 0x00, 0x01, 0x00}},
		{"tag", []byte{0xa1, 0x03, 0xc1, 0x01}},
		{"oversized", append([]byte{0xa1, 0x04, 0x79, 0x02, 0x00}, bytes.Repeat([]byte{'e'}, 512)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := obOpen(t, t.TempDir())
			c := obPut(t, st, 1)[0].CID
			if err := st.db.Set(outboxKey(c), tc.v, pebble.Sync); err != nil {
				t.Fatal(err)
			}
			checks := map[string]func() error{
				"OutboxEntry":    func() error { _, _, err := st.OutboxEntry(c); return err },
				"DueOutbox":      func() error { _, err := st.DueOutbox(time.Now(), 0); return err },
				"NextOutboxWake": func() error { _, _, err := st.NextOutboxWake(); return err },
				"OutboxCounts":   func() error { _, _, err := st.OutboxCounts(); return err },
				"MarkPublished":  func() error { return st.MarkPublished(c, time.Now()) },
				"MarkFailed":     func() error { return st.MarkFailed(c, errors.New("x"), time.Now()) },
			}
			for name, f := range checks {
				if err := f(); err == nil || !strings.Contains(err.Error(), c.String()) {
					t.Errorf("%s = %v, want an error naming %s", name, err, c)
				}
			}
			// The bytes were left alone for whoever looks into it.
			if v, closer, err := st.db.Get(outboxKey(c)); err != nil || !bytes.Equal(v, tc.v) {
				t.Errorf("corrupt entry was rewritten: %x, %v", v, err)
			} else {
				closer.Close()
			}
		})
	}
}

// TestPendingOutbox: every pending entry is listed, due now or not, the
// soonest due first; published ones are not.
func TestPendingOutbox(t *testing.T) {
	st := obOpen(t, t.TempDir())
	blocks := obPut(t, st, 3)
	future := time.Now().Add(24 * time.Hour)
	later, now := blocks[0].CID, blocks[1].CID
	if err := st.MarkFailed(later, errors.New("no peers"), future); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkPublished(blocks[2].CID, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		limit int
		want  []cid.Cid
	}{
		{0, []cid.Cid{now, later}},
		{1, []cid.Cid{now}},
		{5, []cid.Cid{now, later}},
	} {
		got, err := st.PendingOutbox(tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var cs []cid.Cid
		for _, e := range got {
			cs = append(cs, e.Record)
		}
		if fmt.Sprint(cs) != fmt.Sprint(tc.want) {
			t.Errorf("PendingOutbox(%d) = %v, want %v", tc.limit, cs, tc.want)
		}
	}
}
