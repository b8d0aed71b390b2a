package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bonsai-lineage/bonsai/enforce"
	"github.com/cockroachdb/pebble/v2"
)

// DefaultAuditEntries bounds the audit log: past it the oldest entries
// are dropped, and counted.
const DefaultAuditEntries = 100_000

// AuditAppend adds events to the audit log in one synced batch (a
// decision logged survives a crash), dropping the oldest past max entries
// (0: DefaultAuditEntries).
func (s *Store) AuditAppend(max int, events ...enforce.Event) error {
	if max <= 0 {
		max = DefaultAuditEntries
	}
	s.auditMu.Lock()
	defer s.auditMu.Unlock()
	if s.auditCount < 0 {
		n := 0
		if err := s.scanPrefix([]byte{prefixAudit}, func(_, _ []byte) (bool, error) { n++; return true, nil }); err != nil {
			return err
		}
		s.auditCount = n
	}
	b := s.db.NewBatch()
	defer b.Close()
	for _, e := range events {
		v, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("audit event: %w", err)
		}
		s.auditSeq++
		k := key(prefixAudit, encodeTime(e.Time.UnixNano()), encodeTime(int64(s.auditSeq)))
		if err := b.Set(k, v, nil); err != nil {
			return err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("write audit log: %w", err)
	}
	s.auditCount += len(events)
	if over := s.auditCount - max; over > 0 {
		return s.auditDrop(over)
	}
	return nil
}

// auditDrop deletes the n oldest audit entries and counts them.
func (s *Store) auditDrop(n int) error {
	b := s.db.NewBatch()
	defer b.Close()
	left := n
	err := s.scanPrefix([]byte{prefixAudit}, func(k, _ []byte) (bool, error) {
		if err := b.Delete(k, nil); err != nil {
			return false, err
		}
		left--
		return left > 0, nil
	})
	if err != nil {
		return err
	}
	dropped, err := s.AuditDropped()
	if err != nil {
		return err
	}
	if err := b.Set([]byte{keyAuditDrop}, encodeTime(int64(dropped)+int64(n-left)), nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("trim audit log: %w", err)
	}
	s.auditCount -= n - left
	return nil
}

// AuditDropped is how many audit entries were dropped past the bound.
func (s *Store) AuditDropped() (uint64, error) {
	v, closer, err := s.rd.Get([]byte{keyAuditDrop})
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read audit log: %w", err)
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("corrupt audit drop count (%d bytes)", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// Audit returns the audit events since since (zero: all), of policy when
// not empty, oldest first.
func (s *Store) Audit(since time.Time, policy string) ([]enforce.Event, error) {
	lower := []byte{prefixAudit}
	if !since.IsZero() {
		lower = key(prefixAudit, encodeTime(since.UnixNano()))
	}
	var es []enforce.Event
	err := s.scan("audit log", lower, prefixEnd([]byte{prefixAudit}), func(k, v []byte) (bool, error) {
		var e enforce.Event
		if err := json.Unmarshal(v, &e); err != nil {
			return false, fmt.Errorf("corrupt audit entry %x: %w", k, err)
		}
		if policy == "" || e.Policy == policy {
			es = append(es, e)
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return es, nil
}

// enforcing is the heartbeat of a running enforcement: since when, and
// the last time it was known up.
type enforcing struct {
	Since time.Time `json:"since"`
	Last  time.Time `json:"last"`
}

// EnforcementBeat records that enforcement is up at now (since since).
func (s *Store) EnforcementBeat(since, now time.Time) error {
	v, _ := json.Marshal(enforcing{Since: since.UTC(), Last: now.UTC()})
	return s.db.Set([]byte{keyEnforcing}, v, pebble.Sync)
}

// EnforcementStopped records a clean stop: no gap to report.
func (s *Store) EnforcementStopped() error {
	return s.db.Delete([]byte{keyEnforcing}, pebble.Sync)
}

// EnforcementGap reports whether the previous enforcement ended without a
// clean stop, and when it was last known up.
func (s *Store) EnforcementGap() (last time.Time, ok bool, err error) {
	v, closer, err := s.rd.Get([]byte{keyEnforcing})
	if errors.Is(err, pebble.ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read enforcement state: %w", err)
	}
	defer closer.Close()
	var e enforcing
	if err := json.Unmarshal(v, &e); err != nil {
		return time.Time{}, false, fmt.Errorf("corrupt enforcement state: %w", err)
	}
	return e.Last, true, nil
}
