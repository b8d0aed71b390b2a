package lineage_test

import (
	"fmt"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
)

// BenchmarkRecordSize reports the encoded size of a record with 0, 2 and 8
// inputs (with a program CID, as capture writes them). The Bonsai talk's
// decentralized records were 0.2–1 KB; its cumulative trees 2 MB–813 MB at
// depth 5. Ours do not depend on depth at all: inputs are CIDs.
func BenchmarkRecordSize(b *testing.B) {
	for _, n := range []int{0, 2, 8} {
		b.Run(fmt.Sprintf("inputs=%d", n), func(b *testing.B) {
			r := &lineage.Record{Output: content("out"), Program: content("prog"), Time: 1764000000}
			for _, in := range inputNames(n) {
				r.Inputs = append(r.Inputs, content(in))
			}
			blk, err := r.Sign(testkeys.Key(1))
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				_, _ = r.Encode()
			}
			b.ReportMetric(float64(len(blk.Data)), "bytes/record")
		})
	}
}

func BenchmarkSign(b *testing.B) {
	k := testkeys.Key(1)
	r, _ := signed(b, 1, "out", "a", "b")
	for b.Loop() {
		if _, err := r.Sign(k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	r, _ := signed(b, 1, "out", "a", "b")
	for b.Loop() {
		if err := r.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	r, _ := signed(b, 1, "out", "a", "b")
	for b.Loop() {
		if _, err := r.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	_, blk := signed(b, 1, "out", "a", "b")
	for b.Loop() {
		if _, err := lineage.Decode(blk.Data); err != nil {
			b.Fatal(err)
		}
	}
}
