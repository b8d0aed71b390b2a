package cli_test

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dotfmt "gonum.org/v1/gonum/graph/formats/dot"
	"gonum.org/v1/gonum/graph/formats/dot/ast"
)

// confName is a source whose name holds what DOT and Mermaid must escape.
const confName = `my "conf" [1].txt`

// graphScenario records a small ancestry with two inputs, a source and
// programs:
//
//	fin <- mid, confName (by sh)    mid <- raw (by tr)
//	raw: recorded as a source       confName: never recorded
func graphScenario(t *testing.T, home string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "raw", "raw data\n", time.Time{})
	writeFile(t, dir, confName, "level=3\n", time.Time{})
	record(t, dir, home, "--out", "raw")
	record(t, dir, home, "--in", "raw", "--out", "mid", "--", "sh", "-c", "tr a-z A-Z < raw > mid")
	record(t, dir, home, "--in", "mid", confName, "--out", "fin", "--", "sh", "-c", "cat mid 'my \"conf\" [1].txt' > fin")
	return dir
}

// graphWant is what a graph of graphScenario's fin must hold.
type graphWant struct {
	code     int
	styles   map[string]string // content path -> its style
	records  int
	edges    int
	recStyle []string // the records' styles, sorted
	legend   []string // the legend's styles, in order
}

func TestVerifyGraph(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		args  []string
		setup func(t *testing.T, dir, home string) // after recording
		want  graphWant
	}{
		{"verified", nil, nil, graphWant{
			code:    0,
			styles:  map[string]string{"fin": "verified", "mid": "verified", "raw": "verified", confName: "source"},
			records: 3, edges: 6,
			recStyle: []string{"verified", "verified", "verified"},
			legend:   []string{"verified", "source"},
		}},
		{"full", []string{"--full"}, nil, graphWant{
			code:    1,
			styles:  map[string]string{"fin": "ancestry_fails", "mid": "verified", "raw": "verified", confName: "no_record"},
			records: 3, edges: 6,
			recStyle: []string{"verified", "verified", "verified"},
			legend:   []string{"verified", "ancestry_fails", "no_record"},
		}},
		// The executor revokes mid: mid fails, so does fin's ancestry, and
		// the revoked record's input is no longer part of it.
		{"revoked", nil, func(t *testing.T, dir, home string) {
			wantCode(t, bonsai(t, dir, home, "revoke", "--reason", "tr was compromised", "mid"), 0)
		}, graphWant{
			code:    1,
			styles:  map[string]string{"fin": "ancestry_fails", "mid": "revoked", confName: "source"},
			records: 2, edges: 4,
			recStyle: []string{"revoked", "verified"},
			legend:   []string{"verified", "ancestry_fails", "source", "revoked"},
		}},
		{"untrusted", []string{"--trust", fixedKey(t, 43).ID().String()}, nil, graphWant{
			code:    1,
			styles:  map[string]string{"fin": "untrusted"},
			records: 1, edges: 1,
			recStyle: []string{"untrusted"},
			legend:   []string{"untrusted"},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			home, _ := initHome(t)
			dir := graphScenario(t, home)
			if tc.setup != nil {
				tc.setup(t, dir, home)
			}
			args := append([]string{"verify"}, tc.args...)

			r := bonsai(t, dir, home, append(args, "--format", "dot", "fin")...)
			wantCode(t, r, tc.want.code)
			if r.stderr != "" {
				t.Errorf("verify --format dot stderr = %q, want nothing", r.stderr)
			}
			checkGraph(t, "dot", parseDOT(t, r.stdout), tc.want)
			t.Run("dot -Tsvg", func(t *testing.T) { renderDOT(t, r.stdout) })

			r = bonsai(t, dir, home, append(args, "--format", "mermaid", "fin")...)
			wantCode(t, r, tc.want.code)
			checkGraph(t, "mermaid", parseMermaid(t, r.stdout), tc.want)
		})
	}
}

// drawn is a graph read back from DOT or Mermaid: every node's label
// lines and style, by ID, and the edges.
type drawn struct {
	labels map[string][]string
	styles map[string]string
	legend []string // styles of the legend's entries, in order
	edges  [][2]string
}

func checkGraph(t *testing.T, format string, g drawn, want graphWant) {
	t.Helper()
	got := map[string]string{}
	var recStyles []string
	for id, lines := range g.labels {
		switch id[0] {
		case 'n':
			if len(lines) < 2 || !strings.HasPrefix(lines[0], "bafk") {
				t.Errorf("%s: content %s label = %q, want a short CID and a path", format, id, lines)
				continue
			}
			got[lines[1]] = g.styles[id]
		case 'r':
			if !strings.HasPrefix(lines[0], "record bafy") || !strings.HasPrefix(lines[1], "by 12D3") {
				t.Errorf("%s: record %s label = %q, want its short CID and executor", format, id, lines)
			}
			if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasSuffix(l, " UTC") }) {
				t.Errorf("%s: record %s label = %q, want its time in UTC", format, id, lines)
			}
			recStyles = append(recStyles, g.styles[id])
		default:
			t.Errorf("%s: node %s: want only contents (n…) and records (r…)", format, id)
		}
	}
	if !mapsEqual(got, want.styles) {
		t.Errorf("%s: content styles = %v, want %v", format, got, want.styles)
	}
	slices.Sort(recStyles)
	if !slices.Equal(recStyles, want.recStyle) {
		t.Errorf("%s: record styles = %v, want %v", format, recStyles, want.recStyle)
	}
	if len(g.edges) != want.edges {
		t.Errorf("%s: %d edges %v, want %d", format, len(g.edges), g.edges, want.edges)
	}
	for _, e := range g.edges {
		if g.labels[e[0]] == nil || g.labels[e[1]] == nil || (e[0][0] == 'r') == (e[1][0] == 'r') {
			t.Errorf("%s: edge %s -> %s: want one between a content and a record, both drawn", format, e[0], e[1])
		}
	}
	if !slices.Equal(g.legend, want.legend) {
		t.Errorf("%s: legend = %v, want %v", format, g.legend, want.legend)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// parseDOT reads DOT back with gonum's DOT parser.
func parseDOT(t *testing.T, s string) drawn {
	t.Helper()
	f, err := dotfmt.ParseString(s)
	if err != nil {
		t.Fatalf("parse DOT: %v\n%s", err, s)
	}
	if len(f.Graphs) != 1 || !f.Graphs[0].Directed {
		t.Fatalf("DOT = %d graphs, want one digraph\n%s", len(f.Graphs), s)
	}
	g := drawn{labels: map[string][]string{}, styles: map[string]string{}}
	attrs := func(as []*ast.Attr) map[string]string {
		m := map[string]string{}
		for _, a := range as {
			v := a.Val
			if strings.HasPrefix(v, `"`) {
				if v, err = strconv.Unquote(v); err != nil {
					t.Fatalf("DOT attribute %s=%s: %v", a.Key, a.Val, err)
				}
			}
			m[a.Key] = v
		}
		return m
	}
	legends := 0
	for _, st := range f.Graphs[0].Stmts {
		switch st := st.(type) {
		case *ast.NodeStmt:
			a := attrs(st.Attrs)
			g.labels[st.Node.ID] = strings.Split(a["label"], "\n")
			g.styles[st.Node.ID] = a["class"]
		case *ast.EdgeStmt:
			from, ok1 := st.From.(*ast.Node)
			to, ok2 := st.To.Vertex.(*ast.Node)
			if !ok1 || !ok2 || st.To.To != nil || !st.To.Directed {
				t.Fatalf("DOT edge %v: want one directed edge between two nodes", st)
			}
			g.edges = append(g.edges, [2]string{from.ID, to.ID})
		case *ast.Subgraph:
			legends++
			if st.ID != "cluster_legend" {
				t.Errorf("DOT subgraph %s, want only cluster_legend", st.ID)
			}
			for _, ls := range st.Stmts {
				if n, ok := ls.(*ast.NodeStmt); ok {
					g.legend = append(g.legend, attrs(n.Attrs)["class"])
				}
			}
		}
	}
	if legends != 1 {
		t.Errorf("DOT has %d legend clusters, want 1", legends)
	}
	return g
}

// The lines of ancestry.WriteMermaid: a node (ID, shape, quoted label, class), an
// edge, the legend's start and end, a classDef.
var (
	mermaidNode     = regexp.MustCompile(`^ {2,4}([a-z]\d+)(\(\[|\[|>)"([^"]*)"(\]\)|\]):::([a-z_]+)$`)
	mermaidEdge     = regexp.MustCompile(`^  ([a-z]\d+) --> ([a-z]\d+)$`)
	mermaidClassDef = regexp.MustCompile(`^  classDef ([a-z_]+) fill:#[0-9a-f]{6},stroke:#[0-9a-f]{6},color:#[0-9a-f]{6}(,stroke-dasharray:4 3)?$`)
	mermaidEntity   = regexp.MustCompile(`#(\d+);`)
)

// parseMermaid checks a flowchart line by line, every line being of a
// kind ancestry.WriteMermaid writes, and reads its nodes and edges.
func parseMermaid(t *testing.T, s string) drawn {
	t.Helper()
	g := drawn{labels: map[string][]string{}, styles: map[string]string{}}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if len(lines) < 4 || lines[0] != "---" || !strings.HasPrefix(lines[1], `title: "bonsai verify `) || lines[2] != "---" || lines[3] != "flowchart BT" {
		t.Fatalf("mermaid head = %q, want a title and 'flowchart BT'\n%s", lines[:min(4, len(lines))], s)
	}
	defined := map[string]bool{}
	inLegend := false
	for _, l := range lines[4:] {
		if m := mermaidNode.FindStringSubmatch(l); m != nil {
			if inLegend {
				g.legend = append(g.legend, m[5])
				continue
			}
			label := mermaidEntity.ReplaceAllStringFunc(m[3], func(e string) string {
				n, _ := strconv.Atoi(e[1 : len(e)-1])
				return string(rune(n))
			})
			g.labels[m[1]] = strings.Split(label, "<br/>")
			g.styles[m[1]] = m[5]
			continue
		}
		if m := mermaidEdge.FindStringSubmatch(l); m != nil {
			g.edges = append(g.edges, [2]string{m[1], m[2]})
			continue
		}
		if m := mermaidClassDef.FindStringSubmatch(l); m != nil {
			defined[m[1]] = true
			continue
		}
		switch l {
		case `  subgraph legend ["legend"]`:
			inLegend = true
		case "  end":
			inLegend = false
		default:
			t.Errorf("mermaid line %q: not a node, edge, legend or classDef line", l)
		}
	}
	for id, st := range g.styles {
		if !defined[st] {
			t.Errorf("mermaid node %s class %s has no classDef", id, st)
		}
	}
	return g
}

// renderDOT has Graphviz draw s as SVG, which must go without a word on
// stderr; the test is skipped where Graphviz is not installed (.ci/run
// installs it).
func renderDOT(t *testing.T, s string) {
	t.Helper()
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skipf("Graphviz's dot is not on PATH (%v): the SVG rendering is not checked", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, dot, "-Tsvg")
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(s), &out, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("dot -Tsvg: %v, stderr %q\n%s", err, stderr.String(), s)
	}
	if !strings.Contains(out.String(), "<svg") {
		t.Errorf("dot -Tsvg wrote no <svg>:\n%s", out.String())
	}
}

func TestVerifyFormatUsage(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := pipeline(t, home)
	for _, tc := range []struct {
		args []string
		subs []string // in the one-line usage error; none: the run succeeds
	}{
		{[]string{"--format", "svg"}, []string{"--format svg", "tree, dot or mermaid"}},
		{[]string{"--format", ""}, []string{"--format", "tree, dot or mermaid"}},
		{[]string{"--json", "--format", "dot"}, []string{"--json", "--format dot"}},
		{[]string{"--format", "mermaid", "--json"}, []string{"--json", "--format mermaid"}},
		{[]string{"--format", "tree", "--json"}, nil},
		{[]string{"--format", "tree"}, nil},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := bonsai(t, dir, home, append(append([]string{"verify"}, tc.args...), "fin")...)
			if tc.subs != nil {
				wantOneLineError(t, r, true, tc.subs...)
				return
			}
			wantCode(t, r, 0)
		})
	}
	// --format tree is the tree, as with no --format.
	tree, plain := bonsai(t, dir, home, "verify", "--format", "tree", "fin"), bonsai(t, dir, home, "verify", "fin")
	if strip := func(s string) string { return elapsedRE.ReplaceAllString(s, "$1") }; strip(tree.stdout) != strip(plain.stdout) {
		t.Errorf("verify --format tree =\n%s\nwant what verify prints:\n%s", tree.stdout, plain.stdout)
	}
}

// TestGraphEscapes: a name that holds DOT's or Mermaid's syntax (quotes,
// brackets, arrows, entities, HTML, backslashes, a line break) is drawn as
// text, never read as syntax: DOT parses back to the name and renders,
// Mermaid has it in entities.
func TestGraphEscapes(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		shown   string // as a label shows it
		mermaid string
	}{
		{confName, confName, "my #34;conf#34; #91;1#93;.txt"},
		{"a]:::verified --> b", "a]:::verified --> b", "a#93;#58;#58;#58;verified --#62; b"},
		{"<i>x&amp;#35;", "<i>x&amp;#35;", "#60;i#62;x#38;amp#59;#35;35#59;"},
		{"end", "end", "end"},
		{"(x){y}`z`;", "(x){y}`z`;", "#40;x#41;#123;y#125;#96;z#96;#59;"},
		{`"quoted"`, `"quoted"`, "#34;quoted#34;"},
		{`back\slash\l\N`, `back\slash\l\N`, "back#92;slash#92;l#92;N"},
		{"new\nline", `"new\nline"`, "#34;new#92;nline#34;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			writeFile(t, dir, tc.name, tc.name+"\n", time.Time{})
			r := bonsai(t, dir, home, "verify", "--format", "mermaid", tc.name)
			wantCode(t, r, 1) // no record
			g := parseMermaid(t, r.stdout)
			if len(g.labels) != 1 || len(g.labels["n1"]) != 3 || g.labels["n1"][1] != tc.shown {
				t.Errorf("mermaid nodes of %q = %q, want n1 with %q read back", tc.name, g.labels, tc.shown)
			}
			if !strings.Contains(r.stdout, `<br/>`+tc.mermaid+`<br/>no-record"])`) {
				t.Errorf("mermaid of %q =\n%s\nwant the name written %q", tc.name, r.stdout, tc.mermaid)
			}

			r = bonsai(t, dir, home, "verify", "--format", "dot", tc.name)
			wantCode(t, r, 1)
			g = parseDOT(t, r.stdout)
			if len(g.labels) != 1 || len(g.labels["n1"]) != 3 || g.labels["n1"][1] != tc.shown {
				t.Errorf("DOT nodes of %q = %q, want n1 with %q read back", tc.name, g.labels, tc.shown)
			}
			t.Run("dot -Tsvg", func(t *testing.T) { renderDOT(t, r.stdout) })
		})
	}
}
