package enforce

import (
	"errors"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
)

// Defaults of a Guard.
const (
	// DefaultDecisionTimeout bounds one decision; past it the guard
	// answers with its timeout verdict (deny unless WithAllowOnTimeout).
	DefaultDecisionTimeout = 5 * time.Second
	// DefaultWorkers is how many decisions run at once.
	DefaultWorkers = 4
	// DefaultCacheEntries bounds the verdict cache.
	DefaultCacheEntries = 65536
)

type config struct {
	resolver       lineage.Resolver
	policies       func() []*Policy
	generation     func() uint64
	timeout        time.Duration
	allowOnTimeout bool
	taint          func(pid int32) error
	audit          func(Event)
	hash           uint64
	workers        int
	cacheEntries   int
}

// Option configures a Guard.
type Option func(*config) error

// WithResolver is where ancestries come from (required): the node's
// store and, through it, the swarm.
func WithResolver(r lineage.Resolver) Option {
	return func(c *config) error {
		if r == nil {
			return errors.New("enforce: nil resolver")
		}
		c.resolver = r
		return nil
	}
}

// WithPolicies is the running policy set, read at every decision
// (required).
func WithPolicies(f func() []*Policy) Option {
	return func(c *config) error { c.policies = f; return nil }
}

// WithGeneration is a counter that changes whenever what decisions depend
// on changes (policies, records, revocations): cached verdicts of an older
// generation are decided again. Default: never changes.
func WithGeneration(f func() uint64) Option {
	return func(c *config) error { c.generation = f; return nil }
}

// WithDecisionTimeout bounds one decision (default 5 s).
func WithDecisionTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return errors.New("enforce: decision timeout must be positive")
		}
		c.timeout = d
		return nil
	}
}

// WithAllowOnTimeout makes a decision that runs out of time allow (and
// log) instead of deny.
func WithAllowOnTimeout(allow bool) Option {
	return func(c *config) error { c.allowOnTimeout = allow; return nil }
}

// WithTaint is called, before the open is allowed, for a process that
// opens a file a confidential rule covers: the egress backend marks it in
// the kernel. If it fails the open is denied. Default: none (confidential
// rules only mark their decisions).
func WithTaint(f func(pid int32) error) Option {
	return func(c *config) error { c.taint = f; return nil }
}

// WithAudit receives every decision on a file in scope.
func WithAudit(f func(Event)) Option {
	return func(c *config) error { c.audit = f; return nil }
}

// WithHash is the multihash code content CIDs use (default lineage's).
func WithHash(code uint64) Option {
	return func(c *config) error { c.hash = code; return nil }
}

// WithWorkers is how many decisions run at once (default 4).
func WithWorkers(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return errors.New("enforce: workers must be at least 1")
		}
		c.workers = n
		return nil
	}
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		policies:     func() []*Policy { return nil },
		generation:   func() uint64 { return 0 },
		timeout:      DefaultDecisionTimeout,
		audit:        func(Event) {},
		hash:         lineage.DefaultHash,
		workers:      DefaultWorkers,
		cacheEntries: DefaultCacheEntries,
	}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.resolver == nil {
		return nil, errors.New("enforce: a resolver is required")
	}
	return c, nil
}
