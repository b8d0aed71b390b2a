package testnet_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/dht"
	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/bonsai-lineage/bonsai/testnet"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/pnet"
)

func swarmKey(t *testing.T) pnet.PSK {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return pnet.PSK(k)
}

// TestSwarmKey: a node without the swarm's key, or with another, cannot
// join it, so it cannot read anything from it either.
func TestSwarmKey(t *testing.T) {
	key := swarmKey(t)
	s := startSwarm(t, 2, node.WithSwarmKey(key))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	contents := chain(t, ctx, s, []int{0})
	first := s.Nodes[0]
	boot := peer.AddrInfo{ID: first.ID(), Addrs: first.Swarm.Host.Addrs()}
	for _, tt := range []struct {
		name string
		opts []node.Option
	}{
		{"no key", nil},
		{"another key", []node.Option{node.WithSwarmKey(swarmKey(t))}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "outsider")
			if _, _, err := store.Init(home); err != nil {
				t.Fatal(err)
			}
			opts := append([]node.Option{
				node.WithListen("/ip4/127.0.0.1/tcp/0"), node.WithoutAutoRefresh(), node.WithGCInterval(0),
				node.WithBootstrap(boot),
			}, tt.opts...)
			cctx, ccancel := context.WithTimeout(ctx, 15*time.Second)
			defer ccancel()
			n, err := node.New(cctx, home, opts...)
			if err == nil {
				n.Close()
				t.Fatalf("node.New(%s) joined the private swarm", tt.name)
			}
		})
	}
	// And the members still verify among themselves.
	res, err := lineage.Check(ctx, contents[1], s.Nodes[1].Resolver(), lineage.Options{})
	if err != nil || !res.Verified {
		t.Fatalf("Check inside the private swarm = %v, %v", res, err)
	}
}

// forgingSource serves, for every output asked, a copy of a real record
// with one bit of its signature flipped.
type forgingSource struct{ forged lineage.Block }

func (f forgingSource) Block(c cid.Cid) ([]byte, bool, error) { return nil, false, nil }

func (f forgingSource) Revocations() ([]lineage.Block, error) { return nil, nil }

func (f forgingSource) Resolve(context.Context, cid.Cid) ([]lineage.Block, error) {
	return []lineage.Block{f.forged}, nil
}

// TestForgingPeer: a peer that announces itself as provider of an output
// and serves a forged record for it is refused; the verdict names it and
// the verifier neither crashes nor hangs.
func TestForgingPeer(t *testing.T) {
	s := startSwarm(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// A real record, never published: the forger's copy is all there is.
	r := &lineage.Record{Output: mustContent(t, "forged target"), Time: 1}
	blk, err := r.Sign(testkeys.Key(9))
	if err != nil {
		t.Fatal(err)
	}
	forged := lineage.Block{CID: blk.CID, Data: append([]byte(nil), blk.Data...)}
	forged.Data[len(forged.Data)-30] ^= 0x01
	forged.CID = lineage.RecordCID(forged.Data)

	first := s.Nodes[0]
	evil, err := dht.New(dht.Config{
		Key:                testkeys.Key(9).PrivKey(),
		Listen:             []string{"/ip4/127.0.0.1/tcp/0"},
		Bootstrap:          []peer.AddrInfo{{ID: first.ID(), Addrs: first.Swarm.Host.Addrs()}},
		DisableAutoRefresh: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { evil.Close() })
	srv := dht.NewServer(evil.Host, forgingSource{forged})
	t.Cleanup(func() { srv.Close() })
	if err := evil.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	if err := evil.Provide(ctx, r.Output); err != nil {
		t.Fatalf("forger's Provide = %v", err)
	}

	res, err := lineage.Check(ctx, r.Output, s.Nodes[2].Resolver(), lineage.Options{})
	if err != nil {
		t.Fatalf("Check = %v", err)
	}
	n := res.Nodes[r.Output]
	if res.Verified || n.Verdict != lineage.BadSignature {
		t.Fatalf("Check of a forged record: verified=%v verdict=%v, want false, bad-signature", res.Verified, n.Verdict)
	}
	if len(n.Records) != 1 || n.Records[0].From != evil.Host.ID().String() {
		t.Errorf("record from = %+v, want the forger %s named", n.Records, evil.Host.ID())
	}
	if has, _ := s.Nodes[2].Store.Has(forged.CID); has {
		t.Errorf("the forged record was cached")
	}
	if st := s.Nodes[2].Stats().Peers[evil.Host.ID().String()]; st == nil || st.Refused != 1 {
		t.Errorf("per-peer stats for the forger = %+v, want 1 refused", st)
	}
}

func mustContent(t *testing.T, s string) cid.Cid {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := lineage.HashFile(p, lineage.DefaultHash)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestRestartPublishes: records made while a node is offline wait in its
// outbox and are published once it restarts inside the swarm.
func TestRestartPublishes(t *testing.T) {
	s := startSwarm(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Offline: a home of its own, no daemon; `bonsai record` writes to the
	// store directly.
	home := filepath.Join(t.TempDir(), "laptop")
	key, _, err := store.Init(home)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "made-offline")
	if err := os.WriteFile(out, []byte("written on a plane\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &store.Recorder{Store: st, Key: key}
	outs, err := rec.Record(store.Run{Outputs: []string{out}})
	if err != nil {
		t.Fatal(err)
	}
	if pending, _, err := st.OutboxCounts(); err != nil || pending != 1 {
		t.Fatalf("outbox before restart: %d pending, %v; want 1", pending, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	first := s.Nodes[0]
	n, err := node.New(ctx, home, node.WithListen("/ip4/127.0.0.1/tcp/0"), node.WithoutAutoRefresh(),
		node.WithGCInterval(0),
		node.WithBootstrap(peer.AddrInfo{ID: first.ID(), Addrs: first.Swarm.Host.Addrs()}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	// The background outbox publishes it; wait for that, not for a time.
	if err := n.WaitPublished(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := lineage.Check(ctx, outs[0].Content, s.Nodes[2].Resolver(), lineage.Options{})
	if err != nil || !res.Verified {
		t.Fatalf("Check from another node after restart = %+v, %v; want verified", res, err)
	}
	if e, ok, err := n.Store.OutboxEntry(outs[0].Record); err != nil || !ok || e.State != store.OutboxPublished {
		t.Errorf("outbox entry = %+v, %v, %v; want published", e, ok, err)
	}
}

// TestPinOffline: a node pins a file's ancestry from the swarm; with every
// other node stopped, it still verifies the file on its own.
func TestPinOffline(t *testing.T) {
	s := startSwarm(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	contents := chain(t, ctx, s, []int{0, 1, 2})
	target := contents[len(contents)-1]
	auditor, err := s.Add(ctx)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Nodes[auditor].Pin(ctx, target)
	if err != nil {
		t.Fatalf("Pin = %v", err)
	}
	if info.Records != 3 {
		t.Errorf("pinned %d records, want 3", info.Records)
	}
	for i := range s.Nodes {
		if i != auditor {
			if err := s.Stop(i); err != nil {
				t.Fatal(err)
			}
		}
	}
	a := s.Nodes[auditor]
	if n, err := a.Store.GC(ctx, store.GCOptions{}); err != nil || n.Removed != 0 {
		t.Errorf("GC after pin removed %d records (%v), want 0", n.Removed, err)
	}
	res, err := lineage.Check(ctx, target, a.Resolver(), lineage.Options{})
	if err != nil || !res.Verified || res.Records != 3 {
		t.Fatalf("Check on the auditor alone = %+v, %v; want verified with 3 records", res, err)
	}
}

// TestAllowlist: members that admit only each other's peer IDs refuse a
// third node, whatever it knows of their addresses.
func TestAllowlist(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	var ids []peer.ID
	for i := 0; i < 3; i++ {
		k, _, err := store.Init(testnet.Home(dir, i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, k.ID())
	}
	base := []node.Option{node.WithListen("/ip4/127.0.0.1/tcp/0"), node.WithoutAutoRefresh(), node.WithGCInterval(0)}
	start := func(i int, extra ...node.Option) (*node.Node, error) {
		n, err := node.New(ctx, testnet.Home(dir, i), append(append([]node.Option{}, base...), extra...)...)
		if err == nil {
			t.Cleanup(func() { n.Close() })
		}
		return n, err
	}
	n1, err := start(0, node.WithAllow(ids[0], ids[1]))
	if err != nil {
		t.Fatal(err)
	}
	boot := node.WithBootstrap(peer.AddrInfo{ID: n1.ID(), Addrs: n1.Swarm.Host.Addrs()})
	if _, err := start(1, node.WithAllow(ids[0], ids[1]), boot); err != nil {
		t.Fatalf("allowed member could not join: %v", err)
	}
	// The outsider's handshake completes on its side before the member
	// hangs up, so it learns only by never getting into a routing table:
	// give it a few seconds, not the test's minute.
	octx, ocancel := context.WithTimeout(ctx, 5*time.Second)
	defer ocancel()
	if n, err := node.New(octx, testnet.Home(dir, 2), append(append([]node.Option{}, base...), boot)...); err == nil {
		n.Close()
		t.Fatalf("a peer outside the allowlist joined")
	}
}
