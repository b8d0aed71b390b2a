package dht

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

// memRecords is the Source of these tests: signed records in memory. The
// node's pebble store (store.Store) is adapted to Source in package node.
type memRecords struct {
	blocks  map[cid.Cid][]byte
	byOut   map[cid.Cid][]lineage.Block
	revoked []lineage.Block
}

func (m *memRecords) Revocations() ([]lineage.Block, error) { return m.revoked, nil }

func newMemRecords() *memRecords {
	return &memRecords{blocks: map[cid.Cid][]byte{}, byOut: map[cid.Cid][]lineage.Block{}}
}

func (m *memRecords) add(r *lineage.Record, b lineage.Block) {
	m.blocks[b.CID] = b.Data
	m.byOut[r.Output] = append(m.byOut[r.Output], b)
}

func (m *memRecords) Block(c cid.Cid) ([]byte, bool, error) {
	d, ok := m.blocks[c]
	return d, ok, nil
}

func (m *memRecords) Resolve(ctx context.Context, out cid.Cid) ([]lineage.Block, error) {
	return m.byOut[out], ctx.Err()
}

// content returns a deterministic content CID for a name.
func outputCID(name string) cid.Cid {
	sum := sha256.Sum256([]byte(name))
	h, err := mh.Encode(sum[:], mh.SHA2_256)
	if err != nil {
		panic(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// signed signs a record by test key n for output out made from inputs.
func signRecord(t testing.TB, n byte, out string, inputs ...string) (*lineage.Record, lineage.Block) {
	t.Helper()
	r := &lineage.Record{Executor: lineage.Executor{UID: 1000}, Output: outputCID(out), Time: 1764000000}
	for _, in := range inputs {
		r.Inputs = append(r.Inputs, outputCID(in))
	}
	b, err := r.Sign(testkeys.Key(n))
	if err != nil {
		t.Fatalf("Sign(%s) = %v", out, err)
	}
	return r, b
}

// chain adds n records to src, record i making "chain-i" from "chain-i+1";
// chain-n has no record (a source). It returns the records' CIDs in order.
func chainOf(t testing.TB, src *memRecords, n int) []cid.Cid {
	t.Helper()
	cids := make([]cid.Cid, n)
	for i := range n {
		r, b := signRecord(t, 1, fmt.Sprintf("chain-%d", i), fmt.Sprintf("chain-%d", i+1))
		src.add(r, b)
		cids[i] = b.CID
	}
	return cids
}

func deadlineCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newHost starts a loopback TCP host whose identity is test key n.
func loopbackHost(t *testing.T, n byte) host.Host {
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
func connectedHosts(t *testing.T) (client, server host.Host) {
	t.Helper()
	client, server = loopbackHost(t, 10), loopbackHost(t, 11)
	ctx := deadlineCtx(t, 10*time.Second)
	if err := client.Connect(ctx, peer.AddrInfo{ID: server.ID(), Addrs: server.Addrs()}); err != nil {
		t.Fatalf("connect: %v", err)
	}
	return client, server
}

// serve starts a fetch server for src and returns the client host and the
// server's peer ID.
func startServer(t *testing.T, src Source, opts ...ServerOption) (host.Host, peer.ID) {
	t.Helper()
	client, server := connectedHosts(t)
	srv := NewServer(server, src, opts...)
	t.Cleanup(func() { srv.Close() })
	return client, server.ID()
}

func mustFetch(t *testing.T, h host.Host, p peer.ID, req Request) *Response {
	t.Helper()
	resp, err := Fetch(deadlineCtx(t, 10*time.Second), h, p, req)
	if err != nil {
		t.Fatalf("Fetch(%s) = %v", req.Op, err)
	}
	if resp.Bytes <= 0 {
		t.Errorf("Fetch(%s): Bytes = %d", req.Op, resp.Bytes)
	}
	return resp
}

func mustVerify(t *testing.T, resp *Response, from peer.ID) []lineage.Block {
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

func blockSet(blocks []lineage.Block) map[cid.Cid]bool {
	m := map[cid.Cid]bool{}
	for _, b := range blocks {
		m[b.CID] = true
	}
	return m
}

func TestFetchRecords(t *testing.T) {
	src := newMemRecords()
	recs := chainOf(t, src, 3)
	client, server := startServer(t, src)
	_, unknown := signRecord(t, 2, "not-served")
	resp := mustFetch(t, client, server, Request{Op: OpRecords, CIDs: append(recs, unknown.CID)})
	got := mustVerify(t, resp, server)
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
	src := newMemRecords()
	r1, b1 := signRecord(t, 1, "shared", "a")
	r2, b2 := signRecord(t, 2, "shared", "b")
	r3, b3 := signRecord(t, 1, "other")
	src.add(r1, b1)
	src.add(r2, b2)
	src.add(r3, b3)
	client, server := startServer(t, src)
	resp := mustFetch(t, client, server, Request{Op: OpByOutput, CIDs: []cid.Cid{outputCID("shared"), outputCID("unknown")}})
	got := blockSet(mustVerify(t, resp, server))
	if len(got) != 2 || !got[b1.CID] || !got[b2.CID] {
		t.Fatalf("by-output got %v, want %s and %s", got, b1.CID, b2.CID)
	}
}

func TestFetchHas(t *testing.T) {
	src := newMemRecords()
	recs := chainOf(t, src, 2)
	_, unknown := signRecord(t, 2, "not-served")
	client, server := startServer(t, src)
	resp := mustFetch(t, client, server, Request{Op: OpHas, CIDs: []cid.Cid{recs[1], unknown.CID, recs[0]}})
	if want := []bool{true, false, true}; fmt.Sprint(resp.Has) != fmt.Sprint(want) || len(resp.Blocks) != 0 {
		t.Fatalf("has = %v with %d blocks, want %v", resp.Has, len(resp.Blocks), want)
	}
}

func TestFetchAncestryInBatches(t *testing.T) {
	src := newMemRecords()
	recs := chainOf(t, src, 20)
	client, server := startServer(t, src)

	resp := mustFetch(t, client, server, Request{Op: OpAncestry, CIDs: []cid.Cid{outputCID("chain-0")}, MaxRecords: 8})
	got := mustVerify(t, resp, server)
	if len(got) != 8 {
		t.Fatalf("first batch: %d blocks, want 8", len(got))
	}
	if len(resp.Frontier) != 1 || !resp.Frontier[0].Equals(outputCID("chain-8")) {
		t.Fatalf("first batch: frontier %v, want [chain-8 %s]", resp.Frontier, outputCID("chain-8"))
	}

	// Continue from the frontier until it is empty: 20 records, 8 at a
	// time, is three round trips.
	all := got
	trips := 1
	for len(resp.Frontier) > 0 {
		resp = mustFetch(t, client, server, Request{Op: OpAncestry, CIDs: resp.Frontier, MaxRecords: 8})
		all = append(all, mustVerify(t, resp, server)...)
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
	src := newMemRecords()
	for _, r := range [][]string{
		{"top", "left", "right"}, {"left", "base"}, {"right", "base"}, {"base", "chain-0"},
	} {
		src.add(signRecord(t, 1, r[0], r[1:]...))
	}
	chainOf(t, src, 2)
	client, server := startServer(t, src)

	resp := mustFetch(t, client, server, Request{Op: OpAncestry, CIDs: []cid.Cid{outputCID("top")}})
	if got := mustVerify(t, resp, server); len(got) != 6 || len(resp.Frontier) != 0 {
		t.Fatalf("whole ancestry: %d blocks, frontier %v; want 6, none", len(got), resp.Frontier)
	}

	resp = mustFetch(t, client, server, Request{Op: OpAncestry, CIDs: []cid.Cid{outputCID("top")}, MaxDepth: 1})
	if got := mustVerify(t, resp, server); len(got) != 3 {
		t.Fatalf("depth 1: %d blocks, want 3 (top, left, right)", len(got))
	}
	if len(resp.Frontier) != 1 || !resp.Frontier[0].Equals(outputCID("base")) {
		t.Fatalf("depth 1: frontier %v, want [base]", resp.Frontier)
	}
}

// TestFetchAncestryMissingAndSkip: outputs the server holds no record of
// are listed as missing (requested ones included); outputs in the skip
// list are neither served, expanded nor listed.
func TestFetchAncestryMissingAndSkip(t *testing.T) {
	src := newMemRecords()
	for _, r := range [][]string{{"top", "a", "b"}, {"a", "src"}, {"b", "gone"}, {"gone-child", "gone"}} {
		src.add(signRecord(t, 1, r[0], r[1:]...))
	}
	client, server := startServer(t, src)
	names := func(cs []cid.Cid) []string {
		var out []string
		for _, c := range cs {
			for _, n := range []string{"top", "a", "b", "src", "gone", "nothing"} {
				if c.Equals(outputCID(n)) {
					out = append(out, n)
				}
			}
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name              string
		req               Request
		blocks            int
		missing, frontier []string
	}{
		{"whole", Request{Op: OpAncestry, CIDs: []cid.Cid{outputCID("top")}}, 3, []string{"gone", "src"}, nil},
		{"skip b", Request{Op: OpAncestry, CIDs: []cid.Cid{outputCID("top")}, Skip: []cid.Cid{outputCID("b")}}, 2, []string{"src"}, nil},
		{"requested, lacked", Request{Op: OpAncestry, CIDs: []cid.Cid{outputCID("nothing"), outputCID("a")}}, 1, []string{"nothing", "src"}, nil},
		{"depth 0", Request{Op: OpAncestry, CIDs: []cid.Cid{outputCID("top")}, MaxDepth: 1}, 3, nil, []string{"gone", "src"}},
	}
	for _, tt := range tests {
		resp := mustFetch(t, client, server, tt.req)
		got := mustVerify(t, resp, server)
		if len(got) != tt.blocks || !slices.Equal(names(resp.Missing), tt.missing) || !slices.Equal(names(resp.Frontier), tt.frontier) {
			t.Errorf("%s: %d blocks, missing %v, frontier %v; want %d, %v, %v", tt.name, len(got),
				names(resp.Missing), names(resp.Frontier), tt.blocks, tt.missing, tt.frontier)
		}
	}
}

func TestFetchResponseByteBudget(t *testing.T) {
	// Four records of about 160 KiB each: a 512 KiB budget serves them
	// in two or more batches, the rest listed in the frontier.
	src := newMemRecords()
	var recs []cid.Cid
	for i := range 4 {
		inputs := make([]string, 4000)
		for j := range inputs {
			inputs[j] = fmt.Sprintf("big-%d-in-%d", i, j)
		}
		r, b := signRecord(t, 1, fmt.Sprintf("big-%d", i), inputs...)
		src.add(r, b)
		recs = append(recs, b.CID)
	}
	client, server := startServer(t, src, WithMaxResponseBytes(512<<10))
	got := map[cid.Cid]bool{}
	req := Request{Op: OpRecords, CIDs: recs}
	for trips := 1; ; trips++ {
		resp := mustFetch(t, client, server, req)
		if resp.Bytes > 512<<10+maxPrefixLen {
			t.Fatalf("response of %d bytes over the 512 KiB budget", resp.Bytes)
		}
		for _, b := range mustVerify(t, resp, server) {
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
	src := newMemRecords()
	chainOf(t, src, 1)
	client, server := startServer(t, src)
	ctx := deadlineCtx(t, 10*time.Second)

	many := make([]cid.Cid, MaxRequestCIDs+1)
	for i := range many {
		many[i] = outputCID(fmt.Sprint(i))
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
	src := newMemRecords()
	recs := chainOf(t, src, 1)
	client, server := startServer(t, src, WithRateLimit(rate.Every(time.Hour), 2))
	req := Request{Op: OpHas, CIDs: recs}
	mustFetch(t, client, server, req)
	mustFetch(t, client, server, req)
	_, err := Fetch(deadlineCtx(t, 10*time.Second), client, server, req)
	if !errors.Is(err, ErrRateLimited) || !strings.Contains(err.Error(), "rate limited") || !strings.Contains(err.Error(), server.String()) {
		t.Fatalf("third request = %v, want rate limited naming %s", err, server)
	}
}

func TestServerRequestTimeout(t *testing.T) {
	// A client that opens a stream and never sends a request is cut off
	// by the server's deadline.
	client, server := connectedHosts(t)
	srv := NewServer(server, newMemRecords(), WithRequestTimeout(200*time.Millisecond))
	t.Cleanup(func() { srv.Close() })
	ctx := deadlineCtx(t, 10*time.Second)
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
	src := newMemRecords()
	recs := chainOf(t, src, 1)
	client, server := connectedHosts(t)
	srv := NewServer(server, src)
	mustFetch(t, client, server.ID(), Request{Op: OpHas, CIDs: recs})
	srv.Close()
	srv.Close()
	if _, err := Fetch(deadlineCtx(t, 10*time.Second), client, server.ID(), Request{Op: OpHas, CIDs: recs}); err == nil {
		t.Fatal("Fetch from a closed server succeeded")
	}
}

// malicious serves the fetch protocol on a host with a handler that reads
// the request and then misbehaves. Handlers that hang wait on done, closed
// when the test ends.
func maliciousServer(t *testing.T, misbehave func(st network.Stream, done <-chan struct{})) (host.Host, peer.ID) {
	t.Helper()
	client, server := connectedHosts(t)
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
	_, rec := signRecord(t, 1, "chain-0", "chain-1")
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
	_, other := signRecord(t, 2, "unasked")
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
			client, server := maliciousServer(t, tc.misbehave)
			ctx := deadlineCtx(t, time.Second)
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
	_, good := signRecord(t, 1, "chain-0", "chain-1")
	_, victim := signRecord(t, 2, "victim", "a")

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
	client, server := maliciousServer(t, func(st network.Stream, _ <-chan struct{}) {
		writeFrame(st, body)
		st.Close()
	})
	resp, err := Fetch(deadlineCtx(t, 5*time.Second), client, server,
		Request{Op: OpByOutput, CIDs: []cid.Cid{outputCID("chain-0"), outputCID("victim")}})
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

// stallingSource blocks resolving one output until the request's context
// ends, and fails resolving another.
type stallingSource struct {
	*memRecords
	stall, fail cid.Cid
}

func (s stallingSource) Resolve(ctx context.Context, out cid.Cid) ([]lineage.Block, error) {
	switch out {
	case s.stall:
		<-ctx.Done()
		return nil, ctx.Err()
	case s.fail:
		return nil, errors.New("disk on fire")
	}
	return s.memRecords.Resolve(ctx, out)
}

func TestServerPartialAnswerAtDeadline(t *testing.T) {
	src := newMemRecords()
	chainOf(t, src, 6)
	stalling := stallingSource{memRecords: src, stall: outputCID("chain-3"), fail: outputCID("broken")}
	client, server := startServer(t, stalling, WithRequestTimeout(time.Second))

	// The walk stops when the work deadline (3/4 of the request's)
	// passes, and what was found goes out with the frontier.
	resp := mustFetch(t, client, server, Request{Op: OpAncestry, CIDs: []cid.Cid{outputCID("chain-0")}})
	if got := mustVerify(t, resp, server); len(got) != 3 {
		t.Fatalf("%d blocks, want 3 (chain-0 to chain-2)", len(got))
	}
	if len(resp.Frontier) != 1 || !resp.Frontier[0].Equals(outputCID("chain-3")) {
		t.Fatalf("frontier %v, want [chain-3]", resp.Frontier)
	}

	// A failing source is an internal error, its details kept home.
	_, err := Fetch(deadlineCtx(t, 10*time.Second), client, server, Request{Op: OpByOutput, CIDs: []cid.Cid{outputCID("broken")}})
	var remote *RemoteError
	if !errors.As(err, &remote) || remote.Msg != internalMsg {
		t.Fatalf("Fetch from a failing source = %v, want %q", err, internalMsg)
	}
}

func TestClipError(t *testing.T) {
	long := strings.Repeat("é", MaxErrorLen) // two bytes each
	for _, in := range []string{"rate limited", "bad \xff byte", long, "x" + long} {
		out := clipError(in)
		if len(out) > MaxErrorLen || !utf8.ValidString(out) {
			t.Errorf("clipError(%.20q...) = %d bytes, valid UTF-8 %v", in, len(out), utf8.ValidString(out))
		}
	}
}

func TestLimitersForgetIdlePeers(t *testing.T) {
	l := newLimiters(rate.Inf/2, 1) // refills at once: every bucket is full again
	for i := range minSweep + 10 {
		l.allow(peer.ID(fmt.Sprint(i)))
	}
	if n := len(l.m); n > minSweep {
		t.Fatalf("%d limiters kept, want at most %d after a sweep", n, minSweep)
	}
	strict := newLimiters(rate.Every(time.Hour), 1)
	if !strict.allow("p") || strict.allow("p") || !strict.allow("q") {
		t.Fatal("a burst of 1 should allow one request per peer")
	}
}

// TestFetchRevocations: the revocations op takes no CIDs and answers with
// every revocation block the source holds.
func TestFetchRevocations(t *testing.T) {
	src := newMemRecords()
	recs := chainOf(t, src, 1)
	v := &lineage.Revocation{Target: recs[0], Reason: "test", Time: 1764000000}
	b, err := v.Sign(testkeys.Key(1))
	if err != nil {
		t.Fatal(err)
	}
	src.revoked = []lineage.Block{b}
	client, server := startServer(t, src)
	resp := mustFetch(t, client, server, Request{Op: OpRevocations})
	if len(resp.Blocks) != 1 || !resp.Blocks[0].CID.Equals(b.CID) {
		t.Fatalf("revocations = %d blocks, want the one held", len(resp.Blocks))
	}
	if err := (&Request{Op: OpRevocations, CIDs: recs}).Validate(); err == nil {
		t.Error("a revocations request with CIDs validates")
	}
}
