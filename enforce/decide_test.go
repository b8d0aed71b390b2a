package enforce

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/ipfs/go-cid"
)

// mapResolver serves blocks by output, as a store would.
type mapResolver map[cid.Cid][]lineage.Block

func (m mapResolver) Resolve(_ context.Context, out cid.Cid) ([]lineage.Block, error) {
	return m[out], nil
}

func content(t testing.TB, s string) cid.Cid {
	t.Helper()
	c, err := lineage.HashReader(strings.NewReader(s), lineage.DefaultHash)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func policyOf(t testing.TB, text string) *Policy {
	t.Helper()
	p, err := ParsePolicy("test.yaml", strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDecide: a verified chain passes; a forged ancestor, a file with no
// record, a source under full, an untrusted executor fail with the trail down to
// the node at fault; audit mode fails but allows; confidential marks.
func TestDecide(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k1, err := signer.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := signer.Generate()
	if err != nil {
		t.Fatal(err)
	}
	src, mid, top, forgedTop, orphan := content(t, "src"), content(t, "mid"), content(t, "top"), content(t, "forged-top"), content(t, "orphan")
	r := mapResolver{}
	sign := func(k *signer.Key, out cid.Cid, in ...cid.Cid) lineage.Block {
		rec := &lineage.Record{Output: out, Inputs: lineage.SortInputs(in), Time: 1764000000}
		b, err := rec.Sign(k)
		if err != nil {
			t.Fatal(err)
		}
		r[out] = append(r[out], b)
		return b
	}
	sign(k1, mid, src)
	sign(k2, top, mid)
	// forgedTop's input has a record whose bytes were altered.
	badMid := content(t, "bad-mid")
	b := sign(k1, badMid, src)
	data := append([]byte(nil), b.Data...)
	data[len(data)-1] ^= 1
	r[badMid] = []lineage.Block{{CID: b.CID, Data: data}}
	sign(k1, forgedTop, badMid)

	head := "apiVersion: bonsai/v1\nkind: Policy\nmetadata: {name: t}\nspec:\n  scope: {paths: [/srv/]}\n"
	for _, tc := range []struct {
		name, policy string
		file         cid.Cid
		fails, allow bool
		rule, reason string
		trail        int
	}{
		{"verified chain", head + "  mode: enforce\n  rules: [{verifiedLineage: {}}, {notRevoked: {}}]\n", top, false, true, "", "every rule passes", 0},
		{"forged ancestor", head + "  mode: enforce\n  rules: [{verifiedLineage: {}}]\n", forgedTop, true, false, "verifiedLineage", "invalid: record CID does not match its bytes", 2},
		{"forged ancestor, audit", head + "  mode: audit\n  rules: [{verifiedLineage: {}}]\n", forgedTop, true, true, "verifiedLineage", "invalid", 2},
		{"no record, full", head + "  mode: enforce\n  rules: [{verifiedLineage: {full: true}}]\n", orphan, true, false, "verifiedLineage", "no-record", 1},
		{"a file with no record fails", head + "  mode: enforce\n  rules: [{verifiedLineage: {}}]\n", orphan, true, false, "verifiedLineage", "no-record", 1},
		{"source under full", head + "  mode: enforce\n  rules: [{verifiedLineage: {full: true}}]\n", top, true, false, "verifiedLineage", "no-record", 3},
		{"untrusted executor", head + "  mode: enforce\n  rules: [{verifiedLineage: {trust: [" + k2.ID().String() + "]}}]\n", top, true, false, "verifiedLineage", "untrusted", 2},
		{"confidential", head + "  mode: enforce\n  rules: [{confidential: {allowEgress: [127.0.0.1:9000]}}]\n", orphan, false, true, "", "every rule passes", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Decide(ctx, policyOf(t, tc.policy), "/srv/f", tc.file, r)
			if err != nil {
				t.Fatal(err)
			}
			if d.Fails != tc.fails || d.Allow != tc.allow || d.Rule != tc.rule || !strings.Contains(d.Reason, tc.reason) || len(d.Trail) != tc.trail {
				t.Errorf("Decide = %+v\nwant fails=%v allow=%v rule=%q reason containing %q, trail of %d", d, tc.fails, tc.allow, tc.rule, tc.reason, tc.trail)
			}
			if tc.name == "confidential" && (!d.Confidential || len(d.AllowEgress) != 1) {
				t.Errorf("confidential not marked: %+v", d)
			}
			if !strings.HasPrefix(d.String(), map[bool]string{true: "allow", false: "deny"}[tc.allow]) {
				t.Errorf("String() = %q", d.String())
			}
		})
	}
}
