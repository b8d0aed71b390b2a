package node

// Outbox tests. They live in package node (not node_test) to write corrupt
// entries straight into pebble and to drive Run's timer.
//
// The Publisher here is a fake (obPublisher): the real one puts records into
// the libp2p DHT of package dht, which these tests do not start. What is
// tested is the outbox's side of the contract: which records are handed to
// the publisher, when, how often, and what is recorded of the outcome.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
)

// obWait bounds every wait on the outbox: a hang fails the test instead of
// timing it out.
const obWait = 20 * time.Second

func obOpen(t *testing.T, home string) *Store {
	t.Helper()
	st, err := OpenStore(home)
	if err != nil {
		t.Fatalf("OpenStore(%s) = %v", home, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// obBlock signs a record of test key 1 whose output is the content out.
func obBlock(t *testing.T, out string) lineage.Block {
	t.Helper()
	c, err := lineage.HashReader(strings.NewReader(out), lineage.DefaultHash)
	if err != nil {
		t.Fatal(err)
	}
	b, err := (&lineage.Record{Output: c, Time: 1_700_000_000}).Sign(testkeys.Key(1))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

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

func obRecv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(obWait):
		t.Fatalf("no %s within %v", what, obWait)
		panic("unreachable")
	}
}

// obPublisher is a fake Publisher (see the file comment).
type obPublisher func(ctx context.Context, rec *lineage.Record, blk lineage.Block) (int, error)

func (f obPublisher) Publish(ctx context.Context, rec *lineage.Record, blk lineage.Block) (int, error) {
	return f(ctx, rec, blk)
}

// obClock is a settable clock.
type obClock struct {
	mu sync.Mutex
	t  time.Time
}

func newObClock() *obClock { return &obClock{t: time.UnixMilli(1_750_000_000_000)} }

func (c *obClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *obClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// obTimers hands each timer Run asks for to the test, which fires it. A
// timer is asked for only after a round is done and recorded: receiving one
// is the test's sign that Run is idle.
type obTimers chan obTimer

type obTimer struct {
	d    time.Duration
	fire chan time.Time
}

func (ts obTimers) newTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := obTimer{d: d, fire: make(chan time.Time, 1)}
	ts <- t
	return t.fire, func() bool { return true }
}

var obQuiet = WithOutboxLogger(slog.New(slog.DiscardHandler))

// obRun runs o until the test ends or the returned stop is called; stop
// waits for Run to return and checks it returned nil.
func obRun(t *testing.T, o *Outbox) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*obWait)
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v after cancel, want nil", err)
				}
			case <-time.After(obWait):
				t.Errorf("Run did not return within %v of cancel", obWait)
			}
		})
	}
	t.Cleanup(stop) // registered after the store's Close: runs before it
	return stop
}

func TestOutboxEntryEncoding(t *testing.T) {
	w, err := decodeOutboxWire(newOutboxEntry())
	if err != nil {
		t.Fatalf("newOutboxEntry does not decode: %v", err)
	}
	if w != (outboxWire{}) {
		t.Errorf("new entry = %+v, want pending, 0 attempts, due at once", w)
	}
	full := outboxWire{State: 1, Attempts: 3, NextTry: 1_750_000_000_123, LastError: "no peers", PublishedAt: 1_750_000_000, Replicas: 20}
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
	if err := st.MarkPublished(blocks[2].CID, now, 1); err != nil {
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

// A failing publish is retried after 1s, 2s, 4s … (±20%), capped at 5
// minutes, and a success then marks the record published. The clock and
// Run's timer are the test's: nothing waits for real time.
func TestOutboxRetriesWithBackoff(t *testing.T) {
	st := obOpen(t, t.TempDir())
	rec := obPut(t, st, 1)[0]
	clock := newObClock()
	timers := make(obTimers, 16)
	calls := make(chan cid.Cid)
	var fail atomic.Bool
	fail.Store(true)
	var n atomic.Int32
	pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) (int, error) {
		calls <- blk.CID
		if fail.Load() {
			return 0, fmt.Errorf("no peers (try %d)", n.Add(1))
		}
		return 3, nil
	})
	o := NewOutbox(st, pub, WithOutboxClock(clock.Now), withOutboxTimer(timers.newTimer), obQuiet)
	stop := obRun(t, o)

	const failures = 11 // the 10th and 11th reach the cap
	var prev time.Duration
	for i := 1; i <= failures; i++ {
		if got := obRecv(t, calls, fmt.Sprintf("attempt %d", i)); got != rec.CID {
			t.Fatalf("attempt %d published %s, want %s", i, got, rec.CID)
		}
		tm := obRecv(t, timers, fmt.Sprintf("timer after attempt %d", i))
		base := outboxBackoff(i)
		lo, hi := base*8/10-time.Millisecond, base*12/10+time.Millisecond
		if tm.d < lo || tm.d > hi {
			t.Errorf("after attempt %d Run sleeps %v, want %v ±20%%", i, tm.d, base)
		}
		if base < outboxBackoffMax && tm.d <= prev {
			t.Errorf("after attempt %d Run sleeps %v, not longer than %v before", i, tm.d, prev)
		}
		prev = tm.d
		e := obEntry(t, st, rec.CID)
		if e.State != OutboxPending || e.Attempts != i || e.LastError != fmt.Sprintf("no peers (try %d)", i) {
			t.Errorf("entry after attempt %d = %+v", i, e)
		}
		if want := clock.Now().Add(tm.d); !e.NextTry.Equal(want) {
			t.Errorf("next try %v, want %v (when Run wakes)", e.NextTry, want)
		}
		if i == 2 {
			// A notification before the entry is due wakes Run, which
			// publishes nothing and sleeps again for the same time.
			o.Notify()
			again := obRecv(t, timers, "timer after Notify")
			if again.d != tm.d {
				t.Errorf("after Notify Run sleeps %v, want %v", again.d, tm.d)
			}
			tm = again // the timer Run sleeps on now
		}
		if i == failures {
			fail.Store(false)
		}
		clock.Advance(tm.d)
		tm.fire <- clock.Now()
	}
	obRecv(t, calls, "the successful attempt")
	stop() // the success is recorded before Run returns
	e := obEntry(t, st, rec.CID)
	if e.State != OutboxPublished || e.Replicas != 3 || !e.PublishedAt.Equal(clock.Now().Truncate(time.Second)) || e.LastError != "" {
		t.Errorf("entry after success = %+v, want published at %v with 3 replicas", e, clock.Now())
	}
	if p, d, err := st.OutboxCounts(); err != nil || p != 0 || d != 1 {
		t.Errorf("OutboxCounts = %d, %d, %v; want 0, 1", p, d, err)
	}
}

// Notify wakes an idle Run, which publishes the new records, each once,
// and records their replicas.
func TestOutboxPublishesOnNotify(t *testing.T) {
	st := obOpen(t, t.TempDir())
	type call struct {
		blk lineage.Block
		out cid.Cid
	}
	calls := make(chan call, 16)
	pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) (int, error) {
		if _, ok := ctx.Deadline(); !ok {
			return 0, errors.New("publish without a deadline")
		}
		calls <- call{blk, r.Output}
		return 7, nil
	})
	o := NewOutbox(st, pub, obQuiet)
	stop := obRun(t, o)

	blocks := obPut(t, st, 5)
	o.Notify()
	o.Notify() // never blocks
	seen := map[cid.Cid]bool{}
	for range blocks {
		c := obRecv(t, calls, "publish")
		rec, err := lineage.Decode(c.blk.Data)
		if err != nil || !rec.Output.Equals(c.out) || lineage.RecordCID(c.blk.Data) != c.blk.CID {
			t.Errorf("publisher got record %s that does not match its block (%v)", c.blk.CID, err)
		}
		if seen[c.blk.CID] {
			t.Errorf("%s published twice", c.blk.CID)
		}
		seen[c.blk.CID] = true
	}
	stop()
	for _, b := range blocks {
		e := obEntry(t, st, b.CID)
		if e.State != OutboxPublished || e.Replicas != 7 || e.PublishedAt.IsZero() {
			t.Errorf("entry of %s = %+v, want published with 7 replicas", b.CID, e)
		}
	}
	if len(calls) != 0 {
		t.Errorf("%d extra publishes", len(calls))
	}
}

func TestOutboxBoundsConcurrency(t *testing.T) {
	st := obOpen(t, t.TempDir())
	const records, workers = 10, 2
	obPut(t, st, records)
	var inFlight, most atomic.Int32
	started, release := make(chan struct{}), make(chan struct{})
	pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) (int, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		started <- struct{}{}
		<-release
		return 1, nil
	})
	stop := obRun(t, NewOutbox(st, pub, WithOutboxConcurrency(workers), obQuiet))
	// Keep workers-1 publishes blocked all along: an unbounded outbox
	// would start the rest of the batch meanwhile.
	for i := range records {
		obRecv(t, started, "publish")
		if i >= workers-1 {
			release <- struct{}{}
		}
	}
	for range workers - 1 {
		release <- struct{}{}
	}
	stop()
	if m := most.Load(); m > workers {
		t.Errorf("%d publishes at once, want at most %d", m, workers)
	}
	if p, d, err := st.OutboxCounts(); err != nil || p != 0 || d != records {
		t.Errorf("OutboxCounts = %d, %d, %v; want 0, %d", p, d, err, records)
	}
}

// A publish that hangs is cut off by the attempt timeout and counts as a
// failed attempt.
func TestOutboxAttemptTimeout(t *testing.T) {
	st := obOpen(t, t.TempDir())
	rec := obPut(t, st, 1)[0]
	timers := make(obTimers, 4)
	pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	clock := newObClock()
	obRun(t, NewOutbox(st, pub, WithOutboxTimeout(time.Millisecond), WithOutboxClock(clock.Now), withOutboxTimer(timers.newTimer), obQuiet))
	obRecv(t, timers, "timer after the timed-out attempt")
	e := obEntry(t, st, rec.CID)
	if e.State != OutboxPending || e.Attempts != 1 || !strings.Contains(e.LastError, context.DeadlineExceeded.Error()) {
		t.Errorf("entry = %+v, want 1 failed attempt ending in %v", e, context.DeadlineExceeded)
	}
}

func TestOutboxRunStopsOnCancel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		records int
	}{
		{"idle", 0},
		{"publishing", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := obOpen(t, t.TempDir())
			blocks := obPut(t, st, tc.records)
			started := make(chan struct{}, tc.records)
			var returned atomic.Int32
			pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) (int, error) {
				defer returned.Add(1)
				started <- struct{}{}
				<-ctx.Done() // a publish that only ends with Run
				return 0, ctx.Err()
			})
			o := NewOutbox(st, pub, WithOutboxConcurrency(tc.records+1), obQuiet)
			stop := obRun(t, o)
			for range tc.records {
				obRecv(t, started, "publish")
			}
			if tc.records > 0 {
				// Run is surely running now: a second one is refused.
				ctx, cancel := context.WithTimeout(context.Background(), obWait)
				defer cancel()
				if err := o.Run(ctx); !errors.Is(err, errOutboxRunning) {
					t.Errorf("second Run = %v, want %v", err, errOutboxRunning)
				}
			}
			stop()
			if n := returned.Load(); int(n) != tc.records {
				t.Errorf("Run returned with %d of %d publishes still running", tc.records-int(n), tc.records)
			}
			// An attempt cut short by shutdown is no failed attempt.
			for _, b := range blocks {
				if e := obEntry(t, st, b.CID); e.State != OutboxPending || e.Attempts != 0 || e.LastError != "" || !e.NextTry.IsZero() {
					t.Errorf("entry after shutdown = %+v, want untouched", e)
				}
			}
		})
	}
}

// Entries survive closing and reopening the store; a Run on the reopened
// store publishes what is still pending.
func TestOutboxSurvivesRestart(t *testing.T) {
	home := t.TempDir()
	st, err := OpenStore(home)
	if err != nil {
		t.Fatal(err)
	}
	blocks := obPut(t, st, 3)
	pubd, failed, fresh := blocks[0].CID, blocks[1].CID, blocks[2].CID
	at := time.Unix(1_750_000_000, 0)
	if err := st.MarkPublished(pubd, at, 5); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkFailed(failed, errors.New("dial backoff"), at); err != nil {
		t.Fatal(err)
	}
	want := map[cid.Cid]OutboxEntry{}
	for _, b := range blocks {
		want[b.CID] = obEntry(t, st, b.CID)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = obOpen(t, home)
	for c, w := range want {
		if got := obEntry(t, st, c); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("after restart %s = %+v, want %+v", c, got, w)
		}
	}
	if e := want[failed]; e.Attempts != 1 || e.LastError != "dial backoff" || e.Due(at) {
		t.Errorf("failed entry = %+v, want 1 attempt, not due at once", e)
	}
	if e := want[pubd]; e.State != OutboxPublished || e.Replicas != 5 || !e.PublishedAt.Equal(at) {
		t.Errorf("published entry = %+v", e)
	}

	calls := make(chan cid.Cid, 3)
	pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) (int, error) {
		calls <- blk.CID
		return 2, nil
	})
	later := func() time.Time { return at.Add(time.Hour) }
	stop := obRun(t, NewOutbox(st, pub, WithOutboxClock(later), obQuiet))
	got := map[cid.Cid]bool{obRecv(t, calls, "publish"): true, obRecv(t, calls, "publish"): true}
	stop()
	if !got[failed] || !got[fresh] || len(calls) != 0 {
		t.Errorf("after restart published %v, want %s and %s only", got, failed, fresh)
	}
	if p, d, err := st.OutboxCounts(); err != nil || p != 0 || d != 3 {
		t.Errorf("OutboxCounts = %d, %d, %v; want 0, 3", p, d, err)
	}

	// RequeueAll, for a re-announce: everything due again, the last
	// publish kept for the record.
	if err := st.RequeueAll(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = obOpen(t, home)
	for _, b := range blocks {
		e := obEntry(t, st, b.CID)
		if !e.Due(time.Unix(0, 0)) || e.Attempts != 0 || e.LastError != "" || e.Replicas == 0 || e.PublishedAt.IsZero() {
			t.Errorf("requeued entry %s = %+v, want due at once, last publish kept", b.CID, e)
		}
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
				"MarkPublished":  func() error { return st.MarkPublished(c, time.Now(), 1) },
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
			// RequeueAll replaces it with a fresh pending entry.
			if err := st.RequeueAll(); err != nil {
				t.Fatal(err)
			}
			if e := obEntry(t, st, c); !e.Due(time.Now()) || e.Attempts != 0 {
				t.Errorf("after RequeueAll entry = %+v, want pending and due", e)
			}
		})
	}
}

// Run does not stop or spin on a corrupt entry: it logs, pauses, and
// carries on once the entry is repaired.
func TestOutboxRunPausesOnStoreError(t *testing.T) {
	st := obOpen(t, t.TempDir())
	c := obPut(t, st, 1)[0].CID
	if err := st.db.Set(outboxKey(c), []byte{0xf6}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	timers := make(obTimers, 8)
	calls := make(chan cid.Cid, 1)
	pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) (int, error) {
		calls <- blk.CID
		return 1, nil
	})
	obRun(t, NewOutbox(st, pub, withOutboxTimer(timers.newTimer), obQuiet))
	for _, want := range []time.Duration{time.Second, 2 * time.Second} {
		tm := obRecv(t, timers, "pause")
		if tm.d != want {
			t.Errorf("pause of %v after a store error, want %v", tm.d, want)
		}
		tm.fire <- time.Now()
	}
	tm := obRecv(t, timers, "pause")
	if err := st.RequeueAll(); err != nil {
		t.Fatal(err)
	}
	tm.fire <- time.Now()
	if got := obRecv(t, calls, "publish after repair"); got != c {
		t.Errorf("published %s, want %s", got, c)
	}
}
