package store

import (
	"errors"
	"fmt"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// RecordStatus is where a stored record stands in the store.
type RecordStatus struct {
	// Origin is why the store holds the record. A record signed by another
	// key than the owner's is never OriginOwn here, even one an older
	// store took as own (the outbox drops its entry when it falls due); a
	// record stored before origins were recorded is OriginOwn.
	Origin Origin
	// Executor is the peer ID that signed the record.
	Executor peer.ID
	// Outbox is the record's outbox entry, when HasOutbox says it has one.
	Outbox    OutboxEntry
	HasOutbox bool
}

// RecordStatus reports where record c stands: why the store holds it, who
// signed it, and its outbox entry. ok=false, err=nil means the store does
// not hold c.
func (s *Store) RecordStatus(c cid.Cid) (st RecordStatus, ok bool, err error) {
	data, err := s.Get(c)
	if errors.Is(err, ErrNotFound) {
		return RecordStatus{}, false, nil
	}
	if err != nil {
		return RecordStatus{}, false, err
	}
	origin, held, err := s.OriginOf(c)
	if err != nil {
		return RecordStatus{}, false, err
	}
	if !held {
		origin = OriginOwn // stored before origins were recorded
	}
	rec, err := lineage.Decode(data)
	if err != nil {
		return RecordStatus{}, false, fmt.Errorf("stored record %s: %w", c, err)
	}
	if origin == OriginOwn && !s.signedByOwner(rec) {
		origin = OriginImported
	}
	st = RecordStatus{Origin: origin, Executor: rec.Executor.Peer}
	if st.Outbox, st.HasOutbox, err = s.OutboxEntry(c); err != nil {
		return RecordStatus{}, false, err
	}
	return st, true, nil
}
