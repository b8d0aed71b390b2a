package dht

import "testing"

// TestAncestryKey: one key per output, distinct from the output and from
// every other output's key, the same every time.
func TestAncestryKey(t *testing.T) {
	a, b := outputCID("a"), outputCID("b")
	ka, kb := AncestryKey(a), AncestryKey(b)
	switch {
	case !ka.Equals(AncestryKey(a)):
		t.Error("AncestryKey(a) differs between calls")
	case ka.Equals(a) || ka.Equals(kb):
		t.Errorf("AncestryKey(a) = %s: equals a (%s) or AncestryKey(b) (%s)", ka, a, kb)
	}
}
