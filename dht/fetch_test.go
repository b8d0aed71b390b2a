package dht

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"
	"golang.org/x/time/rate"
)

// memSource is the Source of these tests: signed records in memory. The
// node's pebble store (node.Store) is adapted to Source in package node.
type memSource struct {
	blocks map[cid.Cid][]byte
	byOut  map[cid.Cid][]lineage.Block
}

func newMemSource() *memSource {
	return &memSource{blocks: map[cid.Cid][]byte{}, byOut: map[cid.Cid][]lineage.Block{}}
}

func (m *memSource) add(r *lineage.Record, b lineage.Block) {
	m.blocks[b.CID] = b.Data
	m.byOut[r.Output] = append(m.byOut[r.Output], b)
}

func (m *memSource) Block(c cid.Cid) ([]byte, bool, error) {
	d, ok := m.blocks[c]
	return d, ok, nil
}

func (m *memSource) Resolve(ctx context.Context, out cid.Cid) ([]lineage.Block, error) {
	return m.byOut[out], ctx.Err()
}

// content returns a deterministic content CID for a name.
func content(name string) cid.Cid {
	sum := sha256.Sum256([]byte(name))
	h, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		panic(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// signed signs a record by test key n for output out made from inputs.
func signed(t testing.TB, n byte, out string, inputs ...string) (*lineage.Record, lineage.Block) {
	t.Helper()
	r := &lineage.Record{Executor: lineage.Executor{UID: 1000}, Output: content(out), Time: 1764000000}
	for _, in := range inputs {
		r.Inputs = append(r.Inputs, content(in))
	}
	b, err := r.Sign(testkeys.Key(n))
	if err != nil {
		t.Fatalf("Sign(%s) = %v", out, err)
	}
	return r, b
}

// chain adds n records to src, record i making "chain-i" from "chain-i+1";
// chain-n has no record (a source). It returns the records' CIDs in order.
func chain(t testing.TB, src *memSource, n int) []cid.Cid {
	t.Helper()
	cids := make([]cid.Cid, n)
	for i := range n {
		r, b := signed(t, 1, fmt.Sprintf("chain-%d", i), fmt.Sprintf("chain-%d", i+1))
		src.add(r, b)
		cids[i] = b.CID
	}
	return cids
}

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newHost starts a loopback TCP host whose identity is test key n.
func newHost(t *testing.T, n byte) host.Host {
	t.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Identity(testkeys.Key(n).PrivKey()),
	)
	if err != nil {
		t.Fatalf("libp2p.New: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// hosts returns a client host connected to a server host.
func hosts(t *testing.T) (client, server host.Host) {
	t.Helper()
	client, server = newHost(t, 10), newHost(t, 11)
	ctx := testContext(t, 10*time.Second)
	if err := client.Connect(ctx, peer.AddrInfo{ID: server.ID(), Addrs: server.Addrs()}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	return client, server
}

// serve starts a fetch server for src and returns the client host and the
// server's peer ID.
func serve(t *testing.T, src Source, opts ...ServerOption) (host.Host, peer.ID) {
	t.Helper()
	client, server := hosts(t)
	srv := NewServer(server, src, opts...)
	t.Cleanup(func() { srv.Close() })
	return client, server.ID()
}

func fetch(t *testing.T, h host.Host, p peer.ID, req Request) *Response {
	t.Helper()
	resp, err := Fetch(testContext(t, 10*time.Second), h, p, req)
	if err != nil {
		t.Fatalf("Fetch(%s) = %v", req.Op, err)
	}
	if resp.Bytes <= 0 {
		t.Errorf("Fetch(%s): Bytes = %d", req.Op, resp.Bytes)
	}
	return resp
}

func verified(t *testing.T, resp *Response, from peer.ID) []lineage.Block {
	t.Helper()
	good, bad := VerifiedBlocks(resp, from)
	if len(bad) > 0 {
		t.Fatalf("VerifiedBlocks: %v", bad)
	}
	for _, b := range good {
		if b.From != from.String() {
			t.Fatalf("block %s: From = %q, want %q", b.CID, b.From, from)
		}
	}
	return good
}

func cidSet(blocks []lineage.Block) map[cid.Cid]bool {
	m := map[cid.Cid]bool{}
	for _, b := range blocks {
		m[b.CID] = true
	}
	return m
}

func TestFetchRecords(t *testing.T) {
	src := newMemSource()
	recs := chain(t, src, 3)
	client, server := serve(t, src)
	_, unknown := signed(t, 2, "not-served")
	resp := fetch(t, client, server, Request{Op: OpRecords, CIDs: append(recs, unknown.CID)})
	got := verified(t, resp, server)
	if len(got) != 3 || len(resp.Frontier) != 0 {
		t.Fatalf("got %d blocks, frontier %v; want 3, none", len(got), resp.Frontier)
	}
	for i, b := range got {
		if !b.CID.Equals(recs[i]) {
			t.Errorf("block %d = %s, want %s", i, b.CID, recs[i])
		}
	}
}

func TestFetchByOutput(t *testing.T) {
	src := newMemSource()
	r1, b1 := signed(t, 1, "shared", "a")
	r2, b2 := signed(t, 2, "shared", "b")
	r3, b3 := signed(t, 1, "other")
	src.add(r1, b1)
	src.add(r2, b2)
	src.add(r3, b3)
	client, server := serve(t, src)
	resp := fetch(t, client, server, Request{Op: OpByOutput, CIDs: []cid.Cid{content("shared"), content("unknown")}})
	got := cidSet(verified(t, resp, server))
	if len(got) != 2 || !got[b1.CID] || !got[b2.CID] {
		t.Fatalf("by-output got %v, want %s and %s", got, b1.CID, b2.CID)
	}
}

func TestFetchHas(t *testing.T) {
	src := newMemSource()
	recs := chain(t, src, 2)
	_, unknown := signed(t, 2, "not-served")
	client, server := serve(t, src)
	resp := fetch(t, client, server, Request{Op: OpHas, CIDs: []cid.Cid{recs[1], unknown.CID, recs[0]}})
	if want := []bool{true, false, true}; fmt.Sprint(resp.Has) != fmt.Sprint(want) || len(resp.Blocks) != 0 {
		t.Fatalf("has = %v with %d blocks, want %v", resp.Has, len(resp.Blocks), want)
	}
}

func TestFetchAncestryInBatches(t *testing.T) {
	src := newMemSource()
	recs := chain(t, src, 20)
	client, server := serve(t, src)

	resp := fetch(t, client, server, Request{Op: OpAncestry, CIDs: []cid.Cid{content("chain-0")}, MaxRecords: 8})
	got := verified(t, resp, server)
	if len(got) != 8 {
		t.Fatalf("first batch: %d blocks, want 8", len(got))
	}
	if len(resp.Frontier) != 1 || !resp.Frontier[0].Equals(content("chain-8")) {
		t.Fatalf("first batch: frontier %v, want [chain-8 %s]", resp.Frontier, content("chain-8"))
	}

	// Continue from the frontier until it is empty: 20 records, 8 at a
	// time, is three round trips.
	all := got
	trips := 1
	for len(resp.Frontier) > 0 {
		resp = fetch(t, client, server, Request{Op: OpAncestry, CIDs: resp.Frontier, MaxRecords: 8})
		all = append(all, verified(t, resp, server)...)
		trips++
	}
	if trips != 3 || len(all) != 20 {
		t.Fatalf("%d round trips for %d blocks, want 3 for 20", trips, len(all))
	}
	for i, c := range recs {
		if !all[i].CID.Equals(c) {
			t.Fatalf("block %d = %s, want %s (breadth-first order)", i, all[i].CID, c)
		}
	}
}

func TestFetchAncestryDepthAndSharedAncestors(t *testing.T) {
	// top <- {left, right} <- base <- chain of 2: base is reached twice
	// but served once.
	src := newMemSource()
	for _, r := range [][]string{
		{"top", "left", "right"}, {"left", "base"}, {"right", "base"}, {"base", "chain-0"},
	} {
		src.add(signed(t, 1, r[0], r[1:]...))
	}
	chain(t, src, 2)
	client, server := serve(t, src)

	resp := fetch(t, client, server, Request{Op: OpAncestry, CIDs: []cid.Cid{content("top")}})
	if got := verified(t, resp, server); len(got) != 6 || len(resp.Frontier) != 0 {
		t.Fatalf("whole ancestry: %d blocks, frontier %v; want 6, none", len(got), resp.Frontier)
	}

	resp = fetch(t, client, server, Request{Op: OpAncestry, CIDs: []cid.Cid{content("top")}, MaxDepth: 1})
	if got := verified(t, resp, server); len(got) != 3 {
		t.Fatalf("depth 1: %d blocks, want 3 (top, left, right)", len(got))
	}
	if len(resp.Frontier) != 1 || !resp.Frontier[0].Equals(content("base")) {
		t.Fatalf("depth 1: frontier %v, want [base]", resp.Frontier)
	}
}

func TestFetchResponseByteBudget(t *testing.T) {
	// Four records of about 160 KiB each: a 512 KiB budget serves them
	// in two or more batches, the rest listed in the frontier.
	src := newMemSource()
	var recs []cid.Cid
	for i := range 4 {
		inputs := make([]string, 4000)
		for j := range inputs {
			inputs[j] = fmt.Sprintf("big-%d-in-%d", i, j)
		}
		r, b := signed(t, 1, fmt.Sprintf("big-%d", i), inputs...)
		src.add(r, b)
		recs = append(recs, b.CID)
	}
	client, server := serve(t, src, WithMaxResponseBytes(512<<10))
	got := map[cid.Cid]bool{}
	req := Request{Op: OpRecords, CIDs: recs}
	for trips := 1; ; trips++ {
		resp := fetch(t, client, server, req)
		if resp.Bytes > 512<<10+maxPrefixLen {
			t.Fatalf("response of %d bytes over the 512 KiB budget", resp.Bytes)
		}
		for _, b := range verified(t, resp, server) {
			got[b.CID] = true
		}
		if len(resp.Frontier) == 0 {
			if trips < 2 {
				t.Fatalf("all 4 records in one response of %d bytes", resp.Bytes)
			}
			break
		}
		req.CIDs = resp.Frontier
	}
	if len(got) != 4 {
		t.Fatalf("got %d records, want 4", len(got))
	}
}

func TestFetchLimits(t *testing.T) {
	src := newMemSource()
	chain(t, src, 1)
	client, server := serve(t, src)
	ctx := testContext(t, 10*time.Second)

	many := make([]cid.Cid, MaxRequestCIDs+1)
	for i := range many {
		many[i] = content(fmt.Sprint(i))
	}
	// The client refuses to send it...
	if _, err := Fetch(ctx, client, server, Request{Op: OpHas, CIDs: many}); err == nil || !strings.Contains(err.Error(), "too many CIDs") {
		t.Fatalf("Fetch(513 CIDs) = %v, want too many CIDs", err)
	}
	// ...and the server refuses it when sent anyway.
	body, err := msgEnc.Marshal(wireRequest{Op: string(OpHas), CIDs: cidBytes(many)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = roundTrip(ctx, client, server, body)
	var remote *RemoteError
	if !errors.As(err, &remote) || !strings.Contains(remote.Msg, "too many CIDs") {
		t.Fatalf("server answer to 513 CIDs = %v, want a refusal naming too many CIDs", err)
	}
	for name, body := range map[string][]byte{
		"unknown op":  mustMarshal(t, wireRequest{Op: "delete", CIDs: cidBytes(many[:1])}),
		"not a map":   {0x80},
		"no cids":     mustMarshal(t, wireRequest{Op: string(OpRecords)}),
		"unknown key": mustMarshal(t, map[string]any{"op": "has", "cids": cidBytes(many[:1]), "x": 1}),
	} {
		if _, err := roundTrip(ctx, client, server, body); !errors.As(err, &remote) || !strings.Contains(remote.Msg, "bad request") {
			t.Errorf("%s: server answered %v, want a bad request refusal", name, err)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgEnc.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFetchRateLimited(t *testing.T) {
	src := newMemSource()
	recs := chain(t, src, 1)
	client, server := serve(t, src, WithRateLimit(rate.Every(time.Hour), 2))
	req := Request{Op: OpHas, CIDs: recs}
	fetch(t, client, server, req)
	fetch(t, client, server, req)
	_, err := Fetch(testContext(t, 10*time.Second), client, server, req)
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "rate limited") || !strings.Contains(err.Error(), server.String()) {
		t.Fatalf("third request = %v, want rate limited naming %s", err, server)
	}
}

func TestServerRequestTimeout(t *testing.T) {
	// A client that opens a stream and never sends a request is cut off
	// by the server's deadline.
	client, server := hosts(t)
	srv := NewServer(server, newMemSource(), WithRequestTimeout(200*time.Millisecond))
	t.Cleanup(func() { srv.Close() })
	ctx := testContext(t, 10*time.Second)
	st, err := client.NewStream(ctx, server.ID(), ProtocolID)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Reset()
	_ = st.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(st)
	if err == nil || time.Since(start) > 4*time.Second {
		t.Fatalf("idle stream: read returned %v after %v, want a reset soon after 200ms", err, time.Since(start))
	}
}

func TestServerClose(t *testing.T) {
	src := newMemSource()
	recs := chain(t, src, 1)
	client, server := hosts(t)
	srv := NewServer(server, src)
	fetch(t, client, server.ID(), Request{Op: OpHas, CIDs: recs})
	srv.Close()
	srv.Close()
	if _, err := Fetch(testContext(t, 10*time.Second), client, server.ID(), Request{Op: OpHas, CIDs: recs}); err == nil {
		t.Fatal("Fetch from a closed server succeeded")
	}
}

// malicious serves the fetch protocol on a host with a handler that reads
// the request and then misbehaves. Handlers that hang wait on done, closed
// when the test ends.
func malicious(t *testing.T, misbehave func(st network.Stream, done <-chan struct{})) (host.Host, peer.ID) {
	t.Helper()
	client, server := hosts(t)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) }) // runs before the hosts close
	server.SetStreamHandler(ProtocolID, func(st network.Stream) {
		defer st.Reset()
		if _, _, err := readFrame(st, MaxRequestSize); err != nil {
			return
		}
		misbehave(st, done)
	})
	return client, server.ID()
}

func TestFetchFromMaliciousServer(t *testing.T) {
	_, rec := signed(t, 1, "chain-0", "chain-1")
	frameOf := func(body []byte) []byte {
		var buf bytes.Buffer
		if err := writeFrame(&buf, body); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	valid, err := encodeResponse(&Response{Blocks: []lineage.Block{rec}})
	if err != nil {
		t.Fatal(err)
	}
	_, other := signed(t, 2, "unasked")
	unasked, err := encodeResponse(&Response{Blocks: []lineage.Block{other}})
	if err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) func(network.Stream, <-chan struct{}) {
		return func(st network.Stream, _ <-chan struct{}) {
			st.Write(b)
			st.Close()
		}
	}
	hang := func(b []byte) func(network.Stream, <-chan struct{}) {
		return func(st network.Stream, done <-chan struct{}) {
			st.Write(b)
			<-done
		}
	}
	for _, tc := range []struct {
		name      string
		misbehave func(network.Stream, <-chan struct{})
		deadline  bool // the client gives up at its deadline
	}{
		{"garbage body", write(frameOf([]byte("\xffnot cbor at all"))), false},
		{"garbage bytes", write([]byte("HTTP/1.1 200 OK\r\n\r\n")), false},
		{"oversized length prefix", write(appendUvarint(nil, MaxResponseSize+1)), false},
		{"endless length prefix", write(bytes.Repeat([]byte{0xff}, 64)), false},
		{"non-minimal length prefix", write([]byte{0x80, 0x00}), false},
		{"truncated body", write(frameOf(valid)[:len(valid)/2]), false},
		{"empty stream", write(nil), false},
		{"trailing bytes in body", write(frameOf(append(bytes.Clone(valid), 0))), false},
		{"record not asked for", write(frameOf(unasked)), false},
		{"truncated body, then silence", hang(frameOf(valid)[:len(valid)/2]), true},
		{"silence", hang(nil), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, server := malicious(t, tc.misbehave)
			ctx := testContext(t, time.Second)
			resp, err := Fetch(ctx, client, server, Request{Op: OpRecords, CIDs: []cid.Cid{rec.CID}})
			if err == nil {
				t.Fatalf("Fetch = %+v, want an error", resp)
			}
			if !strings.Contains(err.Error(), server.String()) {
				t.Errorf("error %q does not name the peer %s", err, server)
			}
			if tc.deadline != errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %q: deadline exceeded is %v, want %v", err, !tc.deadline, tc.deadline)
			}
			if !tc.deadline && !errors.Is(err, ErrBadResponse) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
				t.Errorf("error %q: want ErrBadResponse or a short read", err)
			}
		})
	}
}

func TestVerifiedBlocksFlagsForgery(t *testing.T) {
	_, good := signed(t, 1, "chain-0", "chain-1")
	_, victim := signed(t, 2, "victim", "a")

	// A bit flipped, the CID left as it was: the bytes no longer hash to
	// it.
	flipped := lineage.Block{CID: victim.CID, Data: bytes.Clone(victim.Data)}
	flipped.Data[len(flipped.Data)/2] ^= 0x01
	// A bit of the signature flipped and the CID recomputed: the block is
	// consistent but the signature fails. The signature's last byte is
	// followed by the entries t, u and v (15 bytes here).
	forged := lineage.Block{Data: bytes.Clone(victim.Data)}
	forged.Data[len(forged.Data)-16] ^= 0x01
	forged.CID = lineage.RecordCID(forged.Data)
	if _, err := lineage.DecodeBlock(forged.CID, forged.Data); err != nil {
		t.Fatalf("forged block should decode: %v", err)
	}
	body, err := encodeResponse(&Response{Blocks: []lineage.Block{good, flipped, forged}})
	if err != nil {
		t.Fatal(err)
	}
	client, server := malicious(t, func(st network.Stream, _ <-chan struct{}) {
		writeFrame(st, body)
		st.Close()
	})
	resp, err := Fetch(testContext(t, 5*time.Second), client, server,
		Request{Op: OpByOutput, CIDs: []cid.Cid{content("chain-0"), content("victim")}})
	if err != nil {
		t.Fatalf("Fetch = %v", err)
	}
	ok, bad := VerifiedBlocks(resp, server)
	if len(ok) != 1 || !ok[0].CID.Equals(good.CID) || ok[0].From != server.String() {
		t.Fatalf("good blocks = %v, want only %s from %s", ok, good.CID, server)
	}
	if len(bad) != 2 || !errors.Is(bad[0], lineage.ErrCIDMismatch) || !errors.Is(bad[1], lineage.ErrBadSignature) {
		t.Fatalf("bad = %v, want a CID mismatch and a bad signature", bad)
	}
	for _, err := range bad {
		if !strings.Contains(err.Error(), server.String()) {
			t.Errorf("error %q does not name the peer", err)
		}
	}
}
