package signer

import (
	"crypto/ed25519"
	"runtime"

	"github.com/bonsai-lineage/bonsai/internal/par"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Batch sizes. Below minBatch signatures single checks are as fast. A
// batch's cost per signature keeps falling with its size (curve25519-voi on
// this project's 2-core VM: 13 µs at 64, 11 µs at 256, 9.4 µs at 1024,
// against 24 µs for a single check), while a batch that fails is checked
// again signature by signature: maxBatch bounds that work (some 25 ms).
const (
	minBatch = 4
	maxBatch = 1024
)

// VerifyBatch checks every job on the calling goroutine and returns one
// error per job, in order: the error Verify returns for it (ErrUnknownKey,
// ErrBadSignature), nil when the signature verifies. The jobs are checked
// in batches of up to maxBatch with curve25519-voi's batch verifier; a
// batch that fails is checked signature by signature with Verify, so each
// bad one is still named.
func VerifyBatch(jobs []Job) []error {
	errs := make([]error, len(jobs))
	for lo := 0; lo < len(jobs); lo += maxBatch {
		hi := min(lo+maxBatch, len(jobs))
		verifyChunk(jobs[lo:hi], errs[lo:hi])
	}
	return errs
}

// VerifyAll checks every job as VerifyBatch does, spread over all cores,
// and returns one error (nil when the signature verifies) per job, in
// order. The batches are a fair share of the jobs, two or more per core,
// so a core slowed down by other work does not hold the others up.
func VerifyAll(jobs []Job) []error {
	errs := make([]error, len(jobs))
	workers := runtime.GOMAXPROCS(0)
	size := min(max((len(jobs)+2*workers-1)/(2*workers), minBatch), maxBatch)
	par.Each((len(jobs)+size-1)/size, workers, func(c int) {
		lo, hi := c*size, min((c+1)*size, len(jobs))
		verifyChunk(jobs[lo:hi], errs[lo:hi])
	})
	return errs
}

// verifyChunk checks jobs as one batch with curve25519-voi's batch
// verifier (expanded keys, ZIP-215 rules as Verify), writing their errors
// to errs. A batch that fails is checked signature by signature, so each
// bad one is named.
func verifyChunk(jobs []Job, errs []error) {
	if len(jobs) < minBatch {
		for i, j := range jobs {
			errs[i] = Verify(j.ID, j.Msg, j.Sig)
		}
		return
	}
	bv := voi.NewBatchVerifierWithCapacity(len(jobs))
	in := make([]int, 0, len(jobs)) // the jobs in the batch, by index
	for i, j := range jobs {
		k, err := lookupKey(j.ID)
		switch {
		case err != nil:
			errs[i] = err
		case len(j.Sig) != ed25519.SignatureSize:
			errs[i] = badSignature(j.ID)
		default:
			bv.AddExpandedWithOptions(k, j.Msg, j.Sig, rules)
			in = append(in, i)
		}
	}
	if len(in) == 0 || bv.VerifyBatchOnly(nil) {
		return
	}
	for _, i := range in {
		errs[i] = Verify(jobs[i].ID, jobs[i].Msg, jobs[i].Sig)
	}
}

// AllValid reports whether every job's signature verifies, checking them
// in batches of up to maxBatch on the calling goroutine. Unlike
// VerifyBatch it does not look for the bad one: a failed batch ends it.
func AllValid(jobs []Job) bool {
	for lo := 0; lo < len(jobs); lo += maxBatch {
		chunk := jobs[lo:min(lo+maxBatch, len(jobs))]
		if len(chunk) < minBatch {
			for _, j := range chunk {
				if Verify(j.ID, j.Msg, j.Sig) != nil {
					return false
				}
			}
			continue
		}
		bv := voi.NewBatchVerifierWithCapacity(len(chunk))
		for _, j := range chunk {
			k, err := lookupKey(j.ID)
			if err != nil || len(j.Sig) != ed25519.SignatureSize {
				return false
			}
			bv.AddExpandedWithOptions(k, j.Msg, j.Sig, rules)
		}
		if !bv.VerifyBatchOnly(nil) {
			return false
		}
	}
	return true
}
