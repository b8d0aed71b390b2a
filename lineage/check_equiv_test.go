package lineage

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// mapResolver and mapMany resolve from a map, one output at a time or many
// per call.
type mapResolver map[cid.Cid][]Block

func (m mapResolver) Resolve(_ context.Context, out cid.Cid) ([]Block, error) { return m[out], nil }

type mapMany struct{ mapResolver }

func (m mapMany) ResolveMany(_ context.Context, outs []cid.Cid) ([][]Block, error) {
	bs := make([][]Block, len(outs))
	for i, o := range outs {
		bs[i] = m.mapResolver[o]
	}
	return bs, nil
}

func numbered(i int) cid.Cid {
	s := sha256.Sum256(fmt.Appendf(nil, "content %d", i))
	h, err := mh.Encode(s[:], mh.SHA2_256)
	if err != nil {
		panic(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// describe is everything a Result says, in order, for comparison.
func describe(r *Result) string {
	var b strings.Builder
	fmt.Fprint(&b, r.Verified, r.Counts, r.Records, r.Executors, len(r.Order))
	for _, c := range r.Order {
		n := r.Nodes[c]
		fmt.Fprintf(&b, "\n%s depth %d %v %q ok %v inputs %v", c, n.Depth, n.Verdict, n.Reason, n.OK, n.Inputs)
		for _, rc := range n.Records {
			fmt.Fprintf(&b, "\n  %s %v %q", rc.CID, rc.Verdict, rc.Reason)
		}
	}
	return b.String()
}

// TestCheckEqualsStrict: Check follows inputs before their records'
// signatures are checked, and checks again level by level when one fails.
// On random DAGs (cycles, several records per output, several executors,
// incomplete records, forged signatures) with random bounds, trust and
// parallelism, through both kinds of resolver, its result is exactly that
// of the strict level-by-level check.
func TestCheckEqualsStrict(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	forged := 0
	for iter := range 300 {
		n := 5 + rng.IntN(60)
		m := mapResolver{}
		for i := range n {
			for j := range rng.IntN(3) {
				var ins []cid.Cid
				for range rng.IntN(4) {
					if x := rng.IntN(n + 5); x != i { // may point back: cycles
						ins = append(ins, numbered(x))
					}
				}
				r := &Record{Executor: Executor{UID: 1}, Output: numbered(i), Time: int64(1_764_000_000 + j),
					Inputs: SortInputs(ins), Incomplete: rng.IntN(10) == 0}
				b, err := r.Sign(testkeys.Key(byte(1 + rng.IntN(3))))
				if err != nil {
					t.Fatal(err)
				}
				if rng.IntN(15) == 0 { // one bit of S flipped, renamed by its bytes
					d := append([]byte(nil), b.Data...)
					d[len(d)-20] ^= 1
					b = Block{CID: RecordCID(d), Data: d}
					forged++
				}
				m[numbered(i)] = append(m[numbered(i)], b)
			}
		}
		opts := Options{MaxDepth: rng.IntN(6), MaxRecords: rng.IntN(80), Parallelism: 1 + rng.IntN(4), RequireFull: rng.IntN(2) == 0}
		if rng.IntN(2) == 0 {
			opts.Trusted = []peer.ID{testkeys.Key(1).ID()}
		}
		for _, res := range []Resolver{m, mapMany{m}} {
			got, err := Check(context.Background(), numbered(0), res, opts)
			if err != nil {
				t.Fatal(err)
			}
			strict := newChecker(res, opts, false)
			if err := strict.fetch(context.Background(), numbered(0)); err != nil {
				t.Fatal(err)
			}
			strict.evaluate(numbered(0))
			if a, b := describe(got), describe(strict.finish(numbered(0))); a != b {
				t.Fatalf("DAG %d through %T: Check differs from the strict check:\n%s\n--- strict:\n%s", iter, res, a, b)
			}
		}
	}
	if forged == 0 {
		t.Fatal("no forged record made: the re-check was not exercised")
	}
}
