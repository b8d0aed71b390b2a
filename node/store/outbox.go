package store

// The outbox entries: every record of the node's own is queued for
// publishing in the same batch that stores it, so a record is never stored
// without being queued, and the entry survives restarts: it is pending
// until a publish succeeds. This file is the data side (entries, the due
// list, the marks of an attempt's outcome, the backoff); the loop that
// publishes them is node's Outbox.
//
// Only records signed by the node's key are queued (see Store.Put). A store
// written before imports were told apart may hold entries for records
// signed by other keys: DisownForeign drops such entries and marks their
// records imported, and SweepForeign does it for the whole outbox.
//
// An entry lives under x + record CID. Its value is a CBOR map with small
// integer keys, zero fields left out:
//
//	1 state (0 pending, 1 published)   4 last error (text, at most 256 bytes)
//	2 failed attempts                  5 published at (Unix seconds)
//	3 next try (Unix milliseconds)

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/textx"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
)

// OutboxState is where an own record stands in the outbox.
type OutboxState uint8

const (
	// OutboxPending: not yet published, or to be published again.
	OutboxPending OutboxState = 0
	// OutboxPublished: the last publish succeeded.
	OutboxPublished OutboxState = 1
)

func (s OutboxState) String() string {
	switch s {
	case OutboxPending:
		return "pending"
	case OutboxPublished:
		return "published"
	}
	return fmt.Sprintf("OutboxState(%d)", uint8(s))
}

// OutboxEntry is the publishing status of one own record.
type OutboxEntry struct {
	Record cid.Cid
	State  OutboxState
	// Attempts counts the failed publish attempts since the entry was
	// queued (or requeued); it drives the backoff.
	Attempts int
	// NextTry is when a pending entry is due; the zero time means at once.
	NextTry time.Time
	// LastError is the error of the last failed attempt, cut to
	// MaxOutboxError bytes.
	LastError string
	// PublishedAt is the time of the last successful publish (zero: never
	// published).
	PublishedAt time.Time
}

// Due reports whether a pending entry is due at now.
func (e OutboxEntry) Due(now time.Time) bool {
	return e.State == OutboxPending && (e.NextTry.IsZero() || !e.NextTry.After(now))
}

// Bounds of an outbox entry.
const (
	// MaxOutboxError is the longest last error an entry keeps, in bytes.
	MaxOutboxError = 256
	// maxOutboxEntrySize bounds an encoded entry: five small fields and
	// the error fit in well under half of it.
	maxOutboxEntrySize = 512
	// maxOutboxCount bounds attempts so they fit an int everywhere.
	maxOutboxCount = math.MaxInt32
)

// Backoff of failed publishes: 1s, 2s, 4s … capped, then ±20% jitter so
// entries that failed together do not retry together.
const (
	outboxBackoffBase = time.Second
	outboxBackoffMax  = 5 * time.Minute
	outboxJitter      = 0.2
)

// outboxWire is the stored form of an entry.
type outboxWire struct {
	State       uint64 `cbor:"1,keyasint,omitempty"`
	Attempts    uint64 `cbor:"2,keyasint,omitempty"`
	NextTry     int64  `cbor:"3,keyasint,omitempty"` // Unix ms
	LastError   string `cbor:"4,keyasint,omitempty"`
	PublishedAt int64  `cbor:"5,keyasint,omitempty"` // Unix s
}

var (
	outboxEnc cbor.EncMode
	outboxDec cbor.DecMode
	// pendingEntry is the encoding of a fresh entry: pending, due at once.
	pendingEntry []byte
)

func init() {
	var err error
	outboxEnc, outboxDec = strictCBOR(16)
	pendingEntry, err = outboxEnc.Marshal(outboxWire{})
	if err != nil {
		panic(err)
	}
}

// newOutboxEntry is the value Put writes for each new own record: pending,
// no attempts, due at once.
func newOutboxEntry() []byte { return slices.Clone(pendingEntry) }

func outboxKey(c cid.Cid) []byte { return key(prefixOutbox, c.Bytes()) }

func encodeOutboxEntry(w outboxWire) ([]byte, error) {
	return outboxEnc.Marshal(w)
}

// decodeOutboxEntry parses an entry strictly: one definite-length map of
// known fields, nothing after it, every value in range.
func decodeOutboxEntry(c cid.Cid, v []byte) (outboxWire, error) {
	w, err := decodeOutboxWire(v)
	if err != nil {
		return outboxWire{}, fmt.Errorf("corrupt outbox entry for record %s: %w", c, err)
	}
	return w, nil
}

func decodeOutboxWire(v []byte) (outboxWire, error) {
	var w outboxWire
	if len(v) == 0 {
		return w, errors.New("empty")
	}
	if len(v) > maxOutboxEntrySize {
		return w, fmt.Errorf("%d bytes (max %d)", len(v), maxOutboxEntrySize)
	}
	// Unmarshal accepts null and undefined into a struct as "no change":
	// an entry must be a map.
	if v[0]>>5 != 5 {
		return w, fmt.Errorf("not a CBOR map (initial byte %#x)", v[0])
	}
	if err := outboxDec.Unmarshal(v, &w); err != nil {
		return w, err
	}
	switch {
	case w.State > uint64(OutboxPublished):
		return w, fmt.Errorf("unknown state %d", w.State)
	case w.Attempts > maxOutboxCount:
		return w, fmt.Errorf("attempts %d out of range", w.Attempts)
	case w.NextTry < 0:
		return w, fmt.Errorf("next try %d before 1970", w.NextTry)
	case len(w.LastError) > MaxOutboxError:
		return w, fmt.Errorf("last error of %d bytes (max %d)", len(w.LastError), MaxOutboxError)
	case w.PublishedAt < 0:
		return w, fmt.Errorf("published at %d before 1970", w.PublishedAt)
	}
	return w, nil
}

func (w outboxWire) entry(c cid.Cid) OutboxEntry {
	e := OutboxEntry{
		Record:    c,
		State:     OutboxState(w.State),
		Attempts:  int(w.Attempts),
		LastError: w.LastError,
	}
	if w.NextTry != 0 {
		e.NextTry = time.UnixMilli(w.NextTry)
	}
	if w.PublishedAt != 0 {
		e.PublishedAt = time.Unix(w.PublishedAt, 0)
	}
	return e
}

func (w outboxWire) due(nowMs int64) bool {
	return w.State == uint64(OutboxPending) && w.NextTry <= nowMs
}

// outboxErrorText makes an error fit an entry: valid UTF-8 (CBOR text must
// be), at most MaxOutboxError bytes, cut on a rune boundary.
func outboxErrorText(err error) string { return textx.Clip(err.Error(), MaxOutboxError) }

// outboxBackoff is the delay after the n-th failed attempt (n >= 1), before
// jitter: 1s doubling up to 5 minutes.
func outboxBackoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > 20 { // far past the cap; keeps the shift from overflowing
		return outboxBackoffMax
	}
	return min(outboxBackoffBase<<(n-1), outboxBackoffMax)
}

// outboxJitterOf spreads d by ±20%: r is uniform in [0, 1).
func outboxJitterOf(d time.Duration, r float64) time.Duration {
	return time.Duration(float64(d) * (1 - outboxJitter + 2*outboxJitter*r))
}

// OutboxEntry returns the outbox entry of record c (ok=false: it has none,
// the record is not an own record of this node).
func (s *Store) OutboxEntry(c cid.Cid) (OutboxEntry, bool, error) {
	w, ok, err := s.outboxWire(c)
	if err != nil || !ok {
		return OutboxEntry{}, ok, err
	}
	return w.entry(c), true, nil
}

func (s *Store) outboxWire(c cid.Cid) (outboxWire, bool, error) {
	v, closer, err := s.rd.Get(outboxKey(c))
	if errors.Is(err, pebble.ErrNotFound) {
		return outboxWire{}, false, nil
	}
	if err != nil {
		return outboxWire{}, false, fmt.Errorf("read outbox entry for record %s: %w", c, err)
	}
	defer closer.Close()
	w, err := decodeOutboxEntry(c, v)
	if err != nil {
		return outboxWire{}, false, err
	}
	return w, true, nil
}

// scanOutbox calls f on every entry, in key order. A key that is no CID or
// a value that does not decode stops the scan with an error.
func (s *Store) scanOutbox(f func(c cid.Cid, w outboxWire) error) error {
	return s.scanOutboxRaw(func(c cid.Cid, v []byte) error {
		w, err := decodeOutboxEntry(c, v)
		if err != nil {
			return err
		}
		return f(c, w)
	})
}

func (s *Store) scanOutboxRaw(f func(c cid.Cid, v []byte) error) error {
	prefix := []byte{prefixOutbox}
	it, err := s.rd.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
	if err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()[len(prefix):]
		n, c, err := cid.CidFromBytes(k)
		if err != nil || n != len(k) {
			return fmt.Errorf("corrupt outbox key %x", it.Key())
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("read outbox entry for record %s: %w", c, err)
		}
		if err := f(c, v); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	return nil
}

// DueOutbox returns up to limit pending entries due at now, the longest
// due first (limit <= 0: all of them). It scans the whole outbox.
func (s *Store) DueOutbox(now time.Time, limit int) ([]OutboxEntry, error) {
	nowMs := now.UnixMilli()
	type due struct {
		c cid.Cid
		w outboxWire
	}
	// Kept sorted by next try and, for equal times, key order (the scan's
	// order, so a stable insert keeps it); beyond limit the latest drop.
	var out []due
	err := s.scanOutbox(func(c cid.Cid, w outboxWire) error {
		if !w.due(nowMs) {
			return nil
		}
		i := sort.Search(len(out), func(i int) bool { return out[i].w.NextTry > w.NextTry })
		if limit > 0 && i >= limit {
			return nil
		}
		out = slices.Insert(out, i, due{c, w})
		if limit > 0 && len(out) > limit {
			out = out[:limit]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	entries := make([]OutboxEntry, len(out))
	for i, d := range out {
		entries[i] = d.w.entry(d.c)
	}
	return entries, nil
}

// PendingOutbox returns up to limit pending entries, due now or later,
// the soonest due first (limit <= 0: all of them): DueOutbox at the end of
// time. It scans the whole outbox.
func (s *Store) PendingOutbox(limit int) ([]OutboxEntry, error) {
	return s.DueOutbox(time.UnixMilli(math.MaxInt64), limit)
}

// NextOutboxWake returns the earliest next try among pending entries
// (ok=false: nothing is pending). It may be in the past, or the zero time
// for an entry due at once.
func (s *Store) NextOutboxWake() (time.Time, bool, error) {
	var (
		next  int64
		found bool
	)
	err := s.scanOutbox(func(_ cid.Cid, w outboxWire) error {
		if w.State == uint64(OutboxPending) && (!found || w.NextTry < next) {
			next, found = w.NextTry, true
		}
		return nil
	})
	if err != nil || !found {
		return time.Time{}, false, err
	}
	if next == 0 {
		return time.Time{}, true, nil
	}
	return time.UnixMilli(next), true, nil
}

// OutboxCounts counts the pending and the published entries.
func (s *Store) OutboxCounts() (pending, published int, err error) {
	err = s.scanOutbox(func(_ cid.Cid, w outboxWire) error {
		if w.State == uint64(OutboxPublished) {
			published++
		} else {
			pending++
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return pending, published, nil
}

// ErrNoOutboxEntry is wrapped by MarkPublished and MarkFailed when the
// record has no outbox entry (it was removed, or never was own).
var ErrNoOutboxEntry = errors.New("no outbox entry")

// updateOutbox rewrites the entry of c with f, synced.
func (s *Store) updateOutbox(c cid.Cid, f func(w *outboxWire)) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	w, ok, err := s.outboxWire(c)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("record %s: %w", c, ErrNoOutboxEntry)
	}
	f(&w)
	v, err := encodeOutboxEntry(w)
	if err != nil {
		return fmt.Errorf("encode outbox entry for record %s: %w", c, err)
	}
	if err := s.db.Set(outboxKey(c), v, pebble.Sync); err != nil {
		return fmt.Errorf("write outbox entry for record %s: %w", c, err)
	}
	return nil
}

// MarkPublished records a successful publish of c at at.
func (s *Store) MarkPublished(c cid.Cid, at time.Time) error {
	return s.updateOutbox(c, func(w *outboxWire) {
		w.State = uint64(OutboxPublished)
		w.NextTry = 0
		w.LastError = ""
		w.PublishedAt = max(at.Unix(), 0)
	})
}

// MarkFailed records a failed publish of c at now: the entry stays (or
// becomes) pending and is due again after the backoff of its attempts.
func (s *Store) MarkFailed(c cid.Cid, err error, now time.Time) error {
	if err == nil {
		err = errors.New("unknown error")
	}
	msg := outboxErrorText(err)
	return s.updateOutbox(c, func(w *outboxWire) {
		w.State = uint64(OutboxPending)
		w.Attempts = min(w.Attempts+1, maxOutboxCount)
		w.LastError = msg
		delay := outboxJitterOf(outboxBackoff(int(w.Attempts)), rand.Float64())
		w.NextTry = max(now.Add(delay).UnixMilli(), 0)
	})
}

// DisownForeign finds, among the records cs (outbox entries), those signed
// by another key than the owner's, and makes each imported: its outbox and
// acquire entries deleted and its origin set, in one synced batch. It
// returns them. Without an owner, or for a record missing or that does not
// decode (the publish reports it), nothing changes (nil, nil).
func (s *Store) DisownForeign(cs []cid.Cid) (map[cid.Cid]bool, error) {
	if _, ok := s.Owner(); !ok {
		return nil, nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	foreign := map[cid.Cid]bool{}
	now := time.Now().Unix()
	for _, c := range cs {
		data, err := s.Get(c)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		r, err := lineage.Decode(data)
		if err != nil || s.signedByOwner(r) {
			continue
		}
		if o, ok, err := s.OriginOf(c); err != nil {
			return nil, err
		} else if !ok || o == OriginOwn {
			if err := b.Set(key(prefixMeta, c.Bytes()), metaValue(OriginImported, now), nil); err != nil {
				return nil, err
			}
		}
		if err := b.Delete(outboxKey(c), nil); err != nil {
			return nil, err
		}
		if err := b.Delete(key(prefixAcq, c.Bytes()), nil); err != nil {
			return nil, err
		}
		foreign[c] = true
	}
	if len(foreign) == 0 {
		return nil, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, fmt.Errorf("write outbox: %w", err)
	}
	return foreign, nil
}

// sweepForeignBatch is how many outbox entries one batch of SweepForeign
// checks.
const sweepForeignBatch = 4096

// SweepForeign runs DisownForeign over the whole outbox, pending and
// published entries alike, and returns how many records it made imported.
func (s *Store) SweepForeign() (int, error) {
	var cs []cid.Cid
	if err := s.scanOutboxRaw(func(c cid.Cid, _ []byte) error {
		cs = append(cs, c)
		return nil
	}); err != nil {
		return 0, err
	}
	n := 0
	for chunk := range slices.Chunk(cs, sweepForeignBatch) {
		foreign, err := s.DisownForeign(chunk)
		if err != nil {
			return n, err
		}
		n += len(foreign)
	}
	return n, nil
}
