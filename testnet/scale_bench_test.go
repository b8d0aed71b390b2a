package testnet_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/bonsai-lineage/bonsai/testnet"
	"github.com/ipfs/go-cid"
)

// wideDAG is the ancestry: layers of width records, each record of
// layer l > 0 made from records j and j+1 (mod width) of the layer below,
// plus a top made from all of the last layer; record j of layer l is
// signed by node (j + 7l) mod n, so every layer is spread over the swarm.
type wideDAG struct {
	byNode map[int][]lineage.Block
	outs   []cid.Cid
	top    cid.Cid
}

func makeWideDAG(tb testing.TB, s *testnet.Swarm, nodes, width, depth int) wideDAG {
	tb.Helper()
	d := wideDAG{byNode: map[int][]lineage.Block{}}
	name := func(l, j int) cid.Cid {
		c, err := lineage.HashReader(strings.NewReader(fmt.Sprintf("dag-%d-%d", l, j)), lineage.DefaultHash)
		if err != nil {
			tb.Fatal(err)
		}
		return c
	}
	sign := func(p int, r *lineage.Record) {
		blk, err := r.Sign(s.Nodes[p].Key)
		if err != nil {
			tb.Fatal(err)
		}
		d.byNode[p] = append(d.byNode[p], blk)
		d.outs = append(d.outs, r.Output)
	}
	for l := range depth {
		for j := range width {
			r := &lineage.Record{Output: name(l, j), Time: int64(1764000000 + l)}
			if l > 0 {
				r.Inputs = []cid.Cid{name(l-1, j), name(l-1, (j+1)%width)}
			}
			sign((j+7*l)%nodes, r)
		}
	}
	top := &lineage.Record{Output: name(depth, 0), Time: int64(1764000000 + depth)}
	for j := range width {
		top.Inputs = append(top.Inputs, name(depth-1, j))
	}
	sign(0, top)
	d.top = top.Output
	return d
}

// BenchmarkSwarmScale: the 1,001-record wide DAG (50 layers × 20 + top)
// published over N in-process nodes (default k), optionally followed by
// one GC pass on every node, then verified from a node that joined
// afterwards. The GC pass deletes what it drops at once, the provider
// records announcing it still in the DHT (the worst case).
// BONSAI_SCALE_NODES lists the N to run (default 20,40,80).
//
// Metrics per verification: ms/verify, rounds (sequential waves of swarm
// prefetch), round-trips (fetch requests),
// provider-lookups, fetched/needed (records received over records in the
// ancestry), verified (1 or 0), heap-MiB after the run (every node of the
// process), peak-RSS-MiB (the process's peak so far: make bench runs
// each size in a process of its own).
func BenchmarkSwarmScale(b *testing.B) {
	for _, n := range benchSizes(b, "BONSAI_SCALE_NODES", []int{20, 40, 80}) {
		for _, gc := range []bool{false, true} {
			b.Run(fmt.Sprintf("nodes=%d/gc=%v", n, gc), func(b *testing.B) { benchScale(b, n, gc) })
		}
	}
}

func benchScale(b *testing.B, nodes int, gc bool) {
	const width, depth = 20, 50
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	s, err := testnet.Start(ctx, testnet.Options{Nodes: nodes, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	d := makeWideDAG(b, s, nodes, width, depth)
	publish(b, ctx, s, d.byNode)
	removed := 0
	if gc {
		// Deleted at once, announcements still out: the worst case.
		for _, n := range s.Nodes {
			st, err := n.Store.GC(ctx, store.GCOptions{KeepLevels: node.DefaultKeepLevels, Closest: n.Swarm.AmongClosest})
			if err != nil {
				b.Fatal(err)
			}
			removed += st.Removed
		}
	}
	var wall time.Duration
	var rounds, trips, lookups, fetched, verified, runs int
	for b.Loop() {
		b.StopTimer()
		idx, err := s.Add(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fresh := s.Nodes[idx]
		b.StartTimer()
		start := time.Now()
		res, err := lineage.Check(ctx, d.top, fresh.Resolver(), lineage.Options{})
		wall += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		st := fresh.Stats()
		rounds += st.Rounds
		trips += st.RoundTrips
		lookups += st.ProviderLookups
		fetched += st.Fetched
		if res.Verified {
			verified++
		}
		runs++
		if err := s.Stop(idx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	f := float64(runs)
	b.ReportMetric(float64(wall.Milliseconds())/f, "ms/verify")
	b.ReportMetric(float64(rounds)/f, "rounds")
	b.ReportMetric(float64(trips)/f, "round-trips")
	b.ReportMetric(float64(lookups)/f, "provider-lookups")
	b.ReportMetric(float64(fetched)/f/float64(len(d.outs)), "fetched/needed")
	b.ReportMetric(float64(verified)/f, "verified")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MiB")
	}
	if gc {
		b.ReportMetric(float64(removed), "gc-removed")
	}
}

// benchSizes is the swarm sizes a benchmark runs: the comma-separated
// list in the environment variable env, else def.
func benchSizes(b *testing.B, env string, def []int) []int {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	var sizes []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 2 {
			b.Fatalf("%s: %q is not a swarm size", env, f)
		}
		sizes = append(sizes, n)
	}
	return sizes
}
