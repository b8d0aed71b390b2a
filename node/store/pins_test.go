package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

// testCtx is a context that ends with the test, or after a minute.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// pinChain stores in st, as st's own, a chain of depth records:
// name-0 <- name-1 <- ... <- name-(depth-1) <- name-depth (a source). Each
// record also reads a source of its own. outs[i] is name-i; blocks[i] is
// the record claiming it.
func pinChain(t *testing.T, st *store.Store, name string, depth int) (outs []cid.Cid, blocks []lineage.Block) {
	t.Helper()
	for i := range depth {
		out := fmt.Sprintf("%s-%d", name, i)
		blocks = append(blocks, block(t, 1, out, int64(100+i), fmt.Sprintf("%s-%d", name, i+1), out+"-src"))
		outs = append(outs, contentOf(t, out))
	}
	if _, err := st.Put(blocks, nil); err != nil {
		t.Fatal(err)
	}
	return outs, blocks
}

func sizeOf(blocks []lineage.Block) int64 {
	var n int64
	for _, b := range blocks {
		n += int64(len(b.Data))
	}
	return n
}

// swarm wraps an untrusted resolver: it adds blocks to some answers, fails
// some outputs, may hold an answer until released, and counts questions.
type swarm struct {
	lineage.Resolver
	extra map[cid.Cid][]lineage.Block
	fail  map[cid.Cid]error
	// hold: when resolving this output, signal reached and wait for release.
	hold             cid.Cid
	reached, release chan struct{}

	mu    sync.Mutex
	asked map[cid.Cid]int
}

func (s *swarm) Resolve(ctx context.Context, out cid.Cid) ([]lineage.Block, error) {
	s.mu.Lock()
	if s.asked == nil {
		s.asked = map[cid.Cid]int{}
	}
	s.asked[out]++
	s.mu.Unlock()
	if s.hold.Defined() && out.Equals(s.hold) {
		close(s.reached)
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := s.fail[out]; err != nil {
		return nil, err
	}
	blocks, err := s.Resolver.Resolve(ctx, out)
	if err != nil {
		return nil, err
	}
	return append(slices.Clone(s.extra[out]), blocks...), nil
}

func (s *swarm) askedOf(out cid.Cid) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[out]
}

func checkVerifies(t *testing.T, ctx context.Context, st *store.Store, target cid.Cid, records int) {
	t.Helper()
	res, err := lineage.Check(ctx, target, st, lineage.Options{})
	if err != nil {
		t.Fatalf("Check = %v", err)
	}
	if !res.Verified || res.Records != records {
		t.Errorf("Check: verified %v with %d records; want verified with %d", res.Verified, res.Records, records)
	}
}

func TestPinFetchesAncestry(t *testing.T) {
	ctx := testCtx(t)
	remote := openStore(t, t.TempDir())
	local := openStore(t, t.TempDir())
	outs, blocks := pinChain(t, remote, "chain", 6)
	sw := &swarm{Resolver: remote}

	info, err := local.Pin(ctx, outs[0], sw)
	if err != nil {
		t.Fatalf("Pin = %v", err)
	}
	if !info.Output.Equals(outs[0]) || !slices.Equal(info.Roots, []cid.Cid{blocks[0].CID}) ||
		info.Records != 6 || info.Bytes != sizeOf(blocks) || info.PinnedAt.IsZero() {
		t.Errorf("Pin = %+v; want output %s, roots [%s], 6 records, %d bytes, a time",
			info, outs[0], blocks[0].CID, sizeOf(blocks))
	}
	for _, out := range outs {
		if n := sw.askedOf(out); n != 1 {
			t.Errorf("output %s resolved %d times, want once", out, n)
		}
	}
	for _, b := range blocks {
		o, ok, err := local.OriginOf(b.CID)
		if err != nil || !ok || o != store.OriginCached {
			t.Errorf("OriginOf(%s) = %c, %v, %v; want cached", b.CID, o, ok, err)
		}
	}
	if ok, err := local.IsPinned(outs[0]); err != nil || !ok {
		t.Errorf("IsPinned = %v, %v; want true", ok, err)
	}
	if ok, err := local.IsPinned(outs[1]); err != nil || ok {
		t.Errorf("IsPinned(ancestor) = %v, %v; want false", ok, err)
	}

	// The auditor's node verifies with the remote gone.
	if err := remote.Close(); err != nil {
		t.Fatal(err)
	}
	checkVerifies(t, ctx, local, outs[0], 6)
}

func TestPinSurvivesGCUntilUnpinned(t *testing.T) {
	ctx := testCtx(t)
	remote := openStore(t, t.TempDir())
	local := openStore(t, t.TempDir())
	outs, blocks := pinChain(t, remote, "chain", 6)
	if _, err := local.Pin(ctx, outs[0], remote); err != nil {
		t.Fatalf("Pin = %v", err)
	}

	st, err := local.GC(ctx, store.GCOptions{KeepLevels: 0})
	if err != nil {
		t.Fatalf("GC = %v", err)
	}
	if st != (store.GCStats{Examined: 6, Kept: 6}) {
		t.Errorf("GC(0) with a pin = %+v; want 6 examined, 6 kept", st)
	}
	checkVerifies(t, ctx, local, outs[0], 6)

	if err := local.Unpin(outs[0]); err != nil {
		t.Fatalf("Unpin = %v", err)
	}
	if err := local.Unpin(outs[0]); !errors.Is(err, store.ErrNotPinned) {
		t.Errorf("Unpin(again) = %v; want ErrNotPinned", err)
	}
	if ok, err := local.IsPinned(outs[0]); err != nil || ok {
		t.Errorf("IsPinned after Unpin = %v, %v; want false", ok, err)
	}
	st, err = local.GC(ctx, store.GCOptions{KeepLevels: 0})
	if err != nil {
		t.Fatalf("GC = %v", err)
	}
	if st.Examined != 6 || st.Kept != 0 || st.Removed != 6 || st.BytesFreed < 2*sizeOf(blocks) {
		t.Errorf("GC(0) after Unpin = %+v; want all 6 removed, at least %d bytes freed", st, 2*sizeOf(blocks))
	}
	for i, b := range blocks {
		if ok, err := local.Has(b.CID); err != nil || ok {
			t.Errorf("Has(%s) after GC = %v, %v; want false", b.CID, ok, err)
		}
		if cl, err := local.Claims(outs[i]); err != nil || len(cl) != 0 {
			t.Errorf("Claims(%s) after GC = %d, %v; want none", outs[i], len(cl), err)
		}
		if _, ok, err := local.OriginOf(b.CID); err != nil || ok {
			t.Errorf("OriginOf(%s) after GC = %v, %v; want no metadata", b.CID, ok, err)
		}
	}
}

// badSig returns b's record with one signature bit flipped, under its
// honest CID.
func badSig(t *testing.T, b lineage.Block) lineage.Block {
	t.Helper()
	r, err := lineage.Decode(b.Data)
	if err != nil {
		t.Fatal(err)
	}
	r.Sig = slices.Clone(r.Sig)
	r.Sig[0] ^= 1
	bad, err := r.Block()
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

func TestPinRefusesForgedBlocks(t *testing.T) {
	remote := openStore(t, t.TempDir())
	outs, blocks := pinChain(t, remote, "chain", 6)
	garbage := []byte("\xa1\x61vX not a record")
	// foreign is a valid record, but of another output, with an ancestry
	// of its own that must not be followed.
	foreign := block(t, 9, "elsewhere", 7, "elsewhere-parent")
	tampered := slices.Clone(blocks[3].Data)
	tampered[len(tampered)/2] ^= 0x40

	for _, tc := range []struct {
		name   string
		inject []lineage.Block
	}{
		{"tampered bytes under the real CID", []lineage.Block{{CID: blocks[3].CID, Data: tampered}}},
		{"bad signature under an honest CID", []lineage.Block{badSig(t, blocks[3])}},
		{"another record's bytes under a CID", []lineage.Block{{CID: blocks[4].CID, Data: blocks[5].Data}}},
		{"garbage", []lineage.Block{{CID: lineage.RecordCID(garbage), Data: garbage}}},
		{"valid record of another output", []lineage.Block{foreign}},
		{"all at once", []lineage.Block{{CID: blocks[3].CID, Data: tampered}, badSig(t, blocks[3]), foreign}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			local := openStore(t, t.TempDir())
			sw := &swarm{Resolver: remote, extra: map[cid.Cid][]lineage.Block{outs[3]: tc.inject}}
			info, err := local.Pin(ctx, outs[0], sw)
			if err != nil {
				t.Fatalf("Pin = %v", err)
			}
			if info.Records != 6 || info.Bytes != sizeOf(blocks) {
				t.Errorf("Pin = %d records, %d bytes; want 6, %d", info.Records, info.Bytes, sizeOf(blocks))
			}
			for _, b := range tc.inject {
				if b.CID.Equals(blocks[3].CID) || b.CID.Equals(blocks[4].CID) {
					// Same CID as a real record: what is stored must be the
					// real bytes.
					continue
				}
				if ok, err := local.Has(b.CID); err != nil || ok {
					t.Errorf("forged block %s stored: %v, %v", b.CID, ok, err)
				}
			}
			for _, b := range blocks {
				got, err := local.Get(b.CID)
				if err != nil || string(got) != string(b.Data) {
					t.Errorf("Get(%s) = %d bytes, %v; want the real record", b.CID, len(got), err)
				}
			}
			if cl, err := local.Claims(contentOf(t, "elsewhere")); err != nil || len(cl) != 0 {
				t.Errorf("Claims(elsewhere) = %d, %v; want none", len(cl), err)
			}
			if n := sw.askedOf(contentOf(t, "elsewhere-parent")); n != 0 {
				t.Errorf("the foreign record's input was resolved %d times; want never", n)
			}
			checkVerifies(t, ctx, local, outs[0], 6)
		})
	}
}

func TestPinNoValidRecord(t *testing.T) {
	remote := openStore(t, t.TempDir())
	outs, blocks := pinChain(t, remote, "chain", 2)
	for _, tc := range []struct {
		name   string
		target cid.Cid
		res    lineage.Resolver
	}{
		{"unknown output", contentOf(t, "nobody made this"), remote},
		{"a source", contentOf(t, "chain-2"), remote},
		{"only forged claims", contentOf(t, "forged"), &swarm{
			Resolver: remote,
			extra: map[cid.Cid][]lineage.Block{contentOf(t, "forged"): {
				badSig(t, block(t, 1, "forged", 1, "x")),
				blocks[0], // a valid record, of another output
			}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			local := openStore(t, t.TempDir())
			if _, err := local.Pin(ctx, tc.target, tc.res); !errors.Is(err, store.ErrNoValidRecord) {
				t.Errorf("Pin = %v; want ErrNoValidRecord", err)
			}
			if ok, err := local.IsPinned(tc.target); err != nil || ok {
				t.Errorf("IsPinned = %v, %v; want false", ok, err)
			}
			if ok, err := local.Has(blocks[0].CID); err != nil || ok {
				t.Errorf("record of %s stored by a failed pin of another output", outs[0])
			}
		})
	}
}

func TestPinFailsWhenAncestorFails(t *testing.T) {
	remote := openStore(t, t.TempDir())
	outs, _ := pinChain(t, remote, "chain", 6)
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"unreachable", fmt.Errorf("2 providers, none answered: %w", lineage.ErrUnreachable), lineage.ErrUnreachable},
		{"resolver error", errPinTest, errPinTest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			local := openStore(t, t.TempDir())
			sw := &swarm{Resolver: remote, fail: map[cid.Cid]error{outs[3]: tc.err}}
			_, err := local.Pin(ctx, outs[0], sw)
			if !errors.Is(err, tc.want) || !strings.Contains(fmt.Sprint(err), outs[3].String()) {
				t.Fatalf("Pin = %v; want an error wrapping %v naming %s", err, tc.want, outs[3])
			}
			if ok, err := local.IsPinned(outs[0]); err != nil || ok {
				t.Errorf("IsPinned = %v, %v; want false", ok, err)
			}
			if pins, err := local.Pins(); err != nil || len(pins) != 0 {
				t.Errorf("Pins = %v, %v; want none", pins, err)
			}
			// What was cached is GC's: nothing protects it.
			st, err := local.GC(ctx, store.GCOptions{KeepLevels: 0})
			if err != nil || st.Kept != 0 {
				t.Errorf("GC after a failed pin = %+v, %v; want nothing kept", st, err)
			}
		})
	}
}

var errPinTest = errors.New("resolver broke")

func TestPinBounds(t *testing.T) {
	remote := openStore(t, t.TempDir())
	outs, _ := pinChain(t, remote, "chain", 6)

	t.Run("record budget", func(t *testing.T) {
		ctx := testCtx(t)
		local := openStore(t, t.TempDir())
		if _, err := local.Pin(ctx, outs[0], remote, store.PinMaxRecords(5)); !errors.Is(err, store.ErrPinTooLarge) {
			t.Errorf("Pin(max 5) = %v; want ErrPinTooLarge", err)
		}
		if ok, _ := local.IsPinned(outs[0]); ok {
			t.Error("pinned beyond the budget")
		}
		if info, err := local.Pin(ctx, outs[0], remote, store.PinMaxRecords(6)); err != nil || info.Records != 6 {
			t.Errorf("Pin(max 6) = %d records, %v; want 6", info.Records, err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(testCtx(t))
		cancel()
		local := openStore(t, t.TempDir())
		if _, err := local.Pin(ctx, outs[0], remote); !errors.Is(err, context.Canceled) {
			t.Errorf("Pin(cancelled) = %v; want context.Canceled", err)
		}
		if ok, _ := local.IsPinned(outs[0]); ok {
			t.Error("pinned with a cancelled context")
		}
	})
}

func TestPinsList(t *testing.T) {
	ctx := testCtx(t)
	remote := openStore(t, t.TempDir())
	local := openStore(t, t.TempDir())
	aOuts, aBlocks := pinChain(t, remote, "a", 3)
	bOuts, bBlocks := pinChain(t, remote, "b", 5)
	// A second claim of b-0 by another executor: two roots.
	b2 := block(t, 2, "b-0", 50, "b-other-src")
	if _, err := remote.Put([]lineage.Block{b2}, nil); err != nil {
		t.Fatal(err)
	}
	if pins, err := local.Pins(); err != nil || len(pins) != 0 {
		t.Fatalf("Pins on an empty store = %v, %v", pins, err)
	}
	pa, err := local.Pin(ctx, aOuts[0], remote)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := local.Pin(ctx, bOuts[0], remote)
	if err != nil {
		t.Fatal(err)
	}
	want := map[cid.Cid]store.PinInfo{
		aOuts[0]: {Output: aOuts[0], Roots: []cid.Cid{aBlocks[0].CID}, Records: 3, Bytes: sizeOf(aBlocks), PinnedAt: pa.PinnedAt},
		bOuts[0]: {Output: bOuts[0], Roots: []cid.Cid{bBlocks[0].CID, b2.CID}, Records: 6, Bytes: sizeOf(bBlocks) + int64(len(b2.Data)), PinnedAt: pb.PinnedAt},
	}
	pins, err := local.Pins()
	if err != nil {
		t.Fatal(err)
	}
	if len(pins) != 2 {
		t.Fatalf("Pins = %d entries; want 2", len(pins))
	}
	if pins[0].PinnedAt.After(pins[1].PinnedAt) {
		t.Errorf("Pins not sorted by time: %v after %v", pins[0].PinnedAt, pins[1].PinnedAt)
	}
	for _, p := range pins {
		w := want[p.Output]
		slices.SortFunc(p.Roots, func(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) })
		slices.SortFunc(w.Roots, func(a, b cid.Cid) int { return strings.Compare(a.KeyString(), b.KeyString()) })
		if !p.Output.Equals(w.Output) || !slices.Equal(p.Roots, w.Roots) || p.Records != w.Records ||
			p.Bytes != w.Bytes || !p.PinnedAt.Equal(w.PinnedAt) {
			t.Errorf("pin %s = %+v; want %+v", p.Output, p, w)
		}
	}

	// Entries survive a reopen.
	home := t.TempDir()
	st := openStore(t, home)
	if _, err := st.Pin(ctx, aOuts[0], remote); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = openStore(t, home)
	if pins, err := st.Pins(); err != nil || len(pins) != 1 || pins[0].Records != 3 {
		t.Errorf("Pins after reopen = %+v, %v; want the pin of %s", pins, err, aOuts[0])
	}
}

// A GC that runs while a pin is still fetching must not collect what the
// pin cached so far.
func TestGCDuringPin(t *testing.T) {
	ctx := testCtx(t)
	remote := openStore(t, t.TempDir())
	local := openStore(t, t.TempDir())
	outs, blocks := pinChain(t, remote, "chain", 6)
	sw := &swarm{Resolver: remote, hold: outs[3], reached: make(chan struct{}), release: make(chan struct{})}

	type result struct {
		info store.PinInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := local.Pin(ctx, outs[0], sw)
		done <- result{info, err}
	}()
	select {
	case <-sw.reached:
	case <-ctx.Done():
		t.Fatal("pin never reached the held ancestor")
	}
	st, err := local.GC(ctx, store.GCOptions{KeepLevels: 0})
	if err != nil {
		t.Fatalf("GC = %v", err)
	}
	if st.Removed != 0 || st.Kept != 3 {
		t.Errorf("GC during pin = %+v; want the 3 records cached so far kept", st)
	}
	close(sw.release)
	r := <-done
	if r.err != nil || r.info.Records != 6 {
		t.Fatalf("Pin = %d records, %v; want 6", r.info.Records, r.err)
	}
	for _, b := range blocks {
		if ok, err := local.Has(b.CID); err != nil || !ok {
			t.Errorf("record %s missing after pin", b.CID)
		}
	}
}
