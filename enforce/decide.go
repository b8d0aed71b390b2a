package enforce

import (
	"context"
	"fmt"
	"strings"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Decision is what a policy says of one file.
type Decision struct {
	Policy string `json:"policy"`
	Mode   Mode   `json:"mode"`
	File   string `json:"path"`
	CID    string `json:"output"`
	// Fails is set when a rule failed: the file is denied in enforce mode
	// and only logged in audit mode (Allow says which happened).
	Fails bool   `json:"fails"`
	Allow bool   `json:"allow"`
	Rule  string `json:"rule,omitempty"` // the rule that failed
	// Reason says why, and Trail is the path of the ancestry from the
	// file down to the first node that fails, one line each.
	Reason string   `json:"reason"`
	Trail  []string `json:"trail,omitempty"`
	// Confidential is set when the file is confidential: opening it
	// limits the opener's egress to AllowEgress.
	Confidential bool     `json:"confidential,omitempty"`
	AllowEgress  []string `json:"allow_egress,omitempty"`
	// Unsettled is set when the ancestry could not be fully reached
	// (unreachable, a limit): the decision stands, but is made again next
	// time.
	Unsettled bool `json:"unsettled,omitempty"`
}

// RevocationSource is what a resolver implements when it also knows the
// revocations held against records (the node's does).
type RevocationSource interface {
	Revocations(record cid.Cid) []*lineage.Revocation
}

// Decide evaluates policy p for a file at path whose content is c, its
// ancestry from r; every rule must pass. An error is a failure to decide
// (the deadline, a store error), not a deny.
func Decide(ctx context.Context, p *Policy, path string, c cid.Cid, r lineage.Resolver) (Decision, error) {
	d := Decision{Policy: p.Metadata.Name, Mode: p.Spec.Mode, File: path, CID: c.String(), Allow: true, Reason: "every rule passes"}
	check := func(opts lineage.Options) (*lineage.Result, error) {
		return lineage.Check(ctx, c, r, opts)
	}
	for _, rule := range p.Spec.Rules {
		switch {
		case rule.VerifiedLineage != nil:
			v := rule.VerifiedLineage
			opts := lineage.Options{MaxDepth: v.Depth, RequireFull: v.Full}
			for _, s := range v.Trust {
				id, err := peer.Decode(s)
				if err != nil {
					return d, fmt.Errorf("policy %s: trust %q: %w", p.Metadata.Name, s, err)
				}
				opts.Trusted = append(opts.Trusted, id)
			}
			res, err := check(opts)
			if err != nil {
				return d, fmt.Errorf("policy %s: check %s: %w", p.Metadata.Name, c, err)
			}
			d.Unsettled = d.Unsettled || unsettled(res)
			if !res.Verified {
				d.fail(rule.Name(), res)
				return d, nil
			}
		case rule.NotRevoked != nil:
			src, ok := r.(RevocationSource)
			if !ok {
				continue // nothing to learn revocations from: none count
			}
			opts := lineage.Options{Revocations: src.Revocations}
			for _, s := range p.Spec.Revokers {
				id, err := peer.Decode(s)
				if err != nil {
					return d, fmt.Errorf("policy %s: revoker %q: %w", p.Metadata.Name, s, err)
				}
				opts.TrustedRevokers = append(opts.TrustedRevokers, id)
			}
			res, err := check(opts)
			if err != nil {
				return d, fmt.Errorf("policy %s: check %s: %w", p.Metadata.Name, c, err)
			}
			// Any revoked record fails the rule, even where another record
			// of the same output verifies.
			d.Unsettled = d.Unsettled || unsettled(res)
			for _, id := range res.Order {
				for _, rc := range res.Nodes[id].Records {
					if rc.Verdict == lineage.Revoked {
						d.fail(rule.Name(), res)
						d.Reason = fmt.Sprintf("ancestry fails: record %s of %s %s: %s", rc.CID, id, rc.Verdict, rc.Reason)
						return d, nil
					}
				}
			}
		case rule.Confidential != nil:
			d.Confidential = true
			d.AllowEgress = append(d.AllowEgress, rule.Confidential.AllowEgress...)
		}
	}
	return d, nil
}

// unsettled reports whether a check could not reach the whole ancestry.
func unsettled(res *lineage.Result) bool {
	return res.Counts[lineage.Unreachable] > 0 || res.Counts[lineage.LimitReached] > 0
}

// fail records a failed rule with the ancestry's verdict and trail.
func (d *Decision) fail(rule string, res *lineage.Result) {
	d.Fails, d.Rule = true, rule
	d.Allow = d.Mode == Audit
	d.Trail = Trail(res)
	d.Reason = "ancestry fails"
	if len(d.Trail) > 0 {
		d.Reason += ": " + d.Trail[len(d.Trail)-1]
	}
}

// Trail is the path from the root of a failed check down to the first
// node that fails on its own (the others fail because of an input), one
// "CID verdict: reason" line per node.
func Trail(res *lineage.Result) []string {
	var trail []string
	seen := map[cid.Cid]bool{}
	for id := res.Root; !seen[id]; {
		seen[id] = true
		n := res.Nodes[id]
		if n == nil {
			break
		}
		line := fmt.Sprintf("%s %s", id, n.Verdict)
		if n.Reason != "" {
			line += ": " + n.Reason
		}
		trail = append(trail, line)
		next := cid.Undef
		for _, in := range n.Inputs {
			if m := res.Nodes[in]; m != nil && !m.OK {
				next = in
				break
			}
		}
		if !next.Defined() {
			break
		}
		id = next
	}
	return trail
}

// String is the decision on one line.
func (d Decision) String() string {
	verb := "allow"
	switch {
	case d.Fails && d.Mode == Audit:
		verb = "allow (audit: would deny)"
	case d.Fails:
		verb = "deny"
	}
	s := fmt.Sprintf("%s %s: policy %s", verb, d.File, d.Policy)
	if d.Rule != "" {
		s += ", rule " + d.Rule
	}
	s += ": " + d.Reason
	if d.Confidential {
		s += "; confidential (egress only to " + orNone(d.AllowEgress) + ")"
	}
	return s
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "nowhere"
	}
	return strings.Join(xs, ", ")
}
