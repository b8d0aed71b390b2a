package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/ipfs/go-cid"
)

// printTree writes the ancestry as an indented tree. A shared ancestor is
// printed in full once; later mentions point back to it.
func printTree(w io.Writer, res *lineage.Result, paths map[cid.Cid]string) {
	shown := map[cid.Cid]bool{}
	var walk func(c cid.Cid, prefix, branch string)
	walk = func(c cid.Cid, prefix, branch string) {
		n := res.Nodes[c]
		if shown[c] {
			fmt.Fprintf(w, "%s%s%s  (shown above)\n", prefix, branch, strings.TrimSpace(shortCID(c)+"  "+paths[c]))
			return
		}
		shown[c] = true
		fmt.Fprintf(w, "%s%s%s\n", prefix, branch, nodeLine(n, paths[c]))
		child := prefix
		switch branch {
		case "├─ ":
			child += "│  "
		case "└─ ":
			child += "   "
		}
		if len(n.Records) > 1 {
			for _, rc := range n.Records {
				fmt.Fprintf(w, "%s   · record %s %s%s\n", child, shortCID(rc.CID), rc.Verdict, recordWho(rc))
			}
		}
		for i, in := range n.Inputs {
			b := "├─ "
			if i == len(n.Inputs)-1 {
				b = "└─ "
			}
			walk(in, child, b)
		}
	}
	walk(res.Root, "", "")
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
		fmt.Fprintf(&b, "  %s", path)
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
		where = p + " (" + where + ")"
	}
	more := ""
	if len(fails) > 1 {
		more = fmt.Sprintf(" (+%d more failing)", len(fails)-1)
	}
	return fmt.Sprintf("NOT VERIFIED: %s: %s — %s%s; %s", where, f.Verdict, f.Reason, more, detail)
}

type recordJSON struct {
	CID        string   `json:"cid"`
	Verdict    string   `json:"verdict"`
	Reason     string   `json:"reason,omitempty"`
	From       string   `json:"from,omitempty"`
	Executor   string   `json:"executor,omitempty"`
	UID        uint32   `json:"uid"`
	Program    string   `json:"program,omitempty"`
	Time       string   `json:"time,omitempty"`
	Incomplete bool     `json:"incomplete,omitempty"`
	Inputs     []string `json:"inputs"`
}

type nodeJSON struct {
	Output  string       `json:"output"`
	Path    string       `json:"path,omitempty"`
	Depth   int          `json:"depth"`
	Verdict string       `json:"verdict"`
	Reason  string       `json:"reason,omitempty"`
	OK      bool         `json:"ok"`
	Inputs  []string     `json:"inputs"`
	Records []recordJSON `json:"records"`
}

type verifyJSON struct {
	Target    string         `json:"target"`
	Verified  bool           `json:"verified"`
	Counts    map[string]int `json:"counts"`
	Records   int            `json:"records"`
	Executors map[string]int `json:"executors"`
	ElapsedMS float64        `json:"elapsed_ms"`
	Nodes     []nodeJSON     `json:"nodes"`
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

func recordToJSON(c cid.Cid, r *lineage.Record) recordJSON {
	j := recordJSON{CID: c.String(), Inputs: []string{}}
	if r == nil {
		return j
	}
	j.Executor = r.Executor.Peer.String()
	j.UID = r.Executor.UID
	if r.Program.Defined() {
		j.Program = r.Program.String()
	}
	j.Time = r.TimeOf().Format(time.RFC3339)
	j.Incomplete = r.Incomplete
	j.Inputs = cidStrings(r.Inputs)
	return j
}

func resultJSON(res *lineage.Result, paths map[cid.Cid]string) verifyJSON {
	out := verifyJSON{
		Target:    res.Root.String(),
		Verified:  res.Verified,
		Counts:    map[string]int{},
		Records:   res.Records,
		Executors: map[string]int{},
		ElapsedMS: float64(res.Elapsed.Microseconds()) / 1000,
		Nodes:     []nodeJSON{},
	}
	for v, k := range res.Counts {
		out.Counts[v.String()] = k
	}
	for p, k := range res.Executors {
		out.Executors[p.String()] = k
	}
	for _, c := range res.Order {
		n := res.Nodes[c]
		nj := nodeJSON{
			Output: c.String(), Path: paths[c], Depth: n.Depth, Verdict: n.Verdict.String(),
			Reason: n.Reason, OK: n.OK, Inputs: cidStrings(n.Inputs), Records: []recordJSON{},
		}
		for _, rc := range n.Records {
			rj := recordToJSON(rc.CID, rc.Record)
			rj.Verdict, rj.Reason, rj.From = rc.Verdict.String(), rc.Reason, rc.From
			nj.Records = append(nj.Records, rj)
		}
		out.Nodes = append(out.Nodes, nj)
	}
	slices.SortStableFunc(out.Nodes, func(a, b nodeJSON) int { return a.Depth - b.Depth })
	return out
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
