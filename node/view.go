package node

import (
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
)

// The JSON form of records and of a checked ancestry's nodes, one for
// every view: the CLI's --json (verify, show, log) and the web view. A
// record's CID is "record", the content it names "output", its inputs'
// contents "inputs"; lists are [], never null.

// RecordView is one record, with its verdict when it was judged.
type RecordView struct {
	Record     string   `json:"record"`
	Output     string   `json:"output,omitempty"`
	Verdict    string   `json:"verdict,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	From       string   `json:"from,omitempty"`
	Executor   string   `json:"executor,omitempty"`
	UID        uint32   `json:"uid"`
	Program    string   `json:"program,omitempty"`
	Time       string   `json:"time,omitempty"`
	Incomplete bool     `json:"incomplete,omitempty"`
	Inputs     []string `json:"inputs"`
	// MoreInputs counts inputs left out of a bounded view (the web view's).
	MoreInputs int `json:"more_inputs,omitempty"`
}

// NodeView is one content of a checked ancestry: its verdict and the
// records claiming it.
type NodeView struct {
	Output  string       `json:"output"`
	Path    string       `json:"path,omitempty"`
	Depth   int          `json:"depth"`
	Verdict string       `json:"verdict"`
	Reason  string       `json:"reason,omitempty"`
	OK      bool         `json:"ok"`
	Inputs  []string     `json:"inputs"`
	Records []RecordView `json:"records"`
	// MoreRecords counts records left out of a bounded view.
	MoreRecords int `json:"more_records,omitempty"`
}

// bound cuts v to at most maxRecords records of at most maxInputs inputs
// each, counting what it leaves out.
func (v *NodeView) bound(maxRecords, maxInputs int) {
	if len(v.Records) > maxRecords {
		v.MoreRecords = len(v.Records) - maxRecords
		v.Records = v.Records[:maxRecords]
	}
	for i := range v.Records {
		r := &v.Records[i]
		if len(r.Inputs) > maxInputs {
			r.MoreInputs = len(r.Inputs) - maxInputs
			r.Inputs = r.Inputs[:maxInputs]
		}
	}
}

// ViewRecord is record r (nil: only its CID c is known) as JSON.
func ViewRecord(c cid.Cid, r *lineage.Record) RecordView {
	v := RecordView{Record: c.String(), Inputs: []string{}}
	if r == nil {
		return v
	}
	v.Output = r.Output.String()
	v.Executor = r.Executor.Peer.String()
	v.UID = r.Executor.UID
	if r.Program.Defined() {
		v.Program = r.Program.String()
	}
	v.Time = r.TimeOf().Format(time.RFC3339)
	v.Incomplete = r.Incomplete
	v.Inputs = toAPIStrings(r.Inputs)
	return v
}

// ViewCheck is a judged record as JSON, with its verdict.
func ViewCheck(rc lineage.RecordCheck) RecordView {
	v := ViewRecord(rc.CID, rc.Record)
	v.Verdict, v.Reason, v.From = rc.Verdict.String(), rc.Reason, rc.From
	return v
}

// ViewNode is node n of a checked ancestry as JSON; path is its local
// path ("" when none is known).
func ViewNode(n *lineage.Node, path string) NodeView {
	v := NodeView{
		Output: n.Output.String(), Path: path, Depth: n.Depth, Verdict: n.Verdict.String(),
		Reason: n.Reason, OK: n.OK, Inputs: toAPIStrings(n.Inputs), Records: []RecordView{},
	}
	for _, rc := range n.Records {
		v.Records = append(v.Records, ViewCheck(rc))
	}
	return v
}

// ResultView is the verdict on a checked ancestry: its target, whether it
// verified, the nodes per verdict, the records, the records per executor.
type ResultView struct {
	Target   string `json:"target"`
	Verified bool   `json:"verified"`
	// Complete is false when a deadline or a signal cut the check short:
	// then "verified": false is no verdict. The caller knows and sets it.
	Complete  bool           `json:"complete"`
	Counts    map[string]int `json:"counts"`
	Records   int            `json:"records"`
	Executors map[string]int `json:"executors"`
}

// ViewResult is res's verdict as JSON (Complete left to the caller).
func ViewResult(res *lineage.Result) ResultView {
	v := ResultView{
		Target: res.Root.String(), Verified: res.Verified, Records: res.Records,
		Counts: map[string]int{}, Executors: map[string]int{},
	}
	for verdict, k := range res.Counts {
		v.Counts[verdict.String()] = k
	}
	for p, k := range res.Executors {
		v.Executors[p.String()] = k
	}
	return v
}
