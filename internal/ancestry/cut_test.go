package ancestry

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	dotfmt "gonum.org/v1/gonum/graph/formats/dot"
	"gonum.org/v1/gonum/graph/formats/dot/ast"
)

// testCID is a made-up CID of codec codec named by s.
func testCID(t *testing.T, codec uint64, s string) cid.Cid {
	t.Helper()
	sum := sha256.Sum256([]byte(s))
	h, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(codec, h)
}

// dag builds a checked ancestry from edges (node i's inputs): every node
// has one record naming its inputs, verified unless fail says it is a bad
// signature, and the breadth-first depths lineage.Check gives.
func dag(t *testing.T, inputs map[int][]int, fail map[int]bool) *lineage.Result {
	t.Helper()
	who := testkeys.Key(1).ID()
	res := &lineage.Result{Root: testCID(t, cid.Raw, "0"), Nodes: map[cid.Cid]*lineage.Node{}}
	var add func(i int) cid.Cid
	add = func(i int) cid.Cid {
		c := testCID(t, cid.Raw, fmt.Sprint(i))
		if _, ok := res.Nodes[c]; ok {
			return c
		}
		n := &lineage.Node{Output: c, Depth: -1, Verdict: lineage.Verified, OK: true}
		res.Nodes[c] = n
		for _, in := range inputs[i] {
			n.Inputs = append(n.Inputs, add(in))
		}
		if fail[i] {
			n.Verdict, n.Reason = lineage.BadSignature, "forged"
		}
		n.Records = []lineage.RecordCheck{{CID: testCID(t, cid.DagCBOR, fmt.Sprint("record ", i)), Verdict: n.Verdict, Reason: n.Reason,
			Record: &lineage.Record{Executor: lineage.Executor{Peer: who}, Output: c, Inputs: n.Inputs, Time: 1700000000}}}
		return c
	}
	add(0)
	res.Nodes[res.Root].Depth = 0
	for frontier := []cid.Cid{res.Root}; len(frontier) > 0; {
		var next []cid.Cid
		for _, c := range frontier {
			for _, in := range res.Nodes[c].Inputs {
				if res.Nodes[in].Depth < 0 {
					res.Nodes[in].Depth = res.Nodes[c].Depth + 1
					next = append(next, in)
				}
			}
		}
		frontier = next
	}
	return res
}

// TestCut: past Depth levels the graph has one node for the
// rest, counting its levels, nodes and failures, whatever the depth.
func TestCut(t *testing.T) {
	for _, tc := range []struct {
		name      string
		chain     int          // 0 -> 1 -> … -> chain
		shortcut  int          // and 0 -> 100000 -> shortcut, when not 0
		fail      map[int]bool // bad signatures
		contents  int          // drawn
		cutNodes  int
		cutLevels int
		failing   int
		cutEdges  int // edges from the cut node
	}{
		{"short chain", 10, 0, nil, 11, 0, 0, 0, 0},
		{"exactly Depth levels", Depth - 1, 0, nil, Depth, 0, 0, 0, 0},
		{"one level more", Depth, 0, nil, Depth, 1, 1, 0, 1},
		{"deep chain, failing below the cut", 5000, 0, map[int]bool{4000: true}, Depth, 5001 - Depth, 5001 - Depth, 1, 1},
		// The shortcut brings node 60 to depth 2: 60..89 are drawn (depths
		// 2..31), 90..100 (depths 32..42) and 32..59 are cut, and the cut
		// feeds the records of 31 and 89.
		{"shortcut into the chain", 100, 60, map[int]bool{80: true, 95: true}, 1 + 31 + 1 + 30, 28 + 11, 28, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := map[int][]int{}
			for i := 0; i < tc.chain; i++ {
				in[i] = []int{i + 1}
			}
			if tc.shortcut != 0 {
				in[0] = append(in[0], 100000)
				in[100000] = []int{tc.shortcut}
			}
			res := dag(t, in, tc.fail)
			g := New(res, nil, false)
			if len(g.Contents) != tc.contents || len(g.Records) != tc.contents {
				t.Errorf("New: %d contents %d records, want %d of each", len(g.Contents), len(g.Records), tc.contents)
			}
			switch {
			case tc.cutNodes == 0 && g.Cut != nil:
				t.Errorf("New cut = %+v, want none", *g.Cut)
			case tc.cutNodes > 0 && g.Cut == nil:
				t.Errorf("New cut = none, want %d nodes", tc.cutNodes)
			case g.Cut != nil && (g.Cut.Nodes != tc.cutNodes || g.Cut.Levels != tc.cutLevels || g.Cut.Failing != tc.failing):
				t.Errorf("New cut = %+v, want %d nodes, %d levels, %d failing", *g.Cut, tc.cutNodes, tc.cutLevels, tc.failing)
			}
			if g.NodeCount != len(res.Nodes) {
				t.Errorf("New NodeCount = %d, want %d", g.NodeCount, len(res.Nodes))
			}

			var b bytes.Buffer
			if err := WriteDOT(&b, g); err != nil {
				t.Fatal(err)
			}
			f, err := dotfmt.ParseBytes(b.Bytes())
			if err != nil {
				t.Fatalf("parse DOT: %v\n%s", err, b.String())
			}
			nodes, edges, cutEdges := 0, 0, 0
			for _, st := range f.Graphs[0].Stmts {
				switch st := st.(type) {
				case *ast.NodeStmt:
					nodes++
				case *ast.EdgeStmt:
					edges++
					if st.From.(*ast.Node).ID == "c1" {
						cutEdges++
					}
				}
			}
			wantNodes := 2 * tc.contents
			if tc.cutNodes > 0 {
				wantNodes++
			}
			if nodes != wantNodes || edges != len(g.Edges) || cutEdges != tc.cutEdges {
				t.Errorf("DOT: %d nodes %d edges (%d from the cut), want %d, %d (%d)", nodes, edges, cutEdges, wantNodes, len(g.Edges), tc.cutEdges)
			}
			if tc.cutNodes > 0 {
				label := fmt.Sprintf("… %s, %s", plural(tc.cutLevels, "more level"), plural(tc.cutNodes, "node"))
				if !strings.Contains(b.String(), label) {
					t.Errorf("DOT lacks the cut's label %q", label)
				}
			}
		})
	}
}
