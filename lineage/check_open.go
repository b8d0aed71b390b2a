package lineage

import (
	"context"
	"errors"
	"fmt"

	"github.com/bonsai-lineage/bonsai/internal/par"
	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/ipfs/go-cid"
)

// openLevel resolves, opens and judges the nodes of one level, a share of
// them per task: a task resolves its nodes' records (in one call when the
// resolver is a ManyResolver), decodes them, checks their signatures in
// one batch (or, in the optimistic pass, hands them to c.sigs) and judges
// them.
// Workers take tasks from a shared counter rather than a channel: a
// hand-off per node between OS threads costs as much as the work on a
// small VM. The error is a failing resolver's.
func (c *checker) openLevel(ctx context.Context, nodes []*Node) error {
	size := shareSize(len(nodes), c.opts.Parallelism)
	tasks := (len(nodes) + size - 1) / size
	jobs := make([][]signer.Job, tasks)
	errs := make([]error, tasks)
	par.Each(tasks, c.opts.Parallelism, func(t int) {
		share := nodes[t*size : min((t+1)*size, len(nodes))]
		blocks, err := c.resolveShare(ctx, share)
		if err != nil {
			errs[t] = err
			return
		}
		jobs[t] = c.openShare(share, blocks)
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if c.sigs != nil {
		for _, js := range jobs {
			c.sigs.add(js)
		}
	}
	return nil
}

// resolveShare fetches the blocks of the records claiming each node's
// output (blocks[i] for nodes[i]); a node with none to judge gets its
// verdict.
func (c *checker) resolveShare(ctx context.Context, nodes []*Node) ([][]Block, error) {
	blocks := make([][]Block, len(nodes))
	var ask []int // the nodes to resolve, by index
	for i, n := range nodes {
		if c.revoked[n.Output] {
			n.Verdict, n.Reason = Revoked, "output revoked"
			continue
		}
		ask = append(ask, i)
	}
	mr, many := c.res.(ManyResolver)
	if many && len(ask) > 1 {
		outs := make([]cid.Cid, len(ask))
		for j, i := range ask {
			outs[j] = nodes[i].Output
		}
		got, batchErr := mr.ResolveMany(ctx, outs)
		if batchErr == nil && len(got) != len(ask) {
			batchErr = fmt.Errorf("resolver answered for %d of %d outputs", len(got), len(ask))
		}
		for j, i := range ask {
			// A failed call is the same failure for each of its outputs
			// (a verdict, or the error returned).
			var bs []Block
			if batchErr == nil {
				bs = got[j]
			}
			var err error
			if blocks[i], err = c.resolved(ctx, nodes[i], bs, batchErr); err != nil {
				return nil, err
			}
		}
		return blocks, nil
	}
	for _, i := range ask {
		bs, err := c.res.Resolve(ctx, nodes[i].Output)
		if blocks[i], err = c.resolved(ctx, nodes[i], bs, err); err != nil {
			return nil, err
		}
	}
	return blocks, nil
}

// resolved takes what resolving n.Output gave: the blocks to judge, or
// none, and then n has its verdict. The error is for a failing resolver
// (not an unreachable holder nor a deadline, which are verdicts).
func (c *checker) resolved(ctx context.Context, n *Node, blocks []Block, err error) ([]Block, error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrUnreachable):
		n.Verdict, n.Reason = Unreachable, err.Error()
		return nil, nil
	case ctx.Err() != nil:
		n.Verdict, n.Reason = LimitReached, "not checked: "+ctx.Err().Error()
		return nil, nil
	default:
		return nil, fmt.Errorf("resolve %s: %w", n.Output, err)
	}
	if len(blocks) == 0 {
		n.Verdict, n.Reason = Source, "no record: a source"
		if c.opts.RequireFull || n.Depth == 0 {
			n.Verdict, n.Reason = NoRecord, "no record of this content: no recorded step produced it"
		}
	}
	return blocks, nil
}

// openShare decodes the blocks of a share of nodes (blocks[i] claims
// nodes[i].Output), checks their signatures in one batch and judges each
// node's records. In the optimistic pass it checks no signature: it judges the
// records as if they verified and returns the signatures to check.
func (c *checker) openShare(nodes []*Node, blocks [][]Block) []signer.Job {
	var all []Block
	for _, bs := range blocks {
		all = append(all, bs...)
	}
	recs := make([]*Record, len(all))
	errs := make([]error, len(all))
	jobs, idx := decodeBatch(all, recs, errs)
	if c.sigs == nil {
		verifyBatch(jobs, idx, recs, errs)
		jobs = nil
	}
	for i, n := range nodes {
		k := len(blocks[i])
		if k > 0 {
			c.judgeNode(n, blocks[i], recs[:k], errs[:k])
		}
		recs, errs = recs[k:], errs[k:]
	}
	return jobs
}
