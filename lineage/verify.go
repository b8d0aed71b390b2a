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

// OpenAll opens many blocks as Open opens one, on all cores: each core
// decodes a share of the blocks and checks their signatures in one batch
// (signer.VerifyBatch), a batch that fails being checked signature by
// signature. It returns the records and one error per block (nil when it
// opened, and then only is the record set): the same records and errors
// Open returns for each block.
func OpenAll(blocks []Block) ([]*Record, []error) {
	recs := make([]*Record, len(blocks))
	errs := make([]error, len(blocks))
	workers := runtime.GOMAXPROCS(0)
	size := shareSize(len(blocks), workers)
	par.Each((len(blocks)+size-1)/size, workers, func(c int) {
		lo, hi := c*size, min((c+1)*size, len(blocks))
		openBatch(blocks[lo:hi], recs[lo:hi], errs[lo:hi])
	})
	for i, err := range errs {
		if err != nil {
			recs[i] = nil
		}
	}
	return recs, errs
}

// shareSize is how many of n items each task takes so that workers share
// them evenly in two tasks or more each (a worker slowed down by other
// work then holds the others up less), and a task's signatures still make
// a batch worth checking together.
func shareSize(n, workers int) int {
	const minShare, maxShare = 8, 64
	return min(max((n+2*workers-1)/(2*workers), minShare), maxShare)
}

// openBatch opens blocks on the calling goroutine into recs and errs:
// it decodes them, then checks their signatures in one batch. Unlike
// OpenAll it leaves a decoded record beside its signature's error
// (ErrBadSignature, ErrUnknownExecutor), for display.
func openBatch(blocks []Block, recs []*Record, errs []error) {
	jobs, idx := decodeBatch(blocks, recs, errs)
	verifyBatch(jobs, idx, recs, errs)
}

// decodeBatch decodes blocks into recs and errs and returns the signature
// checks the records that decoded need: jobs[j] is for recs[idx[j]].
func decodeBatch(blocks []Block, recs []*Record, errs []error) (jobs []signer.Job, idx []int) {
	jobs = make([]signer.Job, 0, len(blocks))
	idx = make([]int, 0, len(blocks))
	for i, b := range blocks {
		var msg []byte
		recs[i], msg, errs[i] = decodeBlock(b.CID, b.Data)
		if errs[i] == nil {
			jobs = append(jobs, signer.Job{ID: recs[i].Executor.Peer, Msg: msg, Sig: recs[i].Sig})
			idx = append(idx, i)
		}
	}
	return jobs, idx
}

// verifyBatch checks the signatures decodeBatch returned, in one batch,
// setting the error of each record whose signature fails.
func verifyBatch(jobs []signer.Job, idx []int, recs []*Record, errs []error) {
	for j, err := range signer.VerifyBatch(jobs) {
		errs[idx[j]] = sigError(recs[idx[j]], err)
	}
}
