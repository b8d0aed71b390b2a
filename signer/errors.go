package signer

import "errors"

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrBadSignature means a signature does not verify under the key of
	// the peer ID that claims it.
	ErrBadSignature = errors.New("bad signature")
	// ErrUnknownKey means the public key cannot be recovered from a peer
	// ID (it is not an inline Ed25519 identity).
	ErrUnknownKey = errors.New("executor key not recoverable from peer ID")
	// ErrKeyPermissions means a key file is readable or writable by users
	// other than its owner.
	ErrKeyPermissions = errors.New("key file is accessible by other users")
	// ErrNoKey means the home has no identity yet.
	ErrNoKey = errors.New("no identity key")
)
