package store

import "github.com/fxamacker/cbor/v2"

// strictCBOR returns the encoding and decoding modes of the store's own
// small CBOR values (outbox entries, pins): deterministic encoding; decoding
// that refuses duplicate or unknown keys, tags, indefinite lengths, invalid
// UTF-8 and arrays longer than maxArray.
func strictCBOR(maxArray int) (cbor.EncMode, cbor.DecMode) {
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err) // static options: a failure is a broken build
	}
	dec, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   4,
		MaxArrayElements:  max(maxArray, 16),
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return enc, dec
}
