package node

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
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

// Client is the local API of the daemon of a home, over HOME/api.sock: one
// method per endpoint, each sending and reading the named wire types of
// api_types.go. It trusts no answer more than a peer's: blocks it returns
// are still to be verified by the caller.
type Client struct {
	http *http.Client
}

// dialTimeout bounds Dial's probe of the socket.
const dialTimeout = 3 * time.Second

// NewClient returns a client of the daemon of home. It does not connect:
// each call does, and fails when no daemon answers.
func NewClient(home string) *Client {
	sock := filepath.Join(home, APISocket)
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	return &Client{http: &http.Client{Transport: tr}}
}

// Dial connects to the daemon of home and asks who it is. ok=false means
// no daemon answered within three seconds (no socket, or one left by a
// daemon that died): the caller works on the store itself.
func Dial(ctx context.Context, home string) (c *Client, ok bool) {
	c = NewClient(home)
	pctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if _, err := c.Info(pctx); err != nil {
		c.Close()
		return nil, false
	}
	return c, true
}

// Close releases the client's idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// StatusError is an error answer of the local API: its HTTP status and
// the daemon's message (the error's text).
type StatusError struct {
	Code int
	Msg  string
}

func (e *StatusError) Error() string { return e.Msg }

// Info is GET /v1/id: the daemon's peer ID, addresses, peer count and
// fetch counters.
func (c *Client) Info(ctx context.Context) (APIInfo, error) {
	var info APIInfo
	err := c.do(ctx, http.MethodGet, apiID, nil, nil, &info)
	return info, err
}

// Put stores blocks (the daemon verifies them) and indexes paths, path →
// content CID; it returns how many blocks were new.
func (c *Client) Put(ctx context.Context, blocks []lineage.Block, paths map[string]cid.Cid) (int, error) {
	req := APIPut{Blocks: make([]APIBlock, len(blocks)), Paths: toAPIPaths(paths)}
	for i, b := range blocks {
		req.Blocks[i] = APIBlock{CID: b.CID.String(), Data: b.Data}
	}
	var out APIAdded
	if err := c.do(ctx, http.MethodPost, apiPut, nil, req, &out); err != nil {
		return 0, err
	}
	return out.Added, nil
}

// Resolve returns the records claiming out, from the daemon's store or
// the swarm; a record no peer could serve wraps lineage.ErrUnreachable.
// The blocks are unverified.
func (c *Client) Resolve(ctx context.Context, out cid.Cid) ([]lineage.Block, error) {
	var bs []APIBlock
	err := c.do(ctx, http.MethodGet, apiResolve, cidQuery(out), nil, &bs)
	if se, ok := errors.AsType[*StatusError](err); ok && se.Code == http.StatusBadGateway {
		return nil, fmt.Errorf("%w (%s)", lineage.ErrUnreachable, se.Msg)
	}
	if err != nil {
		return nil, err
	}
	return FromAPIBlocks(bs)
}

// Record returns the block of record rc held by the daemon; one it does
// not hold wraps store.ErrNotFound.
func (c *Client) Record(ctx context.Context, rc cid.Cid) ([]byte, error) {
	var b APIBlock
	err := c.do(ctx, http.MethodGet, apiRecord, cidQuery(rc), nil, &b)
	if se, ok := errors.AsType[*StatusError](err); ok && se.Code == http.StatusNotFound {
		return nil, fmt.Errorf("%s: %w", rc, store.ErrNotFound)
	}
	return b.Data, err
}

// Claims lists the stored records whose output is out, newest first.
func (c *Client) Claims(ctx context.Context, out cid.Cid) ([]store.Claim, error) {
	var cs []APIClaim
	if err := c.do(ctx, http.MethodGet, apiClaims, cidQuery(out), nil, &cs); err != nil {
		return nil, err
	}
	return fromAPIClaims(cs)
}

// Paths lists the local paths known for content cc.
func (c *Client) Paths(ctx context.Context, cc cid.Cid) ([]string, error) {
	var ps []string
	err := c.do(ctx, http.MethodGet, apiPaths, cidQuery(cc), nil, &ps)
	return ps, err
}

// Ancestry returns the records claiming out and every stored block below
// them.
func (c *Client) Ancestry(ctx context.Context, out cid.Cid) ([]cid.Cid, []lineage.Block, error) {
	var a APIAncestry
	if err := c.do(ctx, http.MethodGet, apiAncestry, cidQuery(out), nil, &a); err != nil {
		return nil, nil, err
	}
	roots, err := fromAPIStrings(a.Roots)
	if err != nil {
		return nil, nil, err
	}
	blocks, err := FromAPIBlocks(a.Blocks)
	return roots, blocks, err
}

// Status says where record rc stands on the daemon's node, replicas
// counted live.
func (c *Client) Status(ctx context.Context, rc cid.Cid) (APIStatus, error) {
	var st APIStatus
	err := c.do(ctx, http.MethodGet, apiStatus, cidQuery(rc), nil, &st)
	return st, err
}

// Pin fetches the whole ancestry of out and keeps it from GC.
func (c *Client) Pin(ctx context.Context, out cid.Cid) (APIPin, error) {
	var p APIPin
	err := c.do(ctx, http.MethodPost, apiPin, cidQuery(out), nil, &p)
	return p, err
}

// Unpin lets the pinned ancestry of out be collected again.
func (c *Client) Unpin(ctx context.Context, out cid.Cid) error {
	var u APIUnpinned
	return c.do(ctx, http.MethodPost, apiUnpin, cidQuery(out), nil, &u)
}

// Pins lists the pinned ancestries.
func (c *Client) Pins(ctx context.Context) ([]APIPin, error) {
	var ps []APIPin
	err := c.do(ctx, http.MethodGet, apiPins, nil, nil, &ps)
	return ps, err
}

// GC runs one GC pass in the daemon.
func (c *Client) GC(ctx context.Context) (store.GCStats, error) {
	var st store.GCStats
	err := c.do(ctx, http.MethodPost, apiGC, nil, nil, &st)
	return st, err
}

// ApplyPolicy stores the policy read from file (its name for errors) and
// reloads the daemon's enforcement; it returns the parsed policy.
func (c *Client) ApplyPolicy(ctx context.Context, file string, yaml []byte) (APIPolicy, error) {
	var p APIPolicy
	err := c.do(ctx, http.MethodPost, apiPolicy, nil, APIPolicy{File: file, YAML: string(yaml)}, &p)
	return p, err
}

// RemovePolicy deletes the policy called name and reloads the daemon's
// enforcement.
func (c *Client) RemovePolicy(ctx context.Context, name string) error {
	var rm APIPolicyRemoved
	return c.do(ctx, http.MethodPost, apiPolicyRm, url.Values{apiNameParam: {name}}, nil, &rm)
}

// Policies lists the stored policies.
func (c *Client) Policies(ctx context.Context) ([]APIPolicy, error) {
	var ps []APIPolicy
	err := c.do(ctx, http.MethodGet, apiPolicies, nil, nil, &ps)
	return ps, err
}

// Enforcement says which enforcement backends are active in the daemon
// and why.
func (c *Client) Enforcement(ctx context.Context) (EnforcementStatus, error) {
	var st EnforcementStatus
	err := c.do(ctx, http.MethodGet, apiEnforcement, nil, nil, &st)
	return st, err
}

// Audit returns the audit log's entries that q selects, and how many
// older entries were dropped.
func (c *Client) Audit(ctx context.Context, q APIAuditQuery) (APIAudit, error) {
	var a APIAudit
	err := c.do(ctx, http.MethodGet, apiAudit, q.encode(), nil, &a)
	return a, err
}

// Hash has the daemon hash the file q.Path (absolute) with q.Hash: for a
// file enforcement refuses this process but not the daemon. The answer is
// the CID, never the content.
func (c *Client) Hash(ctx context.Context, q APIHashQuery) (cid.Cid, error) {
	var h APIHash
	if err := c.do(ctx, http.MethodGet, apiHash, q.encode(), nil, &h); err != nil {
		return cid.Undef, err
	}
	return cid.Decode(h.CID)
}

// Revocations returns every revocation block the daemon holds.
func (c *Client) Revocations(ctx context.Context) ([]lineage.Block, error) {
	var rs APIRevocations
	if err := c.do(ctx, http.MethodGet, apiRevocations, nil, nil, &rs); err != nil {
		return nil, err
	}
	return revocationBlocks(rs.Blocks), nil
}

// AddRevocations has the daemon verify, keep and publish revocation
// blocks; it returns how many it took.
func (c *Client) AddRevocations(ctx context.Context, bs []lineage.Block) (int, error) {
	var out APIAdded
	if err := c.do(ctx, http.MethodPost, apiRevocations, nil, APIRevocations{Blocks: revocationData(bs)}, &out); err != nil {
		return 0, err
	}
	return out.Added, nil
}

// Revoke has the daemon sign, keep and publish a revocation of record rc
// with its key; it returns the revocation's CID.
func (c *Client) Revoke(ctx context.Context, rc cid.Cid, reason string) (cid.Cid, error) {
	var out APIRevoked
	if err := c.do(ctx, http.MethodPost, apiRevoke, nil, APIRevoke{Record: rc.String(), Reason: reason}, &out); err != nil {
		return cid.Undef, err
	}
	return cid.Decode(out.Revocation)
}

func cidQuery(c cid.Cid) url.Values { return url.Values{apiCIDParam: {c.String()}} }

// do sends one request, body encoded as JSON when not nil, and decodes
// the answer into out. An error answer is a *StatusError.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://bonsai"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("daemon API: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIAnswer))
	if err != nil {
		return fmt.Errorf("daemon API: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e APIError
		_ = json.Unmarshal(data, &e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return &StatusError{Code: resp.StatusCode, Msg: e.Error}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("daemon API: bad answer to %s: %w", path, err)
	}
	return nil
}
