package store

import (
	"errors"
	"fmt"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/ipfs/go-cid"
)

// PutRevocation verifies a revocation block and keeps it under its target
// record; it reports whether it was new. A revocation that does not verify
// is refused and nothing is written.
func (s *Store) PutRevocation(b lineage.Block) (*lineage.Revocation, bool, error) {
	v, err := lineage.OpenRevocation(b.CID, b.Data)
	if err != nil {
		return nil, false, err
	}
	k := key(prefixRevoke, v.Target.Bytes(), b.CID.Bytes())
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if _, closer, err := s.rd.Get(k); err == nil {
		closer.Close()
		return v, false, nil
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return nil, false, fmt.Errorf("read store: %w", err)
	}
	if err := s.db.Set(k, b.Data, pebble.Sync); err != nil {
		return nil, false, fmt.Errorf("store revocation %s: %w", b.CID, err)
	}
	s.Bump()
	return v, true, nil
}

// Revocations returns the revocations stored against a record.
func (s *Store) Revocations(record cid.Cid) ([]*lineage.Revocation, error) {
	var vs []*lineage.Revocation
	err := s.scanPrefix(key(prefixRevoke, record.Bytes()), func(_, v []byte) (bool, error) {
		r, err := lineage.DecodeRevocation(v)
		if err != nil {
			return false, fmt.Errorf("stored revocation of %s: %w", record, err)
		}
		vs = append(vs, r)
		return true, nil
	})
	return vs, err
}

// AllRevocations returns every stored revocation block.
func (s *Store) AllRevocations() ([]lineage.Block, error) {
	var bs []lineage.Block
	err := s.scanPrefix([]byte{prefixRevoke}, func(_, v []byte) (bool, error) {
		data := append([]byte(nil), v...)
		bs = append(bs, lineage.Block{CID: lineage.RecordCID(data), Data: data})
		return true, nil
	})
	return bs, err
}

// RevocationIndex maps record CIDs to their revocations, for
// lineage.Options.Revocations.
type RevocationIndex map[cid.Cid][]*lineage.Revocation

// RevocationsOf is the index of the revocations src holds (the store, or
// a daemon's API): what a check takes to count them.
func RevocationsOf(src interface {
	AllRevocations() ([]lineage.Block, error)
}) (RevocationIndex, error) {
	bs, err := src.AllRevocations()
	if err != nil {
		return nil, err
	}
	return IndexRevocations(bs)
}

// IndexRevocations opens revocation blocks (each must verify) into an
// index.
func IndexRevocations(bs []lineage.Block) (RevocationIndex, error) {
	idx := RevocationIndex{}
	for _, b := range bs {
		v, err := lineage.OpenRevocation(b.CID, b.Data)
		if err != nil {
			return nil, err
		}
		idx[v.Target] = append(idx[v.Target], v)
	}
	return idx, nil
}

// Lookup is the index as lineage.Options.Revocations wants it.
func (idx RevocationIndex) Lookup(record cid.Cid) []*lineage.Revocation { return idx[record] }

// AddRevocation verifies and keeps a revocation (the CLI's backend
// without a daemon: it is published when a daemon next syncs).
func (s *Store) AddRevocation(b lineage.Block) error {
	_, _, err := s.PutRevocation(b)
	return err
}
