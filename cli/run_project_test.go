//go:build linux

package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// projectModule is a real C library nobody here wrote: zstd 1.5.7 as the
// Go module github.com/DataDog/zstd ships it (40 .c files, 49 headers),
// fetched through the Go module proxy.
const projectModule = "github.com/DataDog/zstd@v1.5.7"

// projectSources returns the directory of the module's sources.
func projectSources(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", projectModule)
	cmd.Dir = t.TempDir() // outside this module: go.mod is not touched
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s (the Go module proxy is needed): %v\n%s", projectModule, err, out)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %v\n%s", projectModule, err, out)
	}
	return mod.Dir
}

// copyProject copies the C sources and headers of src, and the plain
// Makefile, into a fresh directory.
func copyProject(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for _, pat := range []string{"*.c", "*.h"} {
		m, err := filepath.Glob(filepath.Join(src, pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	files = append(files, filepath.Join("testdata", "project", "Makefile"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// compilerEdges is the oracle: for each object, the source and the local
// headers gcc -MM names; for the archive, every object. Edges are in the
// form edges() gives, the Makefile left out.
func compilerEdges(t *testing.T, dir string) []string {
	t.Helper()
	srcs, err := filepath.Glob(filepath.Join(dir, "*.c"))
	if err != nil || len(srcs) < 30 {
		t.Fatalf("project has %d sources (%v), want at least 30", len(srcs), err)
	}
	var want, objs []string
	for _, src := range srcs {
		cmd := exec.Command("gcc", "-MM", filepath.Base(src))
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gcc -MM %s: %v", src, err)
		}
		_, deps, ok := strings.Cut(strings.ReplaceAll(string(out), "\\\n", " "), ":")
		if !ok {
			t.Fatalf("gcc -MM %s: %q", src, out)
		}
		ins := strings.Fields(deps)
		slices.Sort(ins)
		obj := strings.TrimSuffix(filepath.Base(src), ".c") + ".o"
		objs = append(objs, obj)
		want = append(want, obj+"<-"+strings.Join(slices.Compact(ins), ","))
	}
	slices.Sort(objs)
	want = append(want, "libproject.a<-"+strings.Join(objs, ","))
	slices.Sort(want)
	return want
}

// withoutMakefile drops the Makefile from each edge's inputs: make read
// it before forking every compiler, and the oracle leaves it out.
func withoutMakefile(edges []string) []string {
	out := make([]string, len(edges))
	for i, e := range edges {
		o, ins, _ := strings.Cut(e, "<-")
		kept := slices.DeleteFunc(strings.Split(ins, ","), func(s string) bool { return s == "Makefile" || s == "" })
		out[i] = o + "<-" + strings.Join(kept, ",")
	}
	return out
}

// TestRunRealProject builds a real C project under bonsai run with
// make -j2, three times, and grades the edges against the compiler's own
// account (gcc -MM): every object exactly its source and local headers,
// the archive exactly the objects, nothing incomplete, the same edges
// every time, and the archive's ancestry verifies at depth 3.
func TestRunRealProject(t *testing.T) {
	needRoot(t)
	for _, tool := range []string{"gcc", "cc", "make", "ar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (.ci/run installs gcc and make): %v", tool, err)
		}
	}
	src := projectSources(t)
	home := t.TempDir()
	wantCode(t, bonsai(t, "", home, "init"), 0)
	var want, first []string
	for run := range 3 {
		dir := copyProject(t, src)
		if run == 0 {
			want = compilerEdges(t, dir)
		}
		r := bonsaiFor(t, 10*time.Minute, dir, home, nil, "run", "--json", "--", "make", "-j2")
		wantCode(t, r, 0)
		got := withoutMakefile(edges(dir, parseRun(t, r).Outputs))
		if !slices.Equal(got, want) {
			t.Errorf("run %d: edges differ from gcc -MM's:\n%s", run, diffLines(got, want))
		}
		if run == 0 {
			first = got
			v := bonsai(t, dir, home, "verify", "--depth", "3", "--json", "libproject.a")
			wantCode(t, v, 0)
			var res struct {
				Verified bool
				Nodes    []struct{ Depth int }
			}
			if err := json.Unmarshal([]byte(v.stdout), &res); err != nil {
				t.Fatal(err)
			}
			depth := 0
			for _, n := range res.Nodes {
				depth = max(depth, n.Depth)
			}
			if !res.Verified || depth < 2 {
				t.Errorf("verify libproject.a: verified=%v, depth %d; want verified, archive <- objects <- sources", res.Verified, depth)
			}
		} else if !slices.Equal(got, first) {
			t.Errorf("run %d: edges differ from run 0's:\n%s", run, diffLines(got, first))
		}
	}
}

// diffLines lists the lines only in got (+) and only in want (-).
func diffLines(got, want []string) string {
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			b.WriteString("+ " + g + "\n")
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			b.WriteString("- " + w + "\n")
		}
	}
	return b.String()
}
