package store

import (
	"github.com/bonsai-lineage/bonsai/internal/cborx"
	"github.com/fxamacker/cbor/v2"
)

// strictCBOR returns the encoding and decoding modes of the store's own
// small CBOR values (outbox entries, pins, journal entries): RFC 8949 core
// deterministic encoding; decoding as strict as cborx makes it, without
// tags, with arrays of at most maxArray elements (at least 16), maps of at
// most 16 pairs and 4 levels of nesting.
func strictCBOR(maxArray int) (cbor.EncMode, cbor.DecMode) {
	return cborx.Strict(cborx.Profile{
		Limits: cborx.Limits{MaxArrayElements: maxArray, MaxMapPairs: 16, MaxNestedLevels: 4},
		Order:  cborx.Bytewise,
	})
}
