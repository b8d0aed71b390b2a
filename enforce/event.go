package enforce

import (
	"encoding/json"
	"time"
)

// Event is one enforcement decision as the audit log keeps it.
type Event struct {
	Time     time.Time     `json:"time"`
	Kind     string        `json:"kind"` // open, exec, connect, gap
	Policy   string        `json:"policy,omitempty"`
	Rule     string        `json:"rule,omitempty"`
	Mode     Mode          `json:"mode,omitempty"`
	Decision string        `json:"decision"` // allow, deny, audit-deny (audit mode: would deny)
	Path     string        `json:"path,omitempty"`
	CID      string        `json:"output,omitempty"`
	Dest     string        `json:"dest,omitempty"`
	PID      int32         `json:"pid,omitempty"`
	Program  string        `json:"program,omitempty"`
	UID      int           `json:"uid"`
	Reason   string        `json:"reason,omitempty"`
	Latency  time.Duration `json:"latency_ns,omitempty"`
	Cached   bool          `json:"cached,omitempty"`
}

// decisionWord is an Event's decision for d.
func decisionWord(d Decision) string {
	switch {
	case !d.Fails:
		return "allow"
	case d.Allow:
		return "audit-deny"
	}
	return "deny"
}

// UnmarshalJSON reads an event, also as audit logs written before the
// content CID was named "output" kept it ("cid").
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	var v struct {
		plain
		Legacy string `json:"cid"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*e = Event(v.plain)
	if e.CID == "" {
		e.CID = v.Legacy
	}
	return nil
}
