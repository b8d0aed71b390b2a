package lineage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// memResolver is a plain in-memory index of blocks by output, counting how
// often each output is asked for. The pebble store is exercised by node's
// tests; here the point is CheckLineage's logic.
type memResolver struct {
	mu      sync.Mutex
	claims  map[cid.Cid][]lineage.Block
	calls   map[cid.Cid]int
	failFor map[cid.Cid]error
}

func newMem() *memResolver {
	return &memResolver{claims: map[cid.Cid][]lineage.Block{}, calls: map[cid.Cid]int{}, failFor: map[cid.Cid]error{}}
}

func (m *memResolver) add(out string, b lineage.Block) { m.addCID(content(out), b) }

func (m *memResolver) addCID(out cid.Cid, b lineage.Block) {
	m.claims[out] = append(m.claims[out], b)
}

func (m *memResolver) Resolve(ctx context.Context, out cid.Cid) ([]lineage.Block, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls[out]++
	if err := m.failFor[out]; err != nil {
		return nil, err
	}
	return m.claims[out], nil
}

// rec signs "out <- inputs" by key n and adds it.
func (m *memResolver) rec(t *testing.T, n byte, out string, inputs ...string) lineage.Block {
	t.Helper()
	_, b := signed(t, n, out, inputs...)
	m.add(out, b)
	return b
}

// manyMem is memResolver as a lineage.ManyResolver, resolving the outputs
// of one call one by one: the first error fails the call.
type manyMem struct{ *memResolver }

func (m manyMem) ResolveMany(ctx context.Context, outs []cid.Cid) ([][]lineage.Block, error) {
	blocks := make([][]lineage.Block, len(outs))
	for i, out := range outs {
		bs, err := m.Resolve(ctx, out)
		if err != nil {
			return nil, err
		}
		blocks[i] = bs
	}
	return blocks, nil
}

func check(t *testing.T, m lineage.Resolver, target string, opts lineage.Options) *lineage.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := lineage.Check(ctx, content(target), m, opts)
	if err != nil {
		t.Fatalf("Check(%s) = %v", target, err)
	}
	return res
}

func verdictOf(res *lineage.Result, name string) lineage.Verdict {
	n, ok := res.Nodes[content(name)]
	if !ok {
		return -1
	}
	return n.Verdict
}

func TestCheck(t *testing.T) {
	id2 := testkeys.Key(2).ID()
	tests := []struct {
		name     string
		build    func(t *testing.T, m *memResolver)
		target   string
		opts     lineage.Options
		verified bool
		verdicts map[string]lineage.Verdict
	}{
		{
			name: "chain to a source",
			build: func(t *testing.T, m *memResolver) {
				m.rec(t, 1, "b", "a")
				m.rec(t, 1, "c", "b")
			},
			target: "c", verified: true,
			verdicts: map[string]lineage.Verdict{"c": lineage.Verified, "b": lineage.Verified, "a": lineage.Source},
		},
		{
			name:   "target without record",
			build:  func(t *testing.T, m *memResolver) {},
			target: "x", verified: false,
			verdicts: map[string]lineage.Verdict{"x": lineage.NoRecord},
		},
		{
			name: "full ancestry demanded",
			build: func(t *testing.T, m *memResolver) {
				m.rec(t, 1, "b", "a")
			},
			target: "b", opts: lineage.Options{RequireFull: true}, verified: false,
			verdicts: map[string]lineage.Verdict{"b": lineage.Verified, "a": lineage.NoRecord},
		},
		{
			name: "full ancestry present",
			build: func(t *testing.T, m *memResolver) {
				m.rec(t, 1, "a")
				m.rec(t, 1, "b", "a")
			},
			target: "b", opts: lineage.Options{RequireFull: true}, verified: true,
			verdicts: map[string]lineage.Verdict{"b": lineage.Verified, "a": lineage.Verified},
		},
		{
			name: "bad signature on an ancestor fails the target",
			build: func(t *testing.T, m *memResolver) {
				_, b := signed(t, 1, "b", "a")
				m.add("b", forge(t, b))
				m.rec(t, 1, "c", "b")
			},
			target: "c", verified: false,
			verdicts: map[string]lineage.Verdict{"c": lineage.Verified, "b": lineage.BadSignature},
		},
		{
			name: "one good record among false claims",
			build: func(t *testing.T, m *memResolver) {
				_, b := signed(t, 2, "b", "evil")
				m.add("b", forge(t, b))
				m.rec(t, 1, "b", "a")
			},
			target: "b", verified: true,
			verdicts: map[string]lineage.Verdict{"b": lineage.Verified, "a": lineage.Source},
		},
		{
			name: "record for another output",
			build: func(t *testing.T, m *memResolver) {
				_, b := signed(t, 1, "other")
				m.add("b", b)
			},
			target: "b", verified: false,
			verdicts: map[string]lineage.Verdict{"b": lineage.Invalid},
		},
		{
			name: "block not matching its CID",
			build: func(t *testing.T, m *memResolver) {
				_, b := signed(t, 1, "b")
				_, other := signed(t, 1, "c")
				b.CID = other.CID
				m.add("b", b)
			},
			target: "b", verified: false,
			verdicts: map[string]lineage.Verdict{"b": lineage.Invalid},
		},
		{
			name: "trusted executors only",
			build: func(t *testing.T, m *memResolver) {
				m.rec(t, 2, "b", "a")
				m.rec(t, 1, "c", "b")
			},
			target: "c", opts: lineage.Options{Trusted: []peer.ID{testkeys.Key(1).ID()}}, verified: false,
			verdicts: map[string]lineage.Verdict{"c": lineage.Verified, "b": lineage.Untrusted},
		},
		{
			name: "revoked executor cascades to descendants",
			build: func(t *testing.T, m *memResolver) {
				m.rec(t, 2, "b", "a")
				m.rec(t, 1, "c", "b")
				m.rec(t, 1, "d", "c")
			},
			target: "d", opts: lineage.Options{RevokedExecutors: []peer.ID{id2}}, verified: false,
			verdicts: map[string]lineage.Verdict{"d": lineage.Verified, "c": lineage.Verified, "b": lineage.Revoked},
		},
		{
			name: "revoked output",
			build: func(t *testing.T, m *memResolver) {
				m.rec(t, 1, "b", "a")
				m.rec(t, 1, "c", "b")
			},
			target: "c", opts: lineage.Options{Revoked: []cid.Cid{content("a")}}, verified: false,
			verdicts: map[string]lineage.Verdict{"a": lineage.Revoked},
		},
		{
			name: "incomplete capture is never clean",
			build: func(t *testing.T, m *memResolver) {
				r := &lineage.Record{Output: content("b"), Inputs: []cid.Cid{content("a")}, Incomplete: true}
				b, err := r.Sign(testkeys.Key(1))
				if err != nil {
					t.Fatal(err)
				}
				m.add("b", b)
			},
			target: "b", verified: false,
			verdicts: map[string]lineage.Verdict{"b": lineage.Incomplete, "a": lineage.Source},
		},
		{
			name: "cycle",
			build: func(t *testing.T, m *memResolver) {
				m.rec(t, 1, "x", "y")
				m.rec(t, 1, "y", "x")
			},
			target: "x", verified: false,
			verdicts: map[string]lineage.Verdict{"y": lineage.Cycle},
		},
		{
			name: "a cyclic claim does not poison a good record",
			build: func(t *testing.T, m *memResolver) {
				m.rec(t, 1, "x")
				m.rec(t, 2, "x", "y")
				m.rec(t, 2, "y", "x")
			},
			target: "x", verified: true,
			verdicts: map[string]lineage.Verdict{"x": lineage.Verified},
		},
		{
			name: "depth limit",
			build: func(t *testing.T, m *memResolver) {
				m.rec(t, 1, "b", "a")
				m.rec(t, 1, "c", "b")
				m.rec(t, 1, "d", "c")
			},
			target: "d", opts: lineage.Options{MaxDepth: 1}, verified: true,
			verdicts: map[string]lineage.Verdict{"d": lineage.Verified, "c": lineage.Verified, "b": lineage.DepthLimit, "a": -1},
		},
		{
			name: "a full check cut by the depth limit is not verified",
			build: func(t *testing.T, m *memResolver) {
				m.rec(t, 1, "b")
				m.rec(t, 1, "c", "b")
				m.rec(t, 1, "d", "c")
			},
			target: "d", opts: lineage.Options{MaxDepth: 1, RequireFull: true}, verified: false,
			verdicts: map[string]lineage.Verdict{"d": lineage.Verified, "c": lineage.Verified, "b": lineage.DepthLimit},
		},
		{
			name: "record budget",
			build: func(t *testing.T, m *memResolver) {
				m.rec(t, 1, "b", "a")
				m.rec(t, 1, "c", "b")
			},
			target: "c", opts: lineage.Options{MaxRecords: 1}, verified: false,
			verdicts: map[string]lineage.Verdict{"c": lineage.Verified, "b": lineage.LimitReached},
		},
		{
			name: "unreachable holder",
			build: func(t *testing.T, m *memResolver) {
				m.rec(t, 1, "c", "b")
				m.failFor[content("b")] = fmt.Errorf("3 providers: %w", lineage.ErrUnreachable)
			},
			target: "c", verified: false,
			verdicts: map[string]lineage.Verdict{"c": lineage.Verified, "b": lineage.Unreachable},
		},
	}
	// Each case runs with a plain Resolver and with a ManyResolver (a
	// level's outputs resolved in one call).
	for _, tt := range tests {
		for _, many := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/many=%v", tt.name, many), func(t *testing.T) {
				m := newMem()
				tt.build(t, m)
				var res *lineage.Result
				if many {
					res = check(t, manyMem{m}, tt.target, tt.opts)
				} else {
					res = check(t, m, tt.target, tt.opts)
				}
				if res.Verified != tt.verified {
					t.Errorf("Check(%s).Verified = %v, want %v", tt.target, res.Verified, tt.verified)
				}
				for name, want := range tt.verdicts {
					if got := verdictOf(res, name); got != want {
						t.Errorf("verdict of %s = %v, want %v", name, got, want)
					}
				}
			})
		}
	}
}

// TestCheckForgedShortcut: signatures are checked in the background while
// the ancestry is walked, the walk following a record's inputs before its
// signature is known. A forged record must still lead nowhere: what only it
// names is not in the result, and an ancestor it reaches by a shorter path
// keeps the depth its genuine path gives.
func TestCheckForgedShortcut(t *testing.T) {
	m := newMem()
	m.rec(t, 1, "top", "a", "f")
	m.rec(t, 1, "a", "b")
	m.rec(t, 1, "b", "c")
	m.rec(t, 1, "c")
	_, f := signed(t, 1, "f", "c", "hidden")
	m.add("f", forgeS(t, f))
	m.rec(t, 1, "hidden", "deeper")
	// What only the forged record names may even fail to resolve: the
	// first pass, which followed it, errs; the strict one never asks.
	m.failFor[content("deeper")] = errors.New("disk on fire")
	for _, r := range []lineage.Resolver{m, manyMem{m}} {
		clear(m.calls)
		res := check(t, r, "top", lineage.Options{})
		for c, n := range m.calls {
			if n != 1 {
				t.Errorf("%T: Resolve(%s) called %d times, want 1: the re-check judges what the first pass resolved", r, c, n)
			}
		}
		if res.Verified {
			t.Errorf("%T: Check(top).Verified = true, want false", r)
		}
		if got := verdictOf(res, "f"); got != lineage.BadSignature {
			t.Errorf("%T: verdict of f = %v, want %v", r, got, lineage.BadSignature)
		}
		for _, name := range []string{"hidden", "deeper"} {
			if _, ok := res.Nodes[content(name)]; ok {
				t.Errorf("%T: %s, named only by the forged record, is in the result", r, name)
			}
		}
		if n := res.Nodes[content("c")]; n == nil || n.Depth != 3 {
			t.Errorf("%T: node c = %+v, want depth 3 (top, a, b, c)", r, n)
		}
		if got, want := len(res.Order), 5; got != want {
			t.Errorf("%T: %d nodes in order, want %d", r, got, want)
		}
	}
}

// forge returns b with one bit of its signature flipped, re-named by its
// new bytes: a well-formed record whose signature is wrong.
func forge(t *testing.T, b lineage.Block) lineage.Block { return forgeAt(t, b, 0) }

// forgeS is forge flipping a bit of S instead of R: R still decodes to a
// point, so the signature joins a batch and makes its equation fail.
func forgeS(t *testing.T, b lineage.Block) lineage.Block { return forgeAt(t, b, 40) }

func forgeAt(t *testing.T, b lineage.Block, at int) lineage.Block {
	t.Helper()
	r, err := lineage.Decode(b.Data)
	if err != nil {
		t.Fatal(err)
	}
	r.Sig = append([]byte(nil), r.Sig...)
	r.Sig[at] ^= 1
	out, err := r.Block()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCheckSharedAncestorsOnce: a diamond-rich DAG asks for each output
// once, however many paths lead to it.
func TestCheckSharedAncestorsOnce(t *testing.T) {
	m := newMem()
	// Layer k node j has both nodes of layer k-1 as inputs.
	m.rec(t, 1, "L0-0")
	m.rec(t, 1, "L0-1")
	for k := 1; k <= 10; k++ {
		for j := 0; j < 2; j++ {
			m.rec(t, 1, fmt.Sprintf("L%d-%d", k, j), fmt.Sprintf("L%d-0", k-1), fmt.Sprintf("L%d-1", k-1))
		}
	}
	m.rec(t, 1, "top", "L10-0", "L10-1")
	res := check(t, m, "top", lineage.Options{})
	if !res.Verified {
		t.Fatalf("Check(top).Verified = false, want true")
	}
	if got, want := len(res.Nodes), 23; got != want {
		t.Errorf("nodes = %d, want %d", got, want)
	}
	for c, n := range m.calls {
		if n != 1 {
			t.Errorf("Resolve(%s) called %d times, want 1", c, n)
		}
	}
	if got := res.Nodes[content("L0-0")].Depth; got != 11 {
		t.Errorf("depth of L0-0 = %d, want 11", got)
	}
}

// failMany is a ManyResolver whose calls for many outputs all fail with
// err; one output at a time, it is m.
type failMany struct {
	*memResolver
	err error
}

func (f failMany) ResolveMany(context.Context, []cid.Cid) ([][]lineage.Block, error) {
	return nil, f.err
}

// TestCheckManyResolverFails: a call for many outputs that fails gives
// each of them the verdict its error means (here unreachable), or fails
// the check with it.
func TestCheckManyResolverFails(t *testing.T) {
	m := newMem()
	m.rec(t, 1, "c", "a", "b")
	res := check(t, failMany{m, fmt.Errorf("2 providers: %w", lineage.ErrUnreachable)}, "c", lineage.Options{})
	for _, name := range []string{"a", "b"} {
		if got := verdictOf(res, name); got != lineage.Unreachable {
			t.Errorf("verdict of %s = %v, want unreachable", name, got)
		}
	}
	boom := errors.New("disk on fire")
	if _, err := lineage.Check(context.Background(), content("c"), failMany{m, boom}, lineage.Options{}); !errors.Is(err, boom) {
		t.Errorf("Check with a failing ResolveMany = %v, want %v", err, boom)
	}
}

func TestCheckResolverError(t *testing.T) {
	m := newMem()
	m.rec(t, 1, "c", "b")
	boom := errors.New("disk on fire")
	m.failFor[content("b")] = boom
	_, err := lineage.Check(context.Background(), content("c"), m, lineage.Options{})
	if !errors.Is(err, boom) {
		t.Errorf("Check with failing resolver = %v, want %v", err, boom)
	}
}

func TestCheckDeadline(t *testing.T) {
	m := newMem()
	m.rec(t, 1, "c", "b")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := lineage.Check(ctx, content("c"), m, lineage.Options{})
	if err != nil {
		t.Fatalf("Check(cancelled) = %v", err)
	}
	if res.Verified || verdictOf(res, "c") != lineage.LimitReached {
		t.Errorf("Check(cancelled) verified=%v verdict=%v, want false, limit-reached", res.Verified, verdictOf(res, "c"))
	}
}

func TestCheckExecutorsMet(t *testing.T) {
	m := newMem()
	m.rec(t, 2, "b", "a")
	m.rec(t, 1, "c", "b")
	res := check(t, m, "c", lineage.Options{})
	for _, n := range []byte{1, 2} {
		if got := res.Executors[testkeys.Key(n).ID()]; got != 1 {
			t.Errorf("records by key %d = %d, want 1", n, got)
		}
	}
}

func TestCheckProgress(t *testing.T) {
	m := newMem()
	m.rec(t, 1, "b", "a")
	m.rec(t, 1, "c", "b")
	var depths []int
	last := 0
	check(t, m, "c", lineage.Options{Progress: func(depth, nodes, records int) {
		depths = append(depths, depth)
		last = records
	}})
	if len(depths) != 3 || depths[2] != 2 || last != 2 {
		t.Errorf("progress calls = %v, last records %d; want depths 0,1,2 and 2 records", depths, last)
	}
}

// TestCheckOneBadSignatureAmongMany: in a wide DAG, whose levels are
// checked in batches of signatures, one forged record and one by an
// executor whose key is not in its ID fail their own nodes only, each with
// its own verdict; every other node verifies, and the target fails.
func TestCheckOneBadSignatureAmongMany(t *testing.T) {
	const width, depth = 40, 4
	name := func(l, j int) string { return fmt.Sprintf("n%d-%d", l, j) }
	forged, unknown := name(2, 17), name(1, 5)
	id, err := peerIDFromSHA256("not an inline key")
	if err != nil {
		t.Fatal(err)
	}
	m := newMem()
	var top []string
	for l := 0; l < depth; l++ {
		for j := 0; j < width; j++ {
			var inputs []string
			if l > 0 {
				inputs = []string{name(l-1, j), name(l-1, (j+1)%width)}
			}
			r, b := signed(t, byte(1+j%2), name(l, j), inputs...)
			switch name(l, j) {
			case forged:
				b = forgeS(t, b)
			case unknown:
				r.Executor.Peer = id
				if b, err = r.Block(); err != nil {
					t.Fatal(err)
				}
			}
			m.add(name(l, j), b)
			if l == depth-1 {
				top = append(top, name(l, j))
			}
		}
	}
	m.rec(t, 1, "top", top...)
	res := check(t, m, "top", lineage.Options{})
	if res.Verified {
		t.Error("Check(top).Verified = true, want false")
	}
	failed := map[string]lineage.Verdict{}
	for _, n := range res.Failures(false) {
		for l := 0; l < depth; l++ {
			for j := 0; j < width; j++ {
				if n.Output == content(name(l, j)) {
					failed[name(l, j)] = n.Verdict
				}
			}
		}
	}
	want := map[string]lineage.Verdict{forged: lineage.BadSignature, unknown: lineage.UnknownExecutor}
	if len(failed) != len(want) || failed[forged] != want[forged] || failed[unknown] != want[unknown] {
		t.Errorf("failing nodes = %v, want %v", failed, want)
	}
	if got := len(res.Nodes); got != width*depth+1 {
		t.Errorf("nodes = %d, want %d", got, width*depth+1)
	}
	for _, n := range []string{forged, unknown} {
		rc := res.Nodes[content(n)].Records[0]
		if rc.Record == nil || rc.Reason == "" {
			t.Errorf("%s: record %v, reason %q: want the record kept for display and a reason", n, rc.Record, rc.Reason)
		}
	}
}
