package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	"github.com/urfave/cli/v2"
)

// backend is what commands need from a node: its store directly when no
// daemon runs, or the daemon's local API when one owns the store.
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
	Close() error
}

var (
	_ backend = (*store.Store)(nil)
	_ backend = (*apiClient)(nil)
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
	if api, ok := dialAPI(c.Context, h); ok {
		return api, nil
	}
	return openStore(c, mode)
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
	if api, ok := dialAPI(c.Context, h); ok {
		return api, nil
	}
	return openAppenderWait(c, h)
}

// viaDaemonOrStore runs daemon when the home's daemon answers, else local
// on the store opened here (and closed, with its error, after).
func viaDaemonOrStore(c *cli.Context, mode access, daemon func(*apiClient) error, local func(*store.Store) error) error {
	h, err := home(c)
	if err != nil {
		return err
	}
	if api, ok := dialAPI(c.Context, h); ok {
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

// apiClient is the local API over the home's unix socket.
type apiClient struct {
	http *http.Client
	ctx  context.Context
}

// dialAPI connects to home/api.sock; ok=false when no daemon answers
// there (no socket, or one left by a daemon that died).
func dialAPI(ctx context.Context, home string) (*apiClient, bool) {
	sock := filepath.Join(home, node.APISocket)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	a := &apiClient{http: &http.Client{Transport: tr}, ctx: ctx}
	pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var info node.APIInfo
	if err := a.do(pctx, http.MethodGet, "/v1/id", nil, &info); err != nil {
		return nil, false
	}
	return a, true
}

// apiStatusError is an error answer of the API.
type apiStatusError struct {
	code int
	msg  string
}

func (e *apiStatusError) Error() string { return e.msg }

func (a *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://bonsai"+path, rd)
	if err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("daemon API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return fmt.Errorf("daemon API: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return &apiStatusError{code: resp.StatusCode, msg: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("daemon API: bad answer to %s: %w", path, err)
	}
	return nil
}

func cidPath(p string, c cid.Cid) string { return p + "?cid=" + url.QueryEscape(c.String()) }

func (a *apiClient) Resolve(ctx context.Context, out cid.Cid) ([]lineage.Block, error) {
	var bs []node.APIBlock
	err := a.do(ctx, http.MethodGet, cidPath("/v1/resolve", out), nil, &bs)
	var se *apiStatusError
	if errors.As(err, &se) && se.code == http.StatusBadGateway {
		return nil, fmt.Errorf("%w (%s)", lineage.ErrUnreachable, se.msg)
	}
	if err != nil {
		return nil, err
	}
	return node.FromAPIBlocks(bs)
}

func (a *apiClient) Put(blocks []lineage.Block, paths map[string]cid.Cid) (int, error) {
	req := node.APIPut{Paths: map[string]string{}}
	for _, b := range blocks {
		req.Blocks = append(req.Blocks, node.APIBlock{CID: b.CID.String(), Data: b.Data})
	}
	for p, c := range paths {
		req.Paths[p] = c.String()
	}
	var out struct{ Added int }
	if err := a.do(a.ctx, http.MethodPost, "/v1/put", req, &out); err != nil {
		return 0, err
	}
	return out.Added, nil
}

func (a *apiClient) Get(c cid.Cid) ([]byte, error) {
	var b node.APIBlock
	err := a.do(a.ctx, http.MethodGet, cidPath("/v1/record", c), nil, &b)
	var se *apiStatusError
	if errors.As(err, &se) && se.code == http.StatusNotFound {
		return nil, fmt.Errorf("%s: %w", c, store.ErrNotFound)
	}
	return b.Data, err
}

func (a *apiClient) Claims(out cid.Cid) ([]store.Claim, error) {
	var cs []node.APIClaim
	if err := a.do(a.ctx, http.MethodGet, cidPath("/v1/claims", out), nil, &cs); err != nil {
		return nil, err
	}
	claims := make([]store.Claim, len(cs))
	for i, c := range cs {
		rc, err := cid.Decode(c.Record)
		if err != nil {
			return nil, err
		}
		claims[i] = store.Claim{Record: rc, Time: c.Time, Data: c.Data}
	}
	return claims, nil
}

func (a *apiClient) PathsOf(c cid.Cid) ([]string, error) {
	var ps []string
	err := a.do(a.ctx, http.MethodGet, cidPath("/v1/paths", c), nil, &ps)
	return ps, err
}

func (a *apiClient) Ancestry(out cid.Cid) ([]cid.Cid, []lineage.Block, error) {
	var resp struct {
		Roots  []string
		Blocks []node.APIBlock
	}
	if err := a.do(a.ctx, http.MethodGet, cidPath("/v1/ancestry", out), nil, &resp); err != nil {
		return nil, nil, err
	}
	var roots []cid.Cid
	for _, r := range resp.Roots {
		c, err := cid.Decode(r)
		if err != nil {
			return nil, nil, err
		}
		roots = append(roots, c)
	}
	blocks, err := node.FromAPIBlocks(resp.Blocks)
	return roots, blocks, err
}

func (a *apiClient) Close() error { return nil }

func (a *apiClient) AllRevocations() ([]lineage.Block, error) {
	var out node.RevocationsJSON
	if err := a.do(a.ctx, http.MethodGet, "/v1/revocations", nil, &out); err != nil {
		return nil, err
	}
	bs := make([]lineage.Block, len(out.Blocks))
	for i, d := range out.Blocks {
		bs[i] = lineage.Block{CID: lineage.RecordCID(d), Data: d}
	}
	return bs, nil
}

func (a *apiClient) AddRevocation(b lineage.Block) error {
	return a.do(a.ctx, http.MethodPost, "/v1/revocations", node.RevocationsJSON{Blocks: [][]byte{b.Data}}, nil)
}
