package ancestry

import (
	"strconv"
	"testing"

	dotfmt "gonum.org/v1/gonum/graph/formats/dot"
	"gonum.org/v1/gonum/graph/formats/dot/ast"
)

func TestMermaidText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain/path-1.txt", "plain/path-1.txt"},
		{"bafk…x5n7n2gtbm", "bafk…x5n7n2gtbm"},             // the ellipsis of short CIDs stays
		{"résumé 2", "résumé 2"},                           // letters of any script stay
		{`"quoted"`, "#34;quoted#34;"},                     // would end the label
		{"[x](y){z}", "#91;x#93;#40;y#41;#123;z#125;"},     // shape syntax
		{"a --> b", "a --#62; b"},                          // an edge
		{"x:::cls", "x#58;#58;#58;cls"},                    // a class
		{"<b>&amp;", "#60;b#62;#38;amp#59;"},               // HTML
		{"#35; %% `md`", "#35;35#59; #37;#37; #96;md#96;"}, // entities, comments, Markdown strings
		{"a\nb\\", "a#10;b#92;"},                           // a line break, a backslash
	} {
		if got := mermaidText(tc.in); got != tc.want {
			t.Errorf("mermaidText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestShowPath(t *testing.T) {
	for _, tc := range []struct{ path, dir, want string }{
		{"/w/a/b.txt", "/w", "a/b.txt"},
		{"/w/a/b.txt", "", "/w/a/b.txt"},
		{"/elsewhere/b.txt", "/w", "/elsewhere/b.txt"},
		{`/w/my "x" [1]`, "/w", `my "x" [1]`},     // each format escapes these
		{"/w/new\nline", "/w", `"new\nline"`},     // never breaks a label's line
		{"/w/bad\xffutf8", "/w", `"bad\xffutf8"`}, // nor holds invalid UTF-8
	} {
		if got := showPath(tc.path, tc.dir); got != tc.want {
			t.Errorf("showPath(%q, %q) = %q, want %q", tc.path, tc.dir, got, tc.want)
		}
	}
}

// TestDOTLabels: whatever a label holds, gonum's parser reads the node back
// with that label, as plain text (never an HTML label).
func TestDOTLabels(t *testing.T) {
	for _, label := range []string{"<b>html?</b>", `"already quoted"`, `back\slash`, "two\nlines", "node", "{x} [y]; -> z", "…"} {
		g := newDOTGraph("t")
		g.add("n1", "box", "verified", []string{label}, label)
		var b []byte
		var err error
		if b, err = marshalDOT(g); err != nil {
			t.Fatal(err)
		}
		f, err := dotfmt.ParseBytes(b)
		if err != nil {
			t.Fatalf("parse DOT of label %q: %v\n%s", label, err, b)
		}
		var got string
		for _, st := range f.Graphs[0].Stmts {
			if n, ok := st.(*ast.NodeStmt); ok {
				for _, a := range n.Attrs {
					if a.Key == "label" {
						got = a.Val
					}
				}
			}
		}
		if unq, err := strconv.Unquote(got); err != nil || unq != label {
			t.Errorf("DOT label %q read back as %s (%v)", label, got, err)
		}
	}
}
