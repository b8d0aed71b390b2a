package dht

// The direct fetch protocol: a verifier asks a peer for records, for the
// records claiming outputs, or for whole ancestries, and gets them in
// batches, so an ancestry of N records costs about N/MaxResponseBlocks
// round trips instead of N lookups. The server answers from its local
// Source only; it never asks other peers on a client's behalf. The client
// trusts nothing it receives: blocks go through lineage.Open (see
// VerifiedBlocks).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/textx"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// Source is what a Server serves: the node's local records. Its blocks are
// served as they are, without verification.
type Source interface {
	// Block returns the bytes of record c; ok is false when it is not
	// held.
	Block(c cid.Cid) (data []byte, ok bool, err error)
	// Resolve returns the blocks of the records claiming output.
	Resolve(ctx context.Context, output cid.Cid) ([]lineage.Block, error)
	// Revocations returns every revocation block held.
	Revocations() ([]lineage.Block, error)
}

// Server defaults; ServerOptions change them.
const (
	// DefaultRequestTimeout bounds the handling of one request, reading
	// it included.
	DefaultRequestTimeout = 10 * time.Second
	// DefaultRateLimit and DefaultRateBurst bound requests per peer.
	DefaultRateLimit rate.Limit = 20
	DefaultRateBurst            = 40
	// DefaultServerMaxRecords is the most blocks one response carries.
	DefaultServerMaxRecords = MaxResponseBlocks
	// DefaultServerMaxDepth is the deepest an ancestry request expands.
	DefaultServerMaxDepth = lineage.DefaultMaxDepth
	// minResponseBytes is the smallest response budget allowed: the
	// frontier of a full request, one record of maximal size and the
	// frontier its inputs add always fit.
	minResponseBytes = 512 << 10
)

// DefaultFetchTimeout bounds Fetch when its context has no deadline.
const DefaultFetchTimeout = 15 * time.Second

// Error texts a server sends.
const (
	rateLimitedMsg = "rate limited"
	internalMsg    = "internal error"
	closingMsg     = "server closing"
	timeoutMsg     = "request timed out"
)

// ErrRateLimited matches (errors.Is) the *RemoteError of a server that
// refused a request over its per-peer rate limit.
var ErrRateLimited = errors.New(rateLimitedMsg)

// ErrBadResponse is wrapped by Fetch errors about a response that breaks
// the protocol: garbage, oversized, truncated or not answering the request.
var ErrBadResponse = errors.New("bad fetch response")

// RemoteError is a refusal or failure reported by the server.
type RemoteError struct {
	Peer peer.ID
	Msg  string
}

// Error quotes the peer's text: it is untrusted.
func (e *RemoteError) Error() string { return fmt.Sprintf("peer %s replied: %q", e.Peer, e.Msg) }

// Is makes errors.Is(err, ErrRateLimited) true for a rate-limit refusal.
func (e *RemoteError) Is(target error) bool {
	return target == ErrRateLimited && e.Msg == rateLimitedMsg
}

type serverConfig struct {
	timeout    time.Duration
	limit      rate.Limit
	burst      int
	maxRecords int
	maxDepth   int
	maxBytes   int
}

// ServerOption changes a Server's limits.
type ServerOption func(*serverConfig)

// WithRequestTimeout sets the deadline of one request, from the stream's
// opening to the end of the response (default DefaultRequestTimeout).
func WithRequestTimeout(d time.Duration) ServerOption {
	return func(c *serverConfig) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithRateLimit sets the per-peer request rate and burst (default
// DefaultRateLimit, DefaultRateBurst). A request over the limit is answered
// with the error "rate limited". rate.Inf disables the limit.
func WithRateLimit(r rate.Limit, burst int) ServerOption {
	return func(c *serverConfig) {
		if r >= 0 && burst >= 0 {
			c.limit, c.burst = r, burst
		}
	}
}

// WithMaxRecords caps the blocks in one response (default and ceiling
// MaxResponseBlocks).
func WithMaxRecords(n int) ServerOption {
	return func(c *serverConfig) {
		if n > 0 {
			c.maxRecords = min(n, MaxResponseBlocks)
		}
	}
}

// WithMaxDepth caps how many levels below the requested outputs an
// ancestry request expands (default DefaultServerMaxDepth).
func WithMaxDepth(n int) ServerOption {
	return func(c *serverConfig) {
		if n > 0 {
			c.maxDepth = n
		}
	}
}

// WithMaxResponseBytes caps the size of a response body (default and
// ceiling MaxResponseSize; at least 512 KiB).
func WithMaxResponseBytes(n int) ServerOption {
	return func(c *serverConfig) {
		if n > 0 {
			c.maxBytes = min(max(n, minResponseBytes), MaxResponseSize)
		}
	}
}

// Server answers fetch requests from a Source.
type Server struct {
	h      host.Host
	src    Source
	cfg    serverConfig
	ctx    context.Context
	cancel context.CancelFunc
	lim    *limiters

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// NewServer serves src on h under ProtocolID until Close.
func NewServer(h host.Host, src Source, opts ...ServerOption) *Server {
	cfg := serverConfig{
		timeout:    DefaultRequestTimeout,
		limit:      DefaultRateLimit,
		burst:      DefaultRateBurst,
		maxRecords: DefaultServerMaxRecords,
		maxDepth:   DefaultServerMaxDepth,
		maxBytes:   MaxResponseSize,
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{h: h, src: src, cfg: cfg, ctx: ctx, cancel: cancel, lim: newLimiters(cfg.limit, cfg.burst)}
	h.SetStreamHandler(ProtocolID, s.handle)
	return s
}

// Close stops serving: it removes the handler, aborts the requests in
// flight and waits for their handlers to return. Closing twice is harmless.
func (s *Server) Close() error {
	s.h.RemoveStreamHandler(ProtocolID)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Server) handle(st network.Stream) {
	if !s.enter() {
		st.Reset()
		return
	}
	defer s.wg.Done()
	remote := st.Conn().RemotePeer()
	start := time.Now()
	_ = st.SetDeadline(start.Add(s.cfg.timeout))
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.timeout)
	defer cancel()
	// The stream deadline may not be supported everywhere; a reset on
	// timeout or Close unblocks any read or write.
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()

	// Every stream counts against the rate, garbage included.
	allowed := s.lim.allow(remote)
	body, _, err := readFrame(st, MaxRequestSize)
	if err != nil {
		if errors.Is(err, errMalformed) {
			s.reply(st, remote, &Response{Error: "bad request: " + err.Error()})
			return
		}
		slog.Debug("fetch: read request", "peer", remote, "err", err)
		st.Reset()
		return
	}
	if !allowed {
		s.reply(st, remote, &Response{Error: rateLimitedMsg})
		return
	}
	req, err := decodeRequest(body)
	if err != nil {
		s.reply(st, remote, &Response{Error: "bad request: " + err.Error()})
		return
	}
	// The work gets three quarters of the deadline, so a partial answer
	// still has time to go out.
	work, cancelWork := context.WithDeadline(ctx, start.Add(s.cfg.timeout*3/4))
	defer cancelWork()
	resp, err := s.serve(work, req)
	if err != nil {
		msg := internalMsg
		switch {
		case s.ctx.Err() != nil:
			msg = closingMsg
		case work.Err() != nil:
			msg = timeoutMsg
		}
		slog.Debug("fetch: serve", "peer", remote, "op", req.Op, "err", err)
		resp = &Response{Error: msg}
	}
	s.reply(st, remote, resp)
}

func (s *Server) reply(st network.Stream, remote peer.ID, resp *Response) {
	resp.Error = clipError(resp.Error)
	body, err := encodeResponse(resp)
	if err != nil {
		slog.Debug("fetch: encode response", "peer", remote, "err", err)
		body, _ = encodeResponse(&Response{Error: internalMsg})
	}
	if err := writeFrame(st, body); err != nil {
		slog.Debug("fetch: write response", "peer", remote, "err", err)
		st.Reset()
		return
	}
	st.Close()
}

// clipError makes an error text fit the wire: valid UTF-8 (decoder errors
// may quote the request's bytes) and at most MaxErrorLen bytes, cut at a
// rune boundary.
func clipError(msg string) string { return textx.Clip(msg, MaxErrorLen) }

// budget tracks what a response may still take.
type budget struct {
	blocks, bytes int
}

// Conservative CBOR sizes: map headers, keys and string headers.
const (
	responseOverhead = 1 << 10 // map, keys, array headers, error
	blockOverhead    = 24      // {"cid": h, "data": h}
	cidOverhead      = 2       // byte-string header
	maxCIDSize       = 48      // a CID bonsai accepts is 36 to 40 bytes
	requestFrontier  = MaxRequestCIDs * (cidOverhead + maxCIDSize)
)

// The smallest budget holds a full request's frontier and one record of
// maximal size with all its inputs: the first output always fits (the
// conversion fails to compile otherwise).
const _ = uint(minResponseBytes - responseOverhead - requestFrontier -
	(blockOverhead + maxCIDSize + lineage.MaxRecordSize) - lineage.MaxInputs*(cidOverhead+maxCIDSize))

func blockCost(b lineage.Block) int { return blockOverhead + len(b.CID.Bytes()) + len(b.Data) }
func cidCost(c cid.Cid) int         { return cidOverhead + len(c.Bytes()) }

// servable reports whether a local block can go on the wire.
func servable(b lineage.Block) bool {
	return lineage.CheckCID(b.CID) == nil && len(b.Data) > 0 && len(b.Data) <= lineage.MaxRecordSize
}

func (s *Server) limits(req *Request) (maxRecords, maxDepth int) {
	maxRecords, maxDepth = s.cfg.maxRecords, s.cfg.maxDepth
	if req.MaxRecords > 0 {
		maxRecords = min(maxRecords, req.MaxRecords)
	}
	if req.MaxDepth > 0 {
		maxDepth = min(maxDepth, req.MaxDepth)
	}
	return maxRecords, maxDepth
}

// serve answers a decoded request. An error is the Source's failure; a
// deadline hit while working ends the answer early with a frontier.
func (s *Server) serve(ctx context.Context, req *Request) (*Response, error) {
	maxRecords, maxDepth := s.limits(req)
	switch req.Op {
	case OpHas:
		resp := &Response{Has: make([]bool, len(req.CIDs))}
		for i, c := range req.CIDs {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			_, ok, err := s.src.Block(c)
			if err != nil {
				return nil, err
			}
			resp.Has[i] = ok
		}
		return resp, nil
	case OpRecords:
		return s.serveRecords(ctx, req, maxRecords)
	case OpByOutput:
		return s.serveByOutput(ctx, req, maxRecords)
	case OpAncestry:
		return s.serveAncestry(ctx, req, maxRecords, maxDepth)
	case OpRevocations:
		bs, err := s.src.Revocations()
		if err != nil {
			return nil, err
		}
		resp := &Response{}
		left := budget{blocks: maxRecords, bytes: s.cfg.maxBytes - responseOverhead}
		for _, b := range bs {
			if left.blocks < 1 || left.bytes < blockCost(b) {
				break // a later sync, from another peer, brings the rest
			}
			left.blocks--
			left.bytes -= blockCost(b)
			resp.Blocks = append(resp.Blocks, b)
		}
		return resp, nil
	}
	return nil, fmt.Errorf("unknown op %q", req.Op)
}

func (s *Server) serveRecords(ctx context.Context, req *Request, maxRecords int) (*Response, error) {
	resp := &Response{}
	left := budget{blocks: maxRecords, bytes: s.cfg.maxBytes - responseOverhead - requestFrontier}
	seen := map[cid.Cid]bool{}
	for i, c := range req.CIDs {
		if ctx.Err() != nil {
			resp.Frontier = req.CIDs[i:]
			break
		}
		if seen[c] {
			continue
		}
		data, ok, err := s.src.Block(c)
		if err != nil {
			return nil, err
		}
		b := lineage.Block{CID: c, Data: data}
		if !ok || !servable(b) {
			continue
		}
		if left.blocks < 1 || left.bytes < blockCost(b) {
			resp.Frontier = req.CIDs[i:]
			break
		}
		seen[c] = true
		left.blocks--
		left.bytes -= blockCost(b)
		resp.Blocks = append(resp.Blocks, b)
	}
	return resp, nil
}

func (s *Server) serveByOutput(ctx context.Context, req *Request, maxRecords int) (*Response, error) {
	resp := &Response{}
	left := budget{blocks: maxRecords, bytes: s.cfg.maxBytes - responseOverhead - requestFrontier}
	seen := map[cid.Cid]bool{}
	for i, out := range req.CIDs {
		if ctx.Err() != nil {
			resp.Frontier = req.CIDs[i:]
			break
		}
		blocks, err := s.src.Resolve(ctx, out)
		if err != nil {
			if ctx.Err() != nil {
				resp.Frontier = req.CIDs[i:]
				break
			}
			return nil, err
		}
		var taken []lineage.Block
		all := true
		for _, b := range blocks {
			if seen[b.CID] || !servable(b) {
				continue
			}
			if left.blocks < 1 || left.bytes < blockCost(b) {
				all = false
				break
			}
			seen[b.CID] = true
			left.blocks--
			left.bytes -= blockCost(b)
			taken = append(taken, b)
		}
		// An output is served whole, or truncated when it is the first
		// and alone overflows a response (so every response makes
		// progress); otherwise it waits in the frontier.
		if !all && len(resp.Blocks) > 0 {
			resp.Frontier = req.CIDs[i:]
			break
		}
		resp.Blocks = append(resp.Blocks, taken...)
		if !all {
			if i+1 < len(req.CIDs) {
				resp.Frontier = req.CIDs[i+1:]
			}
			break
		}
	}
	return resp, nil
}

type queued struct {
	out   cid.Cid
	depth int
}

// serveAncestry walks breadth first from the requested outputs. An output
// is expanded whole (all its records served, their new inputs queued) or
// not at all; the queue left when a limit stops the walk is the frontier.
// An output reached with no record here is listed as missing, and one in
// the request's skip list is passed over (neither served nor listed). The
// budget counts the queue and the missing list too, so both always fit.
// The first output expanded with records may be served truncated when its
// records alone overflow a response, so that every response makes progress.
func (s *Server) serveAncestry(ctx context.Context, req *Request, maxRecords, maxDepth int) (*Response, error) {
	w := newAncestryWalk(req, budget{blocks: maxRecords, bytes: s.cfg.maxBytes - responseOverhead})
	for len(w.queue) > 0 {
		q := w.queue[0]
		if q.depth > maxDepth || ctx.Err() != nil {
			break // breadth first: everything queued is as deep or deeper
		}
		blocks, err := s.src.Resolve(ctx, q.out)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return nil, err
		}
		blocks = slices.DeleteFunc(blocks, func(b lineage.Block) bool { return !servable(b) })
		if len(blocks) == 0 {
			// Not held here: it moves from the queue to the missing
			// list, its cost already counted.
			w.resp.Missing = append(w.resp.Missing, q.out)
			w.queue = w.queue[1:]
			continue
		}
		e := w.expand(q, blocks)
		if !e.all && (len(w.resp.Blocks) > 0 || len(e.taken) == 0) {
			break
		}
		w.commit(e)
		if !e.all {
			break
		}
	}
	return w.response(), nil
}

// ancestryWalk is the state of one serveAncestry: the response so far,
// the budget left, and the queue of outputs still to expand.
type ancestryWalk struct {
	resp    *Response
	left    budget
	skip    map[cid.Cid]bool
	seenOut map[cid.Cid]bool // queued, expanded, missing or skipped
	seenRec map[cid.Cid]bool // served
	queue   []queued
}

// newAncestryWalk queues the requested outputs, each once, their cost
// taken from left.
func newAncestryWalk(req *Request, left budget) *ancestryWalk {
	w := &ancestryWalk{resp: &Response{}, left: left, skip: cidSetOf(req.Skip),
		seenOut: map[cid.Cid]bool{}, seenRec: map[cid.Cid]bool{}}
	for _, c := range req.CIDs {
		if !w.seenOut[c] {
			w.seenOut[c] = true
			w.queue = append(w.queue, queued{c, 0})
			w.left.bytes -= cidCost(c)
		}
	}
	return w
}

// expansion is what expanding one output would add: the records taken,
// the inputs they newly queue, and the budget left after.
type expansion struct {
	taken []lineage.Block
	next  []queued
	room  budget
	// all: every record of the output fit; else taken is a prefix.
	all bool
}

// expand takes the records of q (the queue's head), blocks, while they
// and the inputs they queue fit the budget and the frontier's bound. It
// changes nothing: commit does.
func (w *ancestryWalk) expand(q queued, blocks []lineage.Block) expansion {
	// The popped output leaves the frontier: its cost comes back.
	e := expansion{room: w.left, all: true}
	e.room.bytes += cidCost(q.out)
	pending := map[cid.Cid]bool{}
	for _, b := range blocks {
		if w.seenRec[b.CID] || pending[b.CID] {
			continue
		}
		// Decode to find the inputs; a block that does not decode
		// is not served (the client could not use it either).
		r, err := lineage.DecodeBlock(b.CID, b.Data)
		if err != nil {
			slog.Debug("fetch: local record does not decode", "cid", b.CID, "err", err)
			continue
		}
		cost := blockCost(b)
		var add []queued
		for _, in := range r.Inputs {
			if !w.seenOut[in] && !pending[in] && !w.skip[in] {
				add = append(add, queued{in, q.depth + 1})
				cost += cidCost(in)
			}
		}
		listed := len(w.queue) - 1 + len(e.next) + len(add) + len(w.resp.Missing)
		if e.room.blocks < 1 || e.room.bytes < cost || listed > MaxFrontier {
			e.all = false
			break
		}
		pending[b.CID] = true
		for _, a := range add {
			pending[a.out] = true
		}
		e.room.blocks--
		e.room.bytes -= cost
		e.taken = append(e.taken, b)
		e.next = append(e.next, add...)
	}
	return e
}

// commit serves the records of e and moves the queue on: its head out,
// e's inputs in.
func (w *ancestryWalk) commit(e expansion) {
	for _, b := range e.taken {
		w.seenRec[b.CID] = true
	}
	for _, n := range e.next {
		w.seenOut[n.out] = true
	}
	w.resp.Blocks = append(w.resp.Blocks, e.taken...)
	w.left = e.room
	w.queue = append(w.queue[1:], e.next...)
}

// response is the walk's response, what is left in the queue as its
// frontier.
func (w *ancestryWalk) response() *Response {
	if len(w.queue) > 0 {
		w.resp.Frontier = make([]cid.Cid, len(w.queue))
		for i, q := range w.queue {
			w.resp.Frontier[i] = q.out
		}
	}
	return w.resp
}

// limiters holds one token bucket per peer. Buckets that are full again
// are dropped when the map grows, as a new one would be the same.
type limiters struct {
	mu      sync.Mutex
	r       rate.Limit
	burst   int
	m       map[peer.ID]*rate.Limiter
	sweepAt int
}

const minSweep = 1024

func newLimiters(r rate.Limit, burst int) *limiters {
	return &limiters{r: r, burst: burst, m: map[peer.ID]*rate.Limiter{}, sweepAt: minSweep}
}

func (l *limiters) allow(p peer.ID) bool {
	if l.r == rate.Inf {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.m[p]
	if lim == nil {
		if len(l.m) >= l.sweepAt {
			now := time.Now()
			for id, old := range l.m {
				if old.TokensAt(now) >= float64(l.burst) {
					delete(l.m, id)
				}
			}
			l.sweepAt = max(minSweep, 2*len(l.m))
		}
		lim = rate.NewLimiter(l.r, l.burst)
		l.m[p] = lim
	}
	return lim.Allow()
}

// Fetch sends req to peer p and returns its response. Without a deadline on
// ctx it gives up after DefaultFetchTimeout. Errors name the peer; a
// response breaking the protocol wraps ErrBadResponse, a refusal is a
// *RemoteError. The blocks are not verified: see VerifiedBlocks.
func Fetch(ctx context.Context, h host.Host, p peer.ID, req Request) (*Response, error) {
	body, err := encodeRequest(&req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s from %s: bad request: %w", req.Op, p, err)
	}
	resp, err := roundTrip(ctx, h, p, body)
	if err != nil {
		var remote *RemoteError
		if errors.As(err, &remote) {
			return nil, fmt.Errorf("fetch %s: %w", req.Op, err) // names the peer
		}
		return nil, fmt.Errorf("fetch %s from %s: %w", req.Op, p, err)
	}
	if err := answers(&req, resp); err != nil {
		return nil, fmt.Errorf("fetch %s from %s: %w: %v", req.Op, p, ErrBadResponse, err)
	}
	return resp, nil
}

// roundTrip sends one request body and reads the response.
func roundTrip(ctx context.Context, h host.Host, p peer.ID, body []byte) (*Response, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultFetchTimeout)
		defer cancel()
	}
	st, err := h.NewStream(ctx, p, ProtocolID)
	if err != nil {
		return nil, fmt.Errorf("open stream: %w", err)
	}
	// A reset when ctx ends unblocks any read or write on every
	// transport, and ctx.Err() is set by then: no stream deadline, which
	// could fire first and hide that the deadline was the cause.
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	fail := func(err error) (*Response, error) {
		st.Reset()
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("%w (%v)", cerr, err)
		}
		return nil, err
	}
	if err := writeFrame(st, body); err != nil {
		return fail(fmt.Errorf("send request: %w", err))
	}
	if err := st.CloseWrite(); err != nil {
		return fail(fmt.Errorf("send request: %w", err))
	}
	frame, n, err := readFrame(st, MaxResponseSize)
	if err != nil {
		if errors.Is(err, errMalformed) {
			err = fmt.Errorf("%w: %v", ErrBadResponse, err)
		}
		return fail(err)
	}
	st.Close()
	resp, err := decodeResponse(frame)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	resp.Bytes = n
	if resp.Error != "" {
		return nil, &RemoteError{Peer: p, Msg: resp.Error}
	}
	return resp, nil
}

// answers checks that resp is an answer to req.
func answers(req *Request, resp *Response) error {
	switch req.Op {
	case OpHas:
		if len(resp.Has) != len(req.CIDs) || len(resp.Blocks) > 0 || len(resp.Frontier) > 0 || len(resp.Missing) > 0 {
			return fmt.Errorf("has: %d answers, %d blocks for %d CIDs", len(resp.Has), len(resp.Blocks), len(req.CIDs))
		}
		return nil
	case OpRecords:
		asked := cidSetOf(req.CIDs)
		for _, b := range resp.Blocks {
			if !asked[b.CID] {
				return fmt.Errorf("record %s was not asked for", b.CID)
			}
		}
		for _, c := range resp.Frontier {
			if !asked[c] {
				return fmt.Errorf("frontier %s was not asked for", c)
			}
		}
	case OpByOutput:
		asked := cidSetOf(req.CIDs)
		for _, c := range resp.Frontier {
			if !asked[c] {
				return fmt.Errorf("frontier %s was not asked for", c)
			}
		}
	case OpRevocations:
		if len(resp.Frontier) > 0 {
			return errors.New("frontier in answer to a request for revocations")
		}
	}
	if len(resp.Has) > 0 {
		return errors.New("has answers to a request for blocks")
	}
	if len(resp.Missing) > 0 && req.Op != OpAncestry {
		return errors.New("missing outputs in answer to a request that is not for an ancestry")
	}
	if req.MaxRecords > 0 && len(resp.Blocks) > req.MaxRecords {
		return fmt.Errorf("%d blocks (asked for at most %d)", len(resp.Blocks), req.MaxRecords)
	}
	return nil
}

func cidSetOf(cs []cid.Cid) map[cid.Cid]bool {
	m := make(map[cid.Cid]bool, len(cs))
	for _, c := range cs {
		m[c] = true
	}
	return m
}

// VerifiedBlocks opens every block of resp (CID, strict decoding,
// signature) and returns those that pass, with From set to the peer, and
// one error naming the peer for each that does not. A record that opens may
// still not be what was asked for (another output, say): lineage.Check
// judges that.
func VerifiedBlocks(resp *Response, from peer.ID) (good []lineage.Block, bad []error) {
	if resp == nil {
		return nil, nil
	}
	_, errs := lineage.OpenAll(resp.Blocks)
	for i, err := range errs {
		b := resp.Blocks[i]
		if err != nil {
			bad = append(bad, fmt.Errorf("record %s from peer %s: %w", b.CID, from, err))
			continue
		}
		b.From = from.String()
		good = append(good, b)
	}
	return good, bad
}
