package node

// The wire of the local API: every request and answer is a named type
// here, encoded as JSON, and both the server (api.go) and the client
// (client.go) use these and nothing else. An endpoint of one record or
// output names it in the query parameter cid; the other query parameters
// are the fields of a named query type (APIAuditQuery, APIHashQuery) that
// encodes and parses itself, or a policy's name. An error answer is an
// APIError with a status other than 200.

import (
	"fmt"
	"net/url"
	"time"

	"github.com/bonsai-lineage/bonsai/enforce"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

// The local API's endpoints, each with the type of its answer; "?cid="
// marks one that names its record or output in the query.
const (
	apiID          = "/v1/id"          // GET: APIInfo
	apiPut         = "/v1/put"         // POST APIPut: APIAdded
	apiResolve     = "/v1/resolve"     // GET ?cid=: []APIBlock (502: unreachable)
	apiRecord      = "/v1/record"      // GET ?cid=: APIBlock (404: not held)
	apiClaims      = "/v1/claims"      // GET ?cid=: []APIClaim
	apiPaths       = "/v1/paths"       // GET ?cid=: []string
	apiAncestry    = "/v1/ancestry"    // GET ?cid=: APIAncestry
	apiStatus      = "/v1/status"      // GET ?cid=: APIStatus
	apiPin         = "/v1/pin"         // POST ?cid=: APIPin
	apiUnpin       = "/v1/unpin"       // POST ?cid=: APIUnpinned
	apiPins        = "/v1/pins"        // GET: []APIPin
	apiGC          = "/v1/gc"          // POST: store.GCStats
	apiPolicy      = "/v1/policy"      // POST APIPolicy: APIPolicy
	apiPolicyRm    = "/v1/policy/rm"   // POST ?name=: APIPolicyRemoved
	apiPolicies    = "/v1/policies"    // GET: []APIPolicy
	apiEnforcement = "/v1/enforcement" // GET: EnforcementStatus
	apiAudit       = "/v1/audit"       // GET APIAuditQuery: APIAudit
	apiHash        = "/v1/hash"        // GET APIHashQuery: APIHash
	apiRevocations = "/v1/revocations" // GET: APIRevocations; POST APIRevocations: APIAdded
	apiRevoke      = "/v1/revoke"      // POST APIRevoke: APIRevoked

	// The query parameters naming a record or output, and a policy.
	apiCIDParam  = "cid"
	apiNameParam = "name"
)

// Bounds of the local API's bodies.
const (
	// maxAPIBody bounds a request to the local API; a policy and a
	// revoke have bounds of their own.
	maxAPIBody       = 64 << 20
	maxAPIPolicyBody = 2 * enforce.MaxPolicySize
	maxAPIRevokeBody = 64 << 10
	// maxAPIAnswer bounds an answer the client reads.
	maxAPIAnswer = 256 << 20
)

// APIError is the body of every error answer.
type APIError struct {
	Error string `json:"error"`
}

// APIInfo is GET /v1/id: who the daemon is, where it listens, how many
// peers it has, and its fetch counters since it started.
type APIInfo struct {
	ID    string     `json:"id"`
	Addrs []string   `json:"addrs"`
	Peers int        `json:"peers"`
	Stats FetchStats `json:"stats"`
}

// APIBlock is a record block on the wire of the local API.
type APIBlock struct {
	CID  string `json:"cid"`
	Data []byte `json:"data"`
	From string `json:"from,omitempty"`
}

// APIPut is the body of POST /v1/put: blocks to store (verified there)
// and paths to index, path → content CID.
type APIPut struct {
	Blocks []APIBlock        `json:"blocks"`
	Paths  map[string]string `json:"paths,omitempty"`
}

// APIAdded is the answer of POST /v1/put and POST /v1/revocations: how
// many blocks were new.
type APIAdded struct {
	Added int `json:"added"`
}

// APIClaim is one entry of /v1/claims.
type APIClaim struct {
	Record string `json:"record"`
	Time   int64  `json:"time"`
	Data   []byte `json:"data"`
}

// APIAncestry is GET /v1/ancestry: the records claiming the output
// (roots) and every block below them that the store holds.
type APIAncestry struct {
	Roots  []string   `json:"roots"`
	Blocks []APIBlock `json:"blocks"`
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

// APIPin is a pin on the wire and in `bonsai pins --json`.
type APIPin struct {
	Output   string   `json:"output"`
	Roots    []string `json:"roots"`
	Records  int      `json:"records"`
	Bytes    int64    `json:"bytes"`
	PinnedAt string   `json:"pinned_at"`
}

// APIUnpinned is the answer of POST /v1/unpin.
type APIUnpinned struct {
	Unpinned string `json:"unpinned"`
}

// APIPolicy is a policy on the wire and in `bonsai policy list --json`:
// applying sends File (for errors) and YAML; answers carry the parsed
// Policy.
type APIPolicy struct {
	Name   string          `json:"name,omitempty"`
	File   string          `json:"file,omitempty"`
	YAML   string          `json:"yaml,omitempty"`
	Policy *enforce.Policy `json:"policy,omitempty"`
}

// APIPolicyRemoved is the answer of POST /v1/policy/rm.
type APIPolicyRemoved struct {
	Removed string `json:"removed"`
}

// APIAudit is the audit log on the wire and in `bonsai audit --json`.
type APIAudit struct {
	Events  []enforce.Event `json:"events"`
	Dropped uint64          `json:"dropped"`
}

// APIAuditQuery is the query of GET /v1/audit: the entries since Since
// (zero: all), of policy Policy (empty: any).
type APIAuditQuery struct {
	Since  time.Time
	Policy string
}

func (q APIAuditQuery) encode() url.Values {
	v := url.Values{"policy": {q.Policy}}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	return v
}

func parseAuditQuery(v url.Values) (APIAuditQuery, error) {
	q := APIAuditQuery{Policy: v.Get("policy")}
	if s := v.Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, fmt.Errorf("since: %w", err)
		}
		q.Since = t
	}
	return q, nil
}

// APIHashQuery is the query of GET /v1/hash: the absolute Path to hash
// with the hash function named Hash (empty: sha2-256).
type APIHashQuery struct {
	Path string
	Hash string
}

func (q APIHashQuery) encode() url.Values {
	return url.Values{"path": {q.Path}, "hash": {q.Hash}}
}

func parseHashQuery(v url.Values) APIHashQuery {
	q := APIHashQuery{Path: v.Get("path"), Hash: v.Get("hash")}
	if q.Hash == "" {
		q.Hash = "sha2-256"
	}
	return q
}

// APIHash is the answer of GET /v1/hash: the file's content CID, never
// its content.
type APIHash struct {
	CID string `json:"cid"`
}

// APIRevocations is revocation blocks on the wire: the answer of GET
// /v1/revocations and the body of POST /v1/revocations.
type APIRevocations struct {
	Blocks [][]byte `json:"blocks"`
}

// APIRevoke is the body of POST /v1/revoke: the daemon signs a revocation
// of Record with its key and publishes it.
type APIRevoke struct {
	Record string `json:"record"`
	Reason string `json:"reason"`
}

// APIRevoked is the answer of POST /v1/revoke: the revocation's CID.
type APIRevoked struct {
	Revocation string `json:"revocation"`
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

func toAPIPaths(paths map[string]cid.Cid) map[string]string {
	out := make(map[string]string, len(paths))
	for p, c := range paths {
		out[p] = c.String()
	}
	return out
}

func fromAPIPaths(paths map[string]string) (map[string]cid.Cid, error) {
	out := make(map[string]cid.Cid, len(paths))
	for p, s := range paths {
		c, err := cid.Decode(s)
		if err != nil {
			return nil, fmt.Errorf("path %s: %w", p, err)
		}
		out[p] = c
	}
	return out, nil
}

func toAPIClaims(claims []store.Claim) []APIClaim {
	out := make([]APIClaim, len(claims))
	for i, cl := range claims {
		out[i] = APIClaim{Record: cl.Record.String(), Time: cl.Time, Data: cl.Data}
	}
	return out
}

func fromAPIClaims(cs []APIClaim) ([]store.Claim, error) {
	out := make([]store.Claim, len(cs))
	for i, c := range cs {
		rc, err := cid.Decode(c.Record)
		if err != nil {
			return nil, err
		}
		out[i] = store.Claim{Record: rc, Time: c.Time, Data: c.Data}
	}
	return out, nil
}

func toAPIStrings(cs []cid.Cid) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

func fromAPIStrings(ss []string) ([]cid.Cid, error) {
	var out []cid.Cid
	for _, s := range ss {
		c, err := cid.Decode(s)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// APIPinOf converts a pin for the wire and for display.
func APIPinOf(p store.PinInfo) APIPin {
	j := APIPin{Output: p.Output.String(), Records: p.Records, Bytes: p.Bytes, PinnedAt: p.PinnedAt.UTC().Format(time.RFC3339)}
	for _, r := range p.Roots {
		j.Roots = append(j.Roots, r.String())
	}
	return j
}

// APIPoliciesOf converts the stored policies for the wire and for
// display.
func APIPoliciesOf(ps []store.StoredPolicy) []APIPolicy {
	out := make([]APIPolicy, len(ps))
	for i, p := range ps {
		out[i] = APIPolicy{Name: p.Name, YAML: string(p.YAML), Policy: p.Policy}
	}
	return out
}

func revocationBlocks(ds [][]byte) []lineage.Block {
	out := make([]lineage.Block, len(ds))
	for i, d := range ds {
		out[i] = lineage.Block{CID: lineage.RecordCID(d), Data: d}
	}
	return out
}

func revocationData(bs []lineage.Block) [][]byte {
	out := make([][]byte, len(bs))
	for i, b := range bs {
		out[i] = b.Data
	}
	return out
}
