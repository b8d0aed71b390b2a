// Package golden holds the tests' golden files: one -update flag that
// rewrites them from what the code produces, and a reader for data-driven
// case files (a script, "----", the expected output), as pebble keeps its
// test cases in testdata.
package golden

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// update is the one -update flag of every test binary that imports this
// package: golden files (cli/testdata/*.golden, case files) and committed
// fuzz seed corpora.
var update = flag.Bool("update", false, "rewrite golden files and fuzz seed corpora from what the code produces")

// Updating reports whether the tests run with -update.
func Updating() bool { return *update }

// Case is one data-driven case: comment lines (#) before it, its name, its
// input lines, and its expected output lines.
type Case struct {
	Comment []string
	Name    string
	Input   []string
	Want    []string
	Line    int // where the case starts in its file
}

// ReadCases reads a case file:
//
//	# comment
//	case NAME
//	input line
//	----
//	expected line
//	(blank line)
func ReadCases(t *testing.T, path string) []Case {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []Case
	var cur *Case
	var comment []string
	inWant := false
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case cur == nil && strings.HasPrefix(line, "#"):
			comment = append(comment, line)
		case cur == nil && strings.HasPrefix(line, "case "):
			cases = append(cases, Case{Comment: comment, Name: strings.TrimPrefix(line, "case "), Line: i + 1})
			cur, comment, inWant = &cases[len(cases)-1], nil, false
		case cur == nil && strings.TrimSpace(line) == "":
		case cur == nil:
			t.Fatalf("%s:%d: %q outside a case", path, i+1, line)
		case line == "----":
			inWant = true
		case strings.TrimSpace(line) == "" && inWant:
			cur = nil
		case inWant:
			cur.Want = append(cur.Want, line)
		case strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#"):
		default:
			cur.Input = append(cur.Input, line)
		}
	}
	return cases
}

// WriteCases rewrites a case file with each case's output replaced by
// got[i] (under -update).
func WriteCases(t *testing.T, path string, cases []Case, got [][]string) {
	t.Helper()
	var b strings.Builder
	for i, c := range cases {
		for _, l := range c.Comment {
			b.WriteString(l + "\n")
		}
		b.WriteString("case " + c.Name + "\n")
		for _, l := range c.Input {
			b.WriteString(l + "\n")
		}
		b.WriteString("----\n")
		for _, l := range got[i] {
			b.WriteString(l + "\n")
		}
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzCorpus keeps the committed seed corpus of fuzz target name (under
// testdata/fuzz) equal to seeds: a seed file that differs or is missing
// fails the test, and -update rewrites them.
func FuzzCorpus(t testing.TB, name string, seeds map[string][]byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", name)
	for seed, data := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		path := filepath.Join(dir, seed)
		if Updating() {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != body {
			t.Errorf("seed %s: corpus file differs or is missing (%v); run the test with -update", path, err)
		}
	}
}
