package ancestry

import (
	"regexp"
	"strconv"
	"testing"
	"unicode/utf8"

	dotfmt "gonum.org/v1/gonum/graph/formats/dot"
	"gonum.org/v1/gonum/graph/formats/dot/ast"
)

// labelSeeds are names a file may have that each format must not read as
// syntax.
var labelSeeds = []string{
	"plain.txt", `my "conf" [1].txt`, "a]:::verified --> b", "<i>x&amp;#35;", "end", "(x){y}`z`;",
	`"quoted"`, `back\slash\l\N`, "new\nline", "bad\xffutf8", "\x00nul", "%% comment", "subgraph x",
}

// FuzzDOTLabel: any label, file names included, reads back from the DOT
// gonum writes, through gonum's parser, as exactly that text.
func FuzzDOTLabel(f *testing.F) {
	for _, s := range labelSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		g := newDOTGraph("t")
		g.add("n1", "box", "verified", []string{label}, label)
		b, err := marshalDOT(g)
		if err != nil {
			t.Fatal(err)
		}
		file, err := dotfmt.ParseBytes(b)
		if err != nil {
			t.Fatalf("parse DOT of label %q: %v\n%s", label, err, b)
		}
		var got []string
		for _, st := range file.Graphs[0].Stmts {
			if n, ok := st.(*ast.NodeStmt); ok {
				for _, a := range n.Attrs {
					if a.Key == "label" {
						got = append(got, a.Val)
					}
				}
			}
		}
		if len(got) != 1 {
			t.Fatalf("label %q: %d labels read back: %q", label, len(got), got)
		}
		if unq, err := strconv.Unquote(got[0]); err != nil || unq != label {
			t.Errorf("DOT label %q read back as %s (%v)", label, got[0], err)
		}
	})
}

// mermaidSafe is everything mermaidText may write: letters, digits,
// spaces, a few marks, and #NNN; entities.
var mermaidSafe = regexp.MustCompile(`^(?:[\p{L}\p{N} ._\-/,+@=…]|#[0-9]+;)*$`)

// FuzzMermaidText: any text becomes only letters, digits, harmless marks
// and entities, which decode back to the text when it is valid UTF-8.
func FuzzMermaidText(f *testing.F) {
	for _, s := range labelSeeds {
		f.Add(s)
	}
	entity := regexp.MustCompile(`#([0-9]+);`)
	f.Fuzz(func(t *testing.T, s string) {
		got := mermaidText(s)
		if !mermaidSafe.MatchString(got) {
			t.Fatalf("mermaidText(%q) = %q: holds a character Mermaid may read as syntax", s, got)
		}
		back := entity.ReplaceAllStringFunc(got, func(m string) string {
			n, _ := strconv.Atoi(entity.FindStringSubmatch(m)[1])
			return string(rune(n))
		})
		if utf8.ValidString(s) && back != s {
			t.Errorf("mermaidText(%q) = %q decodes to %q", s, got, back)
		}
	})
}
