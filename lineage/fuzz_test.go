package lineage_test

import (
	"bytes"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/golden"
	"github.com/bonsai-lineage/bonsai/lineage"
)

// fuzzSeeds are the decoder's starting points, each named for what it
// probes. They are also written to testdata/fuzz/FuzzDecode by -update, so
// 'go test' replays them without -fuzz.
func fuzzSeeds(t testing.TB) map[string][]byte {
	_, src := signed(t, 1, "src")
	_, two := signed(t, 1, "out", "a", "b")
	_, many := signed(t, 2, "out", inputNames(16)...)
	flip := bytes.Clone(two.Data)
	flip[len(flip)/2] ^= 0x40
	return map[string][]byte{
		"valid-source":      src.Data,                                                                // no inputs
		"valid-two-inputs":  two.Data,                                                                // the common case
		"valid-16-inputs":   many.Data,                                                               // array length in two bytes
		"truncated":         two.Data[:len(two.Data)-7],                                              // cut inside the signature
		"trailing-zero":     append(bytes.Clone(two.Data), 0),                                        // one byte too many
		"bit-flip":          flip,                                                                    // a flipped bit mid-record
		"empty-map":         {0xa0},                                                                  // no fields at all
		"huge-array-header": {0xa1, 0x61, 'i', 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, // claims 2^64 inputs
		"indefinite-map":    {0xbf, 0x61, 'v', 0x01, 0xff},                                           // indefinite lengths are not DAG-CBOR
		"deep-nesting":      bytes.Repeat([]byte{0x81}, 64),                                          // arrays inside arrays
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := lineage.Decode(data)
		if err != nil {
			return
		}
		// Whatever decodes must be canonical: it encodes back to itself.
		again, err := r.Encode()
		if err != nil {
			t.Fatalf("Decode accepted a record Encode refuses: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("Encode(Decode(x)) = %x, want %x", again, data)
		}
		_ = r.Verify() // must not panic, whatever the key
	})
}

// TestFuzzCorpus keeps the committed seed corpus equal to fuzzSeeds; -update
// rewrites it.
func TestFuzzCorpus(t *testing.T) { golden.FuzzCorpus(t, "FuzzDecode", fuzzSeeds(t)) }
