package signer

import (
	"crypto/ed25519"
	"fmt"
	"math/big"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/oasisprotocol/curve25519-voi/curve"
	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// idOf is the peer ID embedding raw as an Ed25519 key, whatever point (or
// not) it encodes.
func idOf(t *testing.T, raw []byte) peer.ID {
	t.Helper()
	pub, err := crypto.UnmarshalEd25519PublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// smallOrderEncodings are the encodings of the eight points of small
// order, canonical and not (y + p for y < 19, a set sign bit for x = 0):
// the points from which ZIP-215's test vectors are made.
func smallOrderEncodings() [][]byte {
	p := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	seen := map[string]bool{}
	var out [][]byte
	add := func(b []byte) {
		if !seen[string(b)] {
			seen[string(b)] = true
			out = append(out, b)
		}
	}
	le := func(b []byte) *big.Int { // little-endian, without the sign bit
		be := make([]byte, 32)
		for i := range b {
			be[31-i] = b[i]
		}
		be[0] &= 0x7f
		return new(big.Int).SetBytes(be)
	}
	enc := func(y *big.Int, sign byte) []byte {
		be := y.FillBytes(make([]byte, 32))
		b := make([]byte, 32)
		for i := range be {
			b[31-i] = be[i]
		}
		b[31] |= sign << 7
		return b
	}
	for _, T := range curve.EIGHT_TORSION {
		var c curve.CompressedEdwardsY
		c.SetEdwardsPoint(T)
		y, sign := le(c[:]), c[31]>>7
		for _, s := range []byte{sign, sign ^ 1} {
			add(enc(y, s))
			if yy := new(big.Int).Add(y, p); yy.BitLen() <= 255 {
				add(enc(yy, s))
			}
		}
	}
	return out
}

// vector is one signature to check.
type vector struct {
	name string
	pub  []byte
	job  Job
}

// edgeVectors: every pair of small-order encodings as key and R, with S = 0
// (valid under ZIP-215 when both decode) and S = 1 (never valid).
func edgeVectors(t *testing.T) []vector {
	encs := smallOrderEncodings()
	if len(encs) < 12 {
		t.Fatalf("only %d small-order encodings", len(encs))
	}
	var vs []vector
	msg := []byte("Zcash")
	for i, a := range encs {
		id := idOf(t, a)
		for j, r := range encs {
			for _, s := range []byte{0, 1} {
				sig := make([]byte, 64)
				copy(sig, r)
				sig[32] = s
				vs = append(vs, vector{fmt.Sprintf("A%d-R%d-S%d", i, j, s), a, Job{ID: id, Msg: msg, Sig: sig}})
			}
		}
	}
	return vs
}

// plusOrder returns sig with the group order L added to S: the same S
// modulo L, unreduced, which Verify refuses (else signatures would be
// malleable).
func plusOrder(sig []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	var le [32]byte
	for i := range le {
		le[i] = sig[63-i]
	}
	s := new(big.Int).Add(new(big.Int).SetBytes(le[:]), l).FillBytes(make([]byte, 32))
	out := append([]byte(nil), sig[:32]...)
	for i := range s {
		out = append(out, s[31-i])
	}
	return out
}

// goodSigs returns n valid jobs by two keys.
func goodSigs(t *testing.T, n int) []Job {
	t.Helper()
	var jobs []Job
	for i := range n {
		seed := make([]byte, ed25519.SeedSize)
		seed[0] = byte(1 + i%2)
		priv := ed25519.NewKeyFromSeed(seed)
		msg := fmt.Appendf(nil, "good %d", i)
		jobs = append(jobs, Job{ID: idOf(t, priv.Public().(ed25519.PublicKey)), Msg: msg, Sig: ed25519.Sign(priv, msg)})
	}
	return jobs
}

// TestVerifyBatchEdgeCases: on every small-order key and R, canonical or
// not, a signature's verdict in a batch is its verdict alone, whether the
// batch holds it among valid signatures or among all the others; and what
// crypto/ed25519 accepts, Verify accepts.
func TestVerifyBatchEdgeCases(t *testing.T) {
	vs := edgeVectors(t)
	valid := 0
	var all []Job
	var want []error
	for _, v := range vs {
		single := Verify(v.job.ID, v.job.Msg, v.job.Sig)
		if single == nil {
			valid++
		} else if ed25519.Verify(v.pub, v.job.Msg, v.job.Sig) {
			t.Errorf("%s: crypto/ed25519 accepts it, Verify = %v", v.name, single)
		}
		jobs := append([]Job{v.job}, goodSigs(t, 7)...)
		errs := VerifyBatch(jobs)
		if (errs[0] == nil) != (single == nil) {
			t.Errorf("%s: VerifyBatch = %v, Verify = %v", v.name, errs[0], single)
		}
		if ok := AllValid(jobs); ok != (single == nil) {
			t.Errorf("%s among 7 good: AllValid = %v, Verify = %v", v.name, ok, single)
		}
		if ok := AllValid(jobs[:1]); ok != (single == nil) {
			t.Errorf("%s alone: AllValid = %v, Verify = %v", v.name, ok, single)
		}
		for i, err := range errs[1:] {
			if err != nil {
				t.Errorf("%s: good signature %d: %v", v.name, i, err)
			}
		}
		all = append(all, v.job)
		want = append(want, single)
	}
	t.Logf("%d edge vectors, %d verify", len(vs), valid)
	// ZIP-215: S = 0 over small-order A and R verifies when both decode.
	if valid < len(vs)/4 {
		t.Errorf("only %d of %d edge vectors verify: not ZIP-215 rules", valid, len(vs))
	}
	for i, err := range VerifyBatch(all) {
		if (err == nil) != (want[i] == nil) {
			t.Errorf("%s among all: VerifyBatch = %v, Verify = %v", vs[i].name, err, want[i])
		}
	}
	for i, err := range VerifyAll(all) {
		if (err == nil) != (want[i] == nil) {
			t.Errorf("%s among all: VerifyAll = %v, Verify = %v", vs[i].name, err, want[i])
		}
	}
}

// TestBatchVerifierMatchesVerify checks the batch itself, which the fallback
// to single checks would otherwise hide when it refuses valid signatures:
// it holds for valid signatures of every kind together, and fails as soon
// as one invalid signature joins them.
func TestBatchVerifierMatchesVerify(t *testing.T) {
	type item struct {
		name string
		job  Job
		ok   bool
	}
	var good, bad []item
	for i, j := range goodSigs(t, 20) {
		good = append(good, item{fmt.Sprint("good ", i), j, true})
	}
	for _, v := range edgeVectors(t) {
		ok := Verify(v.job.ID, v.job.Msg, v.job.Sig) == nil
		if ok {
			good = append(good, item{v.name, v.job, true})
		} else {
			bad = append(bad, item{v.name, v.job, false})
		}
	}
	g := goodSigs(t, 3)
	forged := append([]byte(nil), g[0].Sig...)
	forged[5] ^= 4
	bad = append(bad,
		item{"S + L", Job{g[0].ID, g[0].Msg, plusOrder(g[0].Sig)}, false},
		item{"other message", Job{g[0].ID, []byte("other"), g[0].Sig}, false},
		item{"other key", Job{g[1].ID, g[0].Msg, g[0].Sig}, false},
		item{"flipped R bit", Job{g[0].ID, g[0].Msg, forged}, false})

	// The batch as verifyChunk builds it: expanded keys, Verify's rules.
	verify := func(items []item) bool {
		bv := voi.NewBatchVerifier()
		for _, it := range items {
			k, err := lookupKey(it.job.ID)
			if err != nil {
				return false
			}
			bv.AddExpandedWithOptions(k, it.job.Msg, it.job.Sig, rules)
		}
		return bv.VerifyBatchOnly(nil)
	}
	if !verify(good) {
		t.Fatalf("the batch fails on %d valid signatures", len(good))
	}
	for _, it := range good[20:] {
		if !verify([]item{good[0], it, good[1]}) {
			t.Errorf("the batch fails with %s, which Verify accepts", it.name)
		}
	}
	for _, it := range bad {
		if verify(append([]item{it}, good[:10]...)) {
			t.Errorf("the batch holds with %s, which Verify refuses", it.name)
		}
	}
}
