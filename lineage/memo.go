package lineage

import (
	"context"
	"sync"

	"github.com/ipfs/go-cid"
)

// memo is a Resolver that remembers what it resolved, so that the strict
// re-check after a failed signature judges the blocks the first pass had
// rather than asking the swarm again: under a deadline, a forged block
// then costs a second walk, not a second search. What failed to resolve
// is not remembered and is asked again.
type memo struct {
	res Resolver
	mu  sync.Mutex
	got map[cid.Cid][]Block
}

// memoMany is a memo over a ManyResolver, itself one.
type memoMany struct{ *memo }

// remember wraps res; the result is a ManyResolver when res is.
func remember(res Resolver) Resolver {
	m := &memo{res: res, got: map[cid.Cid][]Block{}}
	if _, ok := res.(ManyResolver); ok {
		return memoMany{m}
	}
	return m
}

func (m *memo) Resolve(ctx context.Context, out cid.Cid) ([]Block, error) {
	m.mu.Lock()
	bs, ok := m.got[out]
	m.mu.Unlock()
	if ok {
		return bs, nil
	}
	bs, err := m.res.Resolve(ctx, out)
	if err == nil {
		m.mu.Lock()
		m.got[out] = bs
		m.mu.Unlock()
	}
	return bs, err
}

func (m memoMany) ResolveMany(ctx context.Context, outs []cid.Cid) ([][]Block, error) {
	blocks := make([][]Block, len(outs))
	var ask []cid.Cid
	var at []int
	m.mu.Lock()
	for i, out := range outs {
		if bs, ok := m.got[out]; ok {
			blocks[i] = bs
		} else {
			ask, at = append(ask, out), append(at, i)
		}
	}
	m.mu.Unlock()
	if len(ask) == 0 {
		return blocks, nil
	}
	got, err := m.res.(ManyResolver).ResolveMany(ctx, ask)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	for j, i := range at {
		if j < len(got) {
			blocks[i] = got[j]
			m.got[ask[j]] = got[j]
		}
	}
	m.mu.Unlock()
	return blocks, nil
}
