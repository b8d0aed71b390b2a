package lineage

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/bonsai-lineage/bonsai/internal/cborx"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multihash"
)

// The wire form of a record: a DAG-CBOR map with one-letter keys, so a
// two-input record with a program stays under 300 bytes. Keys sort
// length-first then bytewise, as DAG-CBOR requires; with one-letter keys that
// is e, i, o, p, s, t, u, v, x.
//
//	e executor peer ID (bytes)      p program CID (optional)
//	i inputs (array of CIDs)        s signature (bytes)
//	o output CID                    t time, Unix seconds
//	u executor's local user ID      v format version
//	x incomplete (present only when true)
//
// The fields sorting before and after s are encoded as two maps whose
// entries are spliced around s: one encoding pass yields both the signed
// bytes (without s) and the block (with it).
type wireHead struct {
	E []byte `cbor:"e"`
	I []link `cbor:"i"`
	O link   `cbor:"o"`
	P *link  `cbor:"p,omitempty"`
}

type wireTail struct {
	T uint64 `cbor:"t"`
	U uint64 `cbor:"u"`
	V uint64 `cbor:"v"`
	X bool   `cbor:"x,omitempty"`
}

// wireIn is the decoding twin of wire: pointers tell a missing field from a
// zero one.
type wireIn struct {
	E *[]byte `cbor:"e"`
	I *[]link `cbor:"i"`
	O *link   `cbor:"o"`
	P *link   `cbor:"p"`
	S *[]byte `cbor:"s"`
	T *uint64 `cbor:"t"`
	U *uint64 `cbor:"u"`
	V *uint64 `cbor:"v"`
	X *bool   `cbor:"x"`
}

// link is a CID as DAG-CBOR writes it: tag 42 around a byte string holding
// a zero byte (the identity multibase prefix) and the CID's binary form.
type link struct{ c cid.Cid }

const cidTag = 42

// linkHeader is tag 42 (0xd8 0x2a) and the head of a byte string whose
// length takes one byte (0x58 n): every CID bonsai accepts is 24 to 255
// bytes long with its prefix, so this is the minimal encoding.
var linkHeader = [...]byte{0xd8, cidTag, 0x58}

// MarshalCBOR writes the link directly: it runs for every input of every
// record, and the generic tag encoder allocates several times per call.
func (l link) MarshalCBOR() ([]byte, error) {
	b := l.c.KeyString() // the binary form, without a copy
	if n := len(b) + 1; n < 24 || n > 255 {
		return nil, fmt.Errorf("CID of %d bytes: length outside 23..254", len(b))
	}
	out := make([]byte, 0, len(linkHeader)+2+len(b))
	out = append(out, linkHeader[:]...)
	out = append(out, byte(len(b)+1), 0)
	return append(out, b...), nil
}

func (l *link) UnmarshalCBOR(data []byte) error {
	// fxamacker has checked that data is one well-formed item; anything
	// but the minimal tag-42 byte string is refused here and, failing
	// that, by the canonical re-encoding check.
	if len(data) < len(linkHeader)+1 || data[0] != 0xd8 || data[1] != cidTag {
		return errors.New("CID: not a tag-42 link")
	}
	if data[2] != 0x58 || int(data[3]) != len(data)-4 {
		return errors.New("CID: tag content is not a minimal byte string of 24..255 bytes")
	}
	raw := data[4:]
	if len(raw) < 2 || raw[0] != 0 {
		return errors.New("CID: missing identity multibase prefix")
	}
	n, c, err := cid.CidFromBytes(raw[1:])
	if err != nil {
		return fmt.Errorf("CID: %w", err)
	}
	if n != len(raw)-1 {
		return fmt.Errorf("CID: %d trailing bytes", len(raw)-1-n)
	}
	l.c = c
	return nil
}

// The record and revocation wire format is DAG-CBOR: length-first map
// order, shortest integers, no indefinite lengths, no floats in our schema;
// tags allowed (links are tag 42), at most MaxInputs elements per array.
var encMode, decMode = cborx.Strict(cborx.Profile{
	Limits: cborx.Limits{MaxArrayElements: MaxInputs, MaxMapPairs: 16, MaxNestedLevels: 8},
	Order:  cborx.LengthFirst,
	Tags:   true,
})

// encode returns the canonical encoding of the record without its
// signature (what is signed, after the domain prefix) and, when sig is not
// nil, with it (the block).
func (r *Record) encode(sig []byte) (unsigned, full []byte, err error) {
	head, tail, err := r.encodeParts()
	if err != nil {
		return nil, nil, err
	}
	unsigned = joinParts(nil, head, tail)
	if sig == nil {
		return unsigned, nil, nil
	}
	s, err := encMode.Marshal(sig)
	if err != nil {
		return nil, nil, err
	}
	full = make([]byte, 0, len(unsigned)+len(s)+2)
	full = append(full, 0xa0+byte(mapLen(head)+mapLen(tail)+1))
	full = append(full, head[1:]...)
	full = append(full, 0x61, 's')
	full = append(full, s...)
	full = append(full, tail[1:]...)
	return unsigned, full, nil
}

// encodeParts encodes the fields sorting before s and after it as two
// maps, to be spliced around s.
func (r *Record) encodeParts() (head, tail []byte, err error) {
	h := wireHead{E: []byte(r.Executor.Peer), I: make([]link, len(r.Inputs)), O: link{r.Output}}
	for i, c := range r.Inputs {
		h.I[i] = link{c}
	}
	if r.Program.Defined() {
		h.P = &link{r.Program}
	}
	if head, err = encMode.Marshal(h); err != nil {
		return nil, nil, err
	}
	if tail, err = encMode.Marshal(wireTail{T: uint64(r.Time), U: uint64(r.Executor.UID), V: Version, X: r.Incomplete}); err != nil {
		return nil, nil, err
	}
	return head, tail, nil
}

// mapLen is the entry count of an encoded map of fewer than 24 entries
// (both parts are): its header is one byte, 0xa0 plus the count.
func mapLen(m []byte) int { return int(m[0] - 0xa0) }

// joinParts appends to dst the one map holding the entries of head and
// tail: the record without its signature.
func joinParts(dst, head, tail []byte) []byte {
	dst = append(dst, 0xa0+byte(mapLen(head)+mapLen(tail)))
	return append(append(dst, head[1:]...), tail[1:]...)
}

// sigEntry is the encoding of the s entry for a 64-byte signature: key
// "s", then a byte string of 64 bytes (0x58 0x40).
var sigEntry = [...]byte{0x61, 's', 0x58, 64}

// isEncodingOf reports whether data is exactly the block encode would
// give for head, tail and sig, without building it.
func isEncodingOf(data, head, tail, sig []byte) bool {
	if len(sig) != 64 || len(data) != 1+len(head)-1+len(sigEntry)+64+len(tail)-1 {
		return false
	}
	if data[0] != 0xa0+byte(mapLen(head)+mapLen(tail)+1) {
		return false
	}
	rest := data[1:]
	if !bytes.HasPrefix(rest, head[1:]) {
		return false
	}
	rest = rest[len(head)-1:]
	if !bytes.HasPrefix(rest, sigEntry[:]) || !bytes.Equal(rest[len(sigEntry):len(sigEntry)+64], sig) {
		return false
	}
	return bytes.Equal(rest[len(sigEntry)+64:], tail[1:])
}

// Decode parses record bytes strictly: it refuses oversized input, unknown
// versions and fields, trailing bytes, unsorted or duplicate inputs and any
// encoding but the canonical one. It does not check the signature: see
// Verify. Every error wraps one of the package's sentinels.
func Decode(data []byte) (*Record, error) {
	r, _, err := decode(data)
	return r, err
}

// decode is Decode that also returns the bytes the signature covers.
func decode(data []byte) (*Record, []byte, error) {
	if len(data) > MaxRecordSize {
		return nil, nil, fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, len(data), MaxRecordSize)
	}
	var w wireIn
	if err := decMode.Unmarshal(data, &w); err != nil {
		var extra *cbor.ExtraneousDataError
		var tooMany *cbor.MaxArrayElementsError
		switch {
		case errors.As(err, &extra):
			return nil, nil, fmt.Errorf("%w: %v", ErrTrailingData, err)
		case errors.As(err, &tooMany):
			return nil, nil, fmt.Errorf("%w: %v", ErrTooLarge, err)
		}
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if w.V == nil {
		return nil, nil, fmt.Errorf("%w: missing field v (version)", ErrMalformed)
	}
	if *w.V != Version {
		return nil, nil, fmt.Errorf("%w: version %d (this build reads %d)", ErrVersion, *w.V, Version)
	}
	for _, f := range []struct {
		missing bool
		name    string
	}{
		{w.E == nil, "e (executor)"}, {w.I == nil, "i (inputs)"}, {w.O == nil, "o (output)"},
		{w.S == nil, "s (signature)"}, {w.T == nil, "t (time)"}, {w.U == nil, "u (user ID)"},
	} {
		if f.missing {
			return nil, nil, fmt.Errorf("%w: missing field %s", ErrMalformed, f.name)
		}
	}
	if *w.T > 1<<62 {
		return nil, nil, fmt.Errorf("%w: time %d out of range", ErrMalformed, *w.T)
	}
	if *w.U > 1<<32-1 {
		return nil, nil, fmt.Errorf("%w: user ID %d out of range", ErrMalformed, *w.U)
	}
	if len(*w.S) != 64 {
		return nil, nil, fmt.Errorf("%w: signature of %d bytes, want 64", ErrMalformed, len(*w.S))
	}
	if w.X != nil && !*w.X {
		// Present only when true: a false flag would give the same record
		// two encodings.
		return nil, nil, fmt.Errorf("%w: field x (incomplete) present but false", ErrNotCanonical)
	}
	id, err := peer.IDFromBytes(*w.E)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: executor: %v", ErrMalformed, err)
	}
	r := &Record{
		Executor:   Executor{Peer: id, UID: uint32(*w.U)},
		Output:     w.O.c,
		Inputs:     make([]cid.Cid, len(*w.I)),
		Time:       int64(*w.T),
		Incomplete: w.X != nil,
		Sig:        *w.S,
	}
	for i, l := range *w.I {
		r.Inputs[i] = l.c
	}
	if w.P != nil {
		r.Program = w.P.c
	}
	if err := r.validate(); err != nil {
		return nil, nil, err
	}
	// The one encoding check that covers them all: re-encoding must give
	// back the same bytes, or the CID would not name this record alone.
	head, tail, err := r.encodeParts()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !isEncodingOf(data, head, tail, r.Sig) {
		return nil, nil, fmt.Errorf("%w: re-encoding gives different bytes", ErrNotCanonical)
	}
	msg := make([]byte, 0, len(signingDomain)+len(head)+len(tail)-1)
	return r, joinParts(append(msg, signingDomain...), head, tail), nil
}

// DecodeBlock checks that data hashes to c, then decodes it.
func DecodeBlock(c cid.Cid, data []byte) (*Record, error) {
	r, _, err := decodeBlock(c, data)
	return r, err
}

func decodeBlock(c cid.Cid, data []byte) (*Record, []byte, error) {
	if err := CheckBlockCID(c, data); err != nil {
		return nil, nil, err
	}
	return decode(data)
}

// CheckBlockCID reports whether data is the block c names: a dag-cbor CID
// whose multihash (any accepted function) matches the bytes.
func CheckBlockCID(c cid.Cid, data []byte) error {
	if err := CheckCID(c); err != nil {
		return fmt.Errorf("%w: %v", ErrCIDMismatch, err)
	}
	if c.Type() != cid.DagCBOR {
		return fmt.Errorf("%w: %s has codec 0x%x, want dag-cbor", ErrCIDMismatch, c, c.Type())
	}
	p := c.Prefix()
	if p.MhType == multihash.SHA2_256 && p.MhLength == sha256.Size {
		// The common case, without the generic hasher's allocations: a
		// CID's binary form ends with its digest.
		sum := sha256.Sum256(data)
		if k := c.KeyString(); k[len(k)-sha256.Size:] == string(sum[:]) {
			return nil
		}
	}
	got, err := p.Sum(data)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrCIDMismatch, c, err)
	}
	if !got.Equals(c) {
		return fmt.Errorf("%w: bytes hash to %s, not %s", ErrCIDMismatch, got, c)
	}
	return nil
}
