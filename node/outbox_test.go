package node

// Outbox loop tests. They live in package node (not node_test) to drive
// Run's timer and to take one round at a time. The entries are the store's
// (package store tests their encoding, due list and marks).
//
// The Publisher here is a fake (obPublisher): the real one puts records into
// the libp2p DHT of package dht, which these tests do not start. What is
// tested is the outbox's side of the contract: which records are handed to
// the publisher, when, how often, and what is recorded of the outcome.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/internal/testrec"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

// obWait bounds every wait on the outbox: a hang fails the test instead of
// timing it out.
const obWait = 20 * time.Second

func obOpen(t *testing.T, home string) *store.Store {
	t.Helper()
	st, err := store.Open(home)
	if err != nil {
		t.Fatalf("store.Open(%s) = %v", home, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// obBlock signs a record of test key 1 whose output is the content out.
func obBlock(t *testing.T, out string) lineage.Block { return testrec.Block(t, 1, out, 1_700_000_000) }

// obPut stores n own records and returns their blocks.
func obPut(t *testing.T, st *store.Store, n int) []lineage.Block {
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

func obEntry(t *testing.T, st *store.Store, c cid.Cid) store.OutboxEntry {
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
type obPublisher func(ctx context.Context, rec *lineage.Record, blk lineage.Block) error

func (f obPublisher) Publish(ctx context.Context, rec *lineage.Record, blk lineage.Block) error {
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

// obBackoff is the outbox's schedule before jitter, as ARCHITECTURE.md
// states it (store's tests hold the store to it): 1s after the first
// failure, doubling up to obBackoffMax.
func obBackoff(attempts int) time.Duration {
	return min(time.Second<<(attempts-1), obBackoffMax)
}

const obBackoffMax = 5 * time.Minute

// obFailing is the outbox's store with DueOutbox failing while fail is
// set, as it does when an entry does not decode (package store tests
// that).
type obFailing struct {
	outboxStore
	fail atomic.Bool
}

func (f *obFailing) DueOutbox(now time.Time, limit int) ([]store.OutboxEntry, error) {
	if f.fail.Load() {
		return nil, errors.New("corrupt outbox entry")
	}
	return f.outboxStore.DueOutbox(now, limit)
}

// obSigned signs a record of test key key whose output is the content
// out, made from the contents inputs.
func obSigned(t *testing.T, key byte, out string, inputs ...string) lineage.Block {
	return testrec.Block(t, key, out, 1, inputs...)
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
	pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) error {
		calls <- blk.CID
		if fail.Load() {
			return fmt.Errorf("no peers (try %d)", n.Add(1))
		}
		return nil
	})
	o := NewOutbox(st, pub, withOutboxClock(clock.Now), withOutboxTimer(timers.newTimer), obQuiet)
	stop := obRun(t, o)

	const failures = 11 // the 10th and 11th reach the cap
	var prev time.Duration
	for i := 1; i <= failures; i++ {
		if got := obRecv(t, calls, fmt.Sprintf("attempt %d", i)); got != rec.CID {
			t.Fatalf("attempt %d published %s, want %s", i, got, rec.CID)
		}
		tm := obRecv(t, timers, fmt.Sprintf("timer after attempt %d", i))
		base := obBackoff(i)
		lo, hi := base*8/10-time.Millisecond, base*12/10+time.Millisecond
		if tm.d < lo || tm.d > hi {
			t.Errorf("after attempt %d Run sleeps %v, want %v ±20%%", i, tm.d, base)
		}
		if base < obBackoffMax && tm.d <= prev {
			t.Errorf("after attempt %d Run sleeps %v, not longer than %v before", i, tm.d, prev)
		}
		prev = tm.d
		e := obEntry(t, st, rec.CID)
		if e.State != store.OutboxPending || e.Attempts != i || e.LastError != fmt.Sprintf("no peers (try %d)", i) {
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
	if e.State != store.OutboxPublished || !e.PublishedAt.Equal(clock.Now().Truncate(time.Second)) || e.LastError != "" {
		t.Errorf("entry after success = %+v, want published at %v", e, clock.Now())
	}
	if p, d, err := st.OutboxCounts(); err != nil || p != 0 || d != 1 {
		t.Errorf("OutboxCounts = %d, %d, %v; want 0, 1", p, d, err)
	}
}

// Notify wakes an idle Run, which publishes the new records, each once,
// and marks them published.
func TestOutboxPublishesOnNotify(t *testing.T) {
	st := obOpen(t, t.TempDir())
	type call struct {
		blk lineage.Block
		out cid.Cid
	}
	calls := make(chan call, 16)
	pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) error {
		if _, ok := ctx.Deadline(); !ok {
			return errors.New("publish without a deadline")
		}
		calls <- call{blk, r.Output}
		return nil
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
		if e.State != store.OutboxPublished || e.PublishedAt.IsZero() {
			t.Errorf("entry of %s = %+v, want published", b.CID, e)
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
	pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) error {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		started <- struct{}{}
		<-release
		return nil
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
	pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) error {
		<-ctx.Done()
		return ctx.Err()
	})
	clock := newObClock()
	obRun(t, NewOutbox(st, pub, WithOutboxTimeout(time.Millisecond), withOutboxClock(clock.Now), withOutboxTimer(timers.newTimer), obQuiet))
	obRecv(t, timers, "timer after the timed-out attempt")
	e := obEntry(t, st, rec.CID)
	if e.State != store.OutboxPending || e.Attempts != 1 || !strings.Contains(e.LastError, context.DeadlineExceeded.Error()) {
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
			pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) error {
				defer returned.Add(1)
				started <- struct{}{}
				<-ctx.Done() // a publish that only ends with Run
				return ctx.Err()
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
				if e := obEntry(t, st, b.CID); e.State != store.OutboxPending || e.Attempts != 0 || e.LastError != "" || !e.NextTry.IsZero() {
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
	st, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	blocks := obPut(t, st, 3)
	pubd, failed, fresh := blocks[0].CID, blocks[1].CID, blocks[2].CID
	at := time.Unix(1_750_000_000, 0)
	if err := st.MarkPublished(pubd, at); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkFailed(failed, errors.New("dial backoff"), at); err != nil {
		t.Fatal(err)
	}
	want := map[cid.Cid]store.OutboxEntry{}
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
	if e := want[pubd]; e.State != store.OutboxPublished || !e.PublishedAt.Equal(at) {
		t.Errorf("published entry = %+v", e)
	}

	calls := make(chan cid.Cid, 3)
	pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) error {
		calls <- blk.CID
		return nil
	})
	later := func() time.Time { return at.Add(time.Hour) }
	stop := obRun(t, NewOutbox(st, pub, withOutboxClock(later), obQuiet))
	got := map[cid.Cid]bool{obRecv(t, calls, "publish"): true, obRecv(t, calls, "publish"): true}
	stop()
	if !got[failed] || !got[fresh] || len(calls) != 0 {
		t.Errorf("after restart published %v, want %s and %s only", got, failed, fresh)
	}
	if p, d, err := st.OutboxCounts(); err != nil || p != 0 || d != 3 {
		t.Errorf("OutboxCounts = %d, %d, %v; want 0, 3", p, d, err)
	}

}

// Run does not stop or spin on a store error (an entry that does not
// decode, say): it logs, pauses, and carries on once the store answers.
func TestOutboxRunPausesOnStoreError(t *testing.T) {
	st := obOpen(t, t.TempDir())
	c := obPut(t, st, 1)[0].CID
	timers := make(obTimers, 8)
	calls := make(chan cid.Cid, 1)
	pub := obPublisher(func(ctx context.Context, r *lineage.Record, blk lineage.Block) error {
		calls <- blk.CID
		return nil
	})
	o := NewOutbox(st, pub, withOutboxTimer(timers.newTimer), obQuiet)
	failing := &obFailing{outboxStore: st}
	failing.fail.Store(true)
	o.st = failing
	obRun(t, o)
	for _, want := range []time.Duration{time.Second, 2 * time.Second} {
		tm := obRecv(t, timers, "pause")
		if tm.d != want {
			t.Errorf("pause of %v after a store error, want %v", tm.d, want)
		}
		tm.fire <- time.Now()
	}
	tm := obRecv(t, timers, "pause")
	failing.fail.Store(false)
	tm.fire <- time.Now()
	if got := obRecv(t, calls, "publish after repair"); got != c {
		t.Errorf("published %s, want %s", got, c)
	}
}

// TestOutboxDropsForeignEntries: a store written before imports were told
// apart holds outbox entries for records signed by other keys. Once the
// owner is known, the outbox drops them (all, in one sweep, from the
// first it meets) and marks their records imported; it publishes only
// the owner's records.
func TestOutboxDropsForeignEntries(t *testing.T) {
	st := obOpen(t, t.TempDir())
	own := obSigned(t, 1, "own", "own-src")
	var foreign []lineage.Block
	for _, out := range []string{"a", "b", "c"} {
		foreign = append(foreign, obSigned(t, 2, "theirs-"+out, "their-src"))
	}
	if _, err := st.Put(append([]lineage.Block{own}, foreign...), nil); err != nil { // no owner yet: all own
		t.Fatal(err)
	}
	if p, _, err := st.OutboxCounts(); err != nil || p != 4 {
		t.Fatalf("OutboxCounts of the old store = %d, %v; want 4 pending", p, err)
	}
	// One foreign entry was even published by the old node.
	if err := st.MarkPublished(foreign[2].CID, time.Now()); err != nil {
		t.Fatal(err)
	}

	st.SetOwner(testkeys.Key(1).ID())
	if s, err := LocalStatus(st, foreign[0].CID); err != nil || s.Origin != "imported" || s.Own {
		t.Errorf("LocalStatus(foreign, old store) = %+v, %v; want imported, not own", s, err)
	}
	var published []cid.Cid
	pub := obPublisher(func(_ context.Context, _ *lineage.Record, blk lineage.Block) error {
		published = append(published, blk.CID)
		return nil
	})
	o := NewOutbox(st, pub, withOutboxBatch(1), WithOutboxConcurrency(1), obQuiet)
	ctx, cancel := context.WithTimeout(t.Context(), obWait)
	defer cancel()
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
		if _, ok, err := st.OutboxEntry(b.CID); err != nil || ok {
			t.Errorf("OutboxEntry(foreign %s) = %v, %v; want no entry", b.CID, ok, err)
		}
		if o, ok, err := st.OriginOf(b.CID); err != nil || !ok || o != store.OriginImported {
			t.Errorf("origin of foreign %s = %c, %v, %v; want imported", b.CID, o, ok, err)
		}
	}
	if n, err := st.AcquirePending(); err != nil || n != 1 {
		t.Errorf("AcquirePending = %d, %v; want 1 (the own record only)", n, err)
	}
}
