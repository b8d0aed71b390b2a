package signer_test

import (
	"crypto/ed25519"
	"crypto/sha512"
	"errors"
	"fmt"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// goodJobs returns n jobs with valid signatures, by test keys 1 to 3 in
// turn, each over its own message.
func goodJobs(t *testing.T, n int) []signer.Job {
	t.Helper()
	jobs := make([]signer.Job, n)
	for i := range jobs {
		k := testkeys.Key(byte(1 + i%3))
		msg := fmt.Appendf(nil, "message %d", i)
		sig, err := k.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		jobs[i] = signer.Job{ID: k.ID(), Msg: msg, Sig: sig}
	}
	return jobs
}

// checkBatch compares VerifyBatch and VerifyAll with Verify on every job,
// and all with want (nil, or the sentinel each job's error must wrap).
func checkBatch(t *testing.T, jobs []signer.Job, want func(i int) error) {
	t.Helper()
	for name, verify := range map[string]func([]signer.Job) []error{
		"VerifyBatch": signer.VerifyBatch, "VerifyAll": signer.VerifyAll,
	} {
		errs := verify(jobs)
		if len(errs) != len(jobs) {
			t.Fatalf("%s(%d jobs) returned %d errors", name, len(jobs), len(errs))
		}
		for i, err := range errs {
			w := want(i)
			if (err == nil) != (w == nil) || !errors.Is(err, w) {
				t.Errorf("%s[%d] = %v, want %v", name, i, err, w)
			}
			single := signer.Verify(jobs[i].ID, jobs[i].Msg, jobs[i].Sig)
			if (err == nil) != (single == nil) || (err != nil && err.Error() != single.Error()) {
				t.Errorf("%s[%d] = %v, but Verify = %v", name, i, err, single)
			}
		}
	}
}

func TestVerifyBatchAllGood(t *testing.T) {
	for _, n := range []int{1, 3, 4, 7, 100, 300} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			checkBatch(t, goodJobs(t, n), func(int) error { return nil })
		})
	}
}

func TestVerifyBatchEmpty(t *testing.T) {
	if errs := signer.VerifyBatch(nil); len(errs) != 0 {
		t.Errorf("VerifyBatch(nil) = %v, want no errors", errs)
	}
	if errs := signer.VerifyAll(nil); len(errs) != 0 {
		t.Errorf("VerifyAll(nil) = %v, want no errors", errs)
	}
}

// TestVerifyBatchOneForged: one bad signature among 100 fails its batch;
// the fallback names exactly that one, wherever it sits.
func TestVerifyBatchOneForged(t *testing.T) {
	for _, bad := range []int{0, 37, 50, 99} {
		t.Run(fmt.Sprint(bad), func(t *testing.T) {
			jobs := goodJobs(t, 100)
			forged := append([]byte(nil), jobs[bad].Sig...)
			forged[40] ^= 1 // in S
			jobs[bad].Sig = forged
			checkBatch(t, jobs, func(i int) error {
				if i == bad {
					return signer.ErrBadSignature
				}
				return nil
			})
		})
	}
}

// TestVerifyBatchMixed: every kind of failure at once, each job named for
// its own: a signature by another key, over another message, a short one,
// one whose S is not reduced, and an executor whose key is not in its peer
// ID.
func TestVerifyBatchMixed(t *testing.T) {
	jobs := goodJobs(t, 100)
	h, _ := mh.Sum([]byte("x"), mh.SHA2_256, -1)
	hashed, _ := peer.IDFromBytes(h)
	jobs[3].ID = hashed
	jobs[10].ID = testkeys.Key(9).ID()
	jobs[20].Msg = []byte("another message")
	jobs[30].Sig = jobs[30].Sig[:10]
	jobs[60].ID = hashed
	jobs[70].Sig = signer.PlusOrder(jobs[70].Sig)
	want := map[int]error{
		3: signer.ErrUnknownKey, 10: signer.ErrBadSignature, 20: signer.ErrBadSignature,
		30: signer.ErrBadSignature, 60: signer.ErrUnknownKey, 70: signer.ErrBadSignature,
	}
	checkBatch(t, jobs, func(i int) error { return want[i] })
}

func TestVerifyBatchUnknownKey(t *testing.T) {
	h, _ := mh.Sum([]byte("x"), mh.SHA2_256, -1)
	hashed, _ := peer.IDFromBytes(h)
	jobs := goodJobs(t, 10)
	for i := range jobs {
		jobs[i].ID = hashed
	}
	checkBatch(t, jobs, func(int) error { return signer.ErrUnknownKey })
}

// TestVerifyTorsion pins the acceptance rules (ZIP-215): a signature whose
// R carries a small-order component, which crypto/ed25519 refuses, is
// accepted, and alike by Verify, in a batch that passes and in one that
// fails and falls back to single checks. Were single and batch checks to
// disagree, a record's verdict would depend on the records beside it.
func TestVerifyTorsion(t *testing.T) {
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = 42
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	lpub, err := crypto.UnmarshalEd25519PublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(lpub)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("torsion")

	// a is the secret scalar; R = [r]B + T with T of order 8;
	// S = r + H(R, A, msg)·a, so [8](R - [S]B + [k]A) = [8]T = 0 while
	// [S]B - [k]A = [r]B is not R.
	hs := sha512.Sum512(seed)
	hs[0] &= 248
	hs[31] &= 127
	hs[31] |= 64
	a, err := scalar.NewFromBytesModOrder(hs[:32])
	if err != nil {
		t.Fatal(err)
	}
	r := scalar.NewFromUint64(0x0123456789abcdef)
	r.Mul(r, scalar.NewFromUint64(0xfedcba9876543210))
	var R curve.EdwardsPoint
	R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, r)
	R.Add(&R, curve.EIGHT_TORSION[1])
	var Rc curve.CompressedEdwardsY
	Rc.SetEdwardsPoint(&R)
	kh := sha512.New()
	kh.Write(Rc[:])
	kh.Write(pub)
	kh.Write(msg)
	k, err := scalar.NewFromBytesModOrderWide(kh.Sum(nil))
	if err != nil {
		t.Fatal(err)
	}
	var S scalar.Scalar
	S.Mul(k, a)
	S.Add(&S, r)
	var Sb [scalar.ScalarSize]byte
	if err := S.ToBytes(Sb[:]); err != nil {
		t.Fatal(err)
	}
	sig := append(Rc[:], Sb[:]...)

	if ed25519.Verify(pub, msg, sig) {
		t.Fatal("crypto/ed25519 accepts the torsion signature: the test does not probe the rules")
	}
	if err := signer.Verify(id, msg, sig); err != nil {
		t.Errorf("Verify(torsion) = %v, want nil (ZIP-215)", err)
	}
	jobs := goodJobs(t, 20)
	jobs[5] = signer.Job{ID: id, Msg: msg, Sig: sig}
	checkBatch(t, jobs, func(int) error { return nil })
	jobs[6].Msg = []byte("forged")
	checkBatch(t, jobs, func(i int) error {
		if i == 6 {
			return signer.ErrBadSignature
		}
		return nil
	})
}

// TestVerifyAcceptsStdlib: every signature crypto/ed25519 makes verifies,
// alone and in batches.
func TestVerifyAcceptsStdlib(t *testing.T) {
	jobs := make([]signer.Job, 64)
	for i := range jobs {
		seed := make([]byte, ed25519.SeedSize)
		seed[0], seed[1] = byte(i), 7
		priv := ed25519.NewKeyFromSeed(seed)
		lpub, err := crypto.UnmarshalEd25519PublicKey(priv.Public().(ed25519.PublicKey))
		if err != nil {
			t.Fatal(err)
		}
		id, err := peer.IDFromPublicKey(lpub)
		if err != nil {
			t.Fatal(err)
		}
		msg := fmt.Appendf(nil, "stdlib %d", i)
		jobs[i] = signer.Job{ID: id, Msg: msg, Sig: ed25519.Sign(priv, msg)}
	}
	checkBatch(t, jobs, func(int) error { return nil })
}
