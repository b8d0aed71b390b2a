package lineage

import "fmt"

// Verdict is what CheckLineage concluded about one node of an ancestry (an
// output CID) or one record claiming it.
type Verdict int

// Verdicts, from best to worst. A node passes when it is Verified, or,
// unless full ancestry is demanded, a Source or beyond the depth the caller
// asked for; every other verdict fails it and every descendant.
const (
	Verified        Verdict = iota // a record verified and so did its whole ancestry's nodes
	Source                         // no record anywhere: a leaf of the ancestry
	DepthLimit                     // not checked: deeper than the depth asked for
	Incomplete                     // record verified but the capture missed something
	Untrusted                      // signature good, executor not among the trusted
	UnknownExecutor                // executor's key cannot be recovered from its ID
	BadSignature                   // signature does not verify
	Invalid                        // record malformed, or not the block its CID names
	Revoked                        // the output, a record or its executor was revoked
	Cycle                          // an input is its own descendant
	NoRecord                       // no record, where one is required
	Unreachable                    // records exist but their holders cannot be reached
	LimitReached                   // not checked: record budget or deadline exhausted
)

var verdictNames = [...]string{
	Verified:        "verified",
	Source:          "source",
	DepthLimit:      "depth-limit",
	Incomplete:      "incomplete",
	Untrusted:       "untrusted",
	UnknownExecutor: "unknown-executor",
	BadSignature:    "bad-signature",
	Invalid:         "invalid",
	Revoked:         "revoked",
	Cycle:           "cycle",
	NoRecord:        "no-record",
	Unreachable:     "unreachable",
	LimitReached:    "limit-reached",
}

func (v Verdict) String() string {
	if v >= 0 && int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// MarshalText writes the verdict's name, for JSON.
func (v Verdict) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText reads a verdict's name.
func (v *Verdict) UnmarshalText(b []byte) error {
	for i, n := range verdictNames {
		if n == string(b) {
			*v = Verdict(i)
			return nil
		}
	}
	return fmt.Errorf("unknown verdict %q", b)
}

// Passes reports whether a node with this verdict lets its descendants
// verify. A full check (requireFull) passes only records all the way
// down: a source with no record, or a node the depth limit left
// unchecked, fails it.
func (v Verdict) Passes(requireFull bool) bool {
	switch v {
	case Verified:
		return true
	case Source, DepthLimit:
		return !requireFull
	}
	return false
}
