package cli

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

// heldResolver resolves outputs from the blocks of one ancestry held in
// the local store: the in-toto and PROV exports judge what this node
// holds, never what the swarm might add.
type heldResolver map[cid.Cid][]lineage.Block

// Resolve returns the held blocks claiming output.
func (h heldResolver) Resolve(_ context.Context, output cid.Cid) ([]lineage.Block, error) {
	return h[output], nil
}

// checkHeld verifies the ancestry of out as the blocks (from Ancestry)
// and the revocations held against them make it: every signature, every
// revocation, each record once.
func checkHeld(ctx context.Context, out cid.Cid, blocks, revs []lineage.Block) (*lineage.Result, error) {
	res := heldResolver{}
	for _, b := range blocks {
		rec, err := lineage.Decode(b.Data)
		if err != nil {
			return nil, fmt.Errorf("stored record %s: %w", b.CID, err)
		}
		res[rec.Output] = append(res[rec.Output], b)
	}
	idx, err := store.IndexRevocations(revs)
	if err != nil {
		return nil, err
	}
	// No depth or record budget cuts a held ancestry short: it is bounded
	// by what the store holds.
	opts := lineage.Options{
		MaxDepth:    max(len(blocks)+1, lineage.DefaultMaxDepth),
		MaxRecords:  max(len(blocks)+1, lineage.DefaultMaxRecords),
		Revocations: idx.Lookup,
	}
	return lineage.Check(ctx, out, res, opts)
}

// passes reports whether rc is a record of res that verifies on its own
// (signature good, not revoked, capture complete) and, with ancestry,
// whose inputs' ancestries verify too: what this node can sign for.
func passes(res *lineage.Result, rc lineage.RecordCheck, ancestry bool) bool {
	if rc.Verdict != lineage.Verified || rc.Record == nil {
		return false
	}
	if ancestry {
		for _, in := range rc.Record.Inputs {
			if n := res.Nodes[in]; n == nil || !n.OK {
				return false
			}
		}
	}
	return true
}

// verifiedRecords lists the records of res that pass (see passes), node
// by node in the result's order, and counts those left out.
func verifiedRecords(res *lineage.Result, ancestry bool) (ok []lineage.RecordCheck, skipped int) {
	for _, c := range res.Order {
		for _, rc := range res.Nodes[c].Records {
			if passes(res, rc, ancestry) {
				ok = append(ok, rc)
			} else {
				skipped++
			}
		}
	}
	return ok, skipped
}

// newestVerified is the newest record of out that passes (see passes;
// ties broken by CID, so the choice is stable); ok=false when there is
// none.
func newestVerified(res *lineage.Result, out cid.Cid, ancestry bool) (lineage.RecordCheck, bool) {
	n := res.Nodes[out]
	if n == nil {
		return lineage.RecordCheck{}, false
	}
	var best []lineage.RecordCheck
	for _, rc := range n.Records {
		if passes(res, rc, ancestry) {
			best = append(best, rc)
		}
	}
	if len(best) == 0 {
		return lineage.RecordCheck{}, false
	}
	return slices.MaxFunc(best, func(a, b lineage.RecordCheck) int {
		return cmp.Or(cmp.Compare(a.Record.Time, b.Record.Time), cmp.Compare(a.CID.KeyString(), b.CID.KeyString()))
	}), true
}
