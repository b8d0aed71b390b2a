package store

// Pins: a pin keeps a file's whole ancestry in the local store, so the node
// verifies it (and serves it) with no peer online. Pinning fetches the
// ancestry first, through any resolver (the swarm, usually), keeping only
// blocks that verify; GC never collects a record in the stored ancestry of a
// pinned output.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"time"

	"github.com/bonsai-lineage/bonsai/internal/par"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/cockroachdb/pebble/v2"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
)

var (
	// ErrNotPinned is wrapped by Unpin when the output has no pin.
	ErrNotPinned = errors.New("output not pinned")
	// ErrNoValidRecord is wrapped by Pin when no record that verifies
	// claims the output to pin.
	ErrNoValidRecord = errors.New("no valid record claims the output")
	// ErrPinTooLarge is wrapped by Pin when the ancestry holds more
	// records than the pin may take.
	ErrPinTooLarge = errors.New("ancestry exceeds the pin's record budget")
)

// DefaultPinMaxRecords bounds a pin's ancestry when no PinMaxRecords is given.
const DefaultPinMaxRecords = 1 << 20

// pinParallelism is how many outputs of one level Pin resolves at once: the
// resolver is usually the swarm, where each lookup waits on the network.
const pinParallelism = 16

// PinInfo describes a pinned output.
type PinInfo struct {
	// Output is the content CID whose ancestry is pinned.
	Output cid.Cid
	// Roots are the records claiming Output.
	Roots []cid.Cid
	// Records is how many records the ancestry held when pinned, Roots
	// included; Bytes is the sum of their block sizes.
	Records  int
	Bytes    int64
	PinnedAt time.Time
}

// PinOption tunes Pin.
type PinOption func(*pinOptions)

type pinOptions struct {
	maxRecords int
}

// PinMaxRecords bounds how many records a pin fetches; an ancestry larger
// than n is not pinned. n <= 0 means DefaultPinMaxRecords.
func PinMaxRecords(n int) PinOption {
	return func(o *pinOptions) { o.maxRecords = n }
}

// pinFound is a block a resolver handed over that verified.
type pinFound struct {
	blk lineage.Block
	rec *lineage.Record
}

// Pin fetches the whole ancestry of output through res, breadth first, and
// pins it. Blocks from res are untrusted: a block is kept only if it opens
// (CID, strict decode, signature) and its record claims the very output it
// was asked for; the rest are dropped silently. Kept records are cached in
// the store as each level completes. A pin must be complete: if res fails
// for any ancestor (an error wrapping lineage.ErrUnreachable included), if
// the ancestry exceeds the record budget, or if ctx ends, Pin fails, names
// the output at fault and writes no pin (records already cached stay
// cached, as GC's to collect). Inputs no record claims are sources, as in
// lineage.Check. Pinning an output again refreshes its pin.
func (s *Store) Pin(ctx context.Context, output cid.Cid, res lineage.Resolver, opts ...PinOption) (PinInfo, error) {
	o := pinOptions{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxRecords <= 0 {
		o.maxRecords = DefaultPinMaxRecords
	}
	if err := lineage.CheckCID(output); err != nil {
		return PinInfo{}, fmt.Errorf("pin %s: %w", output, err)
	}
	// Until the pin entry is written, GC must treat what is cached so far
	// as pinned, or it could collect the top of the ancestry while the
	// bottom is still being fetched.
	defer s.beginPin(output)()

	info := PinInfo{Output: output}
	seen := map[cid.Cid]bool{output: true}
	frontier := []cid.Cid{output}
	for depth := 0; len(frontier) > 0; depth++ {
		if err := ctx.Err(); err != nil {
			return PinInfo{}, fmt.Errorf("pin %s: %w", output, err)
		}
		found := make([][]pinFound, len(frontier))
		errs := make([]error, len(frontier))
		par.Each(len(frontier), pinParallelism, func(i int) {
			found[i], errs[i] = resolveValid(ctx, res, frontier[i])
		})
		for i, err := range errs {
			// The first failure in breadth-first order: deterministic
			// for a given resolver.
			if err != nil {
				return PinInfo{}, fmt.Errorf("pin %s: ancestor %s: %w", output, frontier[i], err)
			}
		}
		if depth == 0 && len(found[0]) == 0 {
			return PinInfo{}, fmt.Errorf("pin %s: %w", output, ErrNoValidRecord)
		}
		var level []lineage.Block
		var next []cid.Cid
		for _, fs := range found {
			for _, f := range fs {
				level = append(level, f.blk)
				info.Bytes += int64(len(f.blk.Data))
				if depth == 0 {
					info.Roots = append(info.Roots, f.blk.CID)
				}
				for _, in := range f.rec.Inputs {
					if !seen[in] {
						seen[in] = true
						next = append(next, in)
					}
				}
			}
		}
		info.Records += len(level)
		if info.Records > o.maxRecords {
			return PinInfo{}, fmt.Errorf("pin %s: %w: more than %d records", output, ErrPinTooLarge, o.maxRecords)
		}
		if len(level) > 0 {
			if _, err := s.PutCached(level); err != nil {
				return PinInfo{}, fmt.Errorf("pin %s: cache ancestry: %w", output, err)
			}
		}
		frontier = next
	}

	info.PinnedAt = time.Unix(0, time.Now().UnixNano())
	v, err := encodePin(info)
	if err != nil {
		return PinInfo{}, fmt.Errorf("pin %s: %w", output, err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.db.Set(pinKey(output), v, pebble.Sync); err != nil {
		return PinInfo{}, fmt.Errorf("pin %s: write store: %w", output, err)
	}
	return info, nil
}

// resolveValid asks res for the records claiming out and keeps those that
// verify and claim out, each once.
func resolveValid(ctx context.Context, res lineage.Resolver, out cid.Cid) ([]pinFound, error) {
	blocks, err := res.Resolve(ctx, out)
	if err != nil {
		return nil, err
	}
	var found []pinFound
	for _, b := range blocks {
		if slices.ContainsFunc(found, func(f pinFound) bool { return f.blk.CID.Equals(b.CID) }) {
			continue
		}
		rec, err := lineage.Open(b.CID, b.Data)
		if err != nil || !rec.Output.Equals(out) {
			continue
		}
		found = append(found, pinFound{blk: lineage.Block{CID: b.CID, Data: b.Data}, rec: rec})
	}
	return found, nil
}

// Unpin removes the pin of output; its records become GC's to collect
// unless something else keeps them. Without a pin it returns an error
// wrapping ErrNotPinned.
func (s *Store) Unpin(output cid.Cid) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	k := pinKey(output)
	_, closer, err := s.rd.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return fmt.Errorf("unpin %s: %w", output, ErrNotPinned)
	}
	if err != nil {
		return fmt.Errorf("unpin %s: read store: %w", output, err)
	}
	closer.Close()
	if err := s.db.Delete(k, pebble.Sync); err != nil {
		return fmt.Errorf("unpin %s: write store: %w", output, err)
	}
	return nil
}

// IsPinned reports whether output is pinned.
func (s *Store) IsPinned(output cid.Cid) (bool, error) {
	_, closer, err := s.rd.Get(pinKey(output))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read pins: %w", err)
	}
	closer.Close()
	return true, nil
}

// Pins lists the pinned outputs, oldest pin first.
func (s *Store) Pins() ([]PinInfo, error) {
	prefix := []byte{prefixPin}
	var pins []PinInfo
	err := s.scan("pins", prefix, prefixEnd(prefix), func(k, v []byte) (bool, error) {
		out, err := cid.Cast(k[len(prefix):])
		if err != nil {
			return false, fmt.Errorf("corrupt pin key %x: %w", k, err)
		}
		p, err := decodePin(v)
		if err != nil {
			return false, fmt.Errorf("pin %s: %w", out, err)
		}
		p.Output = out
		pins = append(pins, p)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(pins, func(a, b PinInfo) int {
		if c := a.PinnedAt.Compare(b.PinnedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.Output.Bytes(), b.Output.Bytes())
	})
	return pins, nil
}

// pinnedOutputs lists the outputs GC must keep whole: those pinned and
// those being pinned now. It reads keys only, so a damaged pin entry still
// protects its ancestry.
func (s *Store) pinnedOutputs() ([]cid.Cid, error) {
	prefix := []byte{prefixPin}
	var outs []cid.Cid
	err := s.scan("pins", prefix, prefixEnd(prefix), func(k, _ []byte) (bool, error) {
		out, err := cid.Cast(k[len(prefix):])
		if err != nil {
			return false, fmt.Errorf("corrupt pin key %x: %w", k, err)
		}
		outs = append(outs, out)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return append(outs, s.pinsInFlight()...), nil
}

func pinKey(output cid.Cid) []byte { return key(prefixPin, output.Bytes()) }

// inFlight holds, per open store, the outputs whose pin is being fetched.
// (A field of Store would do as well; the registry keeps pins.go self-
// contained.)
var inFlight = struct {
	sync.Mutex
	m map[*Store]map[cid.Cid]int
}{m: map[*Store]map[cid.Cid]int{}}

// beginPin marks output as being pinned until the returned func runs.
func (s *Store) beginPin(output cid.Cid) (end func()) {
	inFlight.Lock()
	defer inFlight.Unlock()
	if inFlight.m[s] == nil {
		inFlight.m[s] = map[cid.Cid]int{}
	}
	inFlight.m[s][output]++
	return func() {
		inFlight.Lock()
		defer inFlight.Unlock()
		if inFlight.m[s][output]--; inFlight.m[s][output] == 0 {
			delete(inFlight.m[s], output)
		}
		if len(inFlight.m[s]) == 0 {
			delete(inFlight.m, s)
		}
	}
}

func (s *Store) pinsInFlight() []cid.Cid {
	inFlight.Lock()
	defer inFlight.Unlock()
	outs := make([]cid.Cid, 0, len(inFlight.m[s]))
	for out := range inFlight.m[s] {
		outs = append(outs, out)
	}
	return outs
}

// The pin entry, CBOR with short keys. Every field is required; unknown
// fields, duplicate keys, tags, indefinite lengths and trailing bytes are
// refused.
const pinVersion = 1

type pinWire struct {
	V uint64   `cbor:"v"`
	R [][]byte `cbor:"r"` // roots: binary CIDs of the records claiming the output
	N uint64   `cbor:"n"` // records in the ancestry
	B uint64   `cbor:"b"` // bytes of their blocks
	T int64    `cbor:"t"` // pinned at, Unix nanoseconds
}

type pinWireIn struct {
	V *uint64   `cbor:"v"`
	R *[][]byte `cbor:"r"`
	N *uint64   `cbor:"n"`
	B *uint64   `cbor:"b"`
	T *int64    `cbor:"t"`
}

var (
	pinEnc cbor.EncMode
	pinDec cbor.DecMode
)

func init() {
	pinEnc, pinDec = strictCBOR(DefaultPinMaxRecords)
}

func encodePin(p PinInfo) ([]byte, error) {
	w := pinWire{V: pinVersion, R: make([][]byte, len(p.Roots)), N: uint64(p.Records), B: uint64(p.Bytes), T: p.PinnedAt.UnixNano()}
	for i, r := range p.Roots {
		w.R[i] = r.Bytes()
	}
	b, err := pinEnc.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encode pin entry: %w", err)
	}
	return b, nil
}

// decodePin parses a pin entry strictly; Output is left for the caller,
// who knows it from the key.
func decodePin(data []byte) (PinInfo, error) {
	var w pinWireIn
	if err := pinDec.Unmarshal(data, &w); err != nil {
		return PinInfo{}, fmt.Errorf("corrupt pin entry: %w", err)
	}
	switch {
	case w.V == nil || w.R == nil || w.N == nil || w.B == nil || w.T == nil:
		return PinInfo{}, errors.New("corrupt pin entry: missing field")
	case *w.V != pinVersion:
		return PinInfo{}, fmt.Errorf("corrupt pin entry: version %d (this build reads %d)", *w.V, pinVersion)
	case len(*w.R) == 0:
		return PinInfo{}, errors.New("corrupt pin entry: no roots")
	case *w.N < uint64(len(*w.R)) || *w.N > math.MaxInt:
		return PinInfo{}, fmt.Errorf("corrupt pin entry: %d records for %d roots", *w.N, len(*w.R))
	case *w.B > math.MaxInt64:
		return PinInfo{}, fmt.Errorf("corrupt pin entry: %d bytes", *w.B)
	}
	p := PinInfo{Records: int(*w.N), Bytes: int64(*w.B), PinnedAt: time.Unix(0, *w.T), Roots: make([]cid.Cid, len(*w.R))}
	for i, r := range *w.R {
		c, err := cid.Cast(r)
		if err != nil {
			return PinInfo{}, fmt.Errorf("corrupt pin entry: root %d: %w", i, err)
		}
		p.Roots[i] = c
	}
	return p, nil
}
