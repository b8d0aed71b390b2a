//go:build linux

package cli_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/node/store"
)

// TestRecordRealProject builds the real C project step by step with
// 'bonsai record', no daemon (so through the store's journal), naming as
// each object's inputs what gcc -MM says it reads; the archive's ancestry
// then verifies from the journal laid over the store, each object's
// recorded inputs are exactly the compiler's, and after a writable open
// has taken the journal in, everything verifies the same.
func TestRecordRealProject(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"gcc", "ar"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (.ci/run installs gcc): %v", tool, err)
		}
	}
	dir := copyProject(t, projectSources(t))
	home, _ := initHome(t)
	want := compilerEdges(t, dir)
	var objs []string
	for _, e := range want {
		out, ins, _ := strings.Cut(e, "<-")
		if out == "libproject.a" {
			continue
		}
		src := strings.TrimSuffix(out, ".o") + ".c"
		args := append([]string{"record", "--in"}, strings.Split(ins, ",")...)
		args = append(args, "--out", out, "--", "gcc", "-O0", "-c", src, "-o", out)
		wantCode(t, bonsaiFor(t, 2*cmdTimeout, dir, home, nil, args...), 0)
		objs = append(objs, out)
	}
	ar := append([]string{"record", "--in"}, objs...)
	ar = append(ar, "--out", "libproject.a", "--", "ar", "rcs", "libproject.a")
	wantCode(t, bonsai(t, dir, home, append(ar, objs...)...), 0)
	if fi, err := os.Stat(filepath.Join(home, store.JournalName)); err != nil || fi.Size() == 0 {
		t.Fatalf("journal after %d records: %v, %v; want them there", len(objs)+1, fi, err)
	}

	check := func(when string) {
		v := verifyJSON(t, dir, home, 0, "libproject.a")
		if !v.Verified || v.Records != len(objs)+1 {
			t.Fatalf("%s: verify libproject.a = verified %v, %d records; want true, %d", when, v.Verified, v.Records, len(objs)+1)
		}
		var got []string
		for _, n := range v.Nodes {
			if n.Depth != 1 {
				continue
			}
			// Each object's own recorded inputs, by path, against gcc -MM.
			o := verifyJSON(t, dir, home, 0, filepath.Base(n.Path))
			var ins []string
			for _, m := range o.Nodes {
				if m.Depth == 1 {
					ins = append(ins, filepath.Base(m.Path))
				}
			}
			slices.Sort(ins)
			got = append(got, filepath.Base(n.Path)+"<-"+strings.Join(ins, ","))
		}
		got = append(got, "libproject.a<-"+strings.Join(objs, ","))
		slices.Sort(got)
		if d := diffLines(got, want); d != "" {
			t.Errorf("%s: recorded edges differ from gcc -MM:\n%s", when, d)
		}
	}
	check("over the journal")
	wantCode(t, bonsai(t, dir, home, "gc"), 0)
	if fi, err := os.Stat(filepath.Join(home, store.JournalName)); err != nil || fi.Size() != 0 {
		t.Fatalf("journal after gc (a writable open): %v, %v; want empty", fi, err)
	}
	check("after the journal was taken in")
}
