package store_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestImports holds the package to its place below node: it never depends
// on the daemon, the DHT or a libp2p host (see doc.go and ARCHITECTURE.md).
func TestImports(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the package's dependencies:", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const self = "github.com/bonsai-lineage/bonsai/node/store"
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, self) || !slices.Contains(deps, "github.com/bonsai-lineage/bonsai/lineage") {
		t.Fatalf("go list -deps = %v, want the package and lineage among them", deps)
	}
	forbidden := []string{
		"github.com/bonsai-lineage/bonsai/node",
		"github.com/bonsai-lineage/bonsai/dht",
		"github.com/bonsai-lineage/bonsai/testnet",
		"github.com/bonsai-lineage/bonsai/cli",
		"github.com/libp2p/go-libp2p/core/host",
		"github.com/libp2p/go-libp2p/p2p",
		"github.com/libp2p/go-libp2p-kad-dht",
		"github.com/libp2p/go-libp2p-pubsub",
	}
	for _, dep := range deps {
		if dep == self || strings.HasPrefix(dep, self+"/") {
			continue
		}
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("store depends on %s, want nothing under %s", dep, f)
			}
		}
	}
}
