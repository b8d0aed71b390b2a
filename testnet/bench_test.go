package testnet_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/testnet"
	"github.com/ipfs/go-cid"
)

// The swarm of the benchmarks: 20 in-process nodes on loopback with the
// DHT's default k (20 replicas: every member ends up holding the records);
// the verifier is a node that joins afterwards and so holds none of them.
const benchNodes = 20

func benchSwarm(b *testing.B, ctx context.Context) *testnet.Swarm {
	b.Helper()
	s, err := testnet.Start(ctx, testnet.Options{
		Nodes: benchNodes,
		Dir:   b.TempDir(),
	})
	if err != nil {
		b.Fatalf("testnet.Start(%d) = %v", benchNodes, err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// contentOf is the content CID of a file holding s.
func contentOf(b *testing.B, s string) cid.Cid {
	b.Helper()
	c, err := lineage.HashReader(strings.NewReader(s), lineage.DefaultHash)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// publish stores each producer's records on its node as its own, then
// flushes every producer's outbox (in parallel) and settles the swarm:
// when it returns, every record is in the DHT, replicated, and every
// holder has announced its output.
func publish(b testing.TB, ctx context.Context, s *testnet.Swarm, byNode map[int][]lineage.Block) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(s.Nodes))
	for i, blocks := range byNode {
		if _, err := s.Nodes[i].Store.Put(blocks, nil); err != nil {
			b.Fatalf("node %d: Put = %v", i+1, err)
		}
		wg.Go(func() {
			// An attempt that times out on a loaded machine is tried
			// again, as the daemon's outbox would.
			flushed := 0
			var err error
			for range 3 {
				var n int
				n, err = s.Nodes[i].Flush(ctx)
				flushed += n
				if err == nil || ctx.Err() != nil {
					break
				}
			}
			if err == nil && flushed != len(blocks) {
				err = fmt.Errorf("flushed %d records, want %d", flushed, len(blocks))
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			b.Fatalf("node %d: Flush = %v", i+1, err)
		}
	}
	if err := s.Settle(ctx); err != nil {
		b.Fatal(err)
	}
}

// holdsAny reports whether n stores a record of any of outs.
func holdsAny(b *testing.B, n *node.Node, outs []cid.Cid) bool {
	b.Helper()
	for _, out := range outs {
		claims, err := n.Store.Claims(out)
		if err != nil {
			b.Fatal(err)
		}
		if len(claims) > 0 {
			return true
		}
	}
	return false
}

// idleCores is how many cores the whole process (every in-process node)
// keeps busy over d while the benchmark does nothing: the background load
// under which the swarm figures are measured.
func idleCores(b *testing.B, d time.Duration) float64 {
	b.Helper()
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	c0, t0 := cpu(), time.Now()
	time.Sleep(d)
	return float64(cpu()-c0) / float64(time.Since(t0))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile is the nearest-rank p-th percentile of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// BenchmarkVerify1kSwarm: verify a 1,001-record ancestry spread over a
// 20-node in-process swarm from a node that holds none of it, then the
// same ancestry once pinned on that node.
//
// The DAG: 50 layers of 20 records, each record of layer l > 0 made from
// records j and j+1 (mod 20) of the layer below, plus a top record made
// from all of layer 49 (signed by node 0). Record j of layer l is signed
// and published by node (j + 7l) mod 20: every layer is spread round-robin
// over all 20 nodes, and below the top no record's producer made either of
// its inputs.
//
// One iteration: a new node joins the swarm (untimed), is checked to hold
// none of the ancestry (untimed), and verifies the top output through the
// swarm (timed); the previous iteration's node is stopped first, so the
// swarm has 21 nodes running while a verification runs and no verifier
// ever finds another's cache. After the loop the last verifier pins the
// top output, the swarm settles, and Check runs on its store alone 11
// times: ms/verify-pinned is their median.
//
// Metrics: ms/verify-swarm (mean; ns/op is the same figure), round-trips
// (fetch requests), provider-lookups and records-fetched per swarm
// verification, records/round-trip, ms/verify-pinned and swarm/pinned, the
// ratio of the two verification times; idle-cores is the CPU the settled
// swarm burns doing nothing (over 2 s before the loop), the load every
// figure is measured under.
func BenchmarkVerify1kSwarm(b *testing.B) {
	const width, depth = 20, 50
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s := benchSwarm(b, ctx)

	name := func(l, j int) cid.Cid { return contentOf(b, fmt.Sprintf("dag-%d-%d", l, j)) }
	byNode := map[int][]lineage.Block{}
	outs := make([]cid.Cid, 0, width*depth+1)
	sign := func(p int, r *lineage.Record) {
		blk, err := r.Sign(s.Nodes[p].Key)
		if err != nil {
			b.Fatal(err)
		}
		byNode[p] = append(byNode[p], blk)
		outs = append(outs, r.Output)
	}
	for l := range depth {
		for j := range width {
			r := &lineage.Record{Output: name(l, j), Time: int64(1764000000 + l)}
			if l > 0 {
				r.Inputs = []cid.Cid{name(l-1, j), name(l-1, (j+1)%width)}
			}
			sign((j+7*l)%benchNodes, r)
		}
	}
	top := &lineage.Record{Output: contentOf(b, "dag-top"), Time: 1764000000 + depth}
	for j := range width {
		top.Inputs = append(top.Inputs, name(depth-1, j))
	}
	sign(0, top)
	const want = width*depth + 1
	publish(b, ctx, s, byNode)
	idle := idleCores(b, 2*time.Second)

	var (
		swarmTime                        time.Duration
		roundTrips, lookups, fetched, nv int
		fresh                            *node.Node
		freshIdx                         = -1
	)
	for b.Loop() {
		b.StopTimer()
		if freshIdx >= 0 {
			if err := s.Stop(freshIdx); err != nil {
				b.Fatal(err)
			}
		}
		idx, err := s.Add(ctx)
		if err != nil {
			b.Fatal(err)
		}
		fresh, freshIdx = s.Nodes[idx], idx
		if holdsAny(b, fresh, outs) {
			b.Fatal("the new node holds part of the ancestry before verifying")
		}
		b.StartTimer()

		start := time.Now()
		res, err := lineage.Check(ctx, top.Output, fresh.Resolver(), lineage.Options{})
		elapsed := time.Since(start)

		b.StopTimer()
		if err != nil {
			b.Fatalf("Check through the swarm = %v", err)
		}
		if !res.Verified || res.Records != want {
			b.Fatalf("Check through the swarm: verified=%v records=%d, want true, %d (%v)", res.Verified, res.Records, want, res.Counts)
		}
		st := fresh.Stats()
		swarmTime += elapsed
		roundTrips += st.RoundTrips
		lookups += st.ProviderLookups
		fetched += st.Fetched
		nv++
		b.StartTimer()
	}

	// Pinned: the last verifier pins the top output (its ancestry is
	// cached already, so the pin reads it locally) and announces every
	// output of it; the swarm settles so those announcements do not
	// compete with the measurement.
	info, err := fresh.Pin(ctx, top.Output)
	if err != nil {
		b.Fatalf("Pin = %v", err)
	}
	if info.Records != want {
		b.Fatalf("pinned %d records, want %d", info.Records, want)
	}
	if err := s.Settle(ctx); err != nil {
		b.Fatal(err)
	}
	var pinned []time.Duration
	for range 11 {
		start := time.Now()
		res, err := lineage.Check(ctx, top.Output, fresh.Store, lineage.Options{})
		elapsed := time.Since(start)
		if err != nil || !res.Verified || res.Records != want {
			b.Fatalf("Check of the pinned ancestry = %v, %v", res, err)
		}
		pinned = append(pinned, elapsed)
	}
	slices.Sort(pinned)
	pinnedMedian := percentile(pinned, 50)

	swarmMean := swarmTime / time.Duration(nv)
	b.ReportMetric(ms(swarmMean), "ms/verify-swarm")
	b.ReportMetric(float64(roundTrips)/float64(nv), "round-trips")
	b.ReportMetric(float64(lookups)/float64(nv), "provider-lookups")
	b.ReportMetric(float64(fetched)/float64(nv), "records-fetched")
	if roundTrips > 0 {
		b.ReportMetric(float64(fetched)/float64(roundTrips), "records/round-trip")
	}
	b.ReportMetric(ms(pinnedMedian), "ms/verify-pinned")
	b.ReportMetric(float64(swarmMean)/float64(pinnedMedian), "swarm/pinned")
	b.ReportMetric(idle, "idle-cores")
}

// BenchmarkDHTLatency: DHT put and provider lookup latency on a settled
// swarm of 20 and of 80 nodes (default replication, as
// BenchmarkVerify1kSwarm; BONSAI_LATENCY_NODES lists other sizes).
//
// Setup publishes 100 records, one per output, made round-robin on the 20
// nodes. One iteration makes 100 Swarm.PutRecord calls of new signed
// records, each from the next node in turn (the swarm settles after each
// put, untimed, so the replicas' announcements do not pile up under the
// next put), then 100 Swarm.Providers lookups (at most 1 provider) of the
// published outputs, each from a node that holds no record of that output
// and so is not one of its providers. ns/op is the whole round; the
// figures are put-median-ms, put-p95-ms, providers-median-ms and
// providers-p95-ms over every call of every iteration, and idle-cores as
// in BenchmarkVerify1kSwarm.
func BenchmarkDHTLatency(b *testing.B) {
	for _, n := range benchSizes(b, "BONSAI_LATENCY_NODES", []int{benchNodes, 80}) {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) { benchDHTLatency(b, n) })
	}
}

func benchDHTLatency(b *testing.B, nodes int) {
	const calls = 100
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := testnet.Start(ctx, testnet.Options{Nodes: nodes, Dir: b.TempDir()})
	if err != nil {
		b.Fatalf("testnet.Start(%d) = %v", nodes, err)
	}
	b.Cleanup(func() { s.Close() })

	byNode := map[int][]lineage.Block{}
	published := make([]cid.Cid, calls)
	for i := range calls {
		p := i % nodes
		r := &lineage.Record{Output: contentOf(b, fmt.Sprintf("published-%d", i)), Time: 1764000000}
		blk, err := r.Sign(s.Nodes[p].Key)
		if err != nil {
			b.Fatal(err)
		}
		byNode[p] = append(byNode[p], blk)
		published[i] = r.Output
	}
	publish(b, ctx, s, byNode)

	// Every member holds every record (k = 20), so lookups run on a node
	// that joined afterwards and provides nothing: each lookup is a real
	// walk of the DHT.
	looker, err := s.Add(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if holdsAny(b, s.Nodes[looker], published) {
		b.Fatal("the newcomer holds a published output")
	}
	idle := idleCores(b, 2*time.Second)

	var puts, finds []time.Duration
	iter := 0
	for b.Loop() {
		iter++
		for i := range calls {
			n := s.Nodes[i%nodes]
			r := &lineage.Record{Output: contentOf(b, fmt.Sprintf("put-%d-%d", iter, i)), Time: 1764000000}
			blk, err := r.Sign(n.Key)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			err = n.Swarm.PutRecord(ctx, blk)
			puts = append(puts, time.Since(start))
			if err != nil {
				b.Fatalf("node %d: PutRecord = %v", i%nodes+1, err)
			}
			if err := s.Settle(ctx); err != nil {
				b.Fatal(err)
			}
		}
		for i, out := range published {
			n := s.Nodes[looker]
			start := time.Now()
			ps := n.Swarm.Providers(ctx, out, 1)
			finds = append(finds, time.Since(start))
			if len(ps) != 1 || ps[0].ID == n.ID() {
				b.Fatalf("newcomer: Providers(published %d) = %v, want another node", i, ps)
			}
		}
	}
	slices.Sort(puts)
	slices.Sort(finds)
	b.ReportMetric(ms(percentile(puts, 50)), "put-median-ms")
	b.ReportMetric(ms(percentile(puts, 95)), "put-p95-ms")
	b.ReportMetric(ms(percentile(finds, 50)), "providers-median-ms")
	b.ReportMetric(ms(percentile(finds, 95)), "providers-p95-ms")
	b.ReportMetric(idle, "idle-cores")
}
