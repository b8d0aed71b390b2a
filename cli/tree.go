package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/ancestry"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/ipfs/go-cid"
)

// treeDepth is how many levels of the ancestry the text tree indents; a
// deeper subtree is summed up in one line (its failures still named), so
// the text grows with the ancestry's size, never with its depth squared.
// It is the graphs' depth, so verify draws as many levels in every format.
const treeDepth = ancestry.Depth

// printTree writes the ancestry as an indented tree. A shared ancestor is
// printed in full once; later mentions point back to it. Below treeDepth
// levels a subtree becomes one line counting its levels and nodes, plus a
// line for each node that fails on its own (at most a few).
func printTree(w io.Writer, res *lineage.Result, paths map[cid.Cid]string, requireFull bool) {
	t := treePrinter{w: w, res: res, paths: paths, requireFull: requireFull,
		shown: map[cid.Cid]bool{}, summed: map[cid.Cid]bool{}}
	t.walk(res.Root, "", "", 0)
}

type treePrinter struct {
	w           io.Writer
	res         *lineage.Result
	paths       map[cid.Cid]string
	requireFull bool
	shown       map[cid.Cid]bool // printed on a line of their own
	summed      map[cid.Cid]bool // counted in a cut subtree's line
}

func (t *treePrinter) walk(c cid.Cid, prefix, branch string, level int) {
	n := t.res.Nodes[c]
	switch {
	case t.shown[c]:
		fmt.Fprintf(t.w, "%s%s%s  (shown above)\n", prefix, branch, strings.TrimSpace(shortCID(c)+"  "+relPath(t.paths[c])))
		return
	case t.summed[c]:
		fmt.Fprintf(t.w, "%s%s%s  (counted in a cut subtree above)\n", prefix, branch, strings.TrimSpace(shortCID(c)+"  "+relPath(t.paths[c])))
		return
	}
	t.shown[c] = true
	fmt.Fprintf(t.w, "%s%s%s\n", prefix, branch, nodeLine(n, t.paths[c]))
	child := prefix
	switch branch {
	case "├─ ":
		child += "│  "
	case "└─ ":
		child += "   "
	}
	if len(n.Records) > 1 {
		for _, rc := range n.Records {
			fmt.Fprintf(t.w, "%s   · record %s %s%s\n", child, shortCID(rc.CID), rc.Verdict, recordWho(rc))
		}
	}
	if level+1 >= treeDepth && len(n.Inputs) > 0 {
		t.cut(n, child)
		return
	}
	for i, in := range n.Inputs {
		b := "├─ "
		if i == len(n.Inputs)-1 {
			b = "└─ "
		}
		t.walk(in, child, b, level+1)
	}
}

// maxCutFailures is how many failing nodes a cut subtree names.
const maxCutFailures = 5

// cut sums up, in one line, the part of the ancestry below n not yet
// shown: how many levels (breadth first from n) and nodes, and
// names the first nodes of it that fail on their own. Nodes are counted
// once, breadth first from n: no recursion, whatever the depth.
func (t *treePrinter) cut(n *lineage.Node, prefix string) {
	count, levels := 0, 0
	var fails []*lineage.Node
	dist := map[cid.Cid]int{}
	frontier := []cid.Cid{}
	for _, in := range n.Inputs {
		if !t.shown[in] && !t.summed[in] {
			t.summed[in] = true
			frontier = append(frontier, in)
		}
	}
	for d := 1; len(frontier) > 0; d++ {
		levels = d
		var next []cid.Cid
		for _, c := range frontier {
			m := t.res.Nodes[c]
			count++
			dist[c] = d
			if m.Verdict != lineage.Verified && !m.Verdict.Passes(t.requireFull) {
				fails = append(fails, m)
			}
			for _, in := range m.Inputs {
				if !t.shown[in] && !t.summed[in] {
					t.summed[in] = true
					next = append(next, in)
				}
			}
		}
		frontier = next
	}
	if count == 0 {
		fmt.Fprintf(t.w, "%s└─ … its inputs are shown above\n", prefix)
		return
	}
	state := "all pass"
	if len(fails) > 0 {
		state = plural(len(fails), "failing node")
	}
	fmt.Fprintf(t.w, "%s└─ … %s, %s below (%s)\n", prefix, plural(levels, "more level"), plural(count, "node"), state)
	for i, f := range fails {
		if i == maxCutFailures {
			fmt.Fprintf(t.w, "%s   … and %d more failing\n", prefix, len(fails)-i)
			break
		}
		fmt.Fprintf(t.w, "%s   %s  (%s further down)\n", prefix, nodeLine(f, t.paths[f.Output]), plural(dist[f.Output], "level"))
	}
}

func mark(n *lineage.Node) string {
	switch {
	case n.Verdict == lineage.Verified && n.OK:
		return "✓"
	case n.Verdict == lineage.Source && n.OK, n.Verdict == lineage.DepthLimit:
		return "○"
	case n.Verdict == lineage.Verified:
		return "!" // its record is good, something below is not
	}
	return "✗"
}

func nodeLine(n *lineage.Node, path string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", mark(n), shortCID(n.Output))
	if path != "" {
		fmt.Fprintf(&b, "  %s", relPath(path))
	}
	fmt.Fprintf(&b, "  %s", n.Verdict)
	if n.Verdict == lineage.Verified && !n.OK {
		b.WriteString(" (ancestry fails)")
	}
	if len(n.Records) == 1 {
		b.WriteString(recordWho(n.Records[0]))
	}
	if n.Reason != "" && n.Verdict != lineage.Verified {
		fmt.Fprintf(&b, "  — %s", n.Reason)
	}
	return b.String()
}

func recordWho(rc lineage.RecordCheck) string {
	if rc.Record == nil {
		return ""
	}
	return fmt.Sprintf("  by %s uid %d", shortPeer(rc.Record.Executor.Peer.String()), rc.Record.Executor.UID)
}

// summary is the one line that closes a verification.
func summary(res *lineage.Result, paths map[cid.Cid]string, requireFull bool) string {
	var counts []string
	for v := lineage.Verified; v <= lineage.LimitReached; v++ {
		if k := res.Counts[v]; k > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", k, v))
		}
	}
	detail := fmt.Sprintf("%s (%s), %s by %s, %s", plural(len(res.Nodes), "node"), strings.Join(counts, ", "),
		plural(res.Records, "record"), plural(len(res.Executors), "executor"), res.Elapsed.Round(time.Microsecond))
	if res.Verified {
		return "verified: " + detail
	}
	fails := res.Failures(requireFull)
	if len(fails) == 0 {
		return "NOT VERIFIED: " + detail
	}
	f := fails[0]
	where := shortCID(f.Output)
	if p := paths[f.Output]; p != "" {
		where = relPath(p) + " (" + where + ")"
	}
	more := ""
	if len(fails) > 1 {
		more = fmt.Sprintf(" (+%d more failing)", len(fails)-1)
	}
	return fmt.Sprintf("NOT VERIFIED: %s: %s — %s%s; %s", where, f.Verdict, f.Reason, more, detail)
}

// verifyJSON is verify --json's document; writeVerifyJSON streams its
// nodes after it.
type verifyJSON struct {
	node.ResultView
	ElapsedMS float64 `json:"elapsed_ms"`
	// Swarm is the daemon's fetch work for this verification (only when
	// a daemon ran it).
	Swarm *node.FetchStats `json:"swarm,omitempty"`
}

func cidStrings(cs []cid.Cid) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

// resultJSON is the verification's document but for its nodes, which
// writeVerifyJSON streams.
func resultJSON(res *lineage.Result) verifyJSON {
	return verifyJSON{ResultView: node.ViewResult(res), ElapsedMS: float64(res.Elapsed.Microseconds()) / 1000}
}

func nodeToJSON(n *lineage.Node, path string) node.NodeView {
	if path != "" {
		path = absPath(path)
	}
	return node.ViewNode(n, path)
}

// writeVerifyJSON writes head and then the nodes of res (breadth first,
// so by depth) one at a time: the document is never whole in memory,
// whatever the ancestry's size.
func writeVerifyJSON(w io.Writer, head verifyJSON, res *lineage.Result, paths map[cid.Cid]string) error {
	h, err := json.MarshalIndent(head, "", "  ")
	if err != nil {
		return err
	}
	h = bytes.TrimSuffix(h, []byte("\n}"))
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(h)
	bw.WriteString(",\n  \"nodes\": [")
	for i, c := range res.Order {
		b, err := json.MarshalIndent(nodeToJSON(res.Nodes[c], paths[c]), "    ", "  ")
		if err != nil {
			return err
		}
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		bw.Write(b)
	}
	if len(res.Order) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]\n}\n")
	return bw.Flush()
}
