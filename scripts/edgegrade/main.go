// Command edgegrade grades the lineage `bonsai run --json` captured for a
// build of a C project against the compiler's own account: gcc -MM names
// each object's source and local headers, and the archive is made of every
// object. It prints the precision and recall of the captured edges
// (output, input), the Makefile left out (make reads it before forking
// every compiler). Used by scripts/bench-capture.sh.
//
//	go run ./scripts/edgegrade DIR RUN.json ARCHIVE
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

type output struct {
	Path   string   `json:"path"`
	Inputs []string `json:"input_paths"`
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: edgegrade DIR RUN.json ARCHIVE")
		os.Exit(2)
	}
	if err := grade(os.Args[1], os.Args[2], os.Args[3]); err != nil {
		fmt.Fprintln(os.Stderr, "edgegrade:", err)
		os.Exit(2)
	}
}

func grade(dir, runJSON, archive string) error {
	b, err := os.ReadFile(runJSON)
	if err != nil {
		return err
	}
	var doc struct{ Outputs []output }
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", runJSON, err)
	}
	want := map[[2]string]bool{}
	srcs, err := filepath.Glob(filepath.Join(dir, "*.c"))
	if err != nil || len(srcs) == 0 {
		return fmt.Errorf("no C sources in %s", dir)
	}
	for _, src := range srcs {
		cmd := exec.Command("gcc", "-MM", filepath.Base(src))
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("gcc -MM %s: %w", src, err)
		}
		_, deps, _ := strings.Cut(strings.ReplaceAll(string(out), "\\\n", " "), ":")
		obj := strings.TrimSuffix(filepath.Base(src), ".c") + ".o"
		for _, d := range strings.Fields(deps) {
			want[[2]string{obj, d}] = true
		}
		want[[2]string{archive, obj}] = true
	}
	got := map[[2]string]bool{}
	for _, o := range doc.Outputs {
		out, err := filepath.Rel(dir, o.Path)
		if err != nil || (!strings.HasSuffix(out, ".o") && out != archive) {
			continue // not a build product (a log the build wrote, say)
		}
		for _, in := range o.Inputs {
			rel, err := filepath.Rel(dir, in)
			if err != nil {
				rel = in
			}
			if rel != "Makefile" {
				got[[2]string{out, rel}] = true
			}
		}
	}
	tp := 0
	for e := range got {
		if want[e] {
			tp++
		}
	}
	fmt.Printf("precision %.4f recall %.4f (%d edges captured, %d expected, %d right)\n",
		ratio(tp, len(got)), ratio(tp, len(want)), len(got), len(want), tp)
	return nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
