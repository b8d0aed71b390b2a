package lineage_test

import (
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
)

// content returns a deterministic content CID for a name.
func content(name string) cid.Cid {
	sum := sha256.Sum256([]byte(name))
	h, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		panic(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// signed signs a record by test key n for output out from inputs.
func signed(t testing.TB, n byte, out string, inputs ...string) (*lineage.Record, lineage.Block) {
	t.Helper()
	r := &lineage.Record{
		Executor: lineage.Executor{UID: 1000},
		Output:   content(out),
		Time:     1764000000,
	}
	for _, in := range inputs {
		r.Inputs = append(r.Inputs, content(in))
	}
	b, err := r.Sign(testkeys.Key(n))
	if err != nil {
		t.Fatalf("Sign(%s) = %v", out, err)
	}
	return r, b
}

func inputNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("input-%d", i)
	}
	return names
}

func peerIDFromSHA256(s string) (peer.ID, error) {
	h, err := mh.Sum([]byte(s), mh.SHA2_256, -1)
	if err != nil {
		return "", err
	}
	return peer.IDFromBytes(h)
}
