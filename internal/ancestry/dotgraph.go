package ancestry

import (
	"gonum.org/v1/gonum/graph"
	"gonum.org/v1/gonum/graph/iterator"
)

// digraph is the directed graph gonum's DOT encoder walks: nodes by dense
// IDs in the order added, edges in the order set. It stands in for
// gonum's graph/simple, which would link gonum's matrix, BLAS and LAPACK
// packages into every bonsai command for a graph only verify draws.
type digraph struct {
	nodes    []graph.Node
	from, to map[int64][]graph.Node
	edges    map[[2]int64]graph.Edge
}

func newDigraph() digraph {
	return digraph{from: map[int64][]graph.Node{}, to: map[int64][]graph.Node{}, edges: map[[2]int64]graph.Edge{}}
}

// addNode adds n, whose ID must be the number of nodes added before it.
func (g *digraph) addNode(n graph.Node) { g.nodes = append(g.nodes, n) }

// setEdge adds the edge from f to t, once.
func (g *digraph) setEdge(f, t graph.Node) {
	k := [2]int64{f.ID(), t.ID()}
	if _, ok := g.edges[k]; ok {
		return
	}
	g.edges[k] = edge{f, t}
	g.from[f.ID()] = append(g.from[f.ID()], t)
	g.to[t.ID()] = append(g.to[t.ID()], f)
}

func (g *digraph) Node(id int64) graph.Node {
	if id < 0 || id >= int64(len(g.nodes)) {
		return nil
	}
	return g.nodes[id]
}

func (g *digraph) Nodes() graph.Nodes            { return iterator.NewOrderedNodes(g.nodes) }
func (g *digraph) From(id int64) graph.Nodes     { return iterator.NewOrderedNodes(g.from[id]) }
func (g *digraph) To(id int64) graph.Nodes       { return iterator.NewOrderedNodes(g.to[id]) }
func (g *digraph) HasEdgeFromTo(u, v int64) bool { _, ok := g.edges[[2]int64{u, v}]; return ok }

func (g *digraph) HasEdgeBetween(x, y int64) bool {
	return g.HasEdgeFromTo(x, y) || g.HasEdgeFromTo(y, x)
}

func (g *digraph) Edge(u, v int64) graph.Edge {
	if e, ok := g.edges[[2]int64{u, v}]; ok {
		return e
	}
	return nil
}

// edge is a directed edge of a digraph.
type edge struct{ f, t graph.Node }

func (e edge) From() graph.Node         { return e.f }
func (e edge) To() graph.Node           { return e.t }
func (e edge) ReversedEdge() graph.Edge { return edge{e.t, e.f} }

var _ graph.Directed = (*digraph)(nil)
