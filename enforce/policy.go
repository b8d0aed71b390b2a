package enforce

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	"go.yaml.in/yaml/v3"
)

// ErrPolicy is wrapped by every error about a malformed policy.
var ErrPolicy = errors.New("malformed policy")

// APIVersion and Kind are what a policy document must declare.
const (
	APIVersion = "bonsai/v1"
	Kind       = "Policy"
)

// MaxPolicySize bounds a policy document.
const MaxPolicySize = 256 << 10

// Mode says what a policy does with a deny.
type Mode string

const (
	// Enforce denies what the rules fail.
	Enforce Mode = "enforce"
	// Audit decides and logs, and never denies.
	Audit Mode = "audit"
)

// Policy is one parsed, validated policy.
type Policy struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Spec       Spec     `yaml:"spec" json:"spec"`
}

// Metadata names a policy.
type Metadata struct {
	Name string `yaml:"name" json:"name"`
}

// Spec is what a policy guards and how.
type Spec struct {
	Mode  Mode   `yaml:"mode" json:"mode"`
	Scope Scope  `yaml:"scope" json:"scope"`
	Rules []Rule `yaml:"rules" json:"rules"`
	// Revokers are peers whose revocations count besides a record's own
	// executor's.
	Revokers []string `yaml:"revokers,omitempty" json:"revokers,omitempty"`
}

// Scope is what a policy applies to: files opened or executed under one
// of Paths (absolute, cleaned; a trailing slash is a directory prefix).
type Scope struct {
	Paths []string `yaml:"paths" json:"paths"`
}

// Rule is one requirement; exactly one of its fields is set.
type Rule struct {
	VerifiedLineage *VerifiedLineage `yaml:"verifiedLineage,omitempty" json:"verifiedLineage,omitempty"`
	NotRevoked      *NotRevoked      `yaml:"notRevoked,omitempty" json:"notRevoked,omitempty"`
	Confidential    *Confidential    `yaml:"confidential,omitempty" json:"confidential,omitempty"`
}

// VerifiedLineage requires the file's ancestry to verify, Depth levels
// deep (0: lineage's default), every leaf a record when Full, and only
// the Trust executors when that is not empty.
type VerifiedLineage struct {
	Depth int      `yaml:"depth,omitempty" json:"depth,omitempty"`
	Full  bool     `yaml:"full,omitempty" json:"full,omitempty"`
	Trust []string `yaml:"trust,omitempty" json:"trust,omitempty"`
}

// NotRevoked requires no revocation that counts on the file's ancestry.
type NotRevoked struct{}

// Confidential marks data under the scope as confidential: a process that
// read it may connect only to AllowEgress (host:port, numeric).
type Confidential struct {
	AllowEgress []string `yaml:"allowEgress,omitempty" json:"allowEgress,omitempty"`
}

// Name is the rule's name as it is written in a policy.
func (r Rule) Name() string {
	switch {
	case r.VerifiedLineage != nil:
		return "verifiedLineage"
	case r.NotRevoked != nil:
		return "notRevoked"
	case r.Confidential != nil:
		return "confidential"
	}
	return ""
}

// maxDepth bounds verifiedLineage.depth (lineage's own bound).
const maxDepth = 1024

// nameRE and yamlLineRE are compiled when first needed, not at start-up
// of every command.
var nameRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)
})

// ParsePolicy reads one policy document. Unknown fields, a second
// document, a wrong apiVersion or kind and values out of range are
// refused with the line and the field; name says where the text came
// from (a file name) in the error.
func ParsePolicy(name string, r io.Reader) (*Policy, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read policy: %w", name, err)
	}
	if len(data) > MaxPolicySize {
		return nil, &PolicyError{File: name, Msg: fmt.Sprintf("larger than %d bytes", MaxPolicySize)}
	}
	perr := func(line int, field, format string, args ...any) error {
		return &PolicyError{File: name, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, perr(0, "", "empty document")
		}
		line, msg := yamlMessage(err)
		return nil, perr(line, "", "%s", msg)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := 0
		if err == nil {
			line = extra.Line
		}
		return nil, perr(line, "", "one policy per file (a second document follows)")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, perr(doc.Line, "", "want a mapping with apiVersion, kind, metadata and spec")
	}
	if err := checkFields(doc.Content[0], "", "", perr); err != nil {
		return nil, err
	}
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	var p Policy
	if err := strict.Decode(&p); err != nil {
		line, msg := yamlMessage(err)
		return nil, perr(line, "", "%s", msg)
	}
	if err := p.validate(doc.Content[0], perr); err != nil {
		return nil, err
	}
	return &p, nil
}

type perrFunc func(line int, field, format string, args ...any) error

var yamlLineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^line (\d+): (.*)$`) })

// yamlMessage is a yaml error's line (0: none given) and its message on
// one line, without the package's prefixes (the first of several).
func yamlMessage(err error) (int, string) {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg, _, _ = strings.Cut(strings.TrimSpace(msg), "\n")
	if m := yamlLineRE().FindStringSubmatch(msg); m != nil {
		if line, err := strconv.Atoi(m[1]); err == nil {
			return line, m[2]
		}
	}
	return 0, msg
}

// PolicyError is a malformed policy: where (file, line when known, the
// field's place in the policy) and what is wrong. It matches ErrPolicy.
type PolicyError struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *PolicyError) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field != "" {
		where += ": " + e.Field
	}
	return where + ": " + e.Msg
}

// Is makes every PolicyError match ErrPolicy.
func (e *PolicyError) Is(target error) bool { return target == ErrPolicy }

// fields lists the keys each mapping may hold, by its dotted path (rules
// items as "spec.rules[]").
var fields = map[string][]string{
	"":                             {"apiVersion", "kind", "metadata", "spec"},
	"metadata":                     {"name"},
	"spec":                         {"mode", "scope", "rules", "revokers"},
	"spec.scope":                   {"paths"},
	"spec.rules[]":                 {"verifiedLineage", "notRevoked", "confidential"},
	"spec.rules[].verifiedLineage": {"depth", "full", "trust"},
	"spec.rules[].notRevoked":      {},
	"spec.rules[].confidential":    {"allowEgress"},
}

// checkFields refuses unknown and repeated keys anywhere, with the line
// and the field's place (shown, with rule indexes): the strict decoder
// would refuse them too, but without naming the place. schema is the
// mapping's path in fields.
func checkFields(n *yaml.Node, schema, shown string, perr perrFunc) error {
	allowed, known := fields[schema]
	if n.Kind != yaml.MappingNode {
		if known && !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
			return perr(n.Line, shown, "want a mapping")
		}
		return nil
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := joinField(shown, k.Value)
		if known && !contains(allowed, k.Value) {
			return perr(k.Line, field, "unknown field (want one of %s)", strings.Join(allowed, ", "))
		}
		if seen[k.Value] {
			return perr(k.Line, field, "given twice")
		}
		seen[k.Value] = true
		if v.Kind == yaml.SequenceNode && schema == "spec" && k.Value == "rules" {
			for j, item := range v.Content {
				at := fmt.Sprintf("spec.rules[%d]", j)
				if item.Kind != yaml.MappingNode || len(item.Content) != 2 {
					return perr(item.Line, at, "want exactly one rule (verifiedLineage, notRevoked or confidential)")
				}
				if err := checkFields(item, "spec.rules[]", at, perr); err != nil {
					return err
				}
			}
			continue
		}
		if err := checkFields(v, joinField(schema, k.Value), field, perr); err != nil {
			return err
		}
	}
	return nil
}

func joinField(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// nodeAt finds the value node at a dotted path of keys (integers index
// sequences) under a mapping, for the line of a field.
func nodeAt(n *yaml.Node, path ...any) *yaml.Node {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return n
			}
			next := (*yaml.Node)(nil)
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				return n
			}
			n = next
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return n
			}
			n = n.Content[k]
		}
	}
	return n
}

func (p *Policy) validate(root *yaml.Node, perr perrFunc) error {
	line := func(path ...any) int { return nodeAt(root, path...).Line }
	if p.APIVersion != APIVersion {
		return perr(line("apiVersion"), "apiVersion", "%q, want %q", p.APIVersion, APIVersion)
	}
	if p.Kind != Kind {
		return perr(line("kind"), "kind", "%q, want %q", p.Kind, Kind)
	}
	if !nameRE().MatchString(p.Metadata.Name) {
		return perr(line("metadata", "name"), "metadata.name", "%q: want 1-63 lower-case letters, digits, '-' or '.'", p.Metadata.Name)
	}
	switch p.Spec.Mode {
	case Enforce, Audit:
	case "":
		return perr(line("spec"), "spec.mode", "missing (enforce or audit)")
	default:
		return perr(line("spec", "mode"), "spec.mode", "%q, want enforce or audit", p.Spec.Mode)
	}
	if len(p.Spec.Scope.Paths) == 0 {
		return perr(line("spec", "scope"), "spec.scope.paths", "missing: a policy guards files under at least one path")
	}
	for i, path := range p.Spec.Scope.Paths {
		if !filepath.IsAbs(path) {
			return perr(line("spec", "scope", "paths", i), fmt.Sprintf("spec.scope.paths[%d]", i), "%q is not absolute", path)
		}
		clean := filepath.Clean(path)
		if strings.HasSuffix(path, "/") && clean != "/" {
			clean += "/"
		}
		p.Spec.Scope.Paths[i] = clean
	}
	if len(p.Spec.Rules) == 0 {
		return perr(line("spec"), "spec.rules", "missing: a policy has at least one rule")
	}
	for i, r := range p.Spec.Rules {
		field := fmt.Sprintf("spec.rules[%d]", i)
		switch {
		case r.VerifiedLineage != nil:
			v := r.VerifiedLineage
			if v.Depth < 0 || v.Depth > maxDepth {
				return perr(line("spec", "rules", i, "verifiedLineage", "depth"), field+".verifiedLineage.depth", "%d, want 0 (default) to %d", v.Depth, maxDepth)
			}
			for j, s := range v.Trust {
				if _, err := peer.Decode(s); err != nil {
					return perr(line("spec", "rules", i, "verifiedLineage", "trust", j), fmt.Sprintf("%s.verifiedLineage.trust[%d]", field, j), "%q is not a peer ID", s)
				}
			}
		case r.Confidential != nil:
			for j, s := range r.Confidential.AllowEgress {
				if _, err := netip.ParseAddrPort(s); err != nil {
					return perr(line("spec", "rules", i, "confidential", "allowEgress", j), fmt.Sprintf("%s.confidential.allowEgress[%d]", field, j), "%q: want a numeric IP:port", s)
				}
			}
		case r.NotRevoked != nil:
		default:
			// A rule with nothing under it ("- notRevoked:") is that rule
			// with its defaults.
			item := nodeAt(root, "spec", "rules", i)
			switch item.Content[0].Value {
			case "verifiedLineage":
				p.Spec.Rules[i].VerifiedLineage = &VerifiedLineage{}
			case "notRevoked":
				p.Spec.Rules[i].NotRevoked = &NotRevoked{}
			case "confidential":
				p.Spec.Rules[i].Confidential = &Confidential{}
			}
		}
	}
	for i, s := range p.Spec.Revokers {
		if _, err := peer.Decode(s); err != nil {
			return perr(line("spec", "revokers", i), fmt.Sprintf("spec.revokers[%d]", i), "%q is not a peer ID", s)
		}
	}
	return nil
}

// Covers reports whether path (absolute, clean) is in the policy's scope.
func (p *Policy) Covers(path string) bool {
	for _, s := range p.Spec.Scope.Paths {
		if strings.HasSuffix(s, "/") {
			if strings.HasPrefix(path, s) {
				return true
			}
		} else if path == s || strings.HasPrefix(path, s+"/") {
			return true
		}
	}
	return false
}
