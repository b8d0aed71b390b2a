package cli_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	mh "github.com/multiformats/go-multihash"
)

func TestHash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "a", "alpha\n", time.Time{})
	writeFile(t, dir, "b", "beta\n", time.Time{})
	seen := map[string]string{}
	for _, tc := range []struct {
		flags []string
		code  uint64
	}{
		{nil, mh.SHA2_256},
		{[]string{"--hash", "sha2-256"}, mh.SHA2_256},
		{[]string{"--hash", "blake3"}, mh.BLAKE3},
		{[]string{"--hash=sha3-256"}, mh.SHA3_256},
	} {
		r := bonsai(t, dir, "", append(append([]string{"hash"}, tc.flags...), "a", "b")...)
		wantCode(t, r, 0)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("hash %v a b = %q, want 2 lines", tc.flags, r.stdout)
		}
		for i, name := range []string{"a", "b"} {
			want, err := lineage.HashFile(filepath.Join(dir, name), tc.code)
			if err != nil {
				t.Fatal(err)
			}
			if wantLine := want.String() + "  " + name; lines[i] != wantLine {
				t.Errorf("hash %v line %d = %q, want %q", tc.flags, i, lines[i], wantLine)
			}
			if other, ok := seen[want.String()]; ok && other != fmt.Sprint(tc.code, name) {
				t.Errorf("hash %v %s = %s, same CID as %s", tc.flags, name, want, other)
			}
			seen[want.String()] = fmt.Sprint(tc.code, name)
		}
	}
	if len(seen) != 6 { // sha2-256 twice: 3 functions x 2 files
		t.Errorf("distinct CIDs = %d, want 6", len(seen))
	}

	for _, tc := range []struct {
		args  []string
		usage bool
		sub   string
	}{
		{[]string{"hash", "a", "missing"}, false, "missing"},
		{[]string{"hash"}, true, "at least one FILE"},
		{[]string{"hash", "--hash", "md5", "a"}, true, "unknown hash"},
		{[]string{"hash", "."}, false, "not a regular file"},
	} {
		r := bonsai(t, dir, "", tc.args...)
		wantOneLineError(t, r, tc.usage, tc.sub)
	}
}
