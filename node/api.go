package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

// APISocket is the local API's unix socket inside the home.
const APISocket = "api.sock"

// The local API: HTTP on a unix socket in the home, mode 0600, so only the
// owner's processes reach it. While the daemon runs it owns the store, and
// the CLI goes through here (with Client); verification itself still runs
// in the CLI over a resolver backed by /v1/resolve, so the CLI trusts the
// daemon no more than any peer. The wire types are in api_types.go.

// ServeAPI serves the local API on home/api.sock until ctx ends.
func (n *Node) ServeAPI(ctx context.Context) error {
	path := filepath.Join(n.Home, APISocket)
	// A socket left by a daemon that died: the store lock we hold proves
	// no other daemon owns this home.
	_ = os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("local API: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("local API: %w", err)
	}
	srv := &http.Server{Handler: n.apiHandler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err = srv.Serve(l)
	_ = os.Remove(path)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// apiHandler routes each endpoint to its handler. A handler of a record
// or an output ("?cid=") gets the CID parsed by cidHandler.
func (n *Node) apiHandler() http.Handler {
	mux := http.NewServeMux()
	get := func(path string, h http.HandlerFunc) { mux.HandleFunc(http.MethodGet+" "+path, h) }
	post := func(path string, h http.HandlerFunc) { mux.HandleFunc(http.MethodPost+" "+path, h) }
	get(apiID, n.serveInfo)
	post(apiPut, n.servePut)
	get(apiResolve, cidHandler(n.serveResolve))
	get(apiRecord, cidHandler(n.serveRecord))
	get(apiClaims, cidHandler(n.serveClaims))
	get(apiPaths, cidHandler(n.servePaths))
	get(apiAncestry, cidHandler(n.serveAncestry))
	get(apiStatus, cidHandler(n.serveStatus))
	post(apiPin, cidHandler(n.servePin))
	post(apiUnpin, cidHandler(n.serveUnpin))
	get(apiPins, n.servePins)
	post(apiGC, n.serveGC)
	post(apiPolicy, n.servePolicy)
	post(apiPolicyRm, n.servePolicyRm)
	get(apiPolicies, n.servePolicies)
	get(apiEnforcement, n.serveEnforcement)
	get(apiAudit, n.serveAudit)
	get(apiHash, n.serveHash)
	get(apiRevocations, n.serveRevocations)
	post(apiRevocations, n.serveAddRevocations)
	post(apiRevoke, n.serveRevoke)
	return mux
}

func (n *Node) serveInfo(w http.ResponseWriter, r *http.Request) {
	info := APIInfo{ID: n.ID().String(), Peers: len(n.Swarm.Host.Network().Peers()), Stats: n.Stats()}
	for _, a := range n.Swarm.Addrs() {
		info.Addrs = append(info.Addrs, a.String())
	}
	writeJSON(w, info)
}

func (n *Node) servePut(w http.ResponseWriter, r *http.Request) {
	var req APIPut
	if !readJSON(w, r, &req, maxAPIBody, "request body") {
		return
	}
	blocks, err := FromAPIBlocks(req.Blocks)
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	paths, err := fromAPIPaths(req.Paths)
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	added, err := n.Store.Put(blocks, paths)
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	n.Notify()
	writeJSON(w, APIAdded{Added: added})
}

func (n *Node) serveResolve(w http.ResponseWriter, r *http.Request, c cid.Cid) {
	blocks, err := n.Resolver().Resolve(r.Context(), c)
	if errors.Is(err, lineage.ErrUnreachable) {
		apiError(w, http.StatusBadGateway, err)
		return
	}
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, toAPIBlocks(blocks))
}

func (n *Node) serveRecord(w http.ResponseWriter, r *http.Request, c cid.Cid) {
	data, err := n.Store.Get(c)
	if errors.Is(err, store.ErrNotFound) {
		apiError(w, http.StatusNotFound, err)
		return
	}
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, APIBlock{CID: c.String(), Data: data})
}

func (n *Node) serveClaims(w http.ResponseWriter, r *http.Request, c cid.Cid) {
	claims, err := n.Store.Claims(c)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, toAPIClaims(claims))
}

func (n *Node) servePaths(w http.ResponseWriter, r *http.Request, c cid.Cid) {
	paths, err := n.Store.PathsOf(c)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, paths)
}

func (n *Node) serveAncestry(w http.ResponseWriter, r *http.Request, c cid.Cid) {
	roots, blocks, err := n.Store.Ancestry(c)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, APIAncestry{Roots: toAPIStrings(roots), Blocks: toAPIBlocks(blocks)})
}

func (n *Node) serveStatus(w http.ResponseWriter, r *http.Request, c cid.Cid) {
	st, err := n.Status(r.Context(), c)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, st)
}

func (n *Node) servePin(w http.ResponseWriter, r *http.Request, c cid.Cid) {
	info, err := n.Pin(r.Context(), c)
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, APIPinOf(info))
}

func (n *Node) serveUnpin(w http.ResponseWriter, r *http.Request, c cid.Cid) {
	if err := n.Store.Unpin(c); err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, APIUnpinned{Unpinned: c.String()})
}

func (n *Node) servePins(w http.ResponseWriter, r *http.Request) {
	pins, err := n.Store.Pins()
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	out := make([]APIPin, len(pins))
	for i, p := range pins {
		out[i] = APIPinOf(p)
	}
	writeJSON(w, out)
}

func (n *Node) serveGC(w http.ResponseWriter, r *http.Request) {
	st, err := n.GC(r.Context())
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, st)
}

func (n *Node) servePolicy(w http.ResponseWriter, r *http.Request) {
	var in APIPolicy
	if !readJSON(w, r, &in, maxAPIPolicyBody, "policy request") {
		return
	}
	p, err := n.Store.PutPolicy(in.File, []byte(in.YAML))
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	if err := n.ReloadPolicies(); err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, APIPolicy{Name: p.Metadata.Name, File: in.File, Policy: p})
}

func (n *Node) servePolicyRm(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get(apiNameParam)
	if err := n.Store.DeletePolicy(name); err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	if err := n.ReloadPolicies(); err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, APIPolicyRemoved{Removed: name})
}

func (n *Node) servePolicies(w http.ResponseWriter, r *http.Request) {
	ps, err := n.Store.Policies()
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, APIPoliciesOf(ps))
}

func (n *Node) serveEnforcement(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, n.Enforcement())
}

func (n *Node) serveAudit(w http.ResponseWriter, r *http.Request) {
	q, err := parseAuditQuery(r.URL.Query())
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	es, err := n.Store.Audit(q.Since, q.Policy)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	dropped, err := n.Store.AuditDropped()
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, APIAudit{Events: es, Dropped: dropped})
}

// serveHash hashes a file for the daemon's owner's commands (the socket
// is 0600): its own opens pass its enforcement, and it answers with a
// CID, never the content.
func (n *Node) serveHash(w http.ResponseWriter, r *http.Request) {
	q := parseHashQuery(r.URL.Query())
	if !filepath.IsAbs(q.Path) {
		apiError(w, http.StatusBadRequest, fmt.Errorf("hash: %q is not an absolute path", q.Path))
		return
	}
	code, err := lineage.HashCode(q.Hash)
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	c, err := lineage.HashFile(q.Path, code)
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, APIHash{CID: c.String()})
}

func (n *Node) serveRevocations(w http.ResponseWriter, r *http.Request) {
	bs, err := n.Store.AllRevocations()
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, APIRevocations{Blocks: revocationData(bs)})
}

func (n *Node) serveAddRevocations(w http.ResponseWriter, r *http.Request) {
	var in APIRevocations
	if !readJSON(w, r, &in, maxAPIBody, "revocations") {
		return
	}
	for _, b := range revocationBlocks(in.Blocks) {
		if err := n.AddRevocation(r.Context(), b); err != nil {
			apiError(w, http.StatusBadRequest, err)
			return
		}
	}
	writeJSON(w, APIAdded{Added: len(in.Blocks)})
}

func (n *Node) serveRevoke(w http.ResponseWriter, r *http.Request) {
	var in APIRevoke
	if !readJSON(w, r, &in, maxAPIRevokeBody, "revoke") {
		return
	}
	rc, err := cid.Decode(in.Record)
	if err != nil {
		apiError(w, http.StatusBadRequest, fmt.Errorf("revoke: record: %w", err))
		return
	}
	b, err := n.Revoke(r.Context(), rc, in.Reason)
	if err != nil {
		apiError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, APIRevoked{Revocation: b.CID.String()})
}

// cidHandler parses the query's cid for f, refusing the request without
// a valid one.
func cidHandler(f func(http.ResponseWriter, *http.Request, cid.Cid)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := cid.Decode(r.URL.Query().Get(apiCIDParam))
		if err != nil {
			apiError(w, http.StatusBadRequest, fmt.Errorf("cid: %w", err))
			return
		}
		f(w, r, c)
	}
}

// readJSON decodes a request body of at most limit bytes into v, fields
// it does not know refused; on an error it answers 400, the error said
// after what, and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any, limit int64, what string) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, fmt.Errorf("%s: %w", what, err))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(APIError{Error: err.Error()})
}
