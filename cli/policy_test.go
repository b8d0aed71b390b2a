package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestPolicyCommands: apply, list, test and rm on the real binary, with
// the store (no daemon): a verified file is allowed, one with no record
// denied with exit 1, a path outside the scope allowed; a malformed
// policy is refused with its line and leaves the applied set as it was;
// a FIFO is refused without blocking; policies survive (they are in the
// store).
func TestPolicyCommands(t *testing.T) {
	home, _ := initHome(t)
	dir := t.TempDir()
	srv := filepath.Join(dir, "srv")
	if err := os.Mkdir(srv, 0o755); err != nil {
		t.Fatal(err)
	}
	src := writeFile(t, srv, "src", "source\n", fixedTime)
	out := writeFile(t, srv, "out", "made\n", fixedTime)
	stray := writeFile(t, srv, "stray", "nobody made this\n", fixedTime)
	outside := writeFile(t, dir, "outside", "elsewhere\n", fixedTime)
	wantCode(t, bonsai(t, "", home, "record", "--in", src, "--out", out), 0)

	policy := func(name, mode string) string {
		return "apiVersion: bonsai/v1\nkind: Policy\nmetadata: {name: " + name + "}\nspec:\n  mode: " + mode +
			"\n  scope: {paths: [" + srv + "/]}\n  rules:\n    - verifiedLineage: {depth: 16}\n    - notRevoked: {}\n"
	}
	good := writeFile(t, dir, "release.yaml", policy("release", "enforce"), fixedTime)
	audit := writeFile(t, dir, "audit.yaml", policy("watch", "audit"), fixedTime)
	bad := writeFile(t, dir, "bad.yaml", strings.Replace(policy("release", "enforce"), "depth: 16", "depht: 16", 1), fixedTime)

	for _, tc := range []struct {
		policy, path string
		code         int
		say          string
	}{
		{good, out, 0, "allow " + out + ": policy release: every rule passes"},
		{good, stray, 1, "deny " + stray + ": policy release, rule verifiedLineage: ancestry fails: "},
		{good, outside, 0, "allow " + outside + ": policy release: not in the policy's scope"},
		{audit, stray, 0, "allow (audit: would deny) " + stray + ": policy watch, rule verifiedLineage"},
	} {
		r := bonsai(t, "", home, "policy", "test", tc.policy, tc.path)
		wantCode(t, r, tc.code)
		if !strings.HasPrefix(r.stdout, tc.say) {
			t.Errorf("policy test %s %s:\n%s\nwant it to start with %q", filepath.Base(tc.policy), tc.path, r.stdout, tc.say)
		}
	}
	var d struct {
		Fails, Allow bool
		Rule         string
		CID          string `json:"output"`
	}
	r := bonsai(t, "", home, "policy", "test", "--json", good, stray)
	wantCode(t, r, 1)
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil || !d.Fails || d.Allow || d.Rule != "verifiedLineage" || d.CID == "" {
		t.Errorf("policy test --json = %+v (%v)\n%s", d, err, r.stdout)
	}

	wantCode(t, bonsai(t, "", home, "policy", "apply", good), 0)
	wantOneLineError(t, bonsai(t, "", home, "policy", "apply", bad), false, "bad.yaml:8: spec.rules[0].verifiedLineage.depht: unknown field")
	fifo := filepath.Join(dir, "fifo.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	wantOneLineError(t, bonsai(t, "", home, "policy", "apply", fifo), false, "fifo.yaml: not a regular file")
	guardedFIFO := filepath.Join(srv, "fifo")
	if err := syscall.Mkfifo(guardedFIFO, 0o600); err != nil {
		t.Fatal(err)
	}
	wantOneLineError(t, bonsai(t, "", home, "policy", "test", good, guardedFIFO), false, "not a regular file")
	wantOneLineError(t, bonsai(t, "", home, "policy", "test", good, filepath.Join(srv, "missing")), false, "no such file")
	wantCode(t, bonsai(t, "", home, "policy", "apply", audit), 0)

	r = bonsai(t, "", home, "policy", "list", "--json")
	wantCode(t, r, 0)
	var list []struct {
		Name   string
		Policy struct{ Spec struct{ Mode string } }
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
		t.Fatalf("policy list --json: %v\n%s", err, r.stdout)
	}
	if len(list) != 2 || list[0].Name != "release" || list[0].Policy.Spec.Mode != "enforce" || list[1].Name != "watch" {
		t.Errorf("policy list after a malformed apply = %+v, want release (enforce) and watch", list)
	}
	wantCode(t, bonsai(t, "", home, "policy", "rm", "watch"), 0)
	wantOneLineError(t, bonsai(t, "", home, "policy", "rm", "watch"), false, `policy "watch": no such policy`)
	r = bonsai(t, "", home, "policy", "list")
	wantCode(t, r, 0)
	if !strings.HasPrefix(r.stdout, "release\tenforce\t"+srv+"/\tverifiedLineage,notRevoked\n") || strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("policy list = %q", r.stdout)
	}
}
