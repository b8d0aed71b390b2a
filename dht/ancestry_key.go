package dht

import (
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// ancestryDomain separates ancestry keys from every content CID.
const ancestryDomain = "bonsai ancestry key v1\x00"

// AncestryKey is the DHT key under which nodes announce that they hold
// the records producing out *and* the levels of ancestry below them that
// a node keeps (λ): its providers answer an ancestry request for out with
// more than one level. Announced besides out itself, which every holder
// of a record of out provides.
func AncestryKey(out cid.Cid) cid.Cid {
	sum, err := mh.Sum(append([]byte(ancestryDomain), out.Bytes()...), mh.SHA2_256, -1)
	if err != nil {
		panic(err) // sha2-256 is always registered
	}
	return cid.NewCidV1(cid.Raw, sum)
}
