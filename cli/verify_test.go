package cli_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestVerifyPipeline(t *testing.T) {
	t.Parallel()
	home, id := initHome(t)
	dir := pipeline(t, home)

	r := bonsai(t, dir, home, "verify", "fin")
	wantCode(t, r, 0)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("verify fin = %d lines, want 3 nodes and a summary\n%s", len(lines), r.stdout)
	}
	for i, name := range []string{"fin", "mid", "raw"} {
		if !strings.Contains(lines[i], "✓") || !strings.Contains(lines[i], "  "+name+"  verified") {
			t.Errorf("verify fin line %d = %q, want ✓ and %q verified", i, lines[i], name)
		}
	}
	if !strings.HasPrefix(lines[3], "verified: 3 nodes (3 verified), 3 records by 1 executor, ") {
		t.Errorf("verify fin summary = %q, want 'verified: 3 nodes (3 verified), 3 records by 1 executor, ...'", lines[3])
	}

	j := verifyJSON(t, dir, home, 0, "fin")
	if !j.Verified || len(j.Nodes) != 3 || j.Records != 3 || j.Executors[id] != 3 {
		t.Fatalf("verify --json fin = verified %v, %d nodes, %d records, executors %v; want true, 3, 3, {%s: 3}",
			j.Verified, len(j.Nodes), j.Records, j.Executors, id)
	}
	if j.Target != hashOf(t, filepath.Join(dir, "fin")).String() {
		t.Errorf("verify --json fin target = %s, want fin's CID", j.Target)
	}
	for i, name := range []string{"fin", "mid", "raw"} {
		n := j.Nodes[i]
		if n.Depth != i || n.Path != filepath.Join(dir, name) || n.Verdict != "verified" || !n.OK || len(n.Records) != 1 {
			t.Errorf("verify --json fin node %d = depth %d path %q verdict %s ok %v %d records, want depth %d path %q verified ok 1 record",
				i, n.Depth, n.Path, n.Verdict, n.OK, len(n.Records), i, name)
		}
		if n.Output != hashOf(t, filepath.Join(dir, name)).String() {
			t.Errorf("verify --json fin node %d output = %s, want %s's CID", i, n.Output, name)
		}
	}

	// By CID, and from another working directory: the same verdict.
	r = bonsai(t, "", home, "verify", j.Target)
	wantCode(t, r, 0)
	r = bonsai(t, "", home, "verify", filepath.Join(dir, "fin"))
	wantCode(t, r, 0)
}

func TestVerifyVerdicts(t *testing.T) {
	t.Parallel()
	home, id := initHome(t)
	_, otherID := initHome(t)
	dir := t.TempDir()
	writeFile(t, dir, "norecord", "never recorded\n", time.Time{})
	writeFile(t, dir, "seed", "seed\n", time.Time{}) // a source with no record
	for _, name := range []string{"mid", "fin", "two", "one", "zero"} {
		writeFile(t, dir, name, name+"\n", time.Time{})
	}
	// fin <- mid <- seed, seed never recorded.
	record(t, dir, home, "--in", "seed", "--out", "mid")
	record(t, dir, home, "--in", "mid", "--out", "fin")
	// zero <- one <- two, all three recorded: depth 2.
	record(t, dir, home, "--out", "two")
	record(t, dir, home, "--in", "two", "--out", "one")
	record(t, dir, home, "--in", "one", "--out", "zero")
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}

	type node struct {
		path    string
		depth   int
		verdict string
	}
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		nodes []node // checked through --json when not nil
		usage bool   // a usage error (code 2)
	}{
		{"no record", []string{"norecord"}, 1, []node{{"norecord", 0, "no-record"}}, false},
		{"source leaf", []string{"fin"}, 0, []node{{"fin", 0, "verified"}, {"mid", 1, "verified"}, {"seed", 2, "source"}}, false},
		{"full", []string{"--full", "fin"}, 1, []node{{"fin", 0, "verified"}, {"mid", 1, "verified"}, {"seed", 2, "no-record"}}, false},
		{"full all recorded", []string{"--full", "zero"}, 0, []node{{"zero", 0, "verified"}, {"one", 1, "verified"}, {"two", 2, "verified"}}, false},
		{"trust own", []string{"--trust", id, "zero"}, 0, nil, false},
		{"trust other", []string{"--trust", otherID, "zero"}, 1, []node{{"zero", 0, "untrusted"}}, false},
		{"trust both", []string{"--trust", otherID, "--trust", id, "zero"}, 0, nil, false},
		{"depth 1", []string{"--depth", "1", "zero"}, 0, []node{{"zero", 0, "verified"}, {"one", 1, "verified"}, {"two", 2, "depth-limit"}}, false},
		{"depth 2", []string{"--depth", "2", "zero"}, 0, []node{{"zero", 0, "verified"}, {"one", 1, "verified"}, {"two", 2, "verified"}}, false},
		{"not a file nor a CID", []string{"no-such-file"}, 2, nil, false},
		{"directory", []string{"adir"}, 2, nil, false},
		{"CIDv0", []string{"QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"}, 2, nil, false},
		{"negative depth", []string{"--depth", "-1", "zero"}, 2, nil, true},
		{"bad trust", []string{"--trust", "nobody", "zero"}, 2, nil, true},
		{"two targets", []string{"zero", "one"}, 2, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bonsai(t, dir, home, append([]string{"verify"}, tc.args...)...)
			if tc.code == 2 {
				wantOneLineError(t, r, tc.usage)
				return
			}
			wantCode(t, r, tc.code)
			if r.stderr != "" {
				t.Errorf("verify %s stderr = %q, want nothing", strings.Join(tc.args, " "), r.stderr)
			}
			summary := "verified: "
			if tc.code != 0 {
				summary = "NOT VERIFIED: "
			}
			lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
			if last := lines[len(lines)-1]; !strings.HasPrefix(last, summary) {
				t.Errorf("verify %s summary = %q, want it to start with %q", strings.Join(tc.args, " "), last, summary)
			}
			if tc.nodes == nil {
				return
			}
			j := verifyJSON(t, dir, home, tc.code, tc.args...)
			if j.Verified != (tc.code == 0) {
				t.Errorf("verify --json %s verified = %v, want %v", strings.Join(tc.args, " "), j.Verified, tc.code == 0)
			}
			var got []node
			for _, n := range j.Nodes {
				rel, _ := filepath.Rel(dir, n.Path) // JSON paths are absolute
				got = append(got, node{rel, n.Depth, n.Verdict})
			}
			if !slices.Equal(got, tc.nodes) {
				t.Errorf("verify --json %s nodes = %v, want %v", strings.Join(tc.args, " "), got, tc.nodes)
			}
		})
	}
}

func TestVerifySharedAncestor(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := t.TempDir()
	writeFile(t, dir, "src", "the source\n", time.Time{})
	record(t, dir, home, "--out", "src")
	record(t, dir, home, "--in", "src", "--out", "left", "--", "sh", "-c", "rev src > left")
	record(t, dir, home, "--in", "src", "--out", "right", "--", "sh", "-c", "tr a-z A-Z < src > right")
	record(t, dir, home, "--in", "left", "right", "--out", "both", "--", "sh", "-c", "cat left right > both")

	j := verifyJSON(t, dir, home, 0, "both")
	srcCID := hashOf(t, filepath.Join(dir, "src")).String()
	count := 0
	for _, n := range j.Nodes {
		if n.Output == srcCID {
			count++
			if n.Depth != 2 || n.Path != filepath.Join(dir, "src") {
				t.Errorf("verify --json both: src node depth %d path %q, want 2 src", n.Depth, n.Path)
			}
		}
	}
	if count != 1 || len(j.Nodes) != 4 || j.Records != 4 {
		t.Errorf("verify --json both: src appears %d times in %d nodes, %d records; want once in 4 nodes, 4 records", count, len(j.Nodes), j.Records)
	}

	r := bonsai(t, dir, home, "verify", "both")
	wantCode(t, r, 0)
	var full, above int
	for _, line := range strings.Split(r.stdout, "\n") {
		switch {
		case strings.Contains(line, "  src  verified"):
			full++
		case strings.HasSuffix(line, "  src  (shown above)"):
			above++
		}
	}
	if full != 1 || above != 1 {
		t.Errorf("verify both: src in full %d times, '(shown above)' %d times; want 1 and 1\n%s", full, above, r.stdout)
	}
	if n := strings.Count(r.stdout, "(shown above)"); n != 1 {
		t.Errorf("verify both: %d '(shown above)', want 1\n%s", n, r.stdout)
	}
}
