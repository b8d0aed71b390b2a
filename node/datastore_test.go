package node_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestDHTDatastorePersists: provider records a node stores for the swarm
// live in its store (pebble) and survive its restart.
func TestDHTDatastorePersists(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	homeA, homeB := t.TempDir(), t.TempDir()
	for _, h := range []string{homeA, homeB} {
		if _, _, err := store.Init(h); err != nil {
			t.Fatal(err)
		}
	}
	opts := []node.Option{node.WithListen("/ip4/127.0.0.1/tcp/0"), node.WithoutAutoRefresh(), node.WithGCInterval(0), node.WithReprovideInterval(0)}
	a, err := node.New(ctx, homeA, opts...)
	if err != nil {
		t.Fatal(err)
	}
	b, err := node.New(ctx, homeB, append(opts, node.WithBootstrap(peer.AddrInfo{ID: a.ID(), Addrs: a.Swarm.Host.Addrs()}))...)
	if err != nil {
		a.Close()
		t.Fatal(err)
	}
	out, err := lineage.HashReader(strings.NewReader("provided by b"), lineage.DefaultHash)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Swarm.Provide(ctx, out); err != nil {
		t.Fatalf("Provide = %v", err)
	}
	has := func(n *node.Node) bool {
		ps, err := n.Swarm.DHT.ProviderStore().GetProviders(ctx, out.Hash())
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(ps, func(p peer.AddrInfo) bool { return p.ID == b.ID() })
	}
	// ADD_PROVIDER is sent without an answer: wait for a to store it.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !has(a) {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("a never stored b's provider record")
		}
	}
	b.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a, err = node.New(ctx, homeA, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if !has(a) {
		t.Error("after a restart, a lost the provider record it held")
	}
}
