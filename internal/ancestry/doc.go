// Package ancestry draws a checked ancestry (a lineage.Result): a model of
// it as a graph — one node per content, one per record, edges from inputs
// to records to outputs, each coloured by its verdict — and writers for
// Graphviz's DOT (through gonum's encoder) and Mermaid.
//
// The model is plain data, for any view (the CLI's --format, a web page).
// It is bounded like the CLI's text tree: past Depth levels the rest of the
// ancestry is one summary node. ancestry knows no store, network or
// terminal: the contents' local paths are passed in.
package ancestry
