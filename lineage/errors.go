package lineage

import "errors"

// Sentinel errors for the ways a record can be wrong. Each decoder failure
// wraps exactly one of them, so callers (and the CLI's exit codes) can branch
// with errors.Is while the message names the field at fault.
var (
	// ErrMalformed: the bytes are not a well-formed v1 record (bad CBOR,
	// wrong field types, missing or unknown fields, bad CIDs).
	ErrMalformed = errors.New("malformed record")
	// ErrVersion: the record's format version is not one this build reads.
	ErrVersion = errors.New("unknown record version")
	// ErrTrailingData: bytes follow the record.
	ErrTrailingData = errors.New("trailing bytes after record")
	// ErrTooLarge: the record or one of its fields exceeds its bound.
	ErrTooLarge = errors.New("record too large")
	// ErrInputOrder: inputs are not sorted or hold duplicates.
	ErrInputOrder = errors.New("inputs not sorted and unique")
	// ErrNotCanonical: the record decodes but is not in the one canonical
	// encoding, so its CID would not be its name.
	ErrNotCanonical = errors.New("record not canonically encoded")
	// ErrCIDMismatch: the block's bytes do not hash to the CID it was
	// given under.
	ErrCIDMismatch = errors.New("record CID does not match its bytes")
	// ErrBadSignature: the executor's signature does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrUnknownExecutor: the executor's public key cannot be recovered
	// from its peer ID.
	ErrUnknownExecutor = errors.New("unknown executor")
)
