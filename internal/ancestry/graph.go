package ancestry

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Depth is how many levels of an ancestry a graph draws, as the CLI's text
// tree indents as many: the nodes deeper than that are one summary node
// (Cut), so a picture grows with the ancestry's width, never with a
// million-level depth.
const Depth = 32

// Graph is a checked ancestry as a picture's model, independent of the
// format it is drawn in: one Content per content CID, one Record
// per record claiming one, edges input -> record -> output. Everything is
// sorted (contents by depth then CID, records by output then CID), so a
// graph of the same result is always drawn the same way.
type Graph struct {
	Root     cid.Cid
	Verified bool
	// RelativeTo, when set, is a directory: the labels show the paths
	// inside it relative to it (the CLI sets the working directory).
	RelativeTo string
	// NodeCount, RecordCount and ExecutorCount count the whole checked
	// ancestry, the part past the cut too.
	NodeCount, RecordCount, ExecutorCount int
	Contents                              []Content
	Records                               []Record
	// Cut, when not nil, stands for every node deeper than Depth
	// levels.
	Cut   *Cut
	Edges []Edge
}

// Content is one content CID of the ancestry.
type Content struct {
	ID      string // "n1", "n2"…: safe in every format
	CID     cid.Cid
	Path    string // a local path of the content, absolute; "" when none is known
	Depth   int
	Verdict lineage.Verdict
	OK      bool // the content and its whole ancestry pass
	Reason  string
}

// Record is one record claiming a content's CID.
type Record struct {
	ID      string // "r1", "r2"…
	CID     cid.Cid
	Output  string // the ID of the Content the record claims
	Verdict lineage.Verdict
	Reason  string
	// The record's fields, when it decoded (Decoded false: the block did
	// not, and only CID and Verdict are known).
	Decoded    bool
	Executor   peer.ID
	UID        uint32
	Program    cid.Cid // cid.Undef when none was recorded
	Time       time.Time
	Incomplete bool
}

// Cut sums up the ancestry past Depth levels.
type Cut struct {
	ID      string // "c1"
	Levels  int    // how many levels lie past the cut
	Nodes   int    // how many contents lie past the cut
	Failing int    // how many of them fail on their own
}

// Edge goes from an input content to the record that used it, from a
// record to the content it claims, or from the cut to a record using an
// input past it.
type Edge struct {
	From, To string
}

// New builds the picture of res; paths are the contents' local paths,
// absolute (a content missing from it has none). requireFull is the
// check's Options.RequireFull: it decides which verdicts count as failing
// in the cut's summary.
func New(res *lineage.Result, paths map[cid.Cid]string, requireFull bool) *Graph {
	g := &Graph{Root: res.Root, Verified: res.Verified, NodeCount: len(res.Nodes),
		RecordCount: res.Records, ExecutorCount: len(res.Executors)}
	var shown []*lineage.Node
	deepest := -1
	var cut Cut
	for _, n := range res.Nodes {
		if n.Depth < Depth {
			shown = append(shown, n)
			continue
		}
		cut.Nodes++
		deepest = max(deepest, n.Depth)
		if n.Verdict != lineage.Verified && !n.Verdict.Passes(requireFull) {
			cut.Failing++
		}
	}
	slices.SortFunc(shown, func(a, b *lineage.Node) int {
		if a.Depth != b.Depth {
			return a.Depth - b.Depth
		}
		return strings.Compare(a.Output.String(), b.Output.String())
	})
	ids := make(map[cid.Cid]string, len(shown))
	for i, n := range shown {
		id := fmt.Sprintf("n%d", i+1)
		ids[n.Output] = id
		g.Contents = append(g.Contents, Content{ID: id, CID: n.Output, Path: paths[n.Output],
			Depth: n.Depth, Verdict: n.Verdict, OK: n.OK, Reason: n.Reason})
	}
	if cut.Nodes > 0 {
		cut.ID, cut.Levels = "c1", deepest-Depth+1
		g.Cut = &cut
	}
	for _, n := range shown {
		recs := slices.Clone(n.Records)
		slices.SortFunc(recs, func(a, b lineage.RecordCheck) int { return strings.Compare(a.CID.String(), b.CID.String()) })
		for _, rc := range recs {
			r := Record{ID: fmt.Sprintf("r%d", len(g.Records)+1), CID: rc.CID, Output: ids[n.Output],
				Verdict: rc.Verdict, Reason: rc.Reason}
			if rec := rc.Record; rec != nil {
				r.Decoded, r.Executor, r.UID = true, rec.Executor.Peer, rec.Executor.UID
				r.Program, r.Time, r.Incomplete = rec.Program, rec.TimeOf().UTC(), rec.Incomplete
			}
			g.Records = append(g.Records, r)
			g.Edges = append(g.Edges, recordInputEdges(r.ID, rc, ids, g.Cut)...)
			g.Edges = append(g.Edges, Edge{From: r.ID, To: r.Output})
		}
	}
	return g
}

// recordInputEdges are the edges into a record from its inputs: only for a
// record the check followed (verified or incomplete: the inputs of others
// are not part of the ancestry), from the cut for inputs past it.
func recordInputEdges(id string, rc lineage.RecordCheck, ids map[cid.Cid]string, cut *Cut) []Edge {
	if rc.Record == nil || (rc.Verdict != lineage.Verified && rc.Verdict != lineage.Incomplete) {
		return nil
	}
	var edges []Edge
	fromCut := false
	for _, in := range lineage.SortInputs(rc.Record.Inputs) {
		switch from, ok := ids[in]; {
		case ok:
			edges = append(edges, Edge{From: from, To: id})
		case cut != nil && !fromCut:
			edges = append(edges, Edge{From: cut.ID, To: id})
			fromCut = true
		}
	}
	return edges
}
