package ancestry

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bonsai-lineage/bonsai/internal/textx"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
)

// The labels: lines of plain text, which each format escapes and joins.

func contentLabel(g *Graph, c Content) []string {
	lines := []string{shortCID(c.CID)}
	if c.Path != "" {
		lines = append(lines, showPath(c.Path, g.RelativeTo))
	}
	switch {
	case c.Verdict == lineage.Verified && !c.OK:
		lines = append(lines, "verified, ancestry fails")
	case c.Verdict != lineage.Verified:
		lines = append(lines, c.Verdict.String())
	}
	return lines
}

func recordLabel(r Record) []string {
	lines := []string{"record " + shortCID(r.CID)}
	if r.Decoded {
		lines = append(lines, fmt.Sprintf("by %s uid %d", shortPeer(r.Executor.String()), r.UID))
		if r.Program.Defined() {
			lines = append(lines, "program "+shortCID(r.Program))
		}
		lines = append(lines, r.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	if r.Verdict != lineage.Verified {
		lines = append(lines, r.Verdict.String())
	}
	return lines
}

func cutLabel(c *Cut) []string {
	lines := []string{fmt.Sprintf("… %s, %s", plural(c.Levels, "more level"), plural(c.Nodes, "node"))}
	if c.Failing > 0 {
		lines = append(lines, plural(c.Failing, "failing node"))
	}
	return lines
}

// showPath shows a path in a label: relative to dir when inside it, as it
// is (each format escapes what it must), but Go-quoted when it is not UTF-8
// or holds a character that does not print, so a label never breaks a line
// where the name does not.
func showPath(p, dir string) string {
	if dir != "" {
		if rel, err := filepath.Rel(dir, p); err == nil && !strings.HasPrefix(rel, "..") {
			p = rel
		}
	}
	if !utf8.ValidString(p) || strings.IndexFunc(p, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return strconv.Quote(p)
	}
	return p
}

// graphTitle is the graph's caption: the verdict on its root.
func graphTitle(g *Graph) string {
	what := "verified"
	if !g.Verified {
		what = "NOT VERIFIED"
	}
	return fmt.Sprintf("bonsai verify %s: %s (%s, %s by %s)", shortCID(g.Root), what,
		plural(g.NodeCount, "node"), plural(g.RecordCount, "record"), plural(g.ExecutorCount, "executor"))
}

// shortCID keeps a CID's tail, which is what tells CIDs apart: the form
// of the CLI's text output.
func shortCID(c cid.Cid) string { return textx.Abbrev(c.String(), 10) }

// shortPeer shortens a peer ID as the CLI's text output does.
func shortPeer(s string) string { return textx.Abbrev(s, 8) }

// plural says "1 record", "2 records".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
