package ancestry

import (
	"regexp"
	"testing"

	"github.com/bonsai-lineage/bonsai/lineage"
)

// TestEveryVerdictHasAStyle: a new verdict in lineage needs a style here
// (styleNamed panics without one), and a class name safe in DOT and
// Mermaid.
func TestEveryVerdictHasAStyle(t *testing.T) {
	name := regexp.MustCompile(`^[a-z_]+$`)
	colour := regexp.MustCompile(`^#[0-9a-f]{6}$`)
	for _, s := range graphStyles {
		if !name.MatchString(s.Name) || !colour.MatchString(s.Fill) || !colour.MatchString(s.Stroke) || s.Legend == "" {
			t.Errorf("style %+v: want a name of [a-z_], #rrggbb colours and a legend", s)
		}
	}
	for v := lineage.Verified; v <= lineage.LimitReached; v++ {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("verdict %s has no style: %v", v, r)
				}
			}()
			styleNamed(verdictStyle(v))
		}()
	}
	// A content is drawn in its verdict's style, a verified one whose
	// ancestry fails told apart.
	for _, tc := range []struct {
		c     Content
		style string
	}{
		{Content{Verdict: lineage.Verified, OK: true}, "verified"},
		{Content{Verdict: lineage.Verified, OK: false}, "ancestry_fails"},
		{Content{Verdict: lineage.Source, OK: true}, "source"},
		{Content{Verdict: lineage.BadSignature}, "bad_signature"},
		{Content{Verdict: lineage.NoRecord}, "no_record"},
	} {
		if got := contentStyle(tc.c); got != tc.style {
			t.Errorf("contentStyle(%s, ok %v) = %s, want %s", tc.c.Verdict, tc.c.OK, got, tc.style)
		}
	}
}
