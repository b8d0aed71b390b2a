package lineage

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/bonsai-lineage/bonsai/internal/fsx"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// DefaultHash is the multihash function of content CIDs bonsai makes.
const DefaultHash = mh.SHA2_256

// hashNames are the multihash functions accepted wherever a CID is read, by
// the names the CLI takes.
var hashNames = map[string]uint64{
	"sha2-256": mh.SHA2_256,
	"sha3-256": mh.SHA3_256,
	"blake3":   mh.BLAKE3,
}

// acceptedHash reports whether a CID's multihash is one bonsai reads, with
// the 32-byte digest they all have here.
func acceptedHash(code uint64, length int) bool {
	switch code {
	case mh.SHA2_256, mh.SHA3_256, mh.BLAKE3:
		return length == 32
	}
	return false
}

// HashCode returns the multihash code for a name such as "sha2-256".
func HashCode(name string) (uint64, error) {
	code, ok := hashNames[strings.ToLower(name)]
	if !ok {
		return 0, fmt.Errorf("unknown hash %q (want sha2-256, sha3-256 or blake3)", name)
	}
	return code, nil
}

// hashBufs are the copy buffers of HashReader: hashing thousands of small
// files (a run's inputs and outputs) should not allocate one each.
var hashBufs = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// HashReader returns the content CID (CIDv1, codec raw) of everything r
// yields, hashed with the multihash function code.
func HashReader(r io.Reader, code uint64) (cid.Cid, error) {
	h, err := mh.GetHasher(code)
	if err != nil {
		return cid.Undef, err
	}
	buf := hashBufs.Get().(*[]byte)
	defer hashBufs.Put(buf)
	// Wrapped, so that io.CopyBuffer uses buf rather than a WriterTo's
	// own allocation.
	if _, err := io.CopyBuffer(struct{ io.Writer }{h}, struct{ io.Reader }{r}, *buf); err != nil {
		return cid.Undef, err
	}
	sum, err := mh.Encode(h.Sum(nil), code)
	if err != nil {
		return cid.Undef, err
	}
	return cid.NewCidV1(cid.Raw, sum), nil
}

// HashFile returns the content CID of the regular file at path.
func HashFile(path string, code uint64) (cid.Cid, error) {
	return HashFileContext(context.Background(), path, code)
}

// ctxReader stops a long read when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// HashFileContext is HashFile stopping, between two reads, when ctx ends:
// an interrupted command does not finish hashing a large file first.
func HashFileContext(ctx context.Context, path string, code uint64) (cid.Cid, error) {
	f, err := fsx.OpenRegular(path)
	if err != nil {
		return cid.Undef, err
	}
	defer f.Close()
	return HashOpenFile(ctx, f, code)
}

// HashOpenFile is HashFileContext for a file the caller opened.
func HashOpenFile(ctx context.Context, f *os.File, code uint64) (cid.Cid, error) {
	c, err := HashReader(ctxReader{ctx, f}, code)
	if err != nil {
		return cid.Undef, fmt.Errorf("hash %s: %w", f.Name(), err)
	}
	return c, nil
}

// CheckCID reports whether c is a CID bonsai accepts as a content or record
// name: CIDv1 with an accepted 32-byte multihash.
func CheckCID(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("undefined CID")
	}
	if c.Version() != 1 {
		return fmt.Errorf("CID %s: version %d, want 1", c, c.Version())
	}
	p := c.Prefix()
	if !acceptedHash(p.MhType, p.MhLength) {
		return fmt.Errorf("CID %s: multihash 0x%x of %d bytes not accepted (sha2-256, sha3-256, blake3)", c, p.MhType, p.MhLength)
	}
	return nil
}
