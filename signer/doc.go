// Package signer owns a node's Ed25519 identity: it creates the key in the
// node's home, refuses a key file that others can read, signs bytes and
// verifies signatures against a libp2p peer ID, whose public key is inside the
// ID itself so verification needs no lookup.
//
// signer knows keys and bytes, never records: package lineage decides what is
// signed. Many signatures are checked in batches, one equation per batch
// (VerifyBatch), spread over all cores (VerifyAll); single and batch checks
// accept exactly the same signatures (ZIP-215 rules).
package signer
