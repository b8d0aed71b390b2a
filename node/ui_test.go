package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/testrec"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

func TestCheckUIAddr(t *testing.T) {
	tests := []struct {
		addr       string
		public     bool
		wantPublic bool // refused as not loopback
		wantErr    bool // refused for another reason
	}{
		{addr: "127.0.0.1:8737"},
		{addr: "127.0.0.1:0"},
		{addr: "127.1.2.3:0"},
		{addr: "[::1]:0"},
		{addr: "localhost:0"},
		{addr: ":8737", wantPublic: true},
		{addr: "0.0.0.0:8737", wantPublic: true},
		{addr: "[::]:8737", wantPublic: true},
		{addr: "192.168.1.2:8737", wantPublic: true},
		{addr: "example.com:8737", wantPublic: true},
		{addr: ":8737", public: true},
		{addr: "192.168.1.2:8737", public: true},
		{addr: "127.0.0.1", wantErr: true},
		{addr: "nonsense", wantErr: true},
		{addr: "nonsense", public: true, wantErr: true},
	}
	for _, tt := range tests {
		err := CheckUIAddr(tt.addr, tt.public)
		if got := errors.Is(err, ErrUIPublic); got != tt.wantPublic {
			t.Errorf("CheckUIAddr(%q, %v) = %v, want ErrUIPublic %v", tt.addr, tt.public, err, tt.wantPublic)
		}
		if got := err != nil && !errors.Is(err, ErrUIPublic); got != tt.wantErr {
			t.Errorf("CheckUIAddr(%q, %v) = %v, want another error %v", tt.addr, tt.public, err, tt.wantErr)
		}
	}
}

// TestUIHandlerReadOnly: the web view answers GET only, with its security
// headers on every answer, and refuses a Host that is not loopback unless
// public. None of these requests reach the store.
func TestUIHandlerReadOnly(t *testing.T) {
	n := &Node{}
	tests := []struct {
		name, method, target, host string
		public                     bool
		fetchSite                  string // Sec-Fetch-Site, as a browser sends it
		want                       int
		wantType                   string
	}{
		{name: "cross-site request", method: http.MethodGet, target: uiAncestry + "?q=x", fetchSite: "cross-site", want: http.StatusForbidden},
		{name: "same-origin request", method: http.MethodGet, target: "/", fetchSite: "same-origin", want: http.StatusOK},
		{name: "typed address", method: http.MethodGet, target: "/", fetchSite: "none", want: http.StatusOK},
		{name: "page", method: http.MethodGet, target: "/", want: http.StatusOK, wantType: "text/html"},
		{name: "script", method: http.MethodGet, target: "/ui.js", want: http.StatusOK, wantType: "text/javascript"},
		{name: "style", method: http.MethodGet, target: "/ui.css", want: http.StatusOK, wantType: "text/css"},
		{name: "head", method: http.MethodHead, target: "/", want: http.StatusOK},
		{name: "ipv6 loopback", method: http.MethodGet, target: "/", host: "[::1]:8737", want: http.StatusOK},
		{name: "localhost", method: http.MethodGet, target: "/", host: "localhost:8737", want: http.StatusOK},
		{name: "missing file", method: http.MethodGet, target: "/nothing.js", want: http.StatusNotFound},
		{name: "post page", method: http.MethodPost, target: "/", want: http.StatusMethodNotAllowed},
		{name: "post ancestry", method: http.MethodPost, target: uiAncestry + "?q=x", want: http.StatusMethodNotAllowed},
		{name: "put pins", method: http.MethodPut, target: uiPins, want: http.StatusMethodNotAllowed},
		{name: "delete outbox", method: http.MethodDelete, target: uiOutbox, want: http.StatusMethodNotAllowed},
		{name: "rebound host", method: http.MethodGet, target: "/", host: "evil.example:8737", want: http.StatusMisdirectedRequest},
		{name: "rebound host, public", method: http.MethodGet, target: "/", host: "evil.example:8737", public: true, want: http.StatusOK},
		{name: "empty query", method: http.MethodGet, target: uiAncestry + "?q=", want: http.StatusBadRequest, wantType: "application/json"},
		{name: "relative path", method: http.MethodGet, target: uiAncestry + "?q=some/file", want: http.StatusBadRequest, wantType: "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, nil)
			req.Host = "127.0.0.1:8737"
			if tt.host != "" {
				req.Host = tt.host
			}
			if tt.fetchSite != "" {
				req.Header.Set("Sec-Fetch-Site", tt.fetchSite)
			}
			rec := httptest.NewRecorder()
			n.UIHandler(tt.public).ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("%s %s (Host %s) = %d, want %d", tt.method, tt.target, req.Host, rec.Code, tt.want)
			}
			h := rec.Header()
			if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'self'") {
				t.Errorf("Content-Security-Policy = %q, want default-src 'self' first", csp)
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options = %q, want nosniff", got)
			}
			if tt.wantType != "" && !strings.HasPrefix(h.Get("Content-Type"), tt.wantType) {
				t.Errorf("Content-Type = %q, want %s", h.Get("Content-Type"), tt.wantType)
			}
		})
	}
}

// TestUIPageSelfContained: the page loads nothing from elsewhere and
// builds no HTML from strings.
func TestUIPageSelfContained(t *testing.T) {
	for _, name := range []string{"ui/index.html", "ui/ui.js", "ui/ui.css"} {
		data, err := uiFiles.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		for _, bad := range []string{"http://", "https://", "//cdn", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "style="} {
			if strings.Contains(s, bad) && !(bad == "http://" && strings.Contains(s, "http://www.w3.org/2000/svg")) {
				t.Errorf("%s contains %q", name, bad)
			}
		}
	}
}

func TestReadUIQuery(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := &Node{Store: st}
	dir := t.TempDir()
	same := filepath.Join(dir, "same")
	changed := filepath.Join(dir, "changed")
	aliased := filepath.Join(dir, "aliased") // becomes a symlink to secret
	linked := filepath.Join(dir, "linked")   // gets a second name
	for _, p := range []string{same, changed, aliased, linked} {
		if err := os.WriteFile(p, []byte("recorded\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	recorded, err := lineage.HashFile(same, lineage.DefaultHash)
	if err != nil {
		t.Fatal(err)
	}
	blk := testrec.Block(t, 1, "held", 1_700_000_000)
	if _, err := st.Put([]lineage.Block{blk}, map[string]cid.Cid{same: recorded, changed: recorded, aliased: recorded, linked: recorded}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(changed, []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The view hashes with the daemon's rights for any local user: a
	// recorded path turned into a link to a file the asker cannot read
	// must not give that file's hash away.
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("not yours\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(aliased); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, aliased); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(linked, []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(linked, filepath.Join(dir, "second name")); err != nil {
		t.Fatal(err)
	}
	nowChanged, err := lineage.HashFile(changed, lineage.DefaultHash)
	if err != nil {
		t.Fatal(err)
	}
	held, err := lineage.DecodeBlock(blk.CID, blk.Data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("recorded\n"))
	notHeld := testrec.Block(t, 1, "not held", 1_700_000_000).CID
	tests := []struct {
		name, q    string
		wantCode   int
		wantKind   string
		wantOut    cid.Cid
		wantChange bool
		unhashed   string // why the file was not hashed again
	}{
		{name: "sha256 hex", q: hex.EncodeToString(sum[:]), wantKind: "sha256", wantOut: recorded},
		{name: "sha256 upper hex", q: strings.ToUpper(hex.EncodeToString(sum[:])), wantKind: "sha256", wantOut: recorded},
		{name: "content CID", q: recorded.String(), wantKind: "cid", wantOut: recorded},
		{name: "record CID", q: blk.CID.String(), wantKind: "record", wantOut: held.Output},
		{name: "path as recorded", q: same, wantKind: "path", wantOut: recorded},
		{name: "path changed since", q: changed, wantKind: "path", wantOut: nowChanged, wantChange: true},
		{name: "path now a symlink", q: aliased, wantKind: "path", wantOut: recorded, unhashed: "symbolic links"},
		{name: "path with two names", q: linked, wantKind: "path", wantOut: recorded, unhashed: "2 hard links"},
		{name: "path not recorded", q: filepath.Join(dir, "other"), wantCode: http.StatusNotFound},
		{name: "record not held", q: notHeld.String(), wantCode: http.StatusNotFound},
		{name: "CIDv0", q: "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", wantCode: http.StatusBadRequest},
		{name: "not a CID", q: "hello", wantCode: http.StatusBadRequest},
		{name: "63 hex digits", q: hex.EncodeToString(sum[:])[1:], wantCode: http.StatusBadRequest},
		{name: "empty", q: "", wantCode: http.StatusBadRequest},
		{name: "too long", q: "/" + strings.Repeat("a", uiMaxQuery), wantCode: http.StatusBadRequest},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, code, err := n.readUIQuery(ctx, tt.q)
			if code != tt.wantCode || (err != nil) != (tt.wantCode != 0) {
				t.Fatalf("readUIQuery(%q) = %d, %v; want status %d", tt.q, code, err, tt.wantCode)
			}
			if err != nil {
				return
			}
			if got.doc.Kind != tt.wantKind || !got.out.Equals(tt.wantOut) || got.doc.Changed != tt.wantChange {
				t.Errorf("readUIQuery(%q) = kind %s, %s, changed %v; want %s, %s, %v",
					tt.q, got.doc.Kind, got.out, got.doc.Changed, tt.wantKind, tt.wantOut, tt.wantChange)
			}
			if (got.doc.Unhashed == "") != (tt.unhashed == "") || !strings.Contains(got.doc.Unhashed, tt.unhashed) {
				t.Errorf("readUIQuery(%q).Unhashed = %q, want it to say %q", tt.q, got.doc.Unhashed, tt.unhashed)
			}
			if tt.wantChange && got.doc.Recorded != recorded.String() {
				t.Errorf("readUIQuery(%q).Recorded = %s, want %s", tt.q, got.doc.Recorded, recorded)
			}
		})
	}
}

// TestUIAncestryCut: an ancestry past MaxUINodes is cut breadth first,
// the rest counted, and no edge points at a node left out.
func TestUIAncestryCut(t *testing.T) {
	st, err := store.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n := &Node{Store: st}
	for _, size := range []int{1, MaxUINodes, MaxUINodes + 5} {
		res := &lineage.Result{Nodes: map[cid.Cid]*lineage.Node{}, Counts: map[lineage.Verdict]int{lineage.Verified: size}}
		// A chain: node i is made from node i+1.
		chain := make([]cid.Cid, size)
		for i := range chain {
			chain[i] = testrec.Content(t, fmt.Sprintf("node %d", i))
		}
		for i, c := range chain {
			nd := &lineage.Node{Output: c, Depth: i, Verdict: lineage.Verified, OK: true}
			if i+1 < size {
				nd.Inputs = []cid.Cid{chain[i+1]}
			}
			res.Nodes[c] = nd
			res.Order = append(res.Order, c)
		}
		res.Root = chain[0]
		doc, err := n.uiAncestry(UIAncestry{}, res)
		if err != nil {
			t.Fatal(err)
		}
		wantNodes := min(size, MaxUINodes)
		if len(doc.Nodes) != wantNodes || doc.Cut != size-wantNodes {
			t.Errorf("uiAncestry(%d nodes) = %d nodes, cut %d; want %d, %d", size, len(doc.Nodes), doc.Cut, wantNodes, size-wantNodes)
		}
		if last := doc.Nodes[len(doc.Nodes)-1]; len(last.Inputs) != 0 {
			t.Errorf("uiAncestry(%d nodes): last node sent has inputs %v, want none (left out or none)", size, last.Inputs)
		}
		if doc.Counts["verified"] != size || doc.Target != chain[0].String() {
			t.Errorf("uiAncestry(%d nodes): counts %v, target %s; want the whole ancestry's and %s", size, doc.Counts, doc.Target, chain[0])
		}
	}
}

// TestAtMost: the web view runs at most n ancestry checks at once; one
// more is refused 503 with a Retry-After, not queued, and a slot freed
// serves again.
func TestAtMost(t *testing.T) {
	const n = 2
	entered, release := make(chan struct{}), make(chan struct{})
	h := atMost(n, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	done := make(chan int, n)
	for range n {
		go func() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
			done <- rec.Code
		}()
		<-entered
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("request %d of %d at once: %d, Retry-After %q; want 503 with Retry-After", n+1, n, rec.Code, rec.Header().Get("Retry-After"))
	}
	release <- struct{}{}
	if code := <-done; code != http.StatusOK {
		t.Errorf("a request let in: %d, want 200", code)
	}
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		done <- rec.Code
	}()
	<-entered // a freed slot lets the next one in
	close(release)
	for range n {
		if code := <-done; code != http.StatusOK {
			t.Errorf("a request let in: %d, want 200", code)
		}
	}
}

// TestNodeViewBound: the web view sends at most MaxUIRecords records of a
// node and MaxUIInputs inputs of each, and says how many it left out.
func TestNodeViewBound(t *testing.T) {
	v := NodeView{Records: make([]RecordView, MaxUIRecords+5)}
	for i := range v.Records {
		v.Records[i].Inputs = make([]string, MaxUIInputs+i)
	}
	v.bound(MaxUIRecords, MaxUIInputs)
	if len(v.Records) != MaxUIRecords || v.MoreRecords != 5 {
		t.Errorf("bounded: %d records, %d more; want %d, 5", len(v.Records), v.MoreRecords, MaxUIRecords)
	}
	for i, r := range v.Records {
		if len(r.Inputs) != MaxUIInputs || r.MoreInputs != i {
			t.Errorf("record %d: %d inputs, %d more; want %d, %d", i, len(r.Inputs), r.MoreInputs, MaxUIInputs, i)
		}
	}
}
