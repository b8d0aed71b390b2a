package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/golden"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
)

// goldenScenario records, with a fixed identity and fixed file times, a
// small ancestry that exercises every part of the tree printer:
//
//	c.txt <- a.txt, b.txt, seed.txt
//	a.txt <- raw.txt      b.txt <- raw.txt   (a shared ancestor)
//	raw.txt: two records, a source one and one made from seed.txt
//	seed.txt: never recorded (a source)
//
// It returns the working directory, the home, and the record CIDs under
// the names the golden files use for them.
func goldenScenario(t *testing.T) (dir, home string, names map[cid.Cid]string) {
	t.Helper()
	k := fixedKey(t, 42)
	home = homeWithKey(t, k)
	dir = t.TempDir()
	later := fixedTime.Add(time.Hour)
	files := map[string]string{
		"seed.txt": "seed\n",
		"raw.txt":  "raw data\n",
		"a.txt":    "made from raw: a\n",
		"b.txt":    "made from raw: b\n",
		"c.txt":    "made from a, b and seed\n",
	}
	content := map[string]cid.Cid{}
	for name, body := range files {
		content[name] = hashOf(t, writeFile(t, dir, name, body, fixedTime))
	}
	names = map[cid.Cid]string{}
	step := func(name string, want lineage.Block, args ...string) {
		t.Helper()
		out := args[len(args)-1]
		got := record(t, dir, home, args...)[out]
		if !got.Equals(want.CID) {
			t.Fatalf("record %s = %s, want %s (signed in the test with the same key, time and uid)", strings.Join(args, " "), got, want.CID)
		}
		names[got] = name
	}
	step("raw.txt#1", expectRecord(t, k, content["raw.txt"], fixedTime), "--out", "raw.txt")
	if err := os.Chtimes(filepath.Join(dir, "raw.txt"), later, later); err != nil {
		t.Fatal(err)
	}
	step("raw.txt#2", expectRecord(t, k, content["raw.txt"], later, content["seed.txt"]), "--in", "seed.txt", "--out", "raw.txt")
	step("a.txt", expectRecord(t, k, content["a.txt"], fixedTime, content["raw.txt"]), "--in", "raw.txt", "--out", "a.txt")
	step("b.txt", expectRecord(t, k, content["b.txt"], fixedTime, content["raw.txt"]), "--in", "raw.txt", "--out", "b.txt")
	step("c.txt", expectRecord(t, k, content["c.txt"], fixedTime, content["a.txt"], content["b.txt"], content["seed.txt"]),
		"--in", "a.txt", "b.txt", "seed.txt", "--out", "c.txt")
	return dir, home, names
}

var (
	uidRE     = regexp.MustCompile(`\buid \d+\b`)
	elapsedRE = regexp.MustCompile(`(?m)^((?:verified|NOT VERIFIED): .*), [0-9.]+[a-zµ]+$`)
)

// normalize takes out of an output what depends on this machine: the
// elapsed time of a verification, the uid of the test process, and so the
// record CIDs (the uid is signed into them; goldenScenario checks them
// against CIDs computed in the test), full and short.
func normalize(s string, names map[cid.Cid]string) string {
	s = elapsedRE.ReplaceAllString(s, "$1, ELAPSED")
	s = uidRE.ReplaceAllString(s, "uid UID")
	for c, name := range names {
		full := c.String()
		s = strings.ReplaceAll(s, full, "<record "+name+">")
		s = strings.ReplaceAll(s, full[:4]+"…"+full[len(full)-10:], "<record "+name+">")
	}
	return s
}

func TestGolden(t *testing.T) {
	t.Parallel()
	dir, home, names := goldenScenario(t)
	recordOf := map[string]string{}
	for c, name := range names {
		recordOf[name] = c.String()
	}
	stranger := fixedKey(t, 43).ID().String()

	for _, tc := range []struct {
		golden string
		args   []string
		code   int
	}{
		{"hash", []string{"hash", "seed.txt", "raw.txt"}, 0},
		{"verify", []string{"verify", "c.txt"}, 0},
		{"verify_full", []string{"verify", "--full", "c.txt"}, 1},
		{"verify_depth1", []string{"verify", "--depth", "1", "c.txt"}, 0},
		{"verify_untrusted", []string{"verify", "--trust", stranger, "c.txt"}, 1},
		{"verify_norecord", []string{"verify", "seed.txt"}, 1},
		{"verify_dot", []string{"verify", "--format", "dot", "c.txt"}, 0},
		{"verify_mermaid", []string{"verify", "--format", "mermaid", "c.txt"}, 0},
		{"verify_full_mermaid", []string{"verify", "--full", "--format", "mermaid", "c.txt"}, 1},
		{"show_c", []string{"show", recordOf["c.txt"]}, 0},
		{"show_raw2", []string{"show", recordOf["raw.txt#2"]}, 0},
		{"log_raw", []string{"log", "raw.txt"}, 0},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			r := bonsai(t, dir, home, tc.args...)
			wantCode(t, r, tc.code)
			var b bytes.Buffer
			shown := make([]string, len(tc.args))
			for i, a := range tc.args {
				shown[i] = normalize(a, names)
			}
			fmt.Fprintf(&b, "$ bonsai %s\nexit %d\n-- stdout --\n%s", strings.Join(shown, " "), r.code, normalize(r.stdout, names))
			if r.stderr != "" {
				fmt.Fprintf(&b, "-- stderr --\n%s", normalize(r.stderr, names))
			}
			got := b.String()
			path := filepath.Join("testdata", tc.golden+".golden")
			if golden.Updating() {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test ./cli -run TestGolden -update to create it): %v", err)
			}
			if got != string(want) {
				t.Errorf("bonsai %s = \n%s\nwant (%s)\n%s", strings.Join(tc.args, " "), got, path, want)
			}
		})
	}
}
