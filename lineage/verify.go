package lineage

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/bonsai-lineage/bonsai/internal/par"
	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/ipfs/go-cid"
)

// Verify checks the executor's signature over the record. It returns an
// error wrapping ErrUnknownExecutor when the key cannot be recovered from the
// executor's peer ID and ErrBadSignature when the signature is wrong.
func (r *Record) Verify() error {
	msg, err := r.SigningBytes()
	if err != nil {
		return err
	}
	return sigError(r, signer.Verify(r.Executor.Peer, msg, r.Sig))
}

func sigError(r *Record, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, signer.ErrUnknownKey):
		return fmt.Errorf("%w: %v", ErrUnknownExecutor, err)
	default:
		return fmt.Errorf("%w: executor %s", ErrBadSignature, r.Executor.Peer)
	}
}

// Open is how untrusted bytes become a record: the block must hash to c,
// decode strictly and carry a valid signature.
func Open(c cid.Cid, data []byte) (*Record, error) {
	r, msg, err := decodeBlock(c, data)
	if err != nil {
		return nil, err
	}
	if err := sigError(r, signer.Verify(r.Executor.Peer, msg, r.Sig)); err != nil {
		return nil, err
	}
	return r, nil
}

// OpenAll opens many blocks, decoding and verifying them in parallel on all
// cores. It returns the records and one error per block (nil when it opened).
func OpenAll(blocks []Block) ([]*Record, []error) {
	recs := make([]*Record, len(blocks))
	errs := make([]error, len(blocks))
	par.Each(len(blocks), runtime.GOMAXPROCS(0), func(i int) {
		recs[i], errs[i] = Open(blocks[i].CID, blocks[i].Data)
	})
	return recs, errs
}
