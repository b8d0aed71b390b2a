package signer

import (
	"crypto/ed25519"
	"fmt"
	"sync"

	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// PublicKey recovers the Ed25519 public key embedded in a peer ID. It fails
// with ErrUnknownKey for IDs that hash their key (RSA, large keys) or hold a
// key of another type: bonsai executors are Ed25519 only.
func PublicKey(id peer.ID) (ed25519.PublicKey, error) {
	pub, err := id.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w: %v", id, ErrUnknownKey, err)
	}
	if pub.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("peer %s: %w: key type %v", id, ErrUnknownKey, pub.Type())
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("peer %s: %w: malformed Ed25519 key", id, ErrUnknownKey)
	}
	return ed25519.PublicKey(raw), nil
}

// keys caches each executor's public key, decoded once and expanded (with
// the tables of its multiples) for single and batch checks: a verifier
// meets few executors and many records, and decompressing the key is a
// tenth of the cost of a verification.
var keys = struct {
	sync.RWMutex
	m map[peer.ID]*voi.ExpandedPublicKey
}{m: map[peer.ID]*voi.ExpandedPublicKey{}}

// maxKeys bounds the cache; past it the cache starts over.
const maxKeys = 1 << 14

func lookupKey(id peer.ID) (*voi.ExpandedPublicKey, error) {
	keys.RLock()
	k, ok := keys.m[id]
	keys.RUnlock()
	if ok {
		return k, nil
	}
	pub, err := PublicKey(id)
	if err != nil {
		return nil, err
	}
	k, err = voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return nil, fmt.Errorf("peer %s: %w: %v", id, ErrUnknownKey, err)
	}
	keys.Lock()
	if len(keys.m) >= maxKeys {
		clear(keys.m)
	}
	keys.m[id] = k
	keys.Unlock()
	return k, nil
}

// rules are the acceptance rules of every signature check: ZIP-215's,
// whose cofactored equation is the one batch verification checks, so a
// signature verifies alone exactly when it verifies in any batch and its
// validity never depends on the batch it met. They accept everything
// crypto/ed25519 accepts, and besides only signatures whose R or key carry
// a small-order component, which for a sound key only its holder can make.
// (crypto/ed25519's own rules, cofactorless, cannot be batch-checked.)
var rules = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// Verify checks sig over msg against the key inside id.
func Verify(id peer.ID, msg, sig []byte) error {
	k, err := lookupKey(id)
	if err != nil {
		return err
	}
	if len(sig) != ed25519.SignatureSize || !voi.VerifyExpandedWithOptions(k, msg, sig, rules) {
		return badSignature(id)
	}
	return nil
}

func badSignature(id peer.ID) error { return fmt.Errorf("peer %s: %w", id, ErrBadSignature) }

// Job is one signature to check.
type Job struct {
	ID  peer.ID
	Msg []byte
	Sig []byte
}
