package testnet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/bonsai-lineage/bonsai/testnet"
	"github.com/ipfs/go-cid"
)

func startSwarm(t *testing.T, n int, opts ...node.Option) *testnet.Swarm {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := testnet.Start(ctx, testnet.Options{Nodes: n, Dir: t.TempDir(), NodeOptions: opts})
	if err != nil {
		t.Fatalf("testnet.Start(%d) = %v", n, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// chain records a pipeline of depth steps, step i on node producers[i]:
// file_i is made from file_{i-1}; file_0 is a source. It returns the
// content CIDs, file_0 first, and publishes every record.
func chain(t *testing.T, ctx context.Context, s *testnet.Swarm, producers []int) []cid.Cid {
	t.Helper()
	dir := t.TempDir()
	var contents []cid.Cid
	prev := filepath.Join(dir, "file0")
	if err := os.WriteFile(prev, []byte("source data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c0, err := lineage.HashFile(prev, lineage.DefaultHash)
	if err != nil {
		t.Fatal(err)
	}
	contents = append(contents, c0)
	for i, p := range producers {
		out := filepath.Join(dir, fmt.Sprintf("file%d", i+1))
		if err := os.WriteFile(out, []byte(fmt.Sprintf("step %d of the pipeline\n", i+1)), 0o644); err != nil {
			t.Fatal(err)
		}
		rec := s.Nodes[p].Recorder()
		in, err := rec.HashPaths([]string{prev})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := rec.Record(store.Run{Inputs: in, Outputs: []string{out}})
		if err != nil {
			t.Fatal(err)
		}
		contents = append(contents, outs[0].Content)
		prev = out
	}
	for _, p := range producers {
		if _, err := s.Nodes[p].Flush(ctx); err != nil {
			t.Fatalf("node %d: Flush = %v", p+1, err)
		}
	}
	if err := s.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	return contents
}

func holds(t *testing.T, n *node.Node, out cid.Cid) bool {
	t.Helper()
	claims, err := n.Store.Claims(out)
	if err != nil {
		t.Fatal(err)
	}
	return len(claims) > 0
}

// TestSwarmVerifyAcrossPeers: a chain of depth 6 made on six different
// nodes of a ten-node swarm verifies from a node that holds none of it;
// then, with the producers stopped, from another such node (replicas).
func TestSwarmVerifyAcrossPeers(t *testing.T) {
	s := startSwarm(t, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	producers := []int{0, 1, 2, 3, 4, 5}
	contents := chain(t, ctx, s, producers)
	target := contents[len(contents)-1]

	verifyFrom := func(v int) *lineage.Result {
		t.Helper()
		res, err := lineage.Check(ctx, target, s.Nodes[v].Resolver(), lineage.Options{})
		if err != nil {
			t.Fatalf("node %d: Check = %v", v+1, err)
		}
		return res
	}
	// A node that joins now received no replica: it holds none of it.
	verifier, err := s.Add(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range contents[1:] {
		if holds(t, s.Nodes[verifier], c) {
			t.Fatalf("new node holds %s before verifying", c)
		}
	}
	res := verifyFrom(verifier)
	if !res.Verified || res.Records != 6 {
		t.Fatalf("Check from node %d: verified=%v records=%d, want true, 6 (%+v)", verifier+1, res.Verified, res.Records, res.Counts)
	}
	if got := res.Nodes[contents[0]].Verdict; got != lineage.Source {
		t.Errorf("verdict of the source = %v, want source", got)
	}
	if len(res.Executors) != 6 {
		t.Errorf("executors met = %d, want 6", len(res.Executors))
	}

	// Two producers go away: the target's and one in the middle. With
	// three replicas of every record and provider record, two stopped
	// nodes can never take all copies of anything with them.
	late, err := s.Add(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stopped := []int{producers[len(producers)-1], producers[2]}
	for _, p := range stopped {
		if err := s.Stop(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Nodes[late].Swarm.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	res = verifyFrom(late)
	if !res.Verified {
		t.Errorf("with producers %v stopped, Check from a new node: verified=false %+v", stopped, res.Counts)
		for _, nd := range res.Nodes {
			if nd.Verdict != lineage.Verified && nd.Verdict != lineage.Source {
				t.Logf("  %s at depth %d: %+v", nd.Output, nd.Depth, nd)
			}
		}
	}
	st := s.Nodes[late].Stats()
	for p := range st.Peers {
		for _, q := range stopped {
			if p == s.Nodes[q].ID().String() {
				// Asking a stopped producer is allowed; being answered by
				// one is not possible.
				if st.Peers[p].Records > 0 {
					t.Errorf("stopped producer %s served records", p)
				}
			}
		}
	}
}
