package ancestry

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// WriteMermaid draws g as a Mermaid flowchart, for Markdown viewers that
// render ```mermaid blocks: contents are stadiums, records boxes, the cut
// a flag shape, one classDef per style, and a legend subgraph of the
// styles used. Node IDs are generated (n1, r1, c1, l1), never taken from
// the data; every label is quoted with each character Mermaid could read
// as syntax written as an entity (#34; for a quote, #91; for a bracket).
func WriteMermaid(w io.Writer, g *Graph) error {
	bw := bufio.NewWriter(w)
	// The title is a YAML string in the front matter (it holds no quote
	// nor backslash, but %q would escape them).
	fmt.Fprintf(bw, "---\ntitle: %q\n---\n", graphTitle(g))
	bw.WriteString("flowchart BT\n")
	for _, c := range g.Contents {
		fmt.Fprintf(bw, "  %s([\"%s\"]):::%s\n", c.ID, mermaidLabel(contentLabel(g, c)), contentStyle(c))
	}
	for _, r := range g.Records {
		fmt.Fprintf(bw, "  %s[\"%s\"]:::%s\n", r.ID, mermaidLabel(recordLabel(r)), verdictStyle(r.Verdict))
	}
	if g.Cut != nil {
		fmt.Fprintf(bw, "  %s>\"%s\"]:::%s\n", g.Cut.ID, mermaidLabel(cutLabel(g.Cut)), cutStyle(g.Cut))
	}
	for _, e := range g.Edges {
		fmt.Fprintf(bw, "  %s --> %s\n", e.From, e.To)
	}
	bw.WriteString("  subgraph legend [\"legend\"]\n")
	for i, s := range usedStyles(g) {
		fmt.Fprintf(bw, "    l%d[\"%s\"]:::%s\n", i+1, mermaidText(s.Legend), s.Name)
	}
	bw.WriteString("  end\n")
	for _, s := range graphStyles {
		dash := ""
		if s.Dashed {
			dash = ",stroke-dasharray:4 3"
		}
		fmt.Fprintf(bw, "  classDef %s fill:%s,stroke:%s,color:#1b1b1b%s\n", s.Name, s.Fill, s.Stroke, dash)
	}
	return bw.Flush()
}

// mermaidLabel is the lines of a label, each escaped, joined by <br/>.
func mermaidLabel(lines []string) string {
	for i, l := range lines {
		lines[i] = mermaidText(l)
	}
	return strings.Join(lines, "<br/>")
}

// mermaidText escapes s for a quoted Mermaid label: letters,
// digits, spaces and a few harmless marks stay; every other character,
// quotes, brackets, <, &, # and ; among them, becomes an entity #NNN; that
// Mermaid draws as the character and never reads as syntax or HTML.
func mermaidText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == ' ', strings.ContainsRune("._-/,+@=…", r):
			b.WriteRune(r)
		default:
			fmt.Fprintf(&b, "#%d;", r)
		}
	}
	return b.String()
}
