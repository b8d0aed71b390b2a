package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/fsx"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// Bounds of the web view's answers.
const (
	// MaxUINodes is the most nodes of an ancestry the page is sent (and
	// draws); the rest is counted in UIAncestry.Cut.
	MaxUINodes = 400
	// MaxUIList is the most outbox entries and pins listed.
	MaxUIList = 200
	// MaxUIRecords and MaxUIInputs bound what is sent of each node: its
	// records, and each record's inputs (the rest counted), so the answer
	// stays small whatever a peer published.
	MaxUIRecords = 20
	MaxUIInputs  = 64
	// uiCheckTimeout bounds one ancestry's check.
	uiCheckTimeout = 30 * time.Second
	// uiMaxRecords bounds the records one check examines.
	uiMaxRecords = 1 << 16
	// uiMaxQuery bounds the query, in bytes.
	uiMaxQuery = 4096
)

// errUIQuery is a query the web view cannot read.
var errUIQuery = errors.New("want an absolute path the node recorded, a content or record CID, or a SHA-256 in hex")

// uiTarget is what a query named: the content whose ancestry is checked,
// and what the answer says of the query.
type uiTarget struct {
	out cid.Cid
	doc UIAncestry
}

// readUIQuery reads q as a SHA-256 in hex, a CID (a record's stands for
// its output, which the node must hold), or an absolute path the node has
// recorded (its content now, hashed, told apart from the content
// recorded). A path the node never recorded is refused, so that the view
// hashes no file its owner did not record. The error's status is
// http.StatusBadRequest or http.StatusNotFound.
func (n *Node) readUIQuery(ctx context.Context, q string) (uiTarget, int, error) {
	t := uiTarget{doc: UIAncestry{Query: q}}
	switch {
	case q == "" || len(q) > uiMaxQuery:
		return t, http.StatusBadRequest, errUIQuery
	case len(q) == 64 && isHex(q):
		digest, _ := hex.DecodeString(q)
		sum, err := mh.Encode(digest, mh.SHA2_256)
		if err != nil {
			return t, http.StatusBadRequest, fmt.Errorf("sha256 %s: %w", q, err)
		}
		t.doc.Kind, t.out = "sha256", cid.NewCidV1(cid.Raw, sum)
	case filepath.IsAbs(q):
		return n.readUIPath(ctx, t, filepath.Clean(q))
	default:
		c, err := cid.Decode(q)
		if err != nil {
			return t, http.StatusBadRequest, fmt.Errorf("%q: %w", q, errUIQuery)
		}
		if err := lineage.CheckCID(c); err != nil {
			return t, http.StatusBadRequest, err
		}
		t.doc.Kind, t.out = "cid", c
		if c.Type() == cid.DagCBOR {
			data, err := n.Store.Get(c)
			if errors.Is(err, store.ErrNotFound) {
				return t, http.StatusNotFound, fmt.Errorf("record %s: not held by this node (look up its output's CID)", c)
			}
			if err != nil {
				return t, http.StatusInternalServerError, err
			}
			r, err := lineage.DecodeBlock(c, data)
			if err != nil {
				return t, http.StatusBadRequest, fmt.Errorf("%s: not a record this node holds (%w)", c, err)
			}
			t.doc.Kind, t.doc.Record, t.out = "record", c.String(), r.Output
		}
	}
	return t, 0, nil
}

// readUIPath reads a path query (see readUIQuery).
func (n *Node) readUIPath(ctx context.Context, t uiTarget, path string) (uiTarget, int, error) {
	t.doc.Kind, t.doc.Path = "path", path
	recorded, ok, err := n.Store.PathCID(path)
	if err != nil {
		return t, http.StatusInternalServerError, err
	}
	if !ok {
		return t, http.StatusNotFound, fmt.Errorf("%s: no record of this path on this node", path)
	}
	t.out = recorded
	// The view hashes for any local user, with the daemon's rights: only
	// a file reached without a symbolic link and with one name, so that a
	// recorded path cannot be pointed at a file its asker could not read.
	f, err := fsx.OpenUnaliased(path)
	if err != nil {
		// Gone, unreadable or aliased: the content recorded is all the
		// view checks, and it says why.
		t.doc.Unhashed = err.Error()
		return t, 0, nil
	}
	defer f.Close()
	now, err := lineage.HashOpenFile(ctx, f, recorded.Prefix().MhType)
	if err != nil {
		t.doc.Unhashed = err.Error()
		return t, 0, nil
	}
	if !now.Equals(recorded) {
		t.doc.Changed, t.doc.Recorded, t.out = true, recorded.String(), now
	}
	return t, 0, nil
}

func isHex(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || 'A' <= r && r <= 'F')
	}) < 0
}

// serveUIAncestry checks the ancestry of what the query names, as
// 'bonsai verify' does (the swarm's records, the revocations held here),
// and answers with it cut to MaxUINodes nodes.
func (n *Node) serveUIAncestry(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), uiCheckTimeout)
	defer cancel()
	t, code, err := n.readUIQuery(ctx, strings.TrimSpace(r.URL.Query().Get(uiQuery)))
	if err != nil {
		apiError(w, code, err)
		return
	}
	idx, err := store.RevocationsOf(n.Store)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	res, err := lineage.Check(ctx, t.out, n.Resolver(), lineage.Options{MaxRecords: uiMaxRecords, Revocations: idx.Lookup})
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	doc, err := n.uiAncestry(t.doc, res)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	doc.Complete = res.Verified || ctx.Err() == nil
	writeJSON(w, doc)
}

// uiAncestry fills doc with the checked ancestry res: its first
// MaxUINodes nodes breadth first, each with a local path when one is
// known, and edges only between the nodes sent.
func (n *Node) uiAncestry(doc UIAncestry, res *lineage.Result) (UIAncestry, error) {
	doc.ResultView = ViewResult(res)
	order := res.Order
	if len(order) > MaxUINodes {
		doc.Cut = len(order) - MaxUINodes
		order = order[:MaxUINodes]
	}
	sent := make(map[cid.Cid]bool, len(order))
	for _, c := range order {
		sent[c] = true
	}
	doc.Nodes = make([]NodeView, 0, len(order))
	for _, c := range order {
		nd := res.Nodes[c]
		u := ViewNode(nd, "")
		u.bound(MaxUIRecords, MaxUIInputs)
		u.Inputs = []string{}
		if c.Equals(res.Root) && doc.Path != "" {
			u.Path = doc.Path
		} else {
			paths, err := n.Store.PathsOf(c)
			if err != nil {
				return doc, err
			}
			if len(paths) > 0 {
				u.Path = paths[0]
			}
		}
		for _, in := range nd.Inputs {
			if sent[in] {
				u.Inputs = append(u.Inputs, in.String())
			}
		}
		doc.Nodes = append(doc.Nodes, u)
	}
	return doc, nil
}

func (n *Node) serveUIOutbox(w http.ResponseWriter, r *http.Request) {
	pending, published, err := n.Store.OutboxCounts()
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	es, err := n.Store.PendingOutbox(MaxUIList)
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	out := UIOutbox{Pending: pending, Published: published, Entries: make([]UIOutboxItem, len(es))}
	for i, e := range es {
		out.Entries[i] = UIOutboxItem{Record: e.Record.String(), Attempts: e.Attempts, LastError: e.LastError}
		if !e.NextTry.IsZero() {
			out.Entries[i].NextTry = e.NextTry.UTC().Format(time.RFC3339)
		}
	}
	writeJSON(w, out)
}

func (n *Node) serveUIPins(w http.ResponseWriter, r *http.Request) {
	pins, err := n.Store.Pins()
	if err != nil {
		apiError(w, http.StatusInternalServerError, err)
		return
	}
	out := UIPins{Total: len(pins), Pins: []APIPin{}}
	for i, p := range pins {
		if i == MaxUIList {
			break
		}
		out.Pins = append(out.Pins, APIPinOf(p))
	}
	writeJSON(w, out)
}
