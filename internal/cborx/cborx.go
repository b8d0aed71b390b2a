package cborx

import "github.com/fxamacker/cbor/v2"

// Order is the deterministic encoding of a profile: its map key order and
// how it writes floats.
type Order int

const (
	// LengthFirst sorts map keys shorter first, then bytewise, and writes
	// floats at their Go width: RFC 7049 canonical CBOR, the order
	// DAG-CBOR requires.
	LengthFirst Order = iota
	// Bytewise sorts map keys bytewise on their encoding and writes floats
	// in their shortest exact form: RFC 8949 core deterministic encoding.
	Bytewise
)

// Library minimums of the decoding limits: a smaller limit is raised to
// them.
const (
	minArrayElements = 16
	minMapPairs      = 16
	minNestedLevels  = 4
)

// Limits bound what a decoding mode accepts. A limit below the library's
// minimum (16 elements, 16 pairs, 4 levels) is raised to it.
type Limits struct {
	// MaxArrayElements bounds every array of the input.
	MaxArrayElements int
	// MaxMapPairs bounds every map of the input.
	MaxMapPairs int
	// MaxNestedLevels bounds how deeply arrays, maps and tags nest.
	MaxNestedLevels int
}

// Profile is what differs between bonsai's CBOR formats.
type Profile struct {
	Limits
	// Order is the deterministic encoding.
	Order Order
	// Tags allows tags when decoding, and writing them when encoding.
	// Without it a tag is an error both ways.
	Tags bool
	// ExactKeys matches map keys to struct fields case-sensitively only.
	// Without it a key that differs from a field's name only in case
	// decodes into that field when no field matches exactly (the
	// library's default).
	ExactKeys bool
}

// Strict returns the encoding and decoding modes of p. The options are
// static, so an error building them is a programming error: Strict panics.
func Strict(p Profile) (cbor.EncMode, cbor.DecMode) {
	tags := cbor.TagsForbidden
	if p.Tags {
		tags = cbor.TagsAllowed
	}

	var eo cbor.EncOptions
	switch p.Order {
	case LengthFirst:
		eo = cbor.EncOptions{Sort: cbor.SortLengthFirst, ShortestFloat: cbor.ShortestFloatNone}
	case Bytewise:
		eo = cbor.CoreDetEncOptions()
	default:
		panic("cborx: unknown order")
	}
	eo.IndefLength = cbor.IndefLengthForbidden
	eo.TagsMd = tags
	enc, err := eo.EncMode()
	if err != nil {
		panic(err)
	}

	match := cbor.FieldNameMatchingPreferCaseSensitive
	if p.ExactKeys {
		match = cbor.FieldNameMatchingCaseSensitive
	}
	dec, err := cbor.DecOptions{
		DupMapKey:          cbor.DupMapKeyEnforcedAPF,
		IndefLength:        cbor.IndefLengthForbidden,
		TagsMd:             tags,
		MaxNestedLevels:    max(p.MaxNestedLevels, minNestedLevels),
		MaxArrayElements:   max(p.MaxArrayElements, minArrayElements),
		MaxMapPairs:        max(p.MaxMapPairs, minMapPairs),
		ExtraReturnErrors:  cbor.ExtraDecErrorUnknownField,
		UTF8:               cbor.UTF8RejectInvalid,
		FieldNameMatching:  match,
		ByteStringToString: cbor.ByteStringToStringForbidden,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return enc, dec
}
