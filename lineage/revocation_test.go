package lineage_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/golden"
	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

func revoke(t testing.TB, n byte, target cid.Cid, reason string) (*lineage.Revocation, lineage.Block) {
	t.Helper()
	v := &lineage.Revocation{Target: target, Reason: reason, Time: 1764000100}
	b, err := v.Sign(testkeys.Key(n))
	if err != nil {
		t.Fatalf("Sign revocation: %v", err)
	}
	return v, b
}

// TestRevocationRoundTrip: a signed revocation opens; a bit flip, a
// record block, a wrong CID, a forged signature and a record CID given as
// a content CID are refused, each with ErrNotRevocation, ErrCIDMismatch
// or ErrBadSignature.
func TestRevocationRoundTrip(t *testing.T) {
	_, rb := signed(t, 1, "out", "a")
	v, b := revoke(t, 1, rb.CID, "key leaked")
	got, err := lineage.OpenRevocation(b.CID, b.Data)
	if err != nil {
		t.Fatalf("OpenRevocation = %v", err)
	}
	if got.Revoker != testkeys.Key(1).ID() || got.Target != rb.CID || got.Reason != "key leaked" || got.Time != v.Time {
		t.Errorf("opened %+v, want %+v", got, v)
	}
	forged := *got
	forged.Reason = "other"
	fb, err := forged.Sign(testkeys.Key(2))
	if err != nil {
		t.Fatal(err)
	}
	// Key 2's signature under key 1's name.
	fv, _ := lineage.DecodeRevocation(fb.Data)
	fv.Revoker = testkeys.Key(1).ID()
	flipped := bytes.Clone(b.Data)
	flipped[len(flipped)-3] ^= 1
	for _, tc := range []struct {
		name string
		c    cid.Cid
		data []byte
		want error
	}{
		{"bit flip", lineage.RecordCID(flipped), flipped, lineage.ErrNotRevocation},
		{"a record is not a revocation", rb.CID, rb.Data, lineage.ErrNotRevocation},
		{"wrong CID", rb.CID, b.Data, lineage.ErrCIDMismatch},
		{"trailing byte", lineage.RecordCID(append(bytes.Clone(b.Data), 0)), append(bytes.Clone(b.Data), 0), lineage.ErrNotRevocation},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := lineage.OpenRevocation(tc.c, tc.data); !errors.Is(err, tc.want) {
				t.Errorf("OpenRevocation = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := lineage.Decode(b.Data); err == nil {
		t.Error("a revocation decodes as a record")
	}
	if _, err := (&lineage.Revocation{Target: content("x"), Reason: "r"}).Sign(testkeys.Key(1)); !errors.Is(err, lineage.ErrNotRevocation) {
		t.Errorf("revoking a content CID (not a record) = %v, want ErrNotRevocation", err)
	}
	if _, err := (&lineage.Revocation{Target: rb.CID, Reason: strings.Repeat("x", lineage.MaxReasonLen+1)}).Sign(testkeys.Key(1)); !errors.Is(err, lineage.ErrNotRevocation) {
		t.Errorf("an over-long reason = %v, want ErrNotRevocation", err)
	}
}

// TestCheckRevocations: a revocation by the record's executor revokes it
// and every descendant; a stranger's is named and ignored unless the
// verifier trusts the stranger as a revoker.
func TestCheckRevocations(t *testing.T) {
	_, src := signed(t, 1, "mid", "src")
	_, top := signed(t, 2, "top", "mid")
	res := mapRes{content("mid"): {src}, content("top"): {top}}
	own, _ := revoke(t, 1, src.CID, "bad compiler")
	stranger, _ := revoke(t, 3, src.CID, "I say so")
	for _, tc := range []struct {
		name    string
		revs    []*lineage.Revocation
		trusted []peer.ID
		ok      bool
		reason  string
	}{
		{"none", nil, nil, true, ""},
		{"by the executor", []*lineage.Revocation{own}, nil, false, `revoked by ` + testkeys.Key(1).ID().String()},
		{"by a stranger", []*lineage.Revocation{stranger}, nil, true, "revocation ignored"},
		{"by a trusted revoker", []*lineage.Revocation{stranger}, []peer.ID{testkeys.Key(3).ID()}, false, `"I say so"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := lineage.Options{TrustedRevokers: tc.trusted, Revocations: func(c cid.Cid) []*lineage.Revocation {
				if c == src.CID {
					return tc.revs
				}
				return nil
			}}
			r, err := lineage.Check(context.Background(), content("top"), res, opts)
			if err != nil {
				t.Fatal(err)
			}
			mid := r.Nodes[content("mid")]
			if r.Verified != tc.ok || !strings.Contains(mid.Records[0].Reason, tc.reason) {
				t.Errorf("verified=%v, mid %v %q; want %v, %q", r.Verified, mid.Verdict, mid.Records[0].Reason, tc.ok, tc.reason)
			}
			if !tc.ok && (mid.Verdict != lineage.Revoked || r.Nodes[content("top")].OK) {
				t.Errorf("revoked ancestor: mid %v, top ok=%v", mid.Verdict, r.Nodes[content("top")].OK)
			}
		})
	}
}

type mapRes map[cid.Cid][]lineage.Block

func (m mapRes) Resolve(_ context.Context, out cid.Cid) ([]lineage.Block, error) { return m[out], nil }

func revocationSeeds(t testing.TB) map[string][]byte {
	_, rb := signed(t, 1, "out", "a")
	_, b := revoke(t, 1, rb.CID, "reason")
	return map[string][]byte{
		"valid":        b.Data,
		"record":       rb.Data,
		"truncated":    b.Data[:len(b.Data)-5],
		"empty-map":    {0xa0},
		"long-reason":  append([]byte{0xa1, 0x61, 'r', 0x7a, 0xff, 0xff, 0xff, 0xff}, 'x'),
		"trailing":     append(bytes.Clone(b.Data), 0xa0),
		"deep-nesting": bytes.Repeat([]byte{0x81}, 64),
	}
}

func FuzzDecodeRevocation(f *testing.F) {
	for _, s := range revocationSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := lineage.DecodeRevocation(data)
		if err != nil {
			if !errors.Is(err, lineage.ErrNotRevocation) {
				t.Fatalf("error without ErrNotRevocation: %v", err)
			}
			return
		}
		if v.Target.Type() != cid.DagCBOR || len(v.Sig) != 64 {
			t.Fatalf("accepted %+v", v)
		}
		_, _ = lineage.OpenRevocation(lineage.RecordCID(data), data) // must not panic
	})
}

// TestRevocationFuzzCorpus keeps the committed seeds equal to
// revocationSeeds; -update rewrites them.
func TestRevocationFuzzCorpus(t *testing.T) {
	golden.FuzzCorpus(t, "FuzzDecodeRevocation", revocationSeeds(t))
}
