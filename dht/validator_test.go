package dht

import (
	"bytes"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
)

// TestValidator: the DHT accepts a record or a revocation under its own
// CID, and nothing else: not another CID's bytes, not a forged block.
func TestValidator(t *testing.T) {
	_, rec := signRecord(t, 1, "out", "in")
	v := &lineage.Revocation{Target: rec.CID, Reason: "test", Time: 1764000000}
	rev, err := v.Sign(testkeys.Key(1))
	if err != nil {
		t.Fatal(err)
	}
	forged := bytes.Clone(rev.Data)
	forged[len(forged)-8] ^= 1
	for _, tc := range []struct {
		name  string
		key   string
		value []byte
		ok    bool
	}{
		{"record", RecordKey(rec.CID), rec.Data, true},
		{"revocation", RecordKey(rev.CID), rev.Data, true},
		{"revocation under the record's key", RecordKey(rec.CID), rev.Data, false},
		{"forged revocation", RecordKey(lineage.RecordCID(forged)), forged, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := (Validator{}).Validate(tc.key, tc.value); (err == nil) != tc.ok {
				t.Errorf("Validate = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
