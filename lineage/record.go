package lineage

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// Version is the record format version this build writes and reads.
const Version = 1

// Bounds a decoder enforces before it trusts anything in a record.
const (
	// MaxRecordSize is the largest encoded record accepted.
	MaxRecordSize = 192 << 10
	// MaxInputs is the most inputs one record may list.
	MaxInputs = 4096
	// maxPeerIDLen bounds the executor field; an Ed25519 peer ID is 38 bytes.
	maxPeerIDLen = 128
)

// signingDomain is prefixed to the canonical encoding before signing, so a
// record signature can never be replayed as a signature over anything else
// this key signs.
const signingDomain = "bonsai/lineage-record/v1\x00"

// Executor names who produced an output: the signing node's peer ID and the
// local user ID of the process.
type Executor struct {
	Peer peer.ID
	UID  uint32
}

// Record is one lineage record. The zero Program means none was recorded.
type Record struct {
	Executor   Executor
	Program    cid.Cid
	Output     cid.Cid
	Inputs     []cid.Cid
	Time       int64 // Unix seconds, when the output was closed
	Incomplete bool  // the capture knows it missed something
	Sig        []byte
}

// Block is an encoded record and its CID.
type Block struct {
	CID  cid.Cid
	Data []byte
	// From says where a resolver found the block (empty: the local
	// store); it is shown to users, never trusted.
	From string
}

// Signer signs with the executor's identity; signer.Key satisfies it.
type Signer interface {
	ID() peer.ID
	Sign(msg []byte) ([]byte, error)
}

// SortInputs sorts inputs by their binary form and drops duplicates, the
// order the encoding requires.
func SortInputs(in []cid.Cid) []cid.Cid {
	out := slices.Clone(in)
	// A CID's key string is its binary form: compared without a copy.
	slices.SortFunc(out, func(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) })
	return slices.CompactFunc(out, func(a, b cid.Cid) bool { return a.Equals(b) })
}

// TimeOf returns the record's time as a time.Time.
func (r *Record) TimeOf() time.Time { return time.Unix(r.Time, 0).UTC() }

// validate checks the bounds and invariants shared by encoder and decoder.
func (r *Record) validate() error {
	if len(r.Executor.Peer) == 0 {
		return fmt.Errorf("%w: executor: empty peer ID", ErrMalformed)
	}
	if len(r.Executor.Peer) > maxPeerIDLen {
		return fmt.Errorf("%w: executor: peer ID of %d bytes (max %d)", ErrTooLarge, len(r.Executor.Peer), maxPeerIDLen)
	}
	if err := r.Executor.Peer.Validate(); err != nil {
		return fmt.Errorf("%w: executor: %v", ErrMalformed, err)
	}
	if _, err := peer.IDFromBytes([]byte(r.Executor.Peer)); err != nil {
		return fmt.Errorf("%w: executor: %v", ErrMalformed, err)
	}
	if err := CheckCID(r.Output); err != nil {
		return fmt.Errorf("%w: output: %v", ErrMalformed, err)
	}
	if r.Program.Defined() {
		if err := CheckCID(r.Program); err != nil {
			return fmt.Errorf("%w: program: %v", ErrMalformed, err)
		}
	}
	if len(r.Inputs) > MaxInputs {
		return fmt.Errorf("%w: %d inputs (max %d)", ErrTooLarge, len(r.Inputs), MaxInputs)
	}
	for i, in := range r.Inputs {
		if err := CheckCID(in); err != nil {
			return fmt.Errorf("%w: input %d: %v", ErrMalformed, i, err)
		}
		if in.Equals(r.Output) {
			// "X made from X" claims nothing and would make X its own
			// ancestor.
			return fmt.Errorf("%w: input %d is the output itself", ErrMalformed, i)
		}
		if i > 0 && r.Inputs[i-1].KeyString() >= in.KeyString() {
			return fmt.Errorf("%w: input %d (%s) after %s", ErrInputOrder, i, in, r.Inputs[i-1])
		}
	}
	if r.Time < 0 {
		return fmt.Errorf("%w: time %d before 1970", ErrMalformed, r.Time)
	}
	return nil
}

// SigningBytes is what the executor signs: a domain-separated prefix and the
// canonical encoding of every field but the signature.
func (r *Record) SigningBytes() ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	body, _, err := r.encode(nil)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return append([]byte(signingDomain), body...), nil
}

// Encode returns the record's canonical DAG-CBOR block bytes.
func (r *Record) Encode() ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	if len(r.Sig) == 0 {
		return nil, fmt.Errorf("%w: unsigned record", ErrMalformed)
	}
	_, b, err := r.encode(r.Sig)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	if len(b) > MaxRecordSize {
		return nil, fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, len(b), MaxRecordSize)
	}
	return b, nil
}

// Block encodes the record and names it by its CID.
func (r *Record) Block() (Block, error) {
	b, err := r.Encode()
	if err != nil {
		return Block{}, err
	}
	return Block{CID: RecordCID(b), Data: b}, nil
}

// Sign normalizes the inputs, fills in the executor's peer ID and signs the
// record with s, returning its block.
func (r *Record) Sign(s Signer) (Block, error) {
	r.Executor.Peer = s.ID()
	r.Inputs = SortInputs(r.Inputs)
	msg, err := r.SigningBytes()
	if err != nil {
		return Block{}, err
	}
	sig, err := s.Sign(msg)
	if err != nil {
		return Block{}, err
	}
	r.Sig = sig
	return r.Block()
}

// RecordCID names record bytes: CIDv1, codec dag-cbor, sha2-256.
func RecordCID(data []byte) cid.Cid {
	sum, err := mh.Sum(data, mh.SHA2_256, -1)
	if err != nil {
		// sha2-256 is always registered; failure is a broken build.
		panic(fmt.Sprintf("sha2-256 unavailable: %v", err))
	}
	return cid.NewCidV1(cid.DagCBOR, sum)
}
