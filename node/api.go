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

	"github.com/bonsai-lineage/bonsai/enforce"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

// APISocket is the local API's unix socket inside the home.
const APISocket = "api.sock"

// maxAPIBody bounds a request to the local API.
const maxAPIBody = 64 << 20

// The local API: HTTP on a unix socket in the home, mode 0600, so only the
// owner's processes reach it. While the daemon runs it owns the store, and
// the CLI goes through here; verification itself still runs in the CLI over
// a resolver backed by /v1/resolve, so the CLI trusts the daemon no more
// than any peer.

// APIBlock is a record block on the wire of the local API.
type APIBlock struct {
	CID  string `json:"cid"`
	Data []byte `json:"data"`
	From string `json:"from,omitempty"`
}

// APIPut is the body of POST /v1/put.
type APIPut struct {
	Blocks []APIBlock        `json:"blocks"`
	Paths  map[string]string `json:"paths,omitempty"`
}

// APIClaim is one entry of /v1/claims.
type APIClaim struct {
	Record string `json:"record"`
	Time   int64  `json:"time"`
	Data   []byte `json:"data"`
}

// APIStatus is GET /v1/status?cid=: where a record stands on this node.
type APIStatus struct {
	Record string `json:"record"`
	Local  bool   `json:"local"`
	// Origin is why the node holds the record: own (signed by its key),
	// imported (another key's, added by its user), cached (fetched from a
	// peer) or replica (stored on it through the DHT).
	Origin string `json:"origin,omitempty"`
	// Executor is the peer ID that signed the record; Own says it is
	// this node's (the only records its outbox publishes).
	Executor  string   `json:"executor,omitempty"`
	Own       bool     `json:"own"`
	Outbox    string   `json:"outbox,omitempty"`
	Attempts  int      `json:"attempts,omitempty"`
	LastError string   `json:"last_error,omitempty"`
	Replicas  int      `json:"replicas"`
	Holders   []string `json:"holders,omitempty"`
}

// APIInfo is GET /v1/id.
type APIInfo struct {
	ID    string     `json:"id"`
	Addrs []string   `json:"addrs"`
	Peers int        `json:"peers"`
	Stats FetchStats `json:"stats"`
}

func toAPIBlocks(bs []lineage.Block) []APIBlock {
	out := make([]APIBlock, len(bs))
	for i, b := range bs {
		out[i] = APIBlock{CID: b.CID.String(), Data: b.Data, From: b.From}
	}
	return out
}

// FromAPIBlocks parses blocks off the API's wire (still untrusted).
func FromAPIBlocks(bs []APIBlock) ([]lineage.Block, error) {
	out := make([]lineage.Block, len(bs))
	for i, b := range bs {
		c, err := cid.Decode(b.CID)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", i, err)
		}
		out[i] = lineage.Block{CID: c, Data: b.Data, From: b.From}
	}
	return out, nil
}

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

func (n *Node) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/id", func(w http.ResponseWriter, r *http.Request) {
		info := APIInfo{ID: n.ID().String(), Peers: len(n.Swarm.Host.Network().Peers()), Stats: n.Stats()}
		for _, a := range n.Swarm.Addrs() {
			info.Addrs = append(info.Addrs, a.String())
		}
		writeJSON(w, info)
	})
	mux.HandleFunc("POST /v1/put", func(w http.ResponseWriter, r *http.Request) {
		var req APIPut
		if !readJSON(w, r, &req) {
			return
		}
		blocks, err := FromAPIBlocks(req.Blocks)
		if err != nil {
			apiError(w, http.StatusBadRequest, err)
			return
		}
		paths := map[string]cid.Cid{}
		for p, s := range req.Paths {
			c, err := cid.Decode(s)
			if err != nil {
				apiError(w, http.StatusBadRequest, fmt.Errorf("path %s: %w", p, err))
				return
			}
			paths[p] = c
		}
		added, err := n.Store.Put(blocks, paths)
		if err != nil {
			apiError(w, http.StatusBadRequest, err)
			return
		}
		n.Notify()
		writeJSON(w, map[string]int{"added": added})
	})
	mux.HandleFunc("GET /v1/resolve", n.cidHandler(func(w http.ResponseWriter, r *http.Request, c cid.Cid) {
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
	}))
	mux.HandleFunc("GET /v1/record", n.cidHandler(func(w http.ResponseWriter, r *http.Request, c cid.Cid) {
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
	}))
	mux.HandleFunc("GET /v1/claims", n.cidHandler(func(w http.ResponseWriter, r *http.Request, c cid.Cid) {
		claims, err := n.Store.Claims(c)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err)
			return
		}
		out := make([]APIClaim, len(claims))
		for i, cl := range claims {
			out[i] = APIClaim{Record: cl.Record.String(), Time: cl.Time, Data: cl.Data}
		}
		writeJSON(w, out)
	}))
	mux.HandleFunc("GET /v1/paths", n.cidHandler(func(w http.ResponseWriter, r *http.Request, c cid.Cid) {
		paths, err := n.Store.PathsOf(c)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, paths)
	}))
	mux.HandleFunc("GET /v1/ancestry", n.cidHandler(func(w http.ResponseWriter, r *http.Request, c cid.Cid) {
		roots, blocks, err := n.Store.Ancestry(c)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err)
			return
		}
		rs := make([]string, len(roots))
		for i, rc := range roots {
			rs[i] = rc.String()
		}
		writeJSON(w, map[string]any{"roots": rs, "blocks": toAPIBlocks(blocks)})
	}))
	mux.HandleFunc("GET /v1/status", n.cidHandler(func(w http.ResponseWriter, r *http.Request, c cid.Cid) {
		st, err := n.Status(r.Context(), c)
		if err != nil {
			apiError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, st)
	}))
	mux.HandleFunc("POST /v1/pin", n.cidHandler(func(w http.ResponseWriter, r *http.Request, c cid.Cid) {
		info, err := n.Pin(r.Context(), c)
		if err != nil {
			apiError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, PinJSONOf(info))
	}))
	mux.HandleFunc("POST /v1/unpin", n.cidHandler(func(w http.ResponseWriter, r *http.Request, c cid.Cid) {
		if err := n.Store.Unpin(c); err != nil {
			apiError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, map[string]string{"unpinned": c.String()})
	}))
	mux.HandleFunc("POST /v1/gc", func(w http.ResponseWriter, r *http.Request) {
		st, err := n.GC(r.Context())
		if err != nil {
			apiError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("POST /v1/policy", func(w http.ResponseWriter, r *http.Request) {
		var in PolicyJSON
		if err := json.NewDecoder(io.LimitReader(r.Body, 2*enforce.MaxPolicySize)).Decode(&in); err != nil {
			apiError(w, http.StatusBadRequest, fmt.Errorf("policy request: %w", err))
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
		writeJSON(w, PolicyJSON{Name: p.Metadata.Name, File: in.File, Policy: p})
	})
	mux.HandleFunc("POST /v1/policy/rm", func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		if err := n.Store.DeletePolicy(name); err != nil {
			apiError(w, http.StatusBadRequest, err)
			return
		}
		if err := n.ReloadPolicies(); err != nil {
			apiError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, map[string]string{"removed": name})
	})
	mux.HandleFunc("GET /v1/enforcement", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, n.Enforcement())
	})
	mux.HandleFunc("GET /v1/audit", func(w http.ResponseWriter, r *http.Request) {
		var since time.Time
		if v := r.URL.Query().Get("since"); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				apiError(w, http.StatusBadRequest, fmt.Errorf("since: %w", err))
				return
			}
			since = t
		}
		es, err := n.Store.Audit(since, r.URL.Query().Get("policy"))
		if err != nil {
			apiError(w, http.StatusInternalServerError, err)
			return
		}
		dropped, err := n.Store.AuditDropped()
		if err != nil {
			apiError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, AuditJSON{Events: es, Dropped: dropped})
	})
	// The daemon hashes a file for its owner's commands (the socket is
	// 0600): its own opens pass its enforcement, and it answers with a
	// CID, never the content.
	mux.HandleFunc("GET /v1/hash", func(w http.ResponseWriter, r *http.Request) {
		path := r.URL.Query().Get("path")
		if !filepath.IsAbs(path) {
			apiError(w, http.StatusBadRequest, fmt.Errorf("hash: %q is not an absolute path", path))
			return
		}
		name := r.URL.Query().Get("hash")
		if name == "" {
			name = "sha2-256"
		}
		code, err := lineage.HashCode(name)
		if err != nil {
			apiError(w, http.StatusBadRequest, err)
			return
		}
		c, err := lineage.HashFile(path, code)
		if err != nil {
			apiError(w, http.StatusBadRequest, err)
			return
		}
		writeJSON(w, map[string]string{"cid": c.String()})
	})
	mux.HandleFunc("GET /v1/revocations", func(w http.ResponseWriter, r *http.Request) {
		bs, err := n.Store.AllRevocations()
		if err != nil {
			apiError(w, http.StatusInternalServerError, err)
			return
		}
		out := RevocationsJSON{Blocks: make([][]byte, len(bs))}
		for i, b := range bs {
			out.Blocks[i] = b.Data
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("POST /v1/revocations", func(w http.ResponseWriter, r *http.Request) {
		var in RevocationsJSON
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<20)).Decode(&in); err != nil {
			apiError(w, http.StatusBadRequest, fmt.Errorf("revocations: %w", err))
			return
		}
		for _, d := range in.Blocks {
			if err := n.AddRevocation(r.Context(), lineage.Block{CID: lineage.RecordCID(d), Data: d}); err != nil {
				apiError(w, http.StatusBadRequest, err)
				return
			}
		}
		writeJSON(w, map[string]int{"added": len(in.Blocks)})
	})
	mux.HandleFunc("POST /v1/revoke", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Record string `json:"record"`
			Reason string `json:"reason"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&in); err != nil {
			apiError(w, http.StatusBadRequest, fmt.Errorf("revoke: %w", err))
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
		writeJSON(w, map[string]string{"revocation": b.CID.String()})
	})
	mux.HandleFunc("GET /v1/policies", func(w http.ResponseWriter, r *http.Request) {
		ps, err := n.Store.Policies()
		if err != nil {
			apiError(w, http.StatusInternalServerError, err)
			return
		}
		out := make([]PolicyJSON, len(ps))
		for i, p := range ps {
			out[i] = PolicyJSON{Name: p.Name, YAML: string(p.YAML), Policy: p.Policy}
		}
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /v1/pins", func(w http.ResponseWriter, r *http.Request) {
		pins, err := n.Store.Pins()
		if err != nil {
			apiError(w, http.StatusInternalServerError, err)
			return
		}
		out := make([]PinJSON, len(pins))
		for i, p := range pins {
			out[i] = PinJSONOf(p)
		}
		writeJSON(w, out)
	})
	return mux
}

// PolicyJSON is a policy on the wire and in `bonsai policy list --json`:
// applying sends File (for errors) and YAML; answers carry the parsed
// Policy.
type PolicyJSON struct {
	Name   string          `json:"name,omitempty"`
	File   string          `json:"file,omitempty"`
	YAML   string          `json:"yaml,omitempty"`
	Policy *enforce.Policy `json:"policy,omitempty"`
}

// RevocationsJSON is revocation blocks on the wire.
type RevocationsJSON struct {
	Blocks [][]byte `json:"blocks"`
}

// AuditJSON is the audit log on the wire and in `bonsai audit --json`.
type AuditJSON struct {
	Events  []enforce.Event `json:"events"`
	Dropped uint64          `json:"dropped"`
}

// PinJSON is a pin on the wire and in `bonsai pins --json`.
type PinJSON struct {
	Output   string   `json:"output"`
	Roots    []string `json:"roots"`
	Records  int      `json:"records"`
	Bytes    int64    `json:"bytes"`
	PinnedAt string   `json:"pinned_at"`
}

// PinJSONOf converts a pin for the wire and for display.
func PinJSONOf(p store.PinInfo) PinJSON {
	j := PinJSON{Output: p.Output.String(), Records: p.Records, Bytes: p.Bytes, PinnedAt: p.PinnedAt.UTC().Format(time.RFC3339)}
	for _, r := range p.Roots {
		j.Roots = append(j.Roots, r.String())
	}
	return j
}

func (n *Node) cidHandler(f func(http.ResponseWriter, *http.Request, cid.Cid)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := cid.Decode(r.URL.Query().Get("cid"))
		if err != nil {
			apiError(w, http.StatusBadRequest, fmt.Errorf("cid: %w", err))
			return
		}
		f(w, r, c)
	}
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
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
	_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
