// Package testkeys gives tests deterministic Ed25519 identities, so record
// bytes and CIDs in golden files do not change between runs. Never use
// these keys for anything but tests: their seeds are public.
package testkeys

import (
	"crypto/ed25519"
	"fmt"

	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// Key returns the test identity number n.
func Key(n byte) *signer.Key {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = n
	}
	priv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		panic(fmt.Sprintf("test key %d: %v", n, err))
	}
	k, err := signer.FromPrivKey(priv)
	if err != nil {
		panic(fmt.Sprintf("test key %d: %v", n, err))
	}
	return k
}
