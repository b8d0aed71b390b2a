package node

// The outbox loop: every record of the node's own is published to the swarm
// with retry and backoff. The entries it works through are the store's
// (package store: written in the batch that stores the record, pending until
// a publish succeeds, surviving restarts); this file is the loop that takes
// the due ones, hands them to a Publisher, and marks the outcome.
//
// A store written before imports were told apart may hold entries for
// records signed by other keys: the loop drops such an entry when it falls
// due (the store marks its record imported instead of publishing it), and
// then sweeps the whole outbox once for the rest.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

// Publisher puts an own record into the swarm. It must return when ctx is
// done.
type Publisher interface {
	Publish(ctx context.Context, rec *lineage.Record, blk lineage.Block) error
}

// outboxStore is what the outbox needs of the store (a *store.Store).
type outboxStore interface {
	DueOutbox(now time.Time, limit int) ([]store.OutboxEntry, error)
	NextOutboxWake() (time.Time, bool, error)
	DisownForeign(cs []cid.Cid) (map[cid.Cid]bool, error)
	SweepForeign() (int, error)
	Get(c cid.Cid) ([]byte, error)
	MarkPublished(c cid.Cid, at time.Time) error
	MarkFailed(c cid.Cid, err error, now time.Time) error
}

// Outbox publishes the node's own records from the store's outbox, retrying
// failures with backoff, until its Run's context is done.
type Outbox struct {
	st          outboxStore
	pub         Publisher
	concurrency int
	timeout     time.Duration
	batch       int
	now         func() time.Time
	newTimer    func(time.Duration) (<-chan time.Time, func() bool)
	log         *slog.Logger

	notify  chan struct{}
	running atomic.Bool
	// swept: this Run has swept the outbox of records signed by other
	// keys (only Run's goroutine reads and writes it).
	swept bool
}

// OutboxOption configures an Outbox.
type OutboxOption func(*Outbox)

// WithOutboxConcurrency sets how many publishes run at once (default 4).
// n < 1 keeps the default.
func WithOutboxConcurrency(n int) OutboxOption {
	return func(o *Outbox) {
		if n >= 1 {
			o.concurrency = n
		}
	}
}

// WithOutboxTimeout bounds each publish attempt (default 30s). d <= 0
// keeps the default.
func WithOutboxTimeout(d time.Duration) OutboxOption {
	return func(o *Outbox) {
		if d > 0 {
			o.timeout = d
		}
	}
}

// WithOutboxLogger sets the logger (default slog.Default()). nil keeps the
// default.
func WithOutboxLogger(l *slog.Logger) OutboxOption {
	return func(o *Outbox) {
		if l != nil {
			o.log = l
		}
	}
}

func outboxRealTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// NewOutbox returns the outbox of st, publishing with pub.
func NewOutbox(st *store.Store, pub Publisher, opts ...OutboxOption) *Outbox {
	o := &Outbox{
		st:          st,
		pub:         pub,
		concurrency: 4,
		timeout:     30 * time.Second,
		batch:       64,
		now:         time.Now,
		newTimer:    outboxRealTimer,
		log:         slog.Default(),
		notify:      make(chan struct{}, 1),
	}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// Notify wakes Run up: new records were stored. It never blocks.
func (o *Outbox) Notify() {
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// errOutboxRunning: Run was called while another Run of the same outbox
// was active; two would publish every record twice.
var errOutboxRunning = errors.New("outbox: already running")

// Pause after a store error, doubling up to the cap.
const (
	outboxErrPauseMin = time.Second
	outboxErrPauseMax = 5 * time.Minute
)

// Run publishes due entries until ctx is done, then returns nil once every
// publish it started has returned. Between rounds it sleeps until the next
// entry is due or Notify is called. Publish failures are recorded on their
// entries; store errors are logged and retried after a pause. The store
// must stay open until Run has returned.
func (o *Outbox) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return errOutboxRunning
	}
	defer o.running.Store(false)
	var pause time.Duration
	for ctx.Err() == nil {
		wait, err := o.round(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			pause = min(max(2*pause, outboxErrPauseMin), outboxErrPauseMax)
			o.log.Error("outbox: store error, retrying", "err", err, "after", pause)
			o.sleep(ctx, pause, nil)
			continue
		}
		pause = 0
		if wait == 0 {
			continue // a full batch went out: more may be due
		}
		o.sleep(ctx, wait, o.notify)
	}
	return nil
}

// round publishes one batch of due entries. It returns how long to sleep
// before the next round: 0 for at once, < 0 for until notified.
func (o *Outbox) round(ctx context.Context) (time.Duration, error) {
	due, err := o.st.DueOutbox(o.now(), o.batch)
	if err != nil {
		return 0, err
	}
	if len(due) > 0 {
		if due, err = o.dropForeign(due); err != nil {
			return 0, err
		}
		if len(due) == 0 {
			return 0, nil // all dropped: more may be due
		}
		return 0, o.publishBatch(ctx, due)
	}
	wake, ok, err := o.st.NextOutboxWake()
	if err != nil {
		return 0, err
	}
	if !ok {
		return -1, nil
	}
	// An entry that fell due since DueOutbox looked makes this 1ns:
	// the next round takes it.
	return max(wake.Sub(o.now()), time.Nanosecond), nil
}

// dropForeign returns the entries of due whose records are the node's own.
// The others (records signed by another key, queued by an older store)
// are dropped and their records marked imported; the first time this Run
// meets one, it sweeps the whole outbox for the rest.
func (o *Outbox) dropForeign(due []store.OutboxEntry) ([]store.OutboxEntry, error) {
	cs := make([]cid.Cid, len(due))
	for i, e := range due {
		cs[i] = e.Record
	}
	foreign, err := o.st.DisownForeign(cs)
	if err != nil {
		return nil, err
	}
	if len(foreign) == 0 {
		return due, nil
	}
	n := len(foreign)
	if !o.swept {
		o.swept = true
		more, err := o.st.SweepForeign()
		if err != nil {
			return nil, err
		}
		n += more
	}
	o.log.Info("outbox: dropped records signed by other keys: imported, not this node's to publish", "records", n)
	return slices.DeleteFunc(due, func(e store.OutboxEntry) bool { return foreign[e.Record] }), nil
}

// sleep waits for d (< 0: forever), wake (nil: never) or ctx.
func (o *Outbox) sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) {
	var fire <-chan time.Time
	if d >= 0 {
		c, stop := o.newTimer(d)
		defer stop()
		fire = c
	}
	select {
	case <-ctx.Done():
	case <-fire:
	case <-wake:
	}
}

// publishBatch publishes entries, at most o.concurrency at once, and
// returns when all are done. Its error is the first store error met while
// recording an outcome; failed publishes are no error here.
func (o *Outbox) publishBatch(ctx context.Context, entries []store.OutboxEntry) error {
	sem := make(chan struct{}, o.concurrency)
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		failed    int
		firstFail error
		storeErr  error
	)
	for _, e := range entries {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			pubErr, err := o.publishOne(ctx, e)
			mu.Lock()
			defer mu.Unlock()
			if pubErr != nil {
				if failed == 0 {
					firstFail = pubErr
				}
				failed++
			}
			if err != nil && storeErr == nil {
				storeErr = err
			}
		})
	}
	wg.Wait()
	if failed > 0 {
		o.log.Warn("outbox: publishes failed, will retry", "failed", failed, "of", len(entries), "first_err", firstFail)
	}
	return storeErr
}

// publishOne publishes the record of e and records the outcome. pubErr is
// the publish failure (recorded on the entry); err is a store error.
// A publish cut short by ctx is not counted as an attempt.
func (o *Outbox) publishOne(ctx context.Context, e store.OutboxEntry) (pubErr, err error) {
	c := e.Record
	data, pubErr := o.st.Get(c)
	var rec *lineage.Record
	if pubErr == nil {
		rec, pubErr = lineage.Decode(data)
		if pubErr != nil {
			pubErr = fmt.Errorf("decode record %s: %w", c, pubErr)
			o.log.Error("outbox: stored record does not decode", "record", c, "err", pubErr)
		}
	}
	if pubErr == nil {
		actx, cancel := context.WithTimeout(ctx, o.timeout)
		pubErr = o.pub.Publish(actx, rec, lineage.Block{CID: c, Data: data})
		cancel()
	}
	if pubErr != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		o.log.Debug("outbox: publish failed", "record", c, "attempt", e.Attempts+1, "err", pubErr)
		err = o.st.MarkFailed(c, pubErr, o.now())
	} else {
		o.log.Debug("outbox: published", "record", c)
		err = o.st.MarkPublished(c, o.now())
	}
	if errors.Is(err, store.ErrNoOutboxEntry) {
		// Removed while we published: nothing left to record.
		err = nil
	}
	return pubErr, err
}
