package store

import (
	"encoding/binary"

	"github.com/ipfs/go-cid"
)

// The store's key space. A CID's binary form is self-delimiting, so a
// prefix plus CIDs concatenated parse back without separators.
const (
	prefixRecord = 'r' // r + record CID            -> block bytes
	prefixOutput = 'o' // o + output CID + record CID -> record time (8 bytes, big endian) + block
	prefixPath   = 'p' // p + absolute path          -> content CID
	prefixByCID  = 'c' // c + content CID + path     -> nothing (paths of a CID)
	prefixMeta   = 'm' // m + record CID             -> origin (1 byte) + stored-at Unix seconds (8 bytes)
	prefixOutbox = 'x' // x + record CID             -> outbox entry (see outbox.go)
	prefixPin    = 'n' // n + output CID             -> pin entry (see pins.go)
	prefixAcq    = 'a' // a + record CID             -> nothing: an own record whose λ levels are not yet held (see acquire.go)
	prefixPolicy = 'y' // y + policy name            -> the policy's YAML as applied (see policies.go)
	prefixAudit  = 'u' // u + time (ns, 8 bytes BE) + sequence (8 bytes) -> audit event, JSON (see audit.go)
	keyAuditDrop = 'U' // U                          -> audit events dropped past the bound (8 bytes BE)
	keyEnforcing = 'h' // h                          -> enforcement heartbeat, JSON (see audit.go)
	prefixRevoke = 'v' // v + target record CID + revocation CID -> revocation block (see revocations.go)
)

func key(prefix byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	k = append(k, prefix)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func recordKey(c cid.Cid) []byte { return key(prefixRecord, c.Bytes()) }

func outputKey(out, rec cid.Cid) []byte { return key(prefixOutput, out.Bytes(), rec.Bytes()) }

func pathKey(path string) []byte { return key(prefixPath, []byte(path)) }

func byCIDKey(c cid.Cid, path string) []byte { return key(prefixByCID, c.Bytes(), []byte(path)) }

// prefixEnd is the first key after every key that starts with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

func encodeTime(t int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t))
	return b[:]
}
