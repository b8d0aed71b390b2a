package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/golden"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
)

// carSeeds are the starting points of FuzzReadCAR, each named for what it
// probes and for its verdict: "accept-" ones ReadCAR reads, "refuse-" ones
// it refuses (TestCARSeedVerdicts holds them to it).
func carSeeds(t testing.TB) map[string][]byte {
	src, out, rev := carBlocks(t)
	roots := []cid.Cid{out.CID}
	chain := carOf(t, roots, src, out)
	header := carOf(t, roots)
	v2 := carV2Of(t, chain)
	flipData := bytes.Clone(chain)
	flipData[len(flipData)-1] ^= 0x01
	flipCID := bytes.Clone(chain)
	flipCID[len(header)+8] ^= 0x80 // in the digest of src's CID
	v2FarData := bytes.Clone(v2)
	binary.LittleEndian.PutUint64(v2FarData[len(carv2.Pragma)+16:], 1<<40) // data offset
	return map[string][]byte{
		// CARs as export writes them, and as the IPLD tools do.
		"accept-v1-chain":           chain,                                              // a source and a record made from it
		"accept-v1-with-revocation": carOf(t, roots, src, out, rev),                     // what export writes of a revoked record
		"accept-v1-no-blocks":       header,                                             // roots, nothing else
		"accept-v1-no-roots":        carOf(t, nil, src),                                 // roots are not required
		"accept-v1-repeated-block":  append(bytes.Clone(chain), chain[len(header):]...), // each block twice
		"accept-v2-indexed":         v2,                                                 // pragma, v2 header, v1, index
		// One raw block.
		"accept-raw-record":               out.Data,
		"accept-raw-revocation":           rev.Data,
		"accept-raw-record-bad-signature": flipSignature(t, out).Data, // signatures are the caller's to check
		// Not a CAR.
		"refuse-empty":                {},
		"refuse-garbage":              bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 16),
		"refuse-truncated-header":     chain[:5],
		"refuse-header-length-only":   {0xff, 0xff, 0xff, 0xff, 0x0f}, // claims a 4 GiB header
		"refuse-car-version-3":        carVersion3,
		"refuse-v2-data-past-end":     v2FarData,                        // data offset 1 TiB
		"refuse-raw-record-truncated": out.Data[:len(out.Data)-7],       // cut in the signature
		"refuse-raw-record-trailing":  append(bytes.Clone(out.Data), 0), // one byte too many
		// A CAR with a bad section.
		"refuse-truncated-section":      chain[:len(chain)-7],
		"refuse-v2-truncated-section":   v2[:len(carv2.Pragma)+carv2.HeaderSize+len(chain)-7],
		"refuse-oversize-section":       append(bytes.Clone(header), binary.AppendUvarint(nil, lineage.MaxRecordSize+129)...), // one byte over the bound, claimed
		"refuse-zero-length-section":    append(bytes.Clone(header), 0x00),
		"refuse-bit-flip-block-data":    flipData, // out's data no longer hash to its CID
		"refuse-bit-flip-cid-digest":    flipCID,
		"refuse-section-bad-cid":        append(bytes.Clone(header), 0x03, 0x02, 0x71, 0x00),            // CID version 2
		"refuse-section-length-endless": append(bytes.Clone(header), bytes.Repeat([]byte{0xff}, 16)...), // varint continues forever
	}
}

// FuzzReadCAR feeds arbitrary bytes to ReadCAR: it must never panic, must
// refuse with ErrNotCAR or ErrCorruptCAR, and what it accepts must be
// blocks whose data hash to their CIDs, within the section bound, that
// WriteCAR writes and ReadCAR reads back the same (each CID once).
func FuzzReadCAR(f *testing.F) {
	for _, s := range carSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		blocks, err := store.ReadCAR(data)
		if err != nil {
			if !errors.Is(err, store.ErrNotCAR) && !errors.Is(err, store.ErrCorruptCAR) {
				t.Fatalf("ReadCAR(%d bytes) = %v, want ErrNotCAR or ErrCorruptCAR", len(data), err)
			}
			return
		}
		var unique []lineage.Block
		seen := map[cid.Cid]bool{}
		for _, b := range blocks {
			if sum, err := b.CID.Prefix().Sum(b.Data); err != nil || !sum.Equals(b.CID) {
				t.Fatalf("ReadCAR: block %s hashes to %s (%v)", b.CID, sum, err)
			}
			if n := b.CID.ByteLen() + len(b.Data); n > lineage.MaxRecordSize+128 {
				t.Fatalf("ReadCAR: block %s of a %d-byte section, over the bound", b.CID, n)
			}
			if !seen[b.CID] {
				seen[b.CID] = true
				unique = append(unique, b)
			}
		}
		var roots []cid.Cid
		if len(blocks) > 0 {
			roots = []cid.Cid{blocks[0].CID}
		}
		var buf bytes.Buffer
		if err := store.WriteCAR(&buf, roots, blocks); err != nil {
			var long *carv2.ErrCidTooLarge
			if errors.As(err, &long) {
				return // documented: CIDs over 2 KiB are not written
			}
			t.Fatalf("WriteCAR(blocks ReadCAR read) = %v", err)
		}
		again, err := store.ReadCAR(buf.Bytes())
		if err != nil || !sameBlocks(again, unique) {
			t.Fatalf("ReadCAR(WriteCAR(%d blocks)) = %d blocks, %v; want the %d unique ones", len(blocks), len(again), err, len(unique))
		}
	})
}

// TestCARFuzzCorpus keeps the committed seed corpus equal to carSeeds;
// go test -update rewrites it.
func TestCARFuzzCorpus(t *testing.T) {
	golden.FuzzCorpus(t, "FuzzReadCAR", carSeeds(t))
}

// TestCARSeedVerdicts checks the seeds do what their names say: the
// "accept-" ones read, the "refuse-" ones are refused with a sentinel.
func TestCARSeedVerdicts(t *testing.T) {
	for name, data := range carSeeds(t) {
		blocks, err := store.ReadCAR(data)
		switch {
		case strings.HasPrefix(name, "accept-"):
			if err != nil {
				t.Errorf("seed %s: ReadCAR = %v, want blocks", name, err)
			}
		case strings.HasPrefix(name, "refuse-"):
			if err == nil || !errors.Is(err, store.ErrNotCAR) && !errors.Is(err, store.ErrCorruptCAR) {
				t.Errorf("seed %s: ReadCAR = %d blocks, %v; want ErrNotCAR or ErrCorruptCAR", name, len(blocks), err)
			}
		default:
			t.Errorf("seed %s: name says neither accept- nor refuse-", name)
		}
		t.Logf("seed %s: %d blocks, %v", name, len(blocks), err)
	}
}
