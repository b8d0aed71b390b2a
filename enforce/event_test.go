package enforce

import (
	"encoding/json"
	"testing"
)

// An audit entry written before the content CID was named "output" still
// reads with its CID; a new one round-trips.
func TestEventJSON(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"legacy", `{"kind":"open","decision":"deny","cid":"bafk1","uid":0}`},
		{"current", `{"kind":"open","decision":"deny","output":"bafk1","uid":0}`},
	} {
		var e Event
		if err := json.Unmarshal([]byte(tc.in), &e); err != nil {
			t.Fatalf("%s: Unmarshal = %v", tc.name, err)
		}
		if e.CID != "bafk1" || e.Decision != "deny" {
			t.Errorf("%s: Unmarshal = %+v, want CID bafk1, decision deny", tc.name, e)
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back Event
		if err := json.Unmarshal(out, &back); err != nil || back.CID != "bafk1" {
			t.Errorf("%s: round trip %s = %+v, %v", tc.name, out, back, err)
		}
	}
}
