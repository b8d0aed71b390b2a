package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRevokeCommand: revoking a file's record makes every descendant fail
// verification and a notRevoked policy deny it; the revocation travels in
// an exported CAR and counts on the node that imports it; a revocation by
// someone else is shown and ignored unless trusted with --trust-revoker.
func TestRevokeCommand(t *testing.T) {
	homeA, _ := initHome(t)
	homeB, idB := initHome(t)
	dir := t.TempDir()
	src := writeFile(t, dir, "src", "source\n", fixedTime)
	mid := writeFile(t, dir, "mid", "middle\n", fixedTime)
	top := writeFile(t, dir, "top", "top\n", fixedTime)
	wantCode(t, bonsai(t, "", homeA, "record", "--in", src, "--out", mid), 0)
	wantCode(t, bonsai(t, "", homeA, "record", "--in", mid, "--out", top), 0)
	car := filepath.Join(dir, "clean.car")
	wantCode(t, bonsai(t, "", homeA, "export", "--car", car, top), 0)
	wantCode(t, bonsai(t, "", homeB, "import", car), 0)

	// B (not the executor) revokes mid on its own node: shown, ignored.
	r := bonsai(t, "", homeB, "revoke", "--reason", "I say so", mid)
	wantCode(t, r, 0)
	if !strings.Contains(r.stderr, "signed by others") {
		t.Errorf("revoke of another's record: stderr %q, want the note", r.stderr)
	}
	r = bonsai(t, "", homeB, "verify", top)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "verified") {
		t.Errorf("verify after a stranger's revocation:\n%s", r.stdout)
	}
	r = bonsai(t, "", homeB, "verify", "--json", "--trust-revoker", idB, top)
	wantCode(t, r, 1)
	if !strings.Contains(r.stdout, `"revoked"`) {
		t.Errorf("verify --trust-revoker (self):\n%s", r.stdout)
	}

	// A, the executor, revokes mid.
	r = bonsai(t, "", homeA, "revoke", "--reason", "compiler was compromised", mid)
	wantCode(t, r, 0)
	if !strings.HasPrefix(r.stdout, "revoked bafyrei") {
		t.Errorf("revoke: %q", r.stdout)
	}
	r = bonsai(t, "", homeA, "verify", "--json", top)
	wantCode(t, r, 1)
	if !strings.Contains(r.stdout, "compiler was compromised") {
		t.Errorf("verify after the executor's revocation:\n%s", r.stdout)
	}
	policy := writeFile(t, dir, "p.yaml", "apiVersion: bonsai/v1\nkind: Policy\nmetadata: {name: p}\n"+
		"spec: {mode: enforce, scope: {paths: ["+dir+"/]}, rules: [{notRevoked: {}}]}\n", fixedTime)
	r = bonsai(t, "", homeA, "policy", "test", policy, top)
	wantCode(t, r, 1)
	if !strings.Contains(r.stdout, "rule notRevoked") {
		t.Errorf("policy test of a revoked descendant:\n%s", r.stdout)
	}

	// The revocation travels in the CAR: a third node that imports it
	// sees the descendant revoked.
	revoked := filepath.Join(dir, "revoked.car")
	r = bonsai(t, "", homeA, "export", "--car", revoked, top)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "and 1 revocation") {
		t.Errorf("export: %q", r.stdout)
	}
	homeC, _ := initHome(t)
	r = bonsai(t, "", homeC, "import", revoked)
	wantCode(t, r, 0)
	if !strings.Contains(r.stdout, "and 1 revocation") {
		t.Errorf("import: %q", r.stdout)
	}
	wantCode(t, bonsai(t, "", homeC, "verify", top), 1)
	wantOneLineError(t, bonsai(t, "", homeA, "revoke", filepath.Join(dir, "missing")), false, "no such file")
}

// TestExportRefusesToReplace: export never replaces what exists unless
// --force and a regular file: not the file being exported, not a device,
// not a FIFO, not a symlink; "-" streams the CAR to standard output.
func TestExportRefusesToReplace(t *testing.T) {
	home, _ := initHome(t)
	dir := t.TempDir()
	src := writeFile(t, dir, "src", "source\n", fixedTime)
	out := writeFile(t, dir, "out", "made\n", fixedTime)
	wantCode(t, bonsai(t, "", home, "record", "--in", src, "--out", out), 0)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("/dev/null", link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, want string
		force            bool
	}{
		{"the exported file itself", out, "exists: not replaced (--force replaces it)", false},
		{"a FIFO", fifo, "is a FIFO, not a regular file", true},
		{"a symlink", link, "is a symbolic link, not a regular file", true},
		{"a device", "/dev/null", "is a character device, not a regular file", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"export", "--car", tc.path}
			if tc.force {
				args = append(args, "--force")
			}
			wantOneLineError(t, bonsai(t, "", home, append(args, out)...), false, tc.want)
		})
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "made\n" {
		t.Errorf("the exported file changed: %q %v", b, err)
	}
	r := bonsai(t, "", home, "export", "--car", "-", out)
	wantCode(t, r, 0)
	if len(r.stdout) < 100 || !strings.Contains(r.stderr, "to standard output") {
		t.Errorf("export --car -: %d bytes on stdout, stderr %q", len(r.stdout), r.stderr)
	}
	car := filepath.Join(dir, "x.car")
	wantCode(t, bonsai(t, "", home, "export", "--car", car, out), 0)
	wantOneLineError(t, bonsai(t, "", home, "export", "--car", car, out), false, "exists")
	wantCode(t, bonsai(t, "", home, "export", "--force", "--car", car, out), 0)
}
