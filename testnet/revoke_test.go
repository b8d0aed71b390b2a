package testnet_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/enforce"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/ipfs/go-cid"
)

// waitRevocations waits (10 s at most) until n holds want revocations of
// record.
func waitRevocations(t *testing.T, n *node.Node, record cid.Cid, want int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if len(n.Revocations(record)) >= want {
			return
		}
		select {
		case <-deadline:
			t.Logf("gossip peers of %s: %v; connected: %v", n.ID(), n.GossipPeers(), n.Swarm.Host.Network().Peers())
			t.Fatalf("node %s holds %d revocations of %s after 10 s, want %d", n.ID(), len(n.Revocations(record)), record, want)
		case <-tick.C:
		}
	}
}

// TestRevocationCascade: a record revoked on node A by its executor
// reaches node B through the swarm's gossip, and B's notRevoked policy
// then denies a descendant made on another node; a stranger's revocation
// of the same record reaches B too and changes nothing. A node that joins
// afterwards learns both from the peer it joins through.
func TestRevocationCascade(t *testing.T) {
	s := startSwarm(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	contents := chain(t, ctx, s, []int{0, 1})
	top := contents[2]
	claims, err := s.Nodes[0].Store.Claims(contents[1])
	if err != nil || len(claims) != 1 {
		t.Fatalf("node 1's record of step 1: %v, %d claims", err, len(claims))
	}
	target := claims[0].Record
	policy, err := enforce.ParsePolicy("p.yaml", strings.NewReader("apiVersion: bonsai/v1\nkind: Policy\nmetadata: {name: p}\n"+
		"spec: {mode: enforce, scope: {paths: [/]}, rules: [{verifiedLineage: {}}, {notRevoked: {}}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := s.Nodes[3]
	decide := func() enforce.Decision {
		t.Helper()
		d, err := enforce.Decide(ctx, policy, "/f", top, b.Resolver())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := decide(); d.Fails {
		t.Fatalf("before any revocation: %s", d)
	}

	// A stranger (node 5) revokes node 1's record: shown, ignored.
	if _, err := s.Nodes[4].Revoke(ctx, target, "I say so"); err != nil {
		t.Fatal(err)
	}
	waitRevocations(t, b, target, 1)
	if d := decide(); d.Fails {
		t.Errorf("a stranger's revocation denied: %s", d)
	}
	// The executor revokes it: the descendant is denied.
	if _, err := s.Nodes[0].Revoke(ctx, target, "compiler was compromised"); err != nil {
		t.Fatal(err)
	}
	waitRevocations(t, b, target, 2)
	d := decide()
	if !d.Fails || d.Allow || d.Rule != "notRevoked" || !strings.Contains(strings.Join(d.Trail, "\n"), "compiler was compromised") {
		t.Errorf("after the executor's revocation: %s\n%s", d, strings.Join(d.Trail, "\n"))
	}
	res, err := lineage.Check(ctx, top, b.Resolver(), lineage.Options{Revocations: b.Revocations})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verified || res.Nodes[contents[1]].Verdict != lineage.Revoked {
		t.Errorf("Check on B: verified=%v, step 1 %v", res.Verified, res.Nodes[contents[1]].Verdict)
	}

	// A newcomer learns both from the node it joins through.
	idx, err := s.Add(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitRevocations(t, s.Nodes[idx], target, 2)
}
