package cli

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// dag builds a verified lineage.Result from edges: node i's inputs.
func dag(t *testing.T, inputs map[int][]int, fail map[int]bool) (*lineage.Result, map[int]cid.Cid) {
	t.Helper()
	ids := map[int]cid.Cid{}
	id := func(i int) cid.Cid {
		if c, ok := ids[i]; ok {
			return c
		}
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		h, err := mh.Encode(sum[:], mh.SHA2_256)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = cid.NewCidV1(cid.Raw, h)
		return ids[i]
	}
	res := &lineage.Result{Root: id(0), Nodes: map[cid.Cid]*lineage.Node{}}
	var add func(i, depth int)
	add = func(i, depth int) {
		c := id(i)
		if n, ok := res.Nodes[c]; ok {
			n.Depth = min(n.Depth, depth)
			return
		}
		n := &lineage.Node{Output: c, Depth: depth, Verdict: lineage.Verified, OK: true}
		if fail[i] {
			n.Verdict, n.Reason = lineage.BadSignature, "forged"
		}
		res.Nodes[c] = n
		res.Order = append(res.Order, c)
		for _, in := range inputs[i] {
			n.Inputs = append(n.Inputs, id(in))
			add(in, depth+1)
		}
	}
	add(0, 0)
	return res, ids
}

// TestTreeCut: past treeDepth levels a subtree is one line with its true
// size, its failures named; a node counted there is never "shown above".
func TestTreeCut(t *testing.T) {
	// 0 -> 1 -> 2 -> ... -> 100 (a chain), and 0 -> 200 -> 60 (a shortcut
	// into the chain below the cut).
	in := map[int][]int{0: {1, 200}, 200: {60}}
	for i := 1; i < 100; i++ {
		in[i] = []int{i + 1}
	}
	res, _ := dag(t, in, map[int]bool{80: true})
	var b bytes.Buffer
	printTree(&b, res, nil, false)
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > treeDepth+10 {
		t.Errorf("tree of a 102-node ancestry: %d lines, want about %d:\n%s", len(lines), treeDepth, out)
	}
	// The chain is cut at level treeDepth-1 (node 31): 69 levels and 69
	// nodes (32..100) below it, one of them failing.
	want := fmt.Sprintf("… %d more levels, %d nodes below (1 failing node)", 100-(treeDepth-1), 100-(treeDepth-1))
	if !strings.Contains(out, want) {
		t.Errorf("tree lacks %q:\n%s", want, out)
	}
	if !strings.Contains(out, "bad-signature") || !strings.Contains(out, "49 levels further down") {
		t.Errorf("the failing node 80 is not named with its distance:\n%s", out)
	}
	if strings.Contains(out, "(shown above)") {
		t.Errorf("a node only counted in a cut is said to be shown:\n%s", out)
	}
	if !strings.Contains(out, "(counted in a cut subtree above)") {
		t.Errorf("node 60 under 200 does not point at the cut:\n%s", out)
	}
}
