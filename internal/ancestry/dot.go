package ancestry

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/encoding"
	"gonum.org/v1/gonum/graph/encoding/dot"
)

// WriteDOT draws g in Graphviz's DOT language, encoded by gonum: contents
// are ellipses, records boxes, the cut a note, coloured by verdict, the
// root on top (edges point from inputs up to what was made of them), and
// a legend cluster of the styles used.
func WriteDOT(w io.Writer, g *Graph) error {
	out := newDOTGraph("ancestry")
	out.graphAttrs = encoding.Attributes{
		{Key: "rankdir", Value: "BT"},
		{Key: "label", Value: dotString(graphTitle(g))},
		{Key: "labelloc", Value: "t"},
		{Key: "fontname", Value: dotString(dotFont)},
	}
	out.nodeAttrs = encoding.Attributes{{Key: "fontname", Value: dotString(dotFont)}, {Key: "fontsize", Value: "10"}}
	out.edgeAttrs = encoding.Attributes{{Key: "color", Value: dotString("#555555")}}
	for _, c := range g.Contents {
		out.add(c.ID, "ellipse", contentStyle(c), contentLabel(g, c), c.Reason)
	}
	for _, r := range g.Records {
		out.add(r.ID, "box", verdictStyle(r.Verdict), recordLabel(r), r.Reason)
	}
	if g.Cut != nil {
		out.add(g.Cut.ID, "note", cutStyle(g.Cut), cutLabel(g.Cut), "")
	}
	for _, e := range g.Edges {
		out.setEdge(out.byName[e.From], out.byName[e.To])
	}

	legend := newDOTGraph("cluster_legend")
	legend.graphAttrs = encoding.Attributes{
		{Key: "label", Value: "legend"},
		{Key: "style", Value: "rounded"},
		{Key: "color", Value: dotString("#9e9e9e")},
		{Key: "fontname", Value: dotString(dotFont)},
	}
	for i, s := range usedStyles(g) {
		legend.add(fmt.Sprintf("l%d", i+1), "box", s.Name, []string{s.Legend}, "")
	}
	out.sub = []dot.Graph{legend}

	b, err := marshalDOT(out)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// marshalDOT encodes g with gonum's DOT encoder.
func marshalDOT(g *dotGraph) ([]byte, error) {
	b, err := dot.Marshal(g, "", "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode DOT: %w", err)
	}
	return b, nil
}

// dotFont is the font of every label: a list Graphviz resolves to what the
// machine has.
const dotFont = "Helvetica,Arial,sans-serif"

// dotString quotes s as a DOT string. gonum quotes a value that needs it,
// but takes one that already looks quoted or like an HTML label (<…>) as
// it is; quoting every label here makes a path such as "<x>" or "\"x\""
// plain text. Line breaks become \n, which Graphviz draws as new lines.
func dotString(s string) string { return strconv.Quote(s) }

// dotGraph is a directed graph with DOT names and attributes, for gonum's
// encoder.
type dotGraph struct {
	digraph
	name                             string
	graphAttrs, nodeAttrs, edgeAttrs encoding.Attributes
	sub                              []dot.Graph
	byName                           map[string]graph.Node
}

func newDOTGraph(name string) *dotGraph {
	return &dotGraph{digraph: newDigraph(), name: name, byName: map[string]graph.Node{}}
}

// add adds the node called name, drawn as shape in style, labelled by the
// lines of label; tooltip (when not empty) is the SVG's hover text.
func (g *dotGraph) add(name, shape, style string, label []string, tooltip string) {
	s := styleNamed(style)
	fill := "filled"
	if s.Dashed {
		fill = "filled,dashed"
	}
	n := dotNode{id: int64(len(g.nodes)), name: name, attrs: []encoding.Attribute{
		{Key: "label", Value: dotString(strings.Join(label, "\n"))},
		{Key: "shape", Value: shape},
		{Key: "style", Value: dotString(fill)},
		{Key: "fillcolor", Value: dotString(s.Fill)},
		{Key: "color", Value: dotString(s.Stroke)},
		{Key: "class", Value: s.Name},
	}}
	if tooltip != "" {
		n.attrs = append(n.attrs, encoding.Attribute{Key: "tooltip", Value: dotString(tooltip)})
	}
	g.byName[name] = n
	g.addNode(n)
}

// DOTID names the graph (or subgraph).
func (g *dotGraph) DOTID() string { return g.name }

// DOTAttributers gives the graph's, its nodes' and its edges' defaults.
func (g *dotGraph) DOTAttributers() (graph, node, edge encoding.Attributer) {
	return &g.graphAttrs, &g.nodeAttrs, &g.edgeAttrs
}

// Structure is the graph's subgraphs: the legend.
func (g *dotGraph) Structure() []dot.Graph { return g.sub }

// dotNode is one node of a dotGraph.
type dotNode struct {
	id    int64
	name  string
	attrs []encoding.Attribute
}

func (n dotNode) ID() int64                        { return n.id }
func (n dotNode) DOTID() string                    { return n.name }
func (n dotNode) Attributes() []encoding.Attribute { return n.attrs }

var (
	_ dot.Graph           = (*dotGraph)(nil)
	_ dot.Attributers     = (*dotGraph)(nil)
	_ dot.Structurer      = (*dotGraph)(nil)
	_ dot.Node            = dotNode{}
	_ encoding.Attributer = dotNode{}
	_ graph.Node          = dotNode{}
)
