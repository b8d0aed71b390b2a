package dht

// Wire messages of the direct fetch protocol (/bonsai/lineage/1.0.0).
//
// A stream carries one request and one response. Each is one frame: an
// unsigned varint (minimal encoding) giving the body's length, then the body,
// a CBOR map. CIDs travel as byte strings holding their binary form.
//
//	request  {"op": text, "cids": [bytes], "max_records": uint, "max_depth": uint,
//	          "skip": [bytes]}
//	response {"blocks": [{"cid": bytes, "data": bytes}], "has": [bool],
//	          "frontier": [bytes], "missing": [bytes], "error": text}
//
// max_records, max_depth and skip may be left out (0, none: the server's
// default); the response's fields are left out when empty. Decoding is strict and bounded:
// indefinite lengths, tags, duplicate or unknown keys, invalid UTF-8,
// trailing bytes, CIDs bonsai does not accept and anything over the limits
// below are errors.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/bonsai-lineage/bonsai/internal/cborx"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// ProtocolID is the libp2p protocol of the direct fetch.
const ProtocolID protocol.ID = "/bonsai/lineage/1.0.0"

// Bounds of the wire format, enforced by both ends.
const (
	// MaxRequestSize bounds a request body.
	MaxRequestSize = 64 << 10
	// MaxRequestCIDs is the most CIDs one request may carry.
	MaxRequestCIDs = 512
	// MaxResponseSize bounds a response body.
	MaxResponseSize = 4 << 20
	// MaxResponseBlocks is the most blocks one response may carry.
	MaxResponseBlocks = 4096
	// MaxFrontier is the most frontier CIDs one response may carry, and
	// the most missing CIDs.
	MaxFrontier = 16384
	// MaxSkip is the most skip CIDs one request may carry.
	MaxSkip = MaxRequestCIDs
	// MaxErrorLen bounds the error text of a response.
	MaxErrorLen = 1024
)

// Op is what a request asks for.
type Op string

const (
	// OpRecords asks for the blocks of the records named by CIDs.
	OpRecords Op = "records"
	// OpByOutput asks for the blocks of the records claiming each output
	// CID.
	OpByOutput Op = "by-output"
	// OpAncestry asks for the ancestries of the output CIDs: the server
	// walks breadth first from them through record inputs, in its local
	// source only, within MaxRecords and MaxDepth.
	OpAncestry Op = "ancestry"
	// OpHas asks, for each record CID, whether the server holds it.
	OpHas Op = "has"
	// OpRevocations asks for every revocation block the server holds (no
	// CIDs): how a node that joins learns what was revoked before.
	OpRevocations Op = "revocations"
)

func (o Op) valid() bool {
	switch o {
	case OpRecords, OpByOutput, OpAncestry, OpHas, OpRevocations:
		return true
	}
	return false
}

// Request is one fetch request.
type Request struct {
	Op Op
	// CIDs are record CIDs (records, has) or output CIDs (by-output,
	// ancestry): 1 to MaxRequestCIDs of them.
	CIDs []cid.Cid
	// MaxRecords bounds the blocks returned (0: the server's limit, which
	// also caps larger values).
	MaxRecords int
	// MaxDepth bounds how many levels of inputs below the requested
	// outputs an ancestry request expands (0: the server's limit, which
	// also caps larger values). Other ops ignore it.
	MaxDepth int
	// Skip lists outputs an ancestry request must neither serve nor
	// expand nor list: the client holds them or asks someone else for
	// them (up to MaxSkip). Other ops ignore it.
	Skip []cid.Cid
}

// Response is the answer to a Request. Its blocks are untrusted: run
// lineage.Open on each (see VerifiedBlocks).
type Response struct {
	// Blocks are the records found; Block.From is left empty.
	Blocks []lineage.Block
	// Has answers an OpHas request, one entry per requested CID.
	Has []bool
	// Frontier lists CIDs the server did not serve because of its limits
	// (count, size, depth or deadline): for ancestry, the outputs it
	// reached but did not expand; for records and by-output, the
	// requested CIDs it did not get to. Requesting them again with the
	// same op continues where the response stopped.
	Frontier []cid.Cid
	// Missing lists, for ancestry, the outputs reached (requested, or
	// inputs of records served) that the server holds no record of: the
	// client must look for them elsewhere.
	Missing []cid.Cid
	// Error is set when the server refused or failed the request; the
	// other fields are then empty. Fetch turns it into a *RemoteError.
	Error string
	// Bytes is the response's size on the wire, length prefix included
	// (not encoded; set by the reader).
	Bytes int
}

// errMalformed is wrapped by every decoding error.
var errMalformed = errors.New("malformed message")

// wireRequest and wireResponse are the CBOR forms.
type wireRequest struct {
	Op         string   `cbor:"op"`
	CIDs       [][]byte `cbor:"cids"`
	MaxRecords uint64   `cbor:"max_records,omitempty"`
	MaxDepth   uint64   `cbor:"max_depth,omitempty"`
	Skip       [][]byte `cbor:"skip,omitempty"`
}

type wireBlock struct {
	CID  []byte `cbor:"cid"`
	Data []byte `cbor:"data"`
}

type wireResponse struct {
	Blocks   []wireBlock `cbor:"blocks,omitempty"`
	Has      []wireBool  `cbor:"has,omitempty"`
	Frontier [][]byte    `cbor:"frontier,omitempty"`
	Missing  [][]byte    `cbor:"missing,omitempty"`
	Error    string      `cbor:"error,omitempty"`
}

// wireBool is a bool that must be CBOR true or false: the generic decoder
// would take null for false.
type wireBool bool

func (b *wireBool) UnmarshalCBOR(data []byte) error {
	switch {
	case len(data) == 1 && data[0] == 0xf4:
		*b = false
	case len(data) == 1 && data[0] == 0xf5:
		*b = true
	default:
		return errors.New("has: not a CBOR bool")
	}
	return nil
}

// msgCBOR returns the fetch protocol's CBOR modes: canonical (length-first)
// encoding, no tags, map keys matched case-sensitively, at most maxArray
// elements per array. The element bound applies to every array while the
// input is checked for well-formedness, before anything is allocated.
func msgCBOR(maxArray int) (cbor.EncMode, cbor.DecMode) {
	return cborx.Strict(cborx.Profile{
		Limits:    cborx.Limits{MaxArrayElements: maxArray, MaxMapPairs: 16, MaxNestedLevels: 4},
		Order:     cborx.LengthFirst,
		ExactKeys: true,
	})
}

var (
	msgEnc, requestDec = msgCBOR(MaxRequestCIDs)
	_, replyDec        = msgCBOR(MaxFrontier)
)

// Validate checks a request against the protocol's bounds.
func (r *Request) Validate() error {
	if !r.Op.valid() {
		return fmt.Errorf("unknown op %q", r.Op)
	}
	if r.Op == OpRevocations {
		if len(r.CIDs) > 0 || len(r.Skip) > 0 {
			return errors.New("revocations: takes no CIDs")
		}
	} else if len(r.CIDs) == 0 {
		return errors.New("no CIDs")
	}
	if len(r.CIDs) > MaxRequestCIDs {
		return fmt.Errorf("too many CIDs: %d (max %d)", len(r.CIDs), MaxRequestCIDs)
	}
	for i, c := range r.CIDs {
		if err := lineage.CheckCID(c); err != nil {
			return fmt.Errorf("CID %d: %v", i, err)
		}
	}
	if r.MaxRecords < 0 || r.MaxRecords > math.MaxInt32 {
		return fmt.Errorf("max_records %d out of range", r.MaxRecords)
	}
	if r.MaxDepth < 0 || r.MaxDepth > math.MaxInt32 {
		return fmt.Errorf("max_depth %d out of range", r.MaxDepth)
	}
	if len(r.Skip) > MaxSkip {
		return fmt.Errorf("too many skip CIDs: %d (max %d)", len(r.Skip), MaxSkip)
	}
	for i, c := range r.Skip {
		if err := lineage.CheckCID(c); err != nil {
			return fmt.Errorf("skip CID %d: %v", i, err)
		}
	}
	return nil
}

// encodeRequest validates r and returns its body.
func encodeRequest(r *Request) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	w := wireRequest{Op: string(r.Op), CIDs: cidBytes(r.CIDs), MaxRecords: uint64(r.MaxRecords), MaxDepth: uint64(r.MaxDepth), Skip: cidBytes(r.Skip)}
	b, err := msgEnc.Marshal(w)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxRequestSize {
		return nil, fmt.Errorf("request of %d bytes (max %d)", len(b), MaxRequestSize)
	}
	return b, nil
}

// decodeRequest parses a request body strictly.
func decodeRequest(b []byte) (*Request, error) {
	if len(b) > MaxRequestSize {
		return nil, fmt.Errorf("%w: request of %d bytes (max %d)", errMalformed, len(b), MaxRequestSize)
	}
	var w wireRequest
	if err := unmarshalMap(requestDec, b, &w); err != nil {
		var tooMany *cbor.MaxArrayElementsError
		if errors.As(err, &tooMany) {
			return nil, fmt.Errorf("%w: too many CIDs (max %d)", errMalformed, MaxRequestCIDs)
		}
		return nil, err
	}
	if w.MaxRecords > math.MaxInt32 || w.MaxDepth > math.MaxInt32 {
		return nil, fmt.Errorf("%w: max_records or max_depth out of range", errMalformed)
	}
	r := &Request{Op: Op(w.Op), MaxRecords: int(w.MaxRecords), MaxDepth: int(w.MaxDepth)}
	var err error
	if r.CIDs, err = parseCIDs(w.CIDs, "cids"); err != nil {
		return nil, err
	}
	if r.Skip, err = parseCIDs(w.Skip, "skip"); err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return r, nil
}

// validate checks a response against the wire bounds.
func (r *Response) validate() error {
	if len(r.Blocks) > MaxResponseBlocks {
		return fmt.Errorf("%d blocks (max %d)", len(r.Blocks), MaxResponseBlocks)
	}
	if len(r.Has) > MaxRequestCIDs {
		return fmt.Errorf("%d has entries (max %d)", len(r.Has), MaxRequestCIDs)
	}
	if len(r.Frontier) > MaxFrontier {
		return fmt.Errorf("%d frontier CIDs (max %d)", len(r.Frontier), MaxFrontier)
	}
	if len(r.Missing) > MaxFrontier {
		return fmt.Errorf("%d missing CIDs (max %d)", len(r.Missing), MaxFrontier)
	}
	if len(r.Error) > MaxErrorLen {
		return fmt.Errorf("error text of %d bytes (max %d)", len(r.Error), MaxErrorLen)
	}
	if r.Error != "" && (len(r.Blocks) > 0 || len(r.Has) > 0 || len(r.Frontier) > 0 || len(r.Missing) > 0) {
		return errors.New("error response with content")
	}
	for i, b := range r.Blocks {
		if err := lineage.CheckCID(b.CID); err != nil {
			return fmt.Errorf("block %d: %v", i, err)
		}
		if len(b.Data) == 0 || len(b.Data) > lineage.MaxRecordSize {
			return fmt.Errorf("block %d: %d bytes (want 1 to %d)", i, len(b.Data), lineage.MaxRecordSize)
		}
	}
	for i, c := range r.Frontier {
		if err := lineage.CheckCID(c); err != nil {
			return fmt.Errorf("frontier %d: %v", i, err)
		}
	}
	for i, c := range r.Missing {
		if err := lineage.CheckCID(c); err != nil {
			return fmt.Errorf("missing %d: %v", i, err)
		}
	}
	return nil
}

// encodeResponse returns the body of r, refusing one over the bounds.
func encodeResponse(r *Response) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	w := wireResponse{Frontier: cidBytes(r.Frontier), Missing: cidBytes(r.Missing), Error: r.Error}
	if len(r.Has) > 0 {
		w.Has = make([]wireBool, len(r.Has))
		for i, h := range r.Has {
			w.Has[i] = wireBool(h)
		}
	}
	if len(r.Blocks) > 0 {
		w.Blocks = make([]wireBlock, len(r.Blocks))
		for i, b := range r.Blocks {
			w.Blocks[i] = wireBlock{CID: b.CID.Bytes(), Data: b.Data}
		}
	}
	b, err := msgEnc.Marshal(w)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxResponseSize {
		return nil, fmt.Errorf("response of %d bytes (max %d)", len(b), MaxResponseSize)
	}
	return b, nil
}

// decodeResponse parses a response body strictly. Bytes is left zero.
func decodeResponse(b []byte) (*Response, error) {
	if len(b) > MaxResponseSize {
		return nil, fmt.Errorf("%w: response of %d bytes (max %d)", errMalformed, len(b), MaxResponseSize)
	}
	var w wireResponse
	if err := unmarshalMap(replyDec, b, &w); err != nil {
		return nil, err
	}
	// Bound counts before converting anything.
	if len(w.Blocks) > MaxResponseBlocks {
		return nil, fmt.Errorf("%w: %d blocks (max %d)", errMalformed, len(w.Blocks), MaxResponseBlocks)
	}
	if len(w.Has) > MaxRequestCIDs {
		return nil, fmt.Errorf("%w: %d has entries (max %d)", errMalformed, len(w.Has), MaxRequestCIDs)
	}
	r := &Response{Error: w.Error}
	if len(w.Has) > 0 {
		r.Has = make([]bool, len(w.Has))
		for i, h := range w.Has {
			r.Has[i] = bool(h)
		}
	}
	if len(w.Blocks) > 0 {
		r.Blocks = make([]lineage.Block, len(w.Blocks))
		for i, wb := range w.Blocks {
			c, err := parseCID(wb.CID)
			if err != nil {
				return nil, fmt.Errorf("%w: block %d: %v", errMalformed, i, err)
			}
			r.Blocks[i] = lineage.Block{CID: c, Data: wb.Data}
		}
	}
	var err error
	if r.Frontier, err = parseCIDs(w.Frontier, "frontier"); err != nil {
		return nil, err
	}
	if r.Missing, err = parseCIDs(w.Missing, "missing"); err != nil {
		return nil, err
	}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	return r, nil
}

// unmarshalMap decodes b, which must be exactly one CBOR map, into v.
func unmarshalMap(dm cbor.DecMode, b []byte, v any) error {
	// A CBOR null or undefined would leave v zero without an error.
	if len(b) == 0 || b[0]>>5 != 5 {
		return fmt.Errorf("%w: body is not a CBOR map", errMalformed)
	}
	if err := dm.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %w", errMalformed, err)
	}
	return nil
}

func cidBytes(cs []cid.Cid) [][]byte {
	if len(cs) == 0 {
		return nil
	}
	out := make([][]byte, len(cs))
	for i, c := range cs {
		out[i] = c.Bytes()
	}
	return out
}

func parseCIDs(bs [][]byte, field string) ([]cid.Cid, error) {
	if len(bs) == 0 {
		return nil, nil
	}
	out := make([]cid.Cid, len(bs))
	for i, b := range bs {
		c, err := parseCID(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %d: %v", errMalformed, field, i, err)
		}
		out[i] = c
	}
	return out, nil
}

// parseCID reads the binary form of a CID bonsai accepts, in its one
// encoding.
func parseCID(b []byte) (cid.Cid, error) {
	c, err := cid.Cast(b)
	if err != nil {
		return cid.Undef, err
	}
	if err := lineage.CheckCID(c); err != nil {
		return cid.Undef, err
	}
	if !bytes.Equal(c.Bytes(), b) {
		return cid.Undef, errors.New("CID not in its canonical binary form")
	}
	return c, nil
}

// writeFrame writes body behind its length prefix in one write.
func writeFrame(w io.Writer, body []byte) error {
	frame := make([]byte, 0, maxPrefixLen+len(body))
	frame = appendUvarint(frame, uint64(len(body)))
	_, err := w.Write(append(frame, body...))
	return err
}

// maxPrefixLen is the longest length prefix any bound here needs: a uvarint
// of 4 bytes holds up to 2^28-1, more than MaxResponseSize.
const maxPrefixLen = 4

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// readFrame reads one frame of at most limit body bytes and returns its
// body and its size on the wire. It reads the prefix a byte at a time, so
// nothing past the frame is consumed.
func readFrame(r io.Reader, limit int) (body []byte, wire int, err error) {
	var n uint64
	var one [1]byte
	for i := 0; ; i++ {
		if i == maxPrefixLen {
			return nil, 0, fmt.Errorf("%w: length prefix too large (max %d)", errMalformed, limit)
		}
		if _, err := io.ReadFull(r, one[:]); err != nil {
			if i > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, 0, fmt.Errorf("read length prefix: %w", err)
		}
		n |= uint64(one[0]&0x7f) << (7 * i)
		if one[0] < 0x80 {
			if one[0] == 0 && i > 0 {
				return nil, 0, fmt.Errorf("%w: length prefix not minimally encoded", errMalformed)
			}
			wire = i + 1
			break
		}
	}
	if n > uint64(limit) {
		return nil, 0, fmt.Errorf("%w: length prefix %d over the limit of %d", errMalformed, n, limit)
	}
	body = make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, fmt.Errorf("read body of %d bytes: %w", n, err)
	}
	return body, wire + int(n), nil
}
