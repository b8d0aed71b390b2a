package cli

import (
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/ancestry"
)

// TestGraphDepthIsTreeDepth holds verify's --help to its word: a graph
// draws as many levels as the tree indents.
func TestGraphDepthIsTreeDepth(t *testing.T) {
	if ancestry.Depth != treeDepth {
		t.Errorf("ancestry.Depth = %d, want treeDepth %d", ancestry.Depth, treeDepth)
	}
}
