package cli

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
)

// dsseKey signs and verifies DSSE envelopes with a node's Ed25519 key; its
// key ID is the node's peer ID, which also carries the public key. The
// DSSE library computes the pre-authentication encoding (PAE): Sign and
// Verify see it whole and sign it as is (plain Ed25519, no pre-hash).
type dsseKey struct {
	key *signer.Key
	pub ed25519.PublicKey
}

var _ dsse.SignerVerifier = dsseKey{}

// newDSSEKey wraps the node's key for the DSSE library.
func newDSSEKey(k *signer.Key) (dsseKey, error) {
	pub, err := signer.PublicKey(k.ID())
	if err != nil {
		return dsseKey{}, err
	}
	return dsseKey{key: k, pub: pub}, nil
}

// Sign signs the PAE of an envelope.
func (d dsseKey) Sign(_ context.Context, pae []byte) ([]byte, error) { return d.key.Sign(pae) }

// Verify checks sig over the PAE of an envelope.
func (d dsseKey) Verify(_ context.Context, pae, sig []byte) error {
	if !ed25519.Verify(d.pub, pae, sig) {
		return errors.New("dsse: bad Ed25519 signature")
	}
	return nil
}

// KeyID is the node's peer ID.
func (d dsseKey) KeyID() (string, error) { return d.key.ID().String(), nil }

// Public is the node's Ed25519 public key.
func (d dsseKey) Public() crypto.PublicKey { return d.pub }

// inTotoPayloadType is the DSSE payload type of an in-toto statement.
const inTotoPayloadType = "application/vnd.in-toto+json"

// signStatement wraps an in-toto statement's JSON in a DSSE envelope
// signed by the node's key.
func signStatement(ctx context.Context, k dsseKey, payload []byte) (*dsse.Envelope, error) {
	s, err := dsse.NewEnvelopeSigner(k)
	if err != nil {
		return nil, fmt.Errorf("dsse: %w", err)
	}
	env, err := s.SignPayload(ctx, inTotoPayloadType, payload)
	if err != nil {
		return nil, fmt.Errorf("dsse: sign: %w", err)
	}
	return env, nil
}
