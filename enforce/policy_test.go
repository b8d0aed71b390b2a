package enforce

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/golden"
)

// TestParsePolicyFiles: every testdata/policies/good-*.yaml parses to its
// golden JSON (-update rewrites them); every bad-*.yaml is refused with
// the one-line error its first line names ("# want: ...").
func TestParsePolicyFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/policies/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no policy files: %v", err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			p, perr := ParsePolicy(name, bytes.NewReader(data))
			if strings.HasPrefix(name, "good-") {
				if perr != nil {
					t.Fatalf("ParsePolicy = %v", perr)
				}
				got, err := json.MarshalIndent(p, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				goldenFile := strings.TrimSuffix(f, ".yaml") + ".json"
				if golden.Updating() {
					if err := os.WriteFile(goldenFile, append(got, '\n'), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(goldenFile)
				if err != nil {
					t.Fatalf("%v (run with -update)", err)
				}
				if string(want) != string(got)+"\n" {
					t.Errorf("parsed:\n%s\nwant:\n%s", got, want)
				}
				return
			}
			first, _ := bufio.NewReader(bytes.NewReader(data)).ReadString('\n')
			want, ok := strings.CutPrefix(strings.TrimSpace(first), "# want: ")
			if !ok {
				t.Fatalf("%s: first line must be '# want: ERROR'", name)
			}
			if perr == nil {
				t.Fatalf("ParsePolicy accepted it, want %q", want)
			}
			if !errors.Is(perr, ErrPolicy) {
				t.Errorf("error %v does not wrap ErrPolicy", perr)
			}
			if msg := perr.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "\n") || !strings.HasPrefix(msg, name) {
				t.Errorf("error = %q, want one line starting with %q containing %q", msg, name, want)
			}
		})
	}
}

func TestPolicyCovers(t *testing.T) {
	p := &Policy{Spec: Spec{Scope: Scope{Paths: []string{"/srv/release/", "/opt/tool", "/"}}}}
	p2 := &Policy{Spec: Spec{Scope: Scope{Paths: []string{"/srv/release/", "/opt/tool"}}}}
	for _, tc := range []struct {
		path string
		want bool
	}{
		{"/srv/release/a.tar", true},
		{"/srv/release/sub/b", true},
		{"/srv/release", false}, // the directory itself is not under it
		{"/srv/releases/x", false},
		{"/opt/tool", true},
		{"/opt/tool/bin/x", true},
		{"/opt/tools", false},
		{"/etc/passwd", false},
	} {
		if got := p2.Covers(tc.path); got != tc.want {
			t.Errorf("Covers(%q) = %v, want %v", tc.path, got, tc.want)
		}
		if !p.Covers(tc.path) {
			t.Errorf("a policy over / does not cover %q", tc.path)
		}
	}
}

// FuzzParsePolicy: any input is a policy or an ErrPolicy error on one
// line; a parsed policy is valid (a second validation changes nothing).
func FuzzParsePolicy(f *testing.F) {
	files, _ := filepath.Glob("testdata/policies/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePolicy("fuzz.yaml", bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("error does not wrap ErrPolicy: %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error on more than one line: %q", err)
			}
			return
		}
		if p.Metadata.Name == "" || len(p.Spec.Rules) == 0 || len(p.Spec.Scope.Paths) == 0 {
			t.Fatalf("accepted an incomplete policy: %+v", p)
		}
		for _, r := range p.Spec.Rules {
			if r.Name() == "" {
				t.Fatalf("accepted an empty rule: %+v", p)
			}
		}
	})
}
