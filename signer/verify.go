package signer

import (
	"crypto/ed25519"
	"fmt"
	"runtime"
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

// expanded caches each executor's decompressed public key: a verifier meets
// few executors and many records, and decompressing the key is a tenth of
// the cost of a verification.
var expanded = struct {
	sync.RWMutex
	m map[peer.ID]*voi.ExpandedPublicKey
}{m: map[peer.ID]*voi.ExpandedPublicKey{}}

// maxExpanded bounds the cache; past it the cache starts over.
const maxExpanded = 1 << 14

func expandedKey(id peer.ID) (*voi.ExpandedPublicKey, error) {
	expanded.RLock()
	k, ok := expanded.m[id]
	expanded.RUnlock()
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
	expanded.Lock()
	if len(expanded.m) >= maxExpanded {
		clear(expanded.m)
	}
	expanded.m[id] = k
	expanded.Unlock()
	return k, nil
}

// stdlibRules makes curve25519-voi accept exactly what crypto/ed25519
// accepts, so a signature's validity never depends on the verifier used.
var stdlibRules = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// Verify checks sig over msg against the key inside id.
func Verify(id peer.ID, msg, sig []byte) error {
	k, err := expandedKey(id)
	if err != nil {
		return err
	}
	if len(sig) != ed25519.SignatureSize || !voi.VerifyExpandedWithOptions(k, msg, sig, stdlibRules) {
		return fmt.Errorf("peer %s: %w", id, ErrBadSignature)
	}
	return nil
}

// Job is one signature to check.
type Job struct {
	ID  peer.ID
	Msg []byte
	Sig []byte
}

// VerifyAll checks every job, spread over all cores, and returns one error
// (nil when the signature verifies) per job, in order.
func VerifyAll(jobs []Job) []error {
	errs := make([]error, len(jobs))
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(jobs); i += workers {
				errs[i] = Verify(jobs[i].ID, jobs[i].Msg, jobs[i].Sig)
			}
		}(w)
	}
	wg.Wait()
	return errs
}
