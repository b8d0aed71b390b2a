package cli

import (
	"context"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	"github.com/urfave/cli/v2"
)

// backend is what commands need from a node: its store directly when no
// daemon runs (localBackend), or the daemon's local API when one owns the
// store (daemonBackend).
type backend interface {
	lineage.Resolver
	store.Sink
	Get(c cid.Cid) ([]byte, error)
	Claims(out cid.Cid) ([]store.Claim, error)
	PathsOf(c cid.Cid) ([]string, error)
	Ancestry(out cid.Cid) ([]cid.Cid, []lineage.Block, error)
	// AllRevocations returns every revocation block held; AddRevocation
	// verifies and keeps one (and, through a daemon, publishes it).
	AllRevocations() ([]lineage.Block, error)
	AddRevocation(b lineage.Block) error
	// Revoke signs a revocation of record rc for reason and keeps it,
	// returning its CID: the daemon signs with its key (the home's) and
	// publishes it; on the store, key signs it here.
	Revoke(ctx context.Context, key lineage.Signer, rc cid.Cid, reason string) (cid.Cid, error)
	// Status says where record rc stands: through the daemon with its
	// replicas counted live, on the store with what the store alone
	// tells.
	Status(ctx context.Context, rc cid.Cid) (node.APIStatus, error)
	// FetchStats returns the daemon's fetch counters; ok=false on the
	// store, which fetches nothing from the swarm.
	FetchStats(ctx context.Context) (stats node.FetchStats, ok bool)
	Close() error
}

var (
	_ backend = localBackend{}
	_ backend = daemonBackend{}
)

// access is what a command does with the store when it opens it itself:
// reading opens it read-only (no write, no fsync), writing opens it for
// writes with the home's key as the owner.
type access bool

const (
	reading access = false
	writing access = true
)

// openBackend talks to the running daemon of the home if there is one,
// else opens the store itself for mode.
func openBackend(c *cli.Context, mode access) (backend, error) {
	h, err := home(c)
	if err != nil {
		return nil, err
	}
	if api, ok := node.Dial(c.Context, h); ok {
		return daemonBackend{api: api, ctx: c.Context}, nil
	}
	st, err := openStore(c, mode)
	if err != nil {
		return nil, err
	}
	return localBackend{st}, nil
}

// sink is where record puts the records it signs.
type sink interface {
	store.Sink
	Close() error
}

// openSink is the daemon's API when one runs, else the home's journal:
// one synced append per record, no writable open of the store.
func openSink(c *cli.Context) (sink, error) {
	h, err := home(c)
	if err != nil {
		return nil, err
	}
	if api, ok := node.Dial(c.Context, h); ok {
		return daemonBackend{api: api, ctx: c.Context}, nil
	}
	return openAppenderWait(c, h)
}

// viaDaemonOrStore runs daemon when the home's daemon answers, else local
// on the store opened here (and closed, with its error, after).
func viaDaemonOrStore(c *cli.Context, mode access, daemon func(*node.Client) error, local func(*store.Store) error) error {
	h, err := home(c)
	if err != nil {
		return err
	}
	if api, ok := node.Dial(c.Context, h); ok {
		defer api.Close()
		return daemon(api)
	}
	st, err := openStore(c, mode)
	if err != nil {
		return err
	}
	if err := local(st); err != nil {
		st.Close()
		return err
	}
	return st.Close()
}

// localBackend is the store, opened by this process.
type localBackend struct{ *store.Store }

func (l localBackend) Revoke(_ context.Context, key lineage.Signer, rc cid.Cid, reason string) (cid.Cid, error) {
	v := &lineage.Revocation{Target: rc, Reason: reason, Time: time.Now().Unix()}
	b, err := v.Sign(key)
	if err != nil {
		return cid.Undef, err
	}
	if err := l.AddRevocation(b); err != nil {
		return cid.Undef, err
	}
	return b.CID, nil
}

func (l localBackend) Status(_ context.Context, rc cid.Cid) (node.APIStatus, error) {
	return node.LocalStatus(l.Store, rc)
}

func (localBackend) FetchStats(context.Context) (node.FetchStats, bool) {
	return node.FetchStats{}, false
}

// daemonBackend is the daemon's store through its local API. The methods
// without a context of their own (the store's) run under ctx, the
// command's.
type daemonBackend struct {
	api *node.Client
	ctx context.Context
}

func (d daemonBackend) Resolve(ctx context.Context, out cid.Cid) ([]lineage.Block, error) {
	return d.api.Resolve(ctx, out)
}

func (d daemonBackend) Put(blocks []lineage.Block, paths map[string]cid.Cid) (int, error) {
	return d.api.Put(d.ctx, blocks, paths)
}

func (d daemonBackend) Get(c cid.Cid) ([]byte, error) { return d.api.Record(d.ctx, c) }

func (d daemonBackend) Claims(out cid.Cid) ([]store.Claim, error) { return d.api.Claims(d.ctx, out) }

func (d daemonBackend) PathsOf(c cid.Cid) ([]string, error) { return d.api.Paths(d.ctx, c) }

func (d daemonBackend) Ancestry(out cid.Cid) ([]cid.Cid, []lineage.Block, error) {
	return d.api.Ancestry(d.ctx, out)
}

func (d daemonBackend) AllRevocations() ([]lineage.Block, error) { return d.api.Revocations(d.ctx) }

func (d daemonBackend) AddRevocation(b lineage.Block) error {
	_, err := d.api.AddRevocations(d.ctx, []lineage.Block{b})
	return err
}

func (d daemonBackend) Revoke(ctx context.Context, _ lineage.Signer, rc cid.Cid, reason string) (cid.Cid, error) {
	return d.api.Revoke(ctx, rc, reason)
}

func (d daemonBackend) Status(ctx context.Context, rc cid.Cid) (node.APIStatus, error) {
	return d.api.Status(ctx, rc)
}

// FetchStats asks the daemon; an error reads as no fetches (the stats
// are a report on the side of a verification, never its verdict).
func (d daemonBackend) FetchStats(ctx context.Context) (node.FetchStats, bool) {
	info, _ := d.api.Info(ctx)
	return info.Stats, true
}

func (d daemonBackend) Close() error { return d.api.Close() }
