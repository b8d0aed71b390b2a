package node

// Client against the server of api.go, over a real socket. The node here
// has a store and no swarm: the endpoints tested are those that answer
// from the store (the swarm's are the daemon tests' of package cli and
// testnet).

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

// apiServe serves the local API of n until the test ends.
func apiServe(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.ServeAPI(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeAPI = %v", err)
		}
	})
	sock := filepath.Join(n.Home, APISocket)
	for deadline := time.Now().Add(obWait); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket %s within %v", sock, obWait)
		}
	}
}

func TestClientStoreEndpoints(t *testing.T) {
	home := t.TempDir()
	st := obOpen(t, home)
	blk := obPut(t, st, 1)[0]
	rec, err := lineage.Decode(blk.Data)
	if err != nil {
		t.Fatal(err)
	}
	apiServe(t, &Node{Home: home, Store: st})
	c := NewClient(home)
	defer c.Close()
	ctx := t.Context()

	if data, err := c.Record(ctx, blk.CID); err != nil || string(data) != string(blk.Data) {
		t.Errorf("Record(%s) = %d bytes, %v; want the stored block", blk.CID, len(data), err)
	}
	if _, err := c.Record(ctx, rec.Output); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Record(not held) = %v, want %v", err, store.ErrNotFound)
	}
	if cs, err := c.Claims(ctx, rec.Output); err != nil || len(cs) != 1 || cs[0].Record != blk.CID {
		t.Errorf("Claims = %+v, %v; want the one record %s", cs, err, blk.CID)
	}
	if roots, blocks, err := c.Ancestry(ctx, rec.Output); err != nil || len(roots) != 1 || roots[0] != blk.CID || len(blocks) != 1 {
		t.Errorf("Ancestry = %v, %d blocks, %v; want root %s, 1 block", roots, len(blocks), err, blk.CID)
	}
	if ps, err := c.Paths(ctx, rec.Output); err != nil || len(ps) != 0 {
		t.Errorf("Paths = %v, %v; want none", ps, err)
	}
	if ps, err := c.Pins(ctx); err != nil || len(ps) != 0 {
		t.Errorf("Pins = %v, %v; want none", ps, err)
	}
	if ps, err := c.Policies(ctx); err != nil || len(ps) != 0 {
		t.Errorf("Policies = %v, %v; want none", ps, err)
	}
	if a, err := c.Audit(ctx, APIAuditQuery{Since: time.Now().Add(-time.Hour), Policy: "p"}); err != nil || len(a.Events) != 0 {
		t.Errorf("Audit = %+v, %v; want no events", a, err)
	}
	if rs, err := c.Revocations(ctx); err != nil || len(rs) != 0 {
		t.Errorf("Revocations = %v, %v; want none", rs, err)
	}

	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("content"), 0o600); err != nil {
		t.Fatal(err)
	}
	want, err := lineage.HashFile(file, lineage.DefaultHash)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := c.Hash(ctx, APIHashQuery{Path: file}); err != nil || got != want {
		t.Errorf("Hash(%s) = %s, %v; want %s", file, got, err, want)
	}
	_, err = c.Hash(ctx, APIHashQuery{Path: "f"})
	if se, ok := errors.AsType[*StatusError](err); !ok || se.Code != http.StatusBadRequest || se.Msg != `hash: "f" is not an absolute path` {
		t.Errorf("Hash(relative) = %v, want a 400 naming the path", err)
	}
}

// The client maps the statuses with a meaning of their own to errors
// callers test with errors.Is, and keeps the text of any other.
func TestClientStatusErrors(t *testing.T) {
	home := t.TempDir()
	l, err := net.Listen("unix", filepath.Join(home, APISocket))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiResolve, func(w http.ResponseWriter, r *http.Request) {
		apiError(w, http.StatusBadGateway, errors.New("no provider answered"))
	})
	mux.HandleFunc("GET "+apiPins, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not JSON", http.StatusTeapot)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c := NewClient(home)
	defer c.Close()

	_, err = c.Resolve(t.Context(), cid.Undef)
	if !errors.Is(err, lineage.ErrUnreachable) || err.Error() != lineage.ErrUnreachable.Error()+" (no provider answered)" {
		t.Errorf("Resolve = %v, want %v with the daemon's reason", err, lineage.ErrUnreachable)
	}
	_, err = c.Pins(t.Context())
	if se, ok := errors.AsType[*StatusError](err); !ok || se.Code != http.StatusTeapot || se.Msg != "418 I'm a teapot" {
		t.Errorf("Pins = %v, want the HTTP status as the message", err)
	}
}

func TestDialNoDaemon(t *testing.T) {
	if c, ok := Dial(t.Context(), t.TempDir()); ok || c != nil {
		t.Errorf("Dial(home without a daemon) = %v, %v; want nil, false", c, ok)
	}
}

func TestAPIQueriesRoundTrip(t *testing.T) {
	since := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.UTC)
	for _, q := range []APIAuditQuery{{}, {Policy: "p"}, {Since: since, Policy: "p q&r"}} {
		got, err := parseAuditQuery(q.encode())
		if err != nil || !got.Since.Equal(q.Since) || got.Policy != q.Policy {
			t.Errorf("parseAuditQuery(%+v.encode()) = %+v, %v; want it back", q, got, err)
		}
	}
	if _, err := parseAuditQuery(map[string][]string{"since": {"yesterday"}}); err == nil {
		t.Error("parseAuditQuery(since=yesterday) = nil error, want one")
	}
	if got := parseHashQuery(APIHashQuery{Path: "/a b"}.encode()); got != (APIHashQuery{Path: "/a b", Hash: "sha2-256"}) {
		t.Errorf("parseHashQuery(no hash) = %+v, want sha2-256", got)
	}
}
