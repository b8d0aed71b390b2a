package ancestry

import (
	"strings"

	"github.com/bonsai-lineage/bonsai/lineage"
)

// graphStyle is how a graph draws one verdict (or the cut), whatever the
// format: passing green, source and unchecked grey, failing red or orange.
type graphStyle struct {
	Name   string // a class name: letters and underscores only
	Legend string // its line in the legend
	Fill   string
	Stroke string
	Dashed bool
}

// Styles in the legend's order. A verdict's style is named after it
// (hyphens made underscores); "ancestry_fails" is a content whose own
// record verified but whose ancestry fails; "cut" is the summary of the
// levels past Depth ("cut_failing" when some of them fail).
var graphStyles = []graphStyle{
	{"verified", "verified", "#d8f3d8", "#2e7d32", false},
	{"ancestry_fails", "verified, ancestry fails", "#fff1c2", "#b26a00", false},
	{"source", "source (no record)", "#ececec", "#757575", false},
	{"depth_limit", "depth-limit (not checked)", "#f6f6f6", "#9e9e9e", true},
	{"incomplete", "incomplete", "#ffe1c7", "#d35400", false},
	{"untrusted", "untrusted", "#fbd5d5", "#c62828", false},
	{"unknown_executor", "unknown-executor", "#fbd5d5", "#c62828", false},
	{"bad_signature", "bad-signature", "#f7b9b9", "#b71c1c", false},
	{"invalid", "invalid", "#f7b9b9", "#b71c1c", false},
	{"revoked", "revoked", "#f7b9b9", "#b71c1c", false},
	{"cycle", "cycle", "#f7b9b9", "#b71c1c", false},
	{"no_record", "no-record", "#fbd5d5", "#c62828", false},
	{"unreachable", "unreachable", "#fde3e3", "#c62828", true},
	{"limit_reached", "limit-reached (not checked)", "#fde3e3", "#c62828", true},
	{"cut", "levels past the cut", "#f6f6f6", "#616161", true},
	{"cut_failing", "levels past the cut, some failing", "#fde3e3", "#b71c1c", true},
}

// styleNamed is the style called name (every name used is in graphStyles).
func styleNamed(name string) graphStyle {
	for _, s := range graphStyles {
		if s.Name == name {
			return s
		}
	}
	panic("cli: no graph style " + name)
}

func verdictStyle(v lineage.Verdict) string { return strings.ReplaceAll(v.String(), "-", "_") }

// contentStyle is the style of a content: its verdict's, but a verified
// content whose ancestry fails is told apart.
func contentStyle(c Content) string {
	if c.Verdict == lineage.Verified && !c.OK {
		return "ancestry_fails"
	}
	return verdictStyle(c.Verdict)
}

func cutStyle(c *Cut) string {
	if c.Failing > 0 {
		return "cut_failing"
	}
	return "cut"
}

// usedStyles are the styles g draws with, in the legend's order.
func usedStyles(g *Graph) []graphStyle {
	used := map[string]bool{}
	for _, c := range g.Contents {
		used[contentStyle(c)] = true
	}
	for _, r := range g.Records {
		used[verdictStyle(r.Verdict)] = true
	}
	if g.Cut != nil {
		used[cutStyle(g.Cut)] = true
	}
	var out []graphStyle
	for _, s := range graphStyles {
		if used[s.Name] {
			out = append(out, s)
		}
	}
	return out
}
