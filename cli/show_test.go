package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
)

func TestShow(t *testing.T) {
	t.Parallel()
	home, id := initHome(t)
	dir := t.TempDir()
	a := writeFile(t, dir, "a", "alpha\n", time.Time{})
	recs := record(t, dir, home, "--in", "a", "--out", "b", "--", "sh", "-c", "cat a a > b")
	rc := recs["b"]
	b := filepath.Join(dir, "b")

	r := bonsai(t, dir, home, "show", rc.String())
	wantCode(t, r, 0)
	for _, want := range []string{
		"record     " + rc.String() + "\n",
		"output     " + hashOf(t, b).String() + "  b\n",
		"executor   " + id + fmt.Sprintf(" uid %d\n", os.Getuid()),
		"inputs     1\n  " + hashOf(t, a).String() + "  a\n",
		"time       " + mtime(t, b) + "\n",
		"signature  ok\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show %s = %q, want it to contain %q", rc, r.stdout, want)
		}
	}

	r = bonsai(t, dir, home, "show", "--json", rc.String())
	wantCode(t, r, 0)
	j := decodeJSON[recJSON](t, r)
	if j.Record != rc.String() || j.Verdict != "verified" || j.Output != hashOf(t, b).String() ||
		j.Time != mtime(t, b) || !slices.Equal(j.Inputs, []string{hashOf(t, a).String()}) {
		t.Errorf("show --json %s = %+v, want the record of b", rc, j)
	}

	r = bonsai(t, dir, home, "show", "--raw", rc.String())
	wantCode(t, r, 0)
	raw := []byte(r.stdout)
	if got := lineage.RecordCID(raw); !got.Equals(rc) {
		t.Errorf("RecordCID(show --raw %s) = %s, want %s", rc, got, rc)
	}
	if j.Size != len(raw) {
		t.Errorf("show --json size = %d, want %d (len of --raw)", j.Size, len(raw))
	}
	if _, err := lineage.Open(rc, raw); err != nil {
		t.Errorf("lineage.Open(show --raw) = %v, want nil", err)
	}

	out := hashOf(t, b)
	r = bonsai(t, dir, home, "show", out.String())
	wantOneLineError(t, r, false, "is an output, not a record", "bonsai log", rc.String())

	for _, tc := range []struct {
		args  []string
		usage bool
		sub   string
	}{
		{[]string{"show", "not-a-cid"}, false, "not a CID"},
		{[]string{"show", hashOf(t, a).String()}, false, "not in local store"},
		{[]string{"show"}, true, "exactly one record CID"},
	} {
		r := bonsai(t, dir, home, tc.args...)
		wantOneLineError(t, r, tc.usage, tc.sub)
	}
}

// mtime is a file's modification time as records show it.
func mtime(t *testing.T, path string) string {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.ModTime().UTC().Truncate(time.Second).Format(time.RFC3339)
}
