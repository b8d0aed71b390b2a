package node

// Swarm prefetch: an ancestry is pulled from the swarm as a pipeline.
// Every output still missing is looked up (its providers), then asked of
// one provider together with the other outputs waiting for that provider;
// the request's skip list names what is already here or on its way, so a
// provider does not serve it again nor walk below it. Each answer is
// verified and cached at once, and the inputs it shows still missing are
// looked up and asked for while other requests are in flight. The chain
// of dependent requests, the sequential rounds, grows with the depth of
// the DAG over the depth each provider holds, not with the swarm's size.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/bonsai-lineage/bonsai/dht"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
)

const (
	// prefetchParallel bounds the lookups and requests in flight.
	prefetchParallel = 16
	// lookupTimeout bounds one provider lookup.
	lookupTimeout = 20 * time.Second
	// lookupProviders is how many providers a lookup waits for: the
	// first few answer as well as more would, and a lookup that can stop
	// early is a shorter walk.
	lookupProviders = 3
	// A prefetch asks for no more outputs than a verification examines
	// records, and none deeper than it goes (lineage's defaults).
	prefetchMaxOutputs = lineage.DefaultMaxRecords
	prefetchMaxDepth   = lineage.DefaultMaxDepth
)

// outcome is what a prefetch learned of an output it could not bring.
type outcome struct {
	providers bool            // some provider was found
	problems  []string        // what each asked provider answered
	refused   []lineage.Block // forged blocks offered for it
}

// target is an output to bring: its depth below the roots, the round of
// the request that asks for it, and the peer to ask when one is known (a
// frontier left by its provider).
type target struct {
	out   cid.Cid
	depth int
	round int
	peer  *peer.AddrInfo
	wide  bool // look up as many providers as there are, not the first few
}

// prefetch is one session's state, owned by its loop goroutine; lookups
// and requests run on their own and report back on done.
type prefetch struct {
	n      *Node
	levels int // levels to bring, the roots' included (0: all)

	known     map[cid.Cid]bool             // queued, asked for or brought in this session
	wide      map[cid.Cid]bool             // looked up wide already
	skippable map[cid.Cid]int              // brought or asked for, by depth: for skip lists
	tried     map[cid.Cid]map[peer.ID]bool // providers asked for an output
	cands     map[cid.Cid][]peer.AddrInfo  // providers found for an output
	outcomes  map[cid.Cid]*outcome
	waiting   []target // providers known, not yet asked
	looking   []target // providers to find
	rounds    int
}

// result is what a lookup or a request reports to the loop.
type result struct {
	lookup    *target
	providers []peer.AddrInfo
	req       *request
}

// request is one fetch: a provider, the targets asked of it, and what
// came back.
type request struct {
	peer     peer.AddrInfo
	targets  []target
	skip     []cid.Cid
	op       dht.Op
	resp     *dht.Response
	err      error
	recs     []*lineage.Record
	refused  []lineage.Block
	cacheErr error
}

// prefetch pulls the ancestry of roots from the swarm into the store as
// cached records, levels levels of it counting the roots' own (0: all of
// it), and returns what it could not bring, by output.
func (n *Node) prefetch(ctx context.Context, roots []cid.Cid, levels int) map[cid.Cid]*outcome {
	p := &prefetch{n: n, levels: levels, known: map[cid.Cid]bool{}, wide: map[cid.Cid]bool{}, skippable: map[cid.Cid]int{}, tried: map[cid.Cid]map[peer.ID]bool{},
		cands: map[cid.Cid][]peer.AddrInfo{}, outcomes: map[cid.Cid]*outcome{}}
	for _, r := range roots {
		if !p.known[r] {
			p.known[r] = true
			p.looking = append(p.looking, target{out: r, round: 1})
		}
	}
	done := make(chan result)
	running := 0
	for {
		for running < prefetchParallel && ctx.Err() == nil {
			if len(p.looking) > 0 {
				t := p.looking[0]
				p.looking = p.looking[1:]
				if p.held(t.out) {
					continue // brought meanwhile by another answer
				}
				running++
				go func() {
					done <- result{lookup: &t, providers: n.lookup(ctx, t)}
				}()
				continue
			}
			req := p.nextRequest()
			if req == nil {
				if len(p.looking) > 0 {
					continue // outputs to look up wider, queued by nextRequest
				}
				break
			}
			running++
			go func() {
				p.send(ctx, req)
				done <- result{req: req}
			}()
		}
		if running == 0 {
			break
		}
		r := <-done
		running--
		if r.lookup != nil {
			p.found(*r.lookup, r.providers)
		} else {
			p.answered(r.req)
		}
	}
	n.stats.add(func(s *FetchStats) { s.Rounds += p.rounds })
	return p.outcomes
}

// skipFrom adds out, at depth, to what later requests skip: it is here,
// or asked of a provider. (An output only queued is not skipped: a
// provider that holds it may as well bring it, and its lookup is then
// dropped.)
func (p *prefetch) skipFrom(out cid.Cid, depth int) {
	if d, ok := p.skippable[out]; !ok || depth < d {
		p.skippable[out] = depth
	}
}

// skipList is what a request for targets whose shallowest is at depth
// skips: of the outputs here or on their way, those a walk from the
// targets can reach (deeper than depth), nearest first, up to
// dht.MaxSkip; the targets themselves never.
func (p *prefetch) skipList(depth int, mine map[cid.Cid]bool) []cid.Cid {
	type cand struct {
		out   cid.Cid
		depth int
	}
	var cs []cand
	for out, d := range p.skippable {
		if d > depth && !mine[out] {
			cs = append(cs, cand{out, d})
		}
	}
	slices.SortFunc(cs, func(a, b cand) int { return a.depth - b.depth })
	skip := make([]cid.Cid, 0, min(len(cs), dht.MaxSkip))
	for _, c := range cs[:min(len(cs), dht.MaxSkip)] {
		skip = append(skip, c.out)
	}
	return skip
}

func (p *prefetch) outcome(out cid.Cid) *outcome {
	o := p.outcomes[out]
	if o == nil {
		o = &outcome{}
		p.outcomes[out] = o
	}
	return o
}

// found takes a lookup's providers: the target waits for its request.
// A wide lookup adds the providers the first one did not find.
func (p *prefetch) found(t target, ps []peer.AddrInfo) {
	for _, c := range ps {
		if !slices.ContainsFunc(p.cands[t.out], func(o peer.AddrInfo) bool { return o.ID == c.ID }) {
			p.cands[t.out] = append(p.cands[t.out], c)
		}
	}
	if p.cands[t.out] == nil {
		p.cands[t.out] = []peer.AddrInfo{}
	}
	if len(ps) > 0 {
		p.outcome(t.out).providers = true
	}
	p.wide[t.out] = p.wide[t.out] || t.wide
	p.waiting = append(p.waiting, t)
}

// nextRequest groups waiting targets into one request: the provider of
// the first waiting target with one left to ask, and every other waiting
// target that provider can serve. Targets with no provider left are
// dropped (sources, or unreachable: their outcome says which).
func (p *prefetch) nextRequest() *request {
	p.waiting = slices.DeleteFunc(p.waiting, func(t target) bool { return p.held(t.out) })
	for len(p.waiting) > 0 {
		first := p.waiting[0]
		pi := p.choose(first)
		if pi == nil {
			p.waiting = p.waiting[1:]
			if p.outcomes[first.out] != nil && len(p.outcomes[first.out].problems) > 0 && !p.wide[first.out] {
				// Every provider found failed: some may have left the
				// swarm; look further before giving it up.
				first.wide, first.peer = true, nil
				p.looking = append(p.looking, first)
			}
			continue
		}
		req := &request{peer: *pi}
		rest := p.waiting[:0]
		for _, t := range p.waiting {
			if len(req.targets) < dht.MaxRequestCIDs && p.offers(t, pi.ID) {
				p.mark(t.out, pi.ID)
				p.skipFrom(t.out, t.depth)
				req.targets = append(req.targets, t)
			} else {
				rest = append(rest, t)
			}
		}
		p.waiting = rest
		// Skip what this session has here or on its way, but the targets.
		mine := map[cid.Cid]bool{}
		shallowest := -1
		for _, t := range req.targets {
			mine[t.out] = true
			if shallowest < 0 || t.depth < shallowest {
				shallowest = t.depth
			}
		}
		req.skip = p.skipList(shallowest, mine)
		return req
	}
	return nil
}

// choose picks who to ask for t: its frontier's provider, else the first
// provider found for it not asked yet (each is tried before the output is
// given up: some may have left the swarm).
func (p *prefetch) choose(t target) *peer.AddrInfo {
	if t.peer != nil {
		return t.peer
	}
	for i, c := range p.cands[t.out] {
		if !p.tried[t.out][c.ID] {
			return &p.cands[t.out][i]
		}
	}
	return nil
}

// offers reports whether provider id is one to ask for t now.
func (p *prefetch) offers(t target, id peer.ID) bool {
	if t.peer != nil {
		return t.peer.ID == id
	}
	if p.tried[t.out][id] {
		return false
	}
	return slices.ContainsFunc(p.cands[t.out], func(c peer.AddrInfo) bool { return c.ID == id })
}

func (p *prefetch) mark(out cid.Cid, id peer.ID) {
	if p.tried[out] == nil {
		p.tried[out] = map[peer.ID]bool{}
	}
	p.tried[out][id] = true
}

// send runs one request (off the loop): the ancestries of its targets,
// with the skip list of what is here or on its way, and opens, verifies
// and caches what comes back.
func (p *prefetch) send(ctx context.Context, req *request) {
	n := p.n
	n.Swarm.Host.Peerstore().AddAddrs(req.peer.ID, req.peer.Addrs, peerstore.TempAddrTTL)
	r := dht.Request{Op: dht.OpAncestry, MaxRecords: n.cfg.fetchBatch}
	shallowest := -1
	for _, t := range req.targets {
		r.CIDs = append(r.CIDs, t.out)
		if shallowest < 0 || t.depth < shallowest {
			shallowest = t.depth
		}
	}
	if p.levels > 0 {
		// Levels below the targets still wanted; none: their records only.
		if below := p.levels - 1 - shallowest; below > 0 {
			r.MaxDepth = below
		} else {
			r.Op = dht.OpByOutput
		}
	}
	req.op = r.Op
	if r.Op == dht.OpAncestry {
		r.Skip = req.skip
	}
	resp, err := dht.Fetch(ctx, n.Swarm.Host, req.peer.ID, r)
	good, recs, bad := n.countFetch(req.peer.ID, resp, err)
	req.resp, req.err, req.recs, req.refused = resp, err, recs, bad
	if err == nil && len(good) > 0 {
		req.cacheErr = n.cacheFetched(good, recs)
	}
}

// answered takes a request's answer: what it lacked or could not serve
// goes to another provider or back to the same one; the inputs of what
// it brought that are still missing are the next round's targets.
func (p *prefetch) answered(req *request) {
	round := 0
	for _, t := range req.targets {
		round = max(round, t.round)
	}
	p.rounds = max(p.rounds, round)
	fail := func(ts []target, msg string) {
		for _, t := range ts {
			o := p.outcome(t.out)
			o.providers = true // this one was asked
			o.problems = append(o.problems, fmt.Sprintf("%s: %s", req.peer.ID, msg))
			t.peer, t.round = nil, round+1
			if _, looked := p.cands[t.out]; looked {
				p.waiting = append(p.waiting, t) // next provider, if any
			} else {
				p.looking = append(p.looking, t) // a frontier: find others
			}
		}
	}
	if req.err != nil {
		fail(req.targets, req.err.Error())
		return
	}
	if req.cacheErr != nil {
		fail(req.targets, req.cacheErr.Error())
		return
	}
	for _, b := range req.refused {
		if r, err := lineage.Decode(b.Data); err == nil {
			o := p.outcome(r.Output)
			o.refused = append(o.refused, b)
		}
	}
	// Depths: a record's inputs are one level below its output.
	depth := map[cid.Cid]int{}
	for _, t := range req.targets {
		depth[t.out] = t.depth
	}
	served := map[cid.Cid]bool{}
	for _, r := range req.recs {
		served[r.Output] = true
		if !p.known[r.Output] {
			p.known[r.Output] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, r := range req.recs {
			d, ok := depth[r.Output]
			if !ok {
				continue
			}
			for _, in := range r.Inputs {
				if cur, ok := depth[in]; !ok || d+1 < cur {
					depth[in] = d + 1
					changed = true
				}
			}
		}
	}
	for _, r := range req.recs {
		d, ok := depth[r.Output]
		if !ok {
			d = round // not below a target: deeper than any so far, at worst
		}
		p.skipFrom(r.Output, d) // here now: later requests skip it
	}
	left := cidSet(req.resp.Frontier)
	lacked := cidSet(req.resp.Missing)
	if req.op == dht.OpByOutput {
		for _, t := range req.targets {
			if !served[t.out] && !left[t.out] {
				lacked[t.out] = true
			}
		}
	}
	var missing []target
	for _, t := range req.targets {
		if !served[t.out] && lacked[t.out] {
			missing = append(missing, t)
		}
	}
	fail(missing, "no record of it")
	// The frontier is the same provider's to continue: its own targets
	// it could not fit, and what it reached below them.
	pi := req.peer
	own := map[cid.Cid]bool{}
	for _, t := range req.targets {
		own[t.out] = true
	}
	for _, c := range req.resp.Frontier {
		if t, ok := p.want(c, depth[c], round+1, own[c] && !served[c]); ok {
			t.peer = &pi
			p.waiting = append(p.waiting, t)
		}
	}
	for _, r := range req.recs {
		for _, in := range r.Inputs {
			if served[in] || left[in] {
				continue
			}
			if t, ok := p.want(in, depth[in], round+1, false); ok {
				p.looking = append(p.looking, t)
			}
		}
	}
}

// want reports whether out is to be brought: not asked before (unless
// again is set: a frontier the same provider is to continue), within the
// depth limit and the session's bounds, and not held here.
func (p *prefetch) want(out cid.Cid, depth, round int, again bool) (target, bool) {
	if (p.levels > 0 && depth >= p.levels) || depth > prefetchMaxDepth || len(p.known) >= prefetchMaxOutputs {
		return target{}, false
	}
	if p.known[out] && !again {
		return target{}, false
	}
	p.known[out] = true
	if p.held(out) {
		return target{}, false
	}
	return target{out: out, depth: depth, round: round}, true
}

// held reports whether the store has a record of out now.
func (p *prefetch) held(out cid.Cid) bool {
	held, err := p.n.Store.HasOutput(out)
	return err == nil && held
}

func cidSet(cs []cid.Cid) map[cid.Cid]bool {
	m := make(map[cid.Cid]bool, len(cs))
	for _, c := range cs {
		m[c] = true
	}
	return m
}

// lookup finds who to ask for t: the nodes that announced its ancestry
// key (they hold λ levels below it, so one answer brings more than one
// level), else those that announced the output itself; a wide lookup
// (the first ones failed) looks for many of the latter.
func (n *Node) lookup(ctx context.Context, t target) []peer.AddrInfo {
	if t.wide {
		return n.findProviders(ctx, t.out, n.cfg.maxProviders*4)
	}
	// One is enough, and usually all there is (the producer): a lookup
	// that waits for more walks the whole way.
	if ps := n.findProviders(ctx, dht.AncestryKey(t.out), 1); len(ps) > 0 {
		return ps
	}
	return n.findProviders(ctx, t.out, lookupProviders)
}

// findProviders looks up who can hand out records producing out, up to
// count of them, itself excluded.
func (n *Node) findProviders(ctx context.Context, out cid.Cid, count int) []peer.AddrInfo {
	n.stats.add(func(s *FetchStats) { s.ProviderLookups++ })
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	ps := n.Swarm.Providers(lctx, out, count)
	return slices.DeleteFunc(ps, func(p peer.AddrInfo) bool { return p.ID == n.ID() })
}
