package signer

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"hash"
	"runtime"

	"github.com/bonsai-lineage/bonsai/internal/par"
	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// Batch sizes. Below minBatch signatures single checks are as fast. A
// batch's cost per signature barely falls past a few dozen, while a batch
// that fails is checked again signature by signature: maxBatch bounds that
// work.
const (
	minBatch = 4
	maxBatch = 64
)

// VerifyBatch checks every job on the calling goroutine and returns one
// error per job, in order: the error Verify returns for it (ErrUnknownKey,
// ErrBadSignature), nil when the signature verifies. The jobs are checked
// in batches of up to maxBatch, each with one equation, at about a third of
// the cost of single checks per signature; a batch that fails is checked
// signature by signature with Verify, so each bad one is still named.
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

// verifyChunk checks jobs as one batch, writing their errors to errs.
func verifyChunk(jobs []Job, errs []error) {
	if len(jobs) < minBatch {
		for i, j := range jobs {
			errs[i] = Verify(j.ID, j.Msg, j.Sig)
		}
		return
	}
	b := newBatch(len(jobs))
	in := make([]int, 0, len(jobs)) // the jobs in the batch, by index
	for i, j := range jobs {
		k, err := lookupKey(j.ID)
		switch {
		case err != nil:
			errs[i] = err
		case b.add(k, j.Msg, j.Sig):
			in = append(in, i)
		default:
			// Malformed (S out of range, R not a point): the single
			// check refuses it too, and says so.
			errs[i] = Verify(j.ID, j.Msg, j.Sig)
		}
	}
	if len(in) == 0 || b.verify() {
		return
	}
	for _, i := range in {
		errs[i] = Verify(jobs[i].ID, jobs[i].Msg, jobs[i].Sig)
	}
}

// batch checks many signatures with one equation: the sum, with random
// 128-bit coefficients z_i, of the equations Verify checks one by one,
// [8](R_i - [S_i]B + [k_i]A_i) = 0 (k_i = H(R_i, A_i, msg_i)). So
//
//	[8]([-Σ z_i S_i]B + Σ [z_i]R_i + Σ_A [Σ_{i signed by A} z_i k_i]A) = 0
//
// holds when every signature is valid, and when one is not it fails but
// with probability 2^-128. The terms of each key are summed into one (what
// ed25519-consensus does, and curve25519-voi's batch verifier does not): a
// level of a lineage is mostly signed by few executors, so the
// multiscalar multiplication has about half the terms. R, S, A and k are
// decoded and computed exactly as voi's single check does (ZIP-215 rules),
// so the batch accepts exactly what Verify accepts.
type batch struct {
	entries []entry
	h       hash.Hash
}

type entry struct {
	key  *pubKey
	r    curve.EdwardsPoint
	s, k scalar.Scalar
}

func newBatch(n int) *batch {
	return &batch{entries: make([]entry, 0, n), h: sha512.New()}
}

// add decodes one signature into the batch. It reports false, adding
// nothing, when the signature is malformed: not 64 bytes, S not below the
// group order, R not a curve point.
func (b *batch) add(key *pubKey, msg, sig []byte) bool {
	if len(sig) != ed25519.SignatureSize || !scalar.ScMinimalVartime(sig[32:]) {
		return false
	}
	b.entries = append(b.entries, entry{key: key})
	e := &b.entries[len(b.entries)-1]
	var rc curve.CompressedEdwardsY
	if _, err := rc.SetBytes(sig[:32]); err != nil {
		b.entries = b.entries[:len(b.entries)-1]
		return false
	}
	if _, err := e.r.SetCompressedY(&rc); err != nil {
		b.entries = b.entries[:len(b.entries)-1]
		return false
	}
	if _, err := e.s.SetBytesModOrder(sig[32:]); err != nil {
		b.entries = b.entries[:len(b.entries)-1]
		return false
	}
	var sum [sha512.Size]byte
	b.h.Reset()
	b.h.Write(sig[:32])
	b.h.Write(key.raw[:])
	b.h.Write(msg)
	if _, err := e.k.SetBytesModOrderWide(b.h.Sum(sum[:0])); err != nil {
		b.entries = b.entries[:len(b.entries)-1]
		return false
	}
	return true
}

// verify reports whether the batch equation holds, that is whether every
// signature added is valid (but with probability 2^-128).
func (b *batch) verify() bool {
	n := len(b.entries)
	if n == 0 {
		return true
	}
	// The z_i: 128 random bits each (crypto/rand.Read never fails).
	random := make([]byte, 16*n)
	rand.Read(random)
	// The coefficients and their points: B's, then each R_i's and each
	// key's.
	coef := make([]scalar.Scalar, 1, 1+2*n)
	points := make([]*curve.EdwardsPoint, 1, 1+2*n)
	points[0] = curve.ED25519_BASEPOINT_POINT
	at := map[*pubKey]int{} // each key's coefficient, by index in coef
	var z, t scalar.Scalar
	var zb [scalar.ScalarSize]byte
	for i := range b.entries {
		e := &b.entries[i]
		copy(zb[:16], random[16*i:])
		if _, err := z.SetBytesModOrder(zb[:]); err != nil {
			return false
		}
		coef[0].Sub(&coef[0], t.Mul(&z, &e.s))
		coef = append(coef, z)
		points = append(points, &e.r)
		a, ok := at[e.key]
		if !ok {
			a = len(coef)
			at[e.key] = a
			coef = append(coef, scalar.Scalar{})
			points = append(points, &e.key.point)
		}
		coef[a].Add(&coef[a], t.Mul(&z, &e.k))
	}
	scalars := make([]*scalar.Scalar, len(coef))
	for i := range coef {
		scalars[i] = &coef[i]
	}
	var sum curve.EdwardsPoint
	return sum.MultiscalarMulVartime(scalars, points).IsSmallOrder()
}
