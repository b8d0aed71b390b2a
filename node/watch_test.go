//go:build linux

package node_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
)

// TestWatch: a daemon watching a directory records a file that a process
// of the machine (not started through bonsai) writes there.
func TestWatch(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("watching needs root (CAP_BPF, CAP_PERFMON): skipped as uid", os.Geteuid())
	}
	home, dir := t.TempDir(), t.TempDir()
	if _, _, err := store.Init(home); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n, err := node.New(ctx, home, node.WithListen("/ip4/127.0.0.1/tcp/0"), node.WithGCInterval(0),
		node.WithReprovideInterval(0), node.WithWatch(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("watched input\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Relative paths in a process started in the directory: the kernel
	// resolves them at the event, however soon the process exits.
	cmd := exec.CommandContext(ctx, "sh", "-c", "tr a-z A-Z < a > b")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	in, _ := lineage.HashFile(filepath.Join(dir, "a"), lineage.DefaultHash)
	out, _ := lineage.HashFile(filepath.Join(dir, "b"), lineage.DefaultHash)
	// The daemon records once it has seen the writer exit: wait for the
	// record to appear, up to the context's deadline.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		claims, err := n.Store.Claims(out)
		if err != nil {
			t.Fatal(err)
		}
		if len(claims) > 0 {
			r, err := lineage.Decode(claims[0].Data)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Inputs) != 1 || !r.Inputs[0].Equals(in) {
				t.Errorf("record of b: inputs %v, want [a = %s]", r.Inputs, in)
			}
			return
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("no record of b after the writer exited: %v", ctx.Err())
		}
	}
}
