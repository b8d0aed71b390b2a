package lineage_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/golden"
	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/node/basicnode"
)

// goldenRecords are the format's fixed points: any change to their bytes or
// CIDs is a format change and must be deliberate.
func goldenRecords(t testing.TB) []struct {
	name string
	rec  *lineage.Record
} {
	prog := content("program:/usr/bin/sort")
	mk := func(in int, program bool, incomplete bool) *lineage.Record {
		r := &lineage.Record{
			Executor:   lineage.Executor{UID: 1000},
			Output:     content("output"),
			Time:       1764000000,
			Incomplete: incomplete,
		}
		for _, n := range inputNames(in) {
			r.Inputs = append(r.Inputs, content(n))
		}
		if program {
			r.Program = prog
		}
		if _, err := r.Sign(testkeys.Key(1)); err != nil {
			t.Fatal(err)
		}
		return r
	}
	return []struct {
		name string
		rec  *lineage.Record
	}{
		{"source-no-inputs", mk(0, false, false)},
		{"two-inputs-with-program", mk(2, true, false)},
		{"eight-inputs-with-program", mk(8, true, false)},
		{"incomplete", mk(1, true, true)},
	}
}

func TestGoldenVectors(t *testing.T) {
	var sb strings.Builder
	for _, g := range goldenRecords(t) {
		b, err := g.rec.Block()
		if err != nil {
			t.Fatalf("%s: Block() = %v", g.name, err)
		}
		sb.WriteString("name: " + g.name + "\n")
		sb.WriteString("cid: " + b.CID.String() + "\n")
		sb.WriteString("hex: " + hex.EncodeToString(b.Data) + "\n\n")
	}
	path := filepath.Join("testdata", "records.golden")
	if golden.Updating() {
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create): %v", err)
	}
	if got := sb.String(); got != string(want) {
		t.Errorf("encoded records differ from %s: the record format drifted\ngot:\n%s\nwant:\n%s", path, got, want)
	}
	// And the other way: every golden block decodes, verifies, and is the
	// record it says.
	for _, block := range strings.Split(strings.TrimSpace(string(want)), "\n\n") {
		lines := strings.Split(block, "\n")
		name := strings.TrimPrefix(lines[0], "name: ")
		c, err := cid.Decode(strings.TrimPrefix(lines[1], "cid: "))
		if err != nil {
			t.Fatalf("%s: bad golden CID: %v", name, err)
		}
		data, err := hex.DecodeString(strings.TrimPrefix(lines[2], "hex: "))
		if err != nil {
			t.Fatalf("%s: bad golden hex: %v", name, err)
		}
		if _, err := lineage.Open(c, data); err != nil {
			t.Errorf("Open(golden %s) = %v, want nil", name, err)
		}
	}
}

// TestDAGCBORConformance: go-ipld-prime's DAG-CBOR codec must read our
// blocks and write back the very same bytes, so IPLD tools see our CIDs.
func TestDAGCBORConformance(t *testing.T) {
	for _, g := range goldenRecords(t) {
		b, err := g.rec.Block()
		if err != nil {
			t.Fatal(err)
		}
		nb := basicnode.Prototype.Any.NewBuilder()
		if err := dagcbor.Decode(nb, bytes.NewReader(b.Data)); err != nil {
			t.Fatalf("%s: dagcbor.Decode = %v", g.name, err)
		}
		var out bytes.Buffer
		if err := dagcbor.Encode(nb.Build(), &out); err != nil {
			t.Fatalf("%s: dagcbor.Encode = %v", g.name, err)
		}
		if !bytes.Equal(out.Bytes(), b.Data) {
			t.Errorf("%s: go-ipld-prime re-encodes to\n%x\nwant\n%x", g.name, out.Bytes(), b.Data)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, g := range goldenRecords(t) {
		b, err := g.rec.Block()
		if err != nil {
			t.Fatal(err)
		}
		got, err := lineage.Open(b.CID, b.Data)
		if err != nil {
			t.Fatalf("Open(%s) = %v", g.name, err)
		}
		again, err := got.Encode()
		if err != nil || !bytes.Equal(again, b.Data) {
			t.Errorf("%s: Encode(Decode(x)) = %x, %v; want %x", g.name, again, err, b.Data)
		}
		if got.Executor != g.rec.Executor || !got.Output.Equals(g.rec.Output) || got.Incomplete != g.rec.Incomplete ||
			got.Time != g.rec.Time || !got.Program.Equals(g.rec.Program) || len(got.Inputs) != len(g.rec.Inputs) {
			t.Errorf("%s: Decode = %+v, want %+v", g.name, got, g.rec)
		}
	}
}

func TestRecordSize(t *testing.T) {
	for _, g := range goldenRecords(t) {
		b, _ := g.rec.Block()
		if g.name == "two-inputs-with-program" && len(b.Data) >= 300 {
			t.Errorf("two-input record is %d bytes, want < 300", len(b.Data))
		}
	}
}

func TestSignNormalizesInputs(t *testing.T) {
	r := &lineage.Record{Output: content("o"), Inputs: []cid.Cid{content("b"), content("a"), content("b")}}
	if _, err := r.Sign(testkeys.Key(1)); err != nil {
		t.Fatal(err)
	}
	want := lineage.SortInputs([]cid.Cid{content("a"), content("b")})
	if len(r.Inputs) != 2 || !r.Inputs[0].Equals(want[0]) || !r.Inputs[1].Equals(want[1]) {
		t.Errorf("inputs after Sign = %v, want %v", r.Inputs, want)
	}
}

// rawWire lets tests write records the encoder would refuse to.
type rawWire map[string]any

func tag42(c cid.Cid) cbor.Tag { return cbor.Tag{Number: 42, Content: append([]byte{0}, c.Bytes()...)} }

func encodeRaw(t *testing.T, m rawWire) []byte {
	t.Helper()
	em, err := cbor.EncOptions{Sort: cbor.SortLengthFirst}.EncMode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := em.Marshal(map[string]any(m))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRejects(t *testing.T) {
	_, good := signed(t, 1, "out", "a", "b")
	k := testkeys.Key(1)
	base := func() rawWire {
		return rawWire{
			"e": []byte(k.ID()), "i": []any{tag42(content("a"))}, "o": tag42(content("out")),
			"s": bytes.Repeat([]byte{1}, 64), "t": 5, "u": 0, "v": 1,
		}
	}
	with := func(f func(rawWire)) []byte {
		m := base()
		f(m)
		return encodeRaw(t, m)
	}
	sorted := lineage.SortInputs([]cid.Cid{content("a"), content("b")})
	// A time of 5 written in 9 bytes instead of 1: same value, other bytes.
	longTime := bytes.Replace(encodeRaw(t, base()), []byte{0x61, 't', 0x05}, []byte{0x61, 't', 0x1b, 0, 0, 0, 0, 0, 0, 0, 5}, 1)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, lineage.ErrMalformed},
		{"not a map", []byte{0x01}, lineage.ErrMalformed},
		{"trailing byte", append(append([]byte{}, good.Data...), 0), lineage.ErrTrailingData},
		{"truncated", good.Data[:len(good.Data)-1], lineage.ErrMalformed},
		{"version 2", with(func(m rawWire) { m["v"] = 2 }), lineage.ErrVersion},
		{"no version", with(func(m rawWire) { delete(m, "v") }), lineage.ErrMalformed},
		{"no signature", with(func(m rawWire) { delete(m, "s") }), lineage.ErrMalformed},
		{"no output", with(func(m rawWire) { delete(m, "o") }), lineage.ErrMalformed},
		{"unknown field", with(func(m rawWire) { m["z"] = 1 }), lineage.ErrMalformed},
		{"short signature", with(func(m rawWire) { m["s"] = []byte{1, 2} }), lineage.ErrMalformed},
		{"time as string", with(func(m rawWire) { m["t"] = "now" }), lineage.ErrMalformed},
		{"uid too large", with(func(m rawWire) { m["u"] = uint64(1) << 40 }), lineage.ErrMalformed},
		{"executor not a peer ID", with(func(m rawWire) { m["e"] = []byte{1, 2, 3} }), lineage.ErrMalformed},
		{"output CID without tag", with(func(m rawWire) { m["o"] = content("out").Bytes() }), lineage.ErrMalformed},
		{"output CIDv0", with(func(m rawWire) { m["o"] = tag42(cid.NewCidV0(content("x").Hash())) }), lineage.ErrMalformed},
		{"output among inputs", with(func(m rawWire) { m["i"] = []any{tag42(content("out"))} }), lineage.ErrMalformed},
		{"unsorted inputs", with(func(m rawWire) { m["i"] = []any{tag42(sorted[1]), tag42(sorted[0])} }), lineage.ErrInputOrder},
		{"duplicate inputs", with(func(m rawWire) { m["i"] = []any{tag42(sorted[0]), tag42(sorted[0])} }), lineage.ErrInputOrder},
		{"too many inputs", with(func(m rawWire) {
			in := make([]any, lineage.MaxInputs+1)
			for i := range in {
				in[i] = tag42(content("x"))
			}
			m["i"] = in
		}), lineage.ErrTooLarge},
		{"oversized", make([]byte, lineage.MaxRecordSize+1), lineage.ErrTooLarge},
		{"incomplete false", with(func(m rawWire) { m["x"] = false }), lineage.ErrNotCanonical},
		{"non-minimal integer", longTime, lineage.ErrNotCanonical},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lineage.Decode(tt.data)
			if !errors.Is(err, tt.want) {
				t.Errorf("Decode(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	_, good := signed(t, 1, "out", "a")
	_, other := signed(t, 2, "other")
	sigAt := bytes.Index(good.Data, []byte{0x61, 's', 0x58, 64}) + 4
	badSig := bytes.Clone(good.Data)
	badSig[sigAt] ^= 0x80
	tests := []struct {
		name string
		c    cid.Cid
		data []byte
		want error
	}{
		{"CID of another record", other.CID, good.Data, lineage.ErrCIDMismatch},
		{"raw codec CID", cid.NewCidV1(cid.Raw, good.CID.Hash()), good.Data, lineage.ErrCIDMismatch},
		{"signature bit flipped", lineage.RecordCID(badSig), badSig, lineage.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := lineage.Open(tt.c, tt.data); !errors.Is(err, tt.want) {
				t.Errorf("Open(%s) = %v, want %v", tt.name, err, tt.want)
			}
		})
	}
}

func TestUnknownExecutor(t *testing.T) {
	// A record whose executor ID hashes its key cannot be checked offline.
	r, _ := signed(t, 1, "out")
	id, err := peerIDFromSHA256("not an inline key")
	if err != nil {
		t.Fatal(err)
	}
	r.Executor.Peer = id
	if err := r.Verify(); !errors.Is(err, lineage.ErrUnknownExecutor) {
		t.Errorf("Verify(sha256 peer ID) = %v, want ErrUnknownExecutor", err)
	}
}

// TestOpenAllMatchesOpen: OpenAll, which checks signatures in batches,
// opens every block exactly as Open does, good blocks among bad ones of
// every kind, wherever they fall in the batches.
func TestOpenAllMatchesOpen(t *testing.T) {
	_, other := signed(t, 2, "other")
	unknown, _ := signed(t, 1, "unknown")
	id, err := peerIDFromSHA256("not an inline key")
	if err != nil {
		t.Fatal(err)
	}
	unknown.Executor.Peer = id
	unknownBlock, err := unknown.Block()
	if err != nil {
		t.Fatal(err)
	}
	var blocks []lineage.Block
	for i := range 150 {
		_, b := signed(t, byte(1+i%3), fmt.Sprintf("out-%d", i), "a")
		switch i {
		case 7:
			b = forge(t, b)
		case 80, 81:
			b = forgeS(t, b)
		case 20:
			b = unknownBlock
		case 33:
			b.CID = other.CID
		case 64:
			b.Data = b.Data[:len(b.Data)-1]
		}
		blocks = append(blocks, b)
	}
	recs, errs := lineage.OpenAll(blocks)
	for i, b := range blocks {
		want, wantErr := lineage.Open(b.CID, b.Data)
		if (errs[i] == nil) != (wantErr == nil) || (wantErr != nil && errs[i].Error() != wantErr.Error()) {
			t.Errorf("block %d: OpenAll error %v, Open error %v", i, errs[i], wantErr)
		}
		if (recs[i] == nil) != (want == nil) {
			t.Errorf("block %d: OpenAll record %v, Open record %v", i, recs[i], want)
		} else if want != nil && recs[i].Output != want.Output {
			t.Errorf("block %d: OpenAll record for %s, Open record for %s", i, recs[i].Output, want.Output)
		}
		bad := i == 7 || i == 80 || i == 81 || i == 20 || i == 33 || i == 64
		if bad != (errs[i] != nil) {
			t.Errorf("block %d: error %v, want an error: %v", i, errs[i], bad)
		}
	}
	for _, i := range []int{7, 80, 81} {
		if !errors.Is(errs[i], lineage.ErrBadSignature) {
			t.Errorf("block %d = %v, want ErrBadSignature", i, errs[i])
		}
	}
	if !errors.Is(errs[20], lineage.ErrUnknownExecutor) {
		t.Errorf("block 20 = %v, want ErrUnknownExecutor", errs[20])
	}
}
