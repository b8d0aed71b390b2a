package cli_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestInProcess(t *testing.T) {
	t.Parallel()
	home := filepath.Join(t.TempDir(), "home")
	dir := t.TempDir()
	src := writeFile(t, dir, "src", "src\n", time.Time{})
	out := filepath.Join(dir, "out")

	r := inProcess(t, home, "init")
	wantCode(t, r, 0)
	id := strings.TrimSpace(r.stdout)
	r = inProcess(t, home, "id")
	if r.code != 0 || r.stdout != id+"\n" {
		t.Errorf("id = %d %q, want 0 %q", r.code, r.stdout, id+"\n")
	}
	r = inProcess(t, home, "record", "--in", src, "--out", out, "--", "sh", "-c", "cp "+src+" "+out+"; echo more >> "+out)
	recs := recorded(t, r)
	if !recs[out].Defined() {
		t.Fatalf("record printed %q, want a line for %s", r.stdout, out)
	}
	r = inProcess(t, home, "verify", "--json", out)
	wantCode(t, r, 0)
	j := decodeJSON[verifyOut](t, r)
	if !j.Verified || len(j.Nodes) != 2 || j.Nodes[1].Verdict != "source" {
		t.Errorf("verify --json out = %+v, want verified, 2 nodes, the second a source", j)
	}
	r = inProcess(t, home, "verify", "--full", out)
	wantCode(t, r, 1)
	r = inProcess(t, home, "hash", src)
	if want := hashOf(t, src).String() + "  " + src + "\n"; r.code != 0 || r.stdout != want {
		t.Errorf("hash = %d %q, want 0 %q", r.code, r.stdout, want)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string // in stdout
		err  string // in stderr
	}{
		{"help", []string{"help"}, 0, "128+n stopped by", ""},
		{"help verify", []string{"help", "verify"}, 0, "bonsai verify", ""},
		{"verify --help", []string{"verify", "--help"}, 0, "--full", ""},
		{"help record", []string{"help", "record"}, 0, "--in FILE... --out FILE...", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", "bonsai: "},
		{"unknown flag", []string{"verify", "--bogus", out}, 2, "", usageHint},
		{"empty home", []string{"--home", "", "id"}, 2, "", "--home is empty"},
		{"record exit status", []string{"record", "--out", out, "--", "sh", "-c", "exit 5"}, 5, "", "nothing recorded"},
		{"not verified", []string{"verify", src}, 1, "NOT VERIFIED", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := inProcess(t, home, tc.args...)
			wantCode(t, r, tc.code)
			if !strings.Contains(r.stdout, tc.out) {
				t.Errorf("stdout(bonsai %s) = %q, want it to contain %q", strings.Join(tc.args, " "), r.stdout, tc.out)
			}
			if !strings.Contains(r.stderr, tc.err) {
				t.Errorf("stderr(bonsai %s) = %q, want it to contain %q", strings.Join(tc.args, " "), r.stderr, tc.err)
			}
		})
	}
}
