package dht

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/golden"
	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
)

// framed returns body behind its length prefix.
func framedBody(body []byte) []byte {
	return append(appendUvarint(nil, uint64(len(body))), body...)
}

func mustEncodeRequest(t testing.TB, r Request) []byte {
	t.Helper()
	b, err := encodeRequest(&r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustEncodeResponse(t testing.TB, r Response) []byte {
	t.Helper()
	b, err := encodeResponse(&r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustCBOR(t testing.TB, v any) []byte {
	t.Helper()
	b, err := msgEnc.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// requestSeeds are the starting points of FuzzRequestFrame, whole frames
// as a server reads them, each named for what it probes.
func requestSeeds(t testing.TB) map[string][]byte {
	a, b := outputCID("a").Bytes(), outputCID("b").Bytes()
	v0 := outputCID("a").Hash() // a bare sha2-256 multihash is a CIDv0
	records := mustEncodeRequest(t, Request{Op: OpRecords, CIDs: []cid.Cid{outputCID("a"), outputCID("b")}})
	return map[string][]byte{
		// Valid requests.
		"valid-records":  framedBody(records),
		"valid-ancestry": framedBody(mustEncodeRequest(t, Request{Op: OpAncestry, CIDs: []cid.Cid{outputCID("a")}, MaxRecords: 8, MaxDepth: 3})),
		"valid-has":      framedBody(mustEncodeRequest(t, Request{Op: OpHas, CIDs: []cid.Cid{outputCID("a")}})),
		"valid-skip":     framedBody(mustEncodeRequest(t, Request{Op: OpAncestry, CIDs: []cid.Cid{outputCID("a")}, Skip: []cid.Cid{outputCID("b")}})),
		"skip-too-many":  framedBody(append([]byte{0xa3, 0x62, 'o', 'p', 0x63, 'h', 'a', 's', 0x64, 'c', 'i', 'd', 's', 0x81, 0x58, byte(len(a))}, append(bytes.Clone(a), 0x64, 's', 'k', 'i', 'p', 0x99, 0x02, 0x01)...)), // claims 513 skip CIDs
		"skip-bad-cid":   framedBody(mustCBOR(t, map[string]any{"op": "ancestry", "cids": [][]byte{a}, "skip": [][]byte{{0x01, 0x55}}})),
		// Framing.
		"empty-frame":        {0x00},                                     // a zero-length body
		"oversized-prefix":   appendUvarint(nil, MaxRequestSize+1),       // over 64 KiB
		"endless-prefix":     bytes.Repeat([]byte{0xff}, 16),             // continuation bits forever
		"non-minimal-prefix": append([]byte{0x81, 0x00}, records[:1]...), // 1 written in two bytes
		"truncated-body":     framedBody(records)[:len(records)/2],       // prefix promises more
		// Body shape.
		"null-body":      framedBody([]byte{0xf6}),                                            // null would decode to a zero request
		"array-body":     framedBody([]byte{0x82, 0x01, 0x02}),                                // not a map
		"indefinite-map": framedBody([]byte{0xbf, 0x62, 'o', 'p', 0x63, 'h', 'a', 's', 0xff}), // indefinite lengths refused
		"trailing-byte":  framedBody(append(bytes.Clone(records), 0x00)),                      // one item only
		"deep-nesting":   framedBody(append([]byte{0xa1, 0x62, 'o', 'p'}, bytes.Repeat([]byte{0x81}, 32)...)),
		// Fields.
		"unknown-op":       framedBody(mustCBOR(t, wireRequest{Op: "delete", CIDs: [][]byte{a}})),
		"no-cids":          framedBody(mustCBOR(t, wireRequest{Op: "has"})),
		"unknown-field":    framedBody(mustCBOR(t, map[string]any{"op": "has", "cids": [][]byte{a}, "sort": true})),
		"case-folded-key":  framedBody(mustCBOR(t, map[string]any{"OP": "has", "cids": [][]byte{a}})),
		"duplicate-key":    framedBody([]byte{0xa2, 0x62, 'o', 'p', 0x63, 'h', 'a', 's', 0x62, 'o', 'p', 0x63, 'h', 'a', 's'}),
		"huge-cids-header": framedBody([]byte{0xa1, 0x64, 'c', 'i', 'd', 's', 0x99, 0x02, 0x01}), // claims 513 CIDs
		"huge-max-records": framedBody(mustCBOR(t, map[string]any{"op": "ancestry", "cids": [][]byte{a}, "max_records": uint64(1) << 40})),
		"negative-depth":   framedBody(mustCBOR(t, map[string]any{"op": "ancestry", "cids": [][]byte{a}, "max_depth": -1})),
		"float-depth":      framedBody(mustCBOR(t, map[string]any{"op": "ancestry", "cids": [][]byte{a}, "max_depth": 1.5})),
		"text-op-as-bytes": framedBody(mustCBOR(t, map[string]any{"op": []byte("has"), "cids": [][]byte{a}})),
		// CIDs.
		"cid-v0":           framedBody(mustCBOR(t, wireRequest{Op: "has", CIDs: [][]byte{v0}})),
		"cid-trailing":     framedBody(mustCBOR(t, wireRequest{Op: "has", CIDs: [][]byte{append(bytes.Clone(a), 0)}})),
		"cid-truncated":    framedBody(mustCBOR(t, wireRequest{Op: "has", CIDs: [][]byte{a[:len(a)-1]}})),
		"cid-as-text":      framedBody(mustCBOR(t, map[string]any{"op": "has", "cids": []string{outputCID("a").String()}})),
		"cid-tagged":       framedBody(append([]byte{0xa2, 0x62, 'o', 'p', 0x63, 'h', 'a', 's', 0x64, 'c', 'i', 'd', 's', 0x81, 0xd8, 0x2a, 0x58, byte(len(b))}, b...)),
		"cid-null-element": framedBody(mustCBOR(t, map[string]any{"op": "has", "cids": []any{nil}})),
	}
}

// responseSeeds are the starting points of FuzzResponseFrame, whole frames
// as a client reads them.
func responseSeeds(t testing.TB) map[string][]byte {
	_, rec := signRecord(t, 1, "chain-0", "chain-1")
	_, src := signRecord(t, 2, "chain-1")
	flipped := lineage.Block{CID: rec.CID, Data: bytes.Clone(rec.Data)}
	flipped.Data[len(flipped.Data)/2] ^= 0x01
	blocks := mustEncodeResponse(t, Response{Blocks: []lineage.Block{rec, src}, Frontier: []cid.Cid{outputCID("chain-2")}})
	c := rec.CID.Bytes()
	return map[string][]byte{
		// Valid responses.
		"valid-blocks":  framedBody(blocks),
		"valid-has":     framedBody(mustEncodeResponse(t, Response{Has: []bool{true, false}})),
		"valid-error":   framedBody(mustEncodeResponse(t, Response{Error: rateLimitedMsg})),
		"valid-empty":   framedBody([]byte{0xa0}),                                                      // nothing found
		"forged-record": framedBody(mustEncodeResponse(t, Response{Blocks: []lineage.Block{flipped}})), // well framed, fails lineage.Open
		// Framing.
		"oversized-prefix": appendUvarint(nil, MaxResponseSize+1),
		"truncated-body":   framedBody(blocks)[:len(blocks)/2],
		"trailing-byte":    framedBody(append(bytes.Clone(blocks), 0x00)),
		// Body shape and fields.
		"undefined-body":     framedBody([]byte{0xf7}),
		"error-with-blocks":  framedBody(mustCBOR(t, wireResponse{Blocks: []wireBlock{{CID: c, Data: rec.Data}}, Error: "oops"})),
		"null-has":           framedBody(mustCBOR(t, map[string]any{"has": []any{nil}})),
		"int-has":            framedBody(mustCBOR(t, map[string]any{"has": []int{1}})),
		"empty-block-data":   framedBody(mustCBOR(t, wireResponse{Blocks: []wireBlock{{CID: c}}})),
		"block-extra-key":    framedBody(mustCBOR(t, map[string]any{"blocks": []any{map[string]any{"cid": c, "data": rec.Data, "from": "me"}}})),
		"huge-blocks-array":  framedBody([]byte{0xa1, 0x66, 'b', 'l', 'o', 'c', 'k', 's', 0x9a, 0xff, 0xff, 0xff, 0xff}),                                                                                                                   // claims 2^32 blocks
		"huge-data-header":   framedBody(append([]byte{0xa1, 0x66, 'b', 'l', 'o', 'c', 'k', 's', 0x81, 0xa2, 0x63, 'c', 'i', 'd', 0x58, byte(len(c))}, append(bytes.Clone(c), 0x64, 'd', 'a', 't', 'a', 0x5a, 0x00, 0x03, 0x00, 0x01)...)), // data of 192 KiB + 1, absent
		"invalid-utf8-error": framedBody([]byte{0xa1, 0x65, 'e', 'r', 'r', 'o', 'r', 0x62, 0xff, 0xfe}),
		"frontier-bad-cid":   framedBody(mustCBOR(t, wireResponse{Frontier: [][]byte{{0x01, 0x55}}})),
		"valid-missing":      framedBody(mustEncodeResponse(t, Response{Blocks: []lineage.Block{rec}, Missing: []cid.Cid{outputCID("chain-1")}})),
		"missing-bad-cid":    framedBody(mustCBOR(t, wireResponse{Missing: [][]byte{{0x01, 0x55}}})),
		"error-with-missing": framedBody(mustCBOR(t, wireResponse{Missing: [][]byte{c}, Error: "oops"})),
	}
}

// FuzzRequestFrame feeds arbitrary bytes to the server's reader: it must
// never panic, and what it accepts must encode and decode to itself.
func FuzzRequestFrame(f *testing.F) {
	for _, s := range requestSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		body, n, err := readFrame(bytes.NewReader(data), MaxRequestSize)
		if err != nil {
			return
		}
		if n > len(data) || len(body) > MaxRequestSize {
			t.Fatalf("frame of %d bytes (body %d) from %d bytes", n, len(body), len(data))
		}
		req, err := decodeRequest(body)
		if err != nil {
			return
		}
		again, err := encodeRequest(req)
		if err != nil {
			t.Fatalf("accepted request does not encode: %v", err)
		}
		req2, err := decodeRequest(again)
		if err != nil || !reflect.DeepEqual(req, req2) {
			t.Fatalf("round trip: %+v -> %+v (%v)", req, req2, err)
		}
	})
}

// FuzzResponseFrame feeds arbitrary bytes to the client's reader: it must
// never panic, what it accepts must round-trip, and opening the blocks
// must not panic either.
func FuzzResponseFrame(f *testing.F) {
	for _, s := range responseSeeds(f) {
		f.Add(s)
	}
	from := testkeys.Key(11).ID()
	f.Fuzz(func(t *testing.T, data []byte) {
		body, n, err := readFrame(bytes.NewReader(data), MaxResponseSize)
		if err != nil {
			return
		}
		if n > len(data) || len(body) > MaxResponseSize {
			t.Fatalf("frame of %d bytes (body %d) from %d bytes", n, len(body), len(data))
		}
		resp, err := decodeResponse(body)
		if err != nil {
			return
		}
		again, err := encodeResponse(resp)
		if err != nil {
			t.Fatalf("accepted response does not encode: %v", err)
		}
		resp2, err := decodeResponse(again)
		if err != nil || !reflect.DeepEqual(resp, resp2) {
			t.Fatalf("round trip: %+v -> %+v (%v)", resp, resp2, err)
		}
		good, bad := VerifiedBlocks(resp, from)
		if len(good)+len(bad) != len(resp.Blocks) {
			t.Fatalf("VerifiedBlocks: %d good + %d bad of %d blocks", len(good), len(bad), len(resp.Blocks))
		}
	})
}

// TestFetchFuzzCorpus keeps the committed seed corpora equal to the seeds
// above; go test -update rewrites them.
func TestFetchFuzzCorpus(t *testing.T) {
	golden.FuzzCorpus(t, "FuzzRequestFrame", requestSeeds(t))
	golden.FuzzCorpus(t, "FuzzResponseFrame", responseSeeds(t))
}

// TestFetchSeedVerdicts checks the seeds do what their names say: the
// valid ones (and the forged record, which is well framed) decode, every
// other one is refused with an error.
func TestFetchSeedVerdicts(t *testing.T) {
	accept := func(name string) bool {
		return strings.HasPrefix(name, "valid-") || name == "forged-record"
	}
	decodeFrame := func(data []byte, limit int, decode func([]byte) error) error {
		body, _, err := readFrame(bytes.NewReader(data), limit)
		if err != nil {
			return err
		}
		return decode(body)
	}
	for name, data := range requestSeeds(t) {
		err := decodeFrame(data, MaxRequestSize, func(b []byte) error { _, err := decodeRequest(b); return err })
		if accept(name) != (err == nil) {
			t.Errorf("request seed %s: error %v", name, err)
		}
		t.Logf("request seed %s: %v", name, err)
	}
	for name, data := range responseSeeds(t) {
		err := decodeFrame(data, MaxResponseSize, func(b []byte) error { _, err := decodeResponse(b); return err })
		if accept(name) != (err == nil) {
			t.Errorf("response seed %s: error %v", name, err)
		}
		t.Logf("response seed %s: %v", name, err)
	}
}
