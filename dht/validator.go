package dht

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
)

// Namespace is the DHT namespace of lineage records: a record lives under
// the key "/bonsai/" + the binary form of its CID.
const Namespace = "bonsai"

const keyPrefix = "/" + Namespace + "/"

// RecordKey is the DHT key of record c.
func RecordKey(c cid.Cid) string { return keyPrefix + string(c.Bytes()) }

// ParseRecordKey returns the record CID a DHT key names.
func ParseRecordKey(key string) (cid.Cid, error) {
	rest, ok := strings.CutPrefix(key, keyPrefix)
	if !ok {
		return cid.Undef, fmt.Errorf("DHT key outside /%s/", Namespace)
	}
	c, err := cid.Cast([]byte(rest))
	if err != nil {
		return cid.Undef, fmt.Errorf("DHT key: %w", err)
	}
	return c, nil
}

// Validator is the DHT record validator for the bonsai namespace. Every
// node of the swarm runs it on every PUT and GET, so garbage is refused on
// every hop.
type Validator struct{}

// Validate accepts value under key only if it is the lineage record the key
// names: CID matches, strict decoding, valid signature.
func (Validator) Validate(key string, value []byte) error {
	c, err := ParseRecordKey(key)
	if err != nil {
		return err
	}
	_, err = lineage.Open(c, value)
	if err == nil {
		return nil
	}
	// A signed revocation travels under its own CID too.
	if _, rerr := lineage.OpenRevocation(c, value); rerr == nil {
		return nil
	}
	return fmt.Errorf("record %s: %w", c, err)
}

// Select picks among values for one key. A key is the hash of its value, so
// valid values are identical; any valid one will do.
func (v Validator) Select(key string, values [][]byte) (int, error) {
	for i, val := range values {
		if v.Validate(key, val) == nil {
			return i, nil
		}
	}
	return 0, errors.New("no valid record among the values")
}
