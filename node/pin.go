package node

import (
	"context"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

// Pin fetches the whole ancestry of output through the swarm, keeps it
// from GC, and provides every output in it so this node serves it too.
func (n *Node) Pin(ctx context.Context, output cid.Cid) (store.PinInfo, error) {
	info, err := n.Store.Pin(ctx, output, n.Resolver())
	if err != nil {
		return info, err
	}
	_, blocks, err := n.Store.Ancestry(output)
	if err != nil {
		return info, err
	}
	seen := map[cid.Cid]bool{}
	for _, b := range blocks {
		if rec, err := lineage.Decode(b.Data); err == nil && !seen[rec.Output] {
			seen[rec.Output] = true
			n.queueProvide(rec.Output)
		}
	}
	return info, nil
}
