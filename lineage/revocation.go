package lineage

import (
	"bytes"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// A revocation withdraws a record: its revoker signs, in a signing domain
// of its own, the record's CID, a reason and a time. It counts for a
// verifier when the revoker is the record's own executor or a revoker the
// verifier trusts; a revoked record fails, and so does every descendant.
//
// Wire form: a DAG-CBOR map with one-letter keys, e revoker peer ID
// (bytes), g target record CID, r reason, s signature, t time (Unix
// seconds), v version. No key of a record's but e, s, t, v: neither
// decoder accepts the other's blocks.

// revocationDomain is prefixed to what a revoker signs.
const revocationDomain = "bonsai/lineage-revocation/v1\x00"

// Bounds of a revocation.
const (
	MaxRevocationSize = 4 << 10
	MaxReasonLen      = 1024
)

// ErrNotRevocation: the bytes are not a well-formed revocation.
var ErrNotRevocation = errors.New("malformed revocation")

// Revocation is a signed withdrawal of the record Target.
type Revocation struct {
	Revoker peer.ID
	Target  cid.Cid
	Reason  string
	Time    int64
	Sig     []byte
}

type wireRev struct {
	E []byte `cbor:"e"`
	G link   `cbor:"g"`
	R string `cbor:"r"`
	S []byte `cbor:"s,omitempty"`
	T uint64 `cbor:"t"`
	V uint64 `cbor:"v"`
}

type wireRevIn struct {
	E *[]byte `cbor:"e"`
	G *link   `cbor:"g"`
	R *string `cbor:"r"`
	S *[]byte `cbor:"s"`
	T *uint64 `cbor:"t"`
	V *uint64 `cbor:"v"`
}

func (v *Revocation) validate() error {
	if err := CheckCID(v.Target); err != nil {
		return fmt.Errorf("%w: target: %v", ErrNotRevocation, err)
	}
	if v.Target.Type() != cid.DagCBOR {
		return fmt.Errorf("%w: target %s is not a record CID (dag-cbor)", ErrNotRevocation, v.Target)
	}
	if len(v.Reason) > MaxReasonLen || !utf8.ValidString(v.Reason) {
		return fmt.Errorf("%w: reason of %d bytes (at most %d, UTF-8)", ErrNotRevocation, len(v.Reason), MaxReasonLen)
	}
	if v.Time < 0 || v.Time > 1<<62 {
		return fmt.Errorf("%w: time %d out of range", ErrNotRevocation, v.Time)
	}
	if v.Revoker == "" {
		return fmt.Errorf("%w: no revoker", ErrNotRevocation)
	}
	return nil
}

func (v *Revocation) encode(sig []byte) ([]byte, error) {
	return encMode.Marshal(wireRev{E: []byte(v.Revoker), G: link{v.Target}, R: v.Reason, S: sig, T: uint64(v.Time), V: Version})
}

// signingBytes is what the revoker signs.
func (v *Revocation) signingBytes() ([]byte, error) {
	if err := v.validate(); err != nil {
		return nil, err
	}
	body, err := v.encode(nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotRevocation, err)
	}
	return append([]byte(revocationDomain), body...), nil
}

// Sign fills in the revoker and signs the revocation, returning its block.
func (v *Revocation) Sign(s Signer) (Block, error) {
	v.Revoker = s.ID()
	msg, err := v.signingBytes()
	if err != nil {
		return Block{}, err
	}
	if v.Sig, err = s.Sign(msg); err != nil {
		return Block{}, err
	}
	data, err := v.encode(v.Sig)
	if err != nil {
		return Block{}, fmt.Errorf("%w: %v", ErrNotRevocation, err)
	}
	return Block{CID: RecordCID(data), Data: data}, nil
}

// DecodeRevocation parses revocation bytes strictly (bounded, every field
// present, no other, canonical); it does not check the signature.
func DecodeRevocation(data []byte) (*Revocation, error) {
	if len(data) > MaxRevocationSize {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrNotRevocation, len(data), MaxRevocationSize)
	}
	var w wireRevIn
	if err := decMode.Unmarshal(data, &w); err != nil {
		var extra *cbor.ExtraneousDataError
		if errors.As(err, &extra) {
			return nil, fmt.Errorf("%w: trailing bytes: %v", ErrNotRevocation, err)
		}
		return nil, fmt.Errorf("%w: %v", ErrNotRevocation, err)
	}
	for _, f := range []struct {
		missing bool
		name    string
	}{
		{w.E == nil, "e (revoker)"}, {w.G == nil, "g (target)"}, {w.R == nil, "r (reason)"},
		{w.S == nil, "s (signature)"}, {w.T == nil, "t (time)"}, {w.V == nil, "v (version)"},
	} {
		if f.missing {
			return nil, fmt.Errorf("%w: missing field %s", ErrNotRevocation, f.name)
		}
	}
	if *w.V != Version {
		return nil, fmt.Errorf("%w: version %d (this build reads %d)", ErrNotRevocation, *w.V, Version)
	}
	if len(*w.S) != 64 {
		return nil, fmt.Errorf("%w: signature of %d bytes, want 64", ErrNotRevocation, len(*w.S))
	}
	if *w.T > 1<<62 {
		return nil, fmt.Errorf("%w: time %d out of range", ErrNotRevocation, *w.T)
	}
	id, err := peer.IDFromBytes(*w.E)
	if err != nil {
		return nil, fmt.Errorf("%w: revoker: %v", ErrNotRevocation, err)
	}
	v := &Revocation{Revoker: id, Target: w.G.c, Reason: *w.R, Time: int64(*w.T), Sig: *w.S}
	if err := v.validate(); err != nil {
		return nil, err
	}
	again, err := v.encode(v.Sig)
	if err != nil || !bytes.Equal(again, data) {
		return nil, fmt.Errorf("%w: not in its canonical encoding", ErrNotRevocation)
	}
	return v, nil
}

// OpenRevocation is how untrusted bytes become a revocation: the block
// must hash to c, decode strictly and carry its revoker's valid signature.
func OpenRevocation(c cid.Cid, data []byte) (*Revocation, error) {
	if err := CheckBlockCID(c, data); err != nil {
		return nil, err
	}
	v, err := DecodeRevocation(data)
	if err != nil {
		return nil, err
	}
	msg, err := v.signingBytes()
	if err != nil {
		return nil, err
	}
	if err := signer.Verify(v.Revoker, msg, v.Sig); err != nil {
		return nil, fmt.Errorf("%w: revocation by %s", ErrBadSignature, v.Revoker)
	}
	return v, nil
}

// Counts reports whether v counts against the record r it targets: signed
// by r's own executor or by one of trusted.
func (v *Revocation) Counts(r *Record, trusted []peer.ID) bool {
	if r != nil && v.Revoker == r.Executor.Peer {
		return true
	}
	for _, t := range trusted {
		if v.Revoker == t {
			return true
		}
	}
	return false
}
