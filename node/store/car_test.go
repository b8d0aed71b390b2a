package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	mh "github.com/multiformats/go-multihash"
)

// carContent is the content CID of s.
func carContent(t testing.TB, s string) cid.Cid {
	t.Helper()
	c, err := lineage.HashReader(strings.NewReader(s), lineage.DefaultHash)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// carBlocks signs, by test key 1, a source record of "src", a record of
// "out" made from it, and a revocation of the latter: what an export of
// "out" carries.
func carBlocks(t testing.TB) (src, out, rev lineage.Block) {
	t.Helper()
	var err error
	if src, err = (&lineage.Record{Output: carContent(t, "src"), Time: 1_700_000_000}).Sign(testkeys.Key(1)); err != nil {
		t.Fatal(err)
	}
	r := &lineage.Record{Output: carContent(t, "out"), Inputs: []cid.Cid{carContent(t, "src")}, Time: 1_700_000_001}
	if out, err = r.Sign(testkeys.Key(1)); err != nil {
		t.Fatal(err)
	}
	v := &lineage.Revocation{Target: out.CID, Reason: "leaked key", Time: 1_700_000_002}
	if rev, err = v.Sign(testkeys.Key(1)); err != nil {
		t.Fatal(err)
	}
	return src, out, rev
}

// carOf is the CAR v1 store.WriteCAR makes of roots and blocks.
func carOf(t testing.TB, roots []cid.Cid, blocks ...lineage.Block) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := store.WriteCAR(&buf, roots, blocks); err != nil {
		t.Fatalf("WriteCAR = %v, want nil", err)
	}
	return buf.Bytes()
}

// carV2Of wraps a CAR v1 as a CAR v2 with an index, as the IPLD tools do.
func carV2Of(t testing.TB, v1 []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := carv2.WrapV1(bytes.NewReader(v1), &buf); err != nil {
		t.Fatalf("WrapV1 = %v, want nil", err)
	}
	return buf.Bytes()
}

// carSection is one CAR section: its length, then c, then data.
func carSection(c cid.Cid, data []byte) []byte {
	b := binary.AppendUvarint(nil, uint64(c.ByteLen()+len(data)))
	return append(append(b, c.Bytes()...), data...)
}

// rawCID names data as a raw block, whatever it holds.
func rawCID(t testing.TB, data []byte) cid.Cid {
	t.Helper()
	c, err := cid.V1Builder{Codec: cid.Raw, MhType: mh.SHA2_256}.Sum(data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sameBlocks(a, b []lineage.Block) bool {
	return slices.EqualFunc(a, b, func(x, y lineage.Block) bool {
		return x.CID.Equals(y.CID) && bytes.Equal(x.Data, y.Data)
	})
}

// TestCARRoundTrip: what WriteCAR writes, ReadCAR and the IPLD tools read
// back: the roots, and the blocks in order, each CID once.
func TestCARRoundTrip(t *testing.T) {
	src, out, rev := carBlocks(t)
	want := []lineage.Block{src, out, rev}
	data := carOf(t, []cid.Cid{out.CID}, src, out, src, rev) // src twice: written once
	got, err := store.ReadCAR(data)
	if err != nil || !sameBlocks(got, want) {
		t.Fatalf("ReadCAR(WriteCAR(src, out, src, rev)) = %v, %v; want %v, nil", got, err, want)
	}
	br, err := carv2.NewBlockReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("carv2.NewBlockReader(WriteCAR) = %v, want nil", err)
	}
	if br.Version != 1 || len(br.Roots) != 1 || !br.Roots[0].Equals(out.CID) {
		t.Errorf("CAR version, roots = %d, %v; want 1, [%s]", br.Version, br.Roots, out.CID)
	}
	// A CAR of no blocks (and no roots) is a CAR all the same.
	if got, err := store.ReadCAR(carOf(t, nil)); err != nil || len(got) != 0 {
		t.Errorf("ReadCAR(empty CAR) = %v, %v; want no blocks, nil", got, err)
	}
}

// TestReadCARv2: a CAR v2 (an indexed wrapper of a v1) reads as its v1.
func TestReadCARv2(t *testing.T) {
	src, out, rev := carBlocks(t)
	v2 := carV2Of(t, carOf(t, []cid.Cid{out.CID}, src, out, rev))
	if !bytes.HasPrefix(v2, carv2.Pragma) {
		t.Fatalf("WrapV1 = %x..., want the CAR v2 pragma first", v2[:16])
	}
	got, err := store.ReadCAR(v2)
	if want := []lineage.Block{src, out, rev}; err != nil || !sameBlocks(got, want) {
		t.Errorf("ReadCAR(v2) = %v, %v; want %v, nil", got, err, want)
	}
}

// TestReadCARRawBlock: a file of one record, or one revocation, is that
// block, named by its bytes. Its signature is the caller's to check.
func TestReadCARRawBlock(t *testing.T) {
	_, out, rev := carBlocks(t)
	for _, b := range []lineage.Block{out, rev, flipSignature(t, out)} {
		got, err := store.ReadCAR(b.Data)
		if err != nil || !sameBlocks(got, []lineage.Block{b}) {
			t.Errorf("ReadCAR(raw %s) = %v, %v; want [%s], nil", b.CID, got, err, b.CID)
		}
	}
}

// flipSignature re-encodes a record with one signature bit flipped: well
// formed, named by its new bytes, not signed by anyone.
func flipSignature(t testing.TB, b lineage.Block) lineage.Block {
	t.Helper()
	r, err := lineage.Decode(b.Data)
	if err != nil {
		t.Fatal(err)
	}
	r.Sig = slices.Clone(r.Sig)
	r.Sig[10] ^= 0x01
	bad, err := r.Block()
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

// TestReadCARRefuses: each kind of bad input is refused with its sentinel
// and the words the CLI shows.
func TestReadCARRefuses(t *testing.T) {
	src, out, _ := carBlocks(t)
	chain := carOf(t, []cid.Cid{out.CID}, src, out)
	header := carOf(t, []cid.Cid{out.CID})
	big := bytes.Repeat([]byte{'x'}, lineage.MaxRecordSize+1024)
	flipped := bytes.Clone(chain)
	flipped[len(flipped)-1] ^= 0x01 // in out's data: no longer its CID's
	for _, tc := range []struct {
		name string
		data []byte
		want error
		text string
	}{
		{"truncated CAR", chain[:len(chain)-7], store.ErrCorruptCAR, "corrupt CAR after 1 blocks"},
		{"section over the record bound", append(bytes.Clone(header), carSection(rawCID(t, big), big)...), store.ErrCorruptCAR, "corrupt CAR after 0 blocks"},
		{"data not its CID's", flipped, store.ErrCorruptCAR, "mismatch"},
		{"zero-length section", append(bytes.Clone(header), 0), store.ErrCorruptCAR, "corrupt CAR after 0 blocks"},
		{"truncated header", chain[:5], store.ErrNotCAR, "neither a CAR file"},
		{"garbage", bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100), store.ErrNotCAR, "neither a CAR file"},
		{"empty", nil, store.ErrNotCAR, "neither a CAR file"},
		{"CAR version 3", carVersion3, store.ErrNotCAR, "invalid car version: 3"},
		{"raw block over the record bound", big, store.ErrNotCAR, "too large for a record"},
		{"truncated raw record", out.Data[:len(out.Data)-7], store.ErrNotCAR, "nor a record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.ReadCAR(tc.data)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("ReadCAR = %d blocks, %v; want %v, saying %q", len(got), err, tc.want, tc.text)
			}
			if got != nil {
				t.Errorf("ReadCAR = %d blocks with %v, want none", len(got), err)
			}
			other := store.ErrNotCAR
			if tc.want == store.ErrNotCAR {
				other = store.ErrCorruptCAR
			}
			if errors.Is(err, other) {
				t.Errorf("ReadCAR = %v, want it not to be %v too", err, other)
			}
		})
	}
}

// carVersion3 is a CAR v1 header, but for version 3: {"roots": [], "version": 3}.
var carVersion3 = []byte{0x11, 0xa2, 0x65, 'r', 'o', 'o', 't', 's', 0x80, 0x67, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x03}

// TestWriteCARWriterError: a failed write is WriteCAR's error.
func TestWriteCARWriterError(t *testing.T) {
	src, out, _ := carBlocks(t)
	errFull := errors.New("disk full")
	for _, room := range []int{0, 60, 300} { // in the header, the first block, the second
		w := &shortWriter{room: room, err: errFull}
		if err := store.WriteCAR(w, []cid.Cid{out.CID}, []lineage.Block{src, out}); !errors.Is(err, errFull) {
			t.Errorf("WriteCAR(writer full after %d bytes) = %v, want %v", room, err, errFull)
		}
	}
}

// shortWriter takes room bytes, then fails with err.
type shortWriter struct {
	room int
	err  error
}

func (w *shortWriter) Write(p []byte) (int, error) {
	if len(p) > w.room {
		n := w.room
		w.room = 0
		return n, w.err
	}
	w.room -= len(p)
	return len(p), nil
}
