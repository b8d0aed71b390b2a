package signer

import (
	"crypto/ed25519"
	"fmt"
	"runtime"
	"sync"

	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"
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

// Verify checks sig over msg against the key inside id.
func Verify(id peer.ID, msg, sig []byte) error {
	pub, err := PublicKey(id)
	if err != nil {
		return err
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, sig) {
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
	workers := runtime.GOMAXPROCS(0)
	if workers > len(jobs) {
		workers = len(jobs)
	}
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
