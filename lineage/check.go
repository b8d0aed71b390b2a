package lineage

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrUnreachable is wrapped by a Resolver when records for an output exist
// but no holder of them answered.
var ErrUnreachable = errors.New("unreachable")

// Resolver maps an output CID to the blocks of the records that claim it.
// An empty result with a nil error means no record is known anywhere the
// resolver looks. The blocks are untrusted: Check verifies each one.
// The local store satisfies it; the swarm will too.
type Resolver interface {
	Resolve(ctx context.Context, output cid.Cid) ([]Block, error)
}

// ManyResolver is a Resolver that also resolves many outputs in one call,
// as the local store does with one iterator for them all; Check uses it
// when the resolver has it. blocks[i] are the blocks claiming outs[i]. An
// error is the error Resolve would give for each of them.
type ManyResolver interface {
	Resolver
	ResolveMany(ctx context.Context, outs []cid.Cid) (blocks [][]Block, err error)
}

// Defaults for Options fields left zero.
const (
	DefaultMaxDepth   = 1024
	DefaultMaxRecords = 1 << 20
)

// Options bound a check and say whom to trust.
type Options struct {
	// MaxDepth is how many levels of inputs below the target are checked;
	// nodes deeper are reported as DepthLimit. 0 means DefaultMaxDepth.
	MaxDepth int
	// MaxRecords bounds how many records are examined; nodes left over
	// are LimitReached. 0 means DefaultMaxRecords.
	MaxRecords int
	// Parallelism is how many outputs are resolved and verified at once.
	// 0 means GOMAXPROCS.
	Parallelism int
	// Trusted, when not empty, is the only set of executors whose records
	// verify; others are Untrusted. Empty means every valid signature
	// counts and the result lists the executors met.
	Trusted []peer.ID
	// RevokedExecutors and Revoked (record or output CIDs) fail every node
	// they touch and so every descendant.
	RevokedExecutors []peer.ID
	Revoked          []cid.Cid
	// Revocations, when set, returns the verified revocations that target
	// a record; one signed by the record's executor or by one of
	// TrustedRevokers revokes it (and fails every descendant); others are
	// named in the record's reason and ignored.
	Revocations     func(record cid.Cid) []*Revocation
	TrustedRevokers []peer.ID
	// RequireFull makes a leaf with no record a failure (NoRecord) instead
	// of a Source, and a node beyond MaxDepth (left unchecked) a failure.
	RequireFull bool
	// Progress, when set, is called after each level with the depth done
	// and the nodes and records checked so far.
	Progress func(depth, nodes, records int)
}

// RecordCheck is the verdict on one record claiming a node's output.
type RecordCheck struct {
	CID     cid.Cid `json:"cid"`
	Record  *Record `json:"-"`
	From    string  `json:"from,omitempty"`
	Verdict Verdict `json:"verdict"`
	Reason  string  `json:"reason,omitempty"`
}

// Node is one output CID of the ancestry.
type Node struct {
	Output  cid.Cid       `json:"output"`
	Depth   int           `json:"depth"`
	Verdict Verdict       `json:"verdict"`
	Reason  string        `json:"reason,omitempty"`
	Records []RecordCheck `json:"records,omitempty"`
	// Inputs are the outputs this node was made from: the union of the
	// inputs of its records that verified.
	Inputs []cid.Cid `json:"inputs,omitempty"`
	// OK: the node and its whole ancestry pass.
	OK bool `json:"ok"`

	color color // evaluate's depth-first walk
}

// color marks a node in evaluate's depth-first walk: not visited yet,
// being visited (its descendants are), done.
type color uint8

const (
	white color = iota
	grey
	black
)

// Result is a checked ancestry: a DAG whose shared ancestors appear once.
type Result struct {
	Root     cid.Cid           `json:"root"`
	Verified bool              `json:"verified"`
	Nodes    map[cid.Cid]*Node `json:"-"`
	Order    []cid.Cid         `json:"-"` // breadth-first, for stable output
	Counts   map[Verdict]int   `json:"counts"`
	Records  int               `json:"records"`
	// Executors met, with the number of records each signed.
	Executors map[peer.ID]int `json:"executors"`
	Elapsed   time.Duration   `json:"elapsed_ns"`
}

// Check verifies the ancestry of target: it resolves the records claiming
// target, verifies each signature, and recurses into every input, level by
// level, resolving and verifying a level's nodes in parallel. Shared
// ancestors are fetched and verified once. Failures of the ancestry are
// verdicts in the result; the error is for a failing resolver (not an
// unreachable peer, which is a verdict) or a bad argument.
func Check(ctx context.Context, target cid.Cid, res Resolver, opts Options) (*Result, error) {
	if err := CheckCID(target); err != nil {
		return nil, fmt.Errorf("check target: %w", err)
	}
	start := time.Now()
	mres := remember(res)
	c := newChecker(mres, opts, true)
	defer c.sigs.stop() // after a panic too: the queue's goroutines end
	err := c.fetch(ctx, target)
	if err == nil {
		c.evaluate(target) // while the last signatures are checked
	}
	verified := c.sigs.wait(c.opts.Parallelism)
	if err != nil && verified {
		return nil, err
	}
	if !verified {
		// The first pass followed the inputs of records before their
		// signatures were checked, and one does not verify (an error on
		// the way may come of following it): check again, each level's
		// signatures before its inputs are followed, over the blocks the
		// first pass resolved.
		c = newChecker(mres, opts, false)
		if err := c.fetch(ctx, target); err != nil {
			return nil, err
		}
		c.evaluate(target)
	}
	r := c.finish(target)
	r.Elapsed = time.Since(start)
	return r, nil
}

// finish gives the checked ancestry of target its verdict and counts.
func (c *checker) finish(target cid.Cid) *Result {
	r := c.result
	r.Root = target
	root := r.Nodes[target]
	r.Verified = root.OK && root.Verdict == Verified
	for _, n := range r.Nodes {
		r.Counts[n.Verdict]++
	}
	return r
}

type checker struct {
	res         Resolver
	opts        Options
	trusted     map[peer.ID]bool
	revokedExec map[peer.ID]bool
	revoked     map[cid.Cid]bool
	result      *Result
	// sigs, when set (the optimistic pass), takes the signatures: records
	// are judged as if their signatures verified while sigs checks them in
	// the background, in large batches; when one does not verify the check
	// is done again without deferring.
	sigs *sigQueue
}

func newChecker(res Resolver, opts Options, deferSigs bool) *checker {
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = DefaultMaxRecords
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = runtime.GOMAXPROCS(0)
	}
	c := &checker{
		res: res, opts: opts,
		trusted:     setOf(opts.Trusted),
		revokedExec: setOf(opts.RevokedExecutors),
		revoked:     setOf(opts.Revoked),
		result: &Result{
			Nodes:     map[cid.Cid]*Node{},
			Counts:    map[Verdict]int{},
			Executors: map[peer.ID]int{},
		},
	}
	if deferSigs {
		c.sigs = newSigQueue(opts.Parallelism)
	}
	return c
}

func setOf[T comparable](xs []T) map[T]bool {
	m := make(map[T]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// fetch resolves and verifies the ancestry breadth first, so each node gets
// its shortest depth and a level's nodes run in parallel (openLevel). With
// sigs set the signatures are checked in the background, in batches that
// span levels.
func (c *checker) fetch(ctx context.Context, target cid.Cid) error {
	r := c.result
	frontier := []cid.Cid{target}
	r.Nodes[target] = &Node{Output: target}
	for depth := 0; len(frontier) > 0; depth++ {
		for _, out := range frontier {
			r.Order = append(r.Order, out)
			r.Nodes[out].Depth = depth
		}
		if depth > c.opts.MaxDepth {
			for _, out := range frontier {
				n := r.Nodes[out]
				n.Verdict, n.Reason = DepthLimit, fmt.Sprintf("beyond depth %d: not checked", c.opts.MaxDepth)
				if c.opts.RequireFull {
					n.Reason += ", so the full check fails (raise the depth limit)"
				}
			}
			break
		}
		var todo []*Node
		for _, out := range frontier {
			n := r.Nodes[out]
			if err := ctx.Err(); err != nil {
				n.Verdict, n.Reason = LimitReached, "not checked: "+err.Error()
				continue
			}
			if r.Records+len(todo) >= c.opts.MaxRecords {
				n.Verdict, n.Reason = LimitReached, fmt.Sprintf("not checked: record budget of %d spent", c.opts.MaxRecords)
				continue
			}
			todo = append(todo, n)
		}
		if err := c.openLevel(ctx, todo); err != nil {
			return err
		}
		var next []cid.Cid
		for _, out := range frontier {
			n := r.Nodes[out]
			r.Records += len(n.Records)
			for _, rc := range n.Records {
				if rc.Record != nil {
					r.Executors[rc.Record.Executor.Peer]++
				}
			}
			for _, in := range n.Inputs {
				if _, seen := r.Nodes[in]; !seen {
					r.Nodes[in] = &Node{Output: in}
					next = append(next, in)
				}
			}
		}
		if c.opts.Progress != nil {
			c.opts.Progress(depth, len(r.Order), r.Records)
		}
		frontier = next
		if c.sigs != nil && c.sigs.Failed() {
			break
		}
	}
	return nil
}

// judgeNode judges the records claiming n.Output: blocks opened into recs
// and errs by openBatch.
func (c *checker) judgeNode(n *Node, blocks []Block, recs []*Record, errs []error) {
	var inputs []cid.Cid
	best := LimitReached + 1
	for i, b := range blocks {
		rc := c.judge(n.Output, b, recs[i], errs[i])
		n.Records = append(n.Records, rc)
		if rc.Verdict == Verified || rc.Verdict == Incomplete {
			inputs = append(inputs, rc.Record.Inputs...)
		}
		if rc.Verdict < best {
			best, n.Reason = rc.Verdict, rc.Reason
		}
	}
	n.Verdict = best
	n.Inputs = SortInputs(inputs)
}

// judge gives the verdict on one untrusted block claimed to produce
// output, which openBatch opened into rec (nil when it did not decode) and
// err. A decodable record with a bad signature is kept for display, never
// for trust.
func (c *checker) judge(output cid.Cid, b Block, rec *Record, err error) RecordCheck {
	rc := RecordCheck{CID: b.CID, From: b.From, Record: rec}
	switch {
	case errors.Is(err, ErrBadSignature):
		rc.Verdict, rc.Reason = BadSignature, err.Error()
	case errors.Is(err, ErrUnknownExecutor):
		rc.Verdict, rc.Reason = UnknownExecutor, err.Error()
	case err != nil:
		rc.Verdict, rc.Reason = Invalid, err.Error()
		rc.Record = nil
	case !rec.Output.Equals(output):
		rc.Verdict, rc.Reason = Invalid, fmt.Sprintf("record is for output %s, not %s", rec.Output, output)
	case c.revoked[b.CID]:
		rc.Verdict, rc.Reason = Revoked, "record revoked"
	case c.revokedBy(b.CID, rec, &rc):
	case c.revokedExec[rec.Executor.Peer]:
		rc.Verdict, rc.Reason = Revoked, "executor "+rec.Executor.Peer.String()+" revoked"
	case len(c.trusted) > 0 && !c.trusted[rec.Executor.Peer]:
		rc.Verdict, rc.Reason = Untrusted, "executor "+rec.Executor.Peer.String()+" not trusted"
	case rec.Incomplete:
		rc.Verdict, rc.Reason = Incomplete, "capture marked this record incomplete"
	default:
		rc.Verdict = Verified
	}
	return rc
}

// revokedBy reports whether a revocation that counts targets record rc:
// then rc says which (the earliest); revocations that do not count are
// named in its reason and ignored.
func (c *checker) revokedBy(record cid.Cid, rec *Record, rc *RecordCheck) bool {
	if c.opts.Revocations == nil {
		return false
	}
	var ignored []string
	var counted *Revocation
	for _, v := range c.opts.Revocations(record) {
		if v.Counts(rec, c.opts.TrustedRevokers) {
			if counted == nil || v.Time < counted.Time {
				counted = v
			}
		} else {
			ignored = append(ignored, v.Revoker.String())
		}
	}
	if counted != nil {
		rc.Verdict = Revoked
		rc.Reason = fmt.Sprintf("revoked by %s at %s: %q", counted.Revoker, time.Unix(counted.Time, 0).UTC().Format(time.RFC3339), counted.Reason)
		return true
	}
	if len(ignored) > 0 {
		rc.Reason = "revocation ignored (neither the executor nor a trusted revoker): " + strings.Join(ignored, ", ")
	}
	return false
}

// evaluate walks the fetched DAG depth first from the target, finding
// cycles and deciding for each node whether its whole ancestry passes. A
// record that leads back to itself fails alone: another record of the same
// output may still verify the node.
func (c *checker) evaluate(target cid.Cid) {
	var visit func(n *Node)
	visit = func(n *Node) {
		n.color = grey
		ok := n.Verdict.Passes(c.opts.RequireFull)
		if n.Verdict == Verified {
			// Verified when at least one verified record has an ancestry
			// that passes in full.
			ok = false
			cyclic := ""
			for i := range n.Records {
				rc := &n.Records[i]
				if rc.Verdict != Verified {
					continue
				}
				recOK := true
				for _, in := range rc.Record.Inputs {
					child := c.result.Nodes[in]
					switch child.color {
					case grey:
						rc.Verdict, rc.Reason = Cycle, fmt.Sprintf("input %s is its own descendant", in)
						cyclic = rc.Reason
					case white:
						visit(child)
					}
					if !child.OK || rc.Verdict == Cycle {
						recOK = false
					}
				}
				ok = ok || recOK
			}
			if !ok && cyclic != "" {
				n.Verdict, n.Reason = Cycle, cyclic
			}
		} else {
			for _, in := range n.Inputs {
				if child := c.result.Nodes[in]; child.color == white {
					visit(child)
				}
			}
		}
		n.OK = ok
		n.color = black
	}
	visit(c.result.Nodes[target])
}

// Failures lists the nodes that fail on their own (not merely because an
// ancestor failed), in breadth-first order.
func (r *Result) Failures(requireFull bool) []*Node {
	var out []*Node
	for _, c := range r.Order {
		n := r.Nodes[c]
		if !n.Verdict.Passes(requireFull) {
			out = append(out, n)
		}
	}
	return out
}
