package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/signer"
)

func TestInit(t *testing.T) {
	t.Parallel()
	home := filepath.Join(t.TempDir(), "sub", "home")
	first := bonsai(t, "", home, "init")
	wantCode(t, first, 0)
	id := strings.TrimSpace(first.stdout)
	if !strings.HasPrefix(id, "12D3KooW") {
		t.Errorf("init = %q, want an Ed25519 peer ID", id)
	}
	if want := "initialized " + home + "\n"; first.stderr != want {
		t.Errorf("init stderr = %q, want %q", first.stderr, want)
	}
	keyFile := filepath.Join(home, signer.KeyFileName)
	for path, want := range map[string]os.FileMode{home: 0o700, keyFile: 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("mode(%s) = %04o, want %04o", path, got, want)
		}
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}

	second := bonsai(t, "", home, "init")
	wantCode(t, second, 0)
	if got := strings.TrimSpace(second.stdout); got != id {
		t.Errorf("init again = %s, want %s", got, id)
	}
	if second.stderr != "" {
		t.Errorf("init again stderr = %q, want nothing", second.stderr)
	}
	if again, err := os.ReadFile(keyFile); err != nil || !bytes.Equal(again, key) {
		t.Errorf("key after second init = %x (%v), want unchanged %x", again, err, key)
	}
	r := bonsai(t, "", home, "id")
	wantCode(t, r, 0)
	if r.stdout != id+"\n" {
		t.Errorf("id = %q, want %q", r.stdout, id+"\n")
	}

	// The home can come from BONSAI_HOME too.
	r = bonsaiEnv(t, "", "", []string{"BONSAI_HOME=" + home}, "id")
	wantCode(t, r, 0)
	if r.stdout != id+"\n" {
		t.Errorf("BONSAI_HOME=home id = %q, want %q", r.stdout, id+"\n")
	}
}

func TestInitKeepsExistingKey(t *testing.T) {
	t.Parallel()
	k := fixedKey(t, 7)
	home := homeWithKey(t, k) // checks init prints k's ID
	r := bonsai(t, "", home, "id")
	wantCode(t, r, 0)
	if r.stdout != k.ID().String()+"\n" {
		t.Errorf("id = %q, want %q", r.stdout, k.ID().String()+"\n")
	}
}

func TestNoHome(t *testing.T) {
	t.Parallel()
	home := filepath.Join(t.TempDir(), "never-initialized")
	f := writeFile(t, t.TempDir(), "f", "f\n", time.Time{})
	for _, tc := range []struct {
		args []string
		sub  string
	}{
		{[]string{"id"}, "bonsai init"},
		{[]string{"record", "--out", f}, "bonsai init"},
		{[]string{"verify", f}, "no store"},
		{[]string{"log", f}, "no store"},
	} {
		r := bonsai(t, "", home, tc.args...)
		wantOneLineError(t, r, false, tc.sub)
	}
	if _, err := os.Stat(home); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat(home) after failed commands = %v, want not exist", err)
	}
}

func TestKeyModeRefused(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := t.TempDir()
	out := writeFile(t, dir, "out", "out\n", time.Time{})
	keyFile := filepath.Join(home, signer.KeyFileName)
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		if err := os.Chmod(keyFile, mode); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"id"}, {"init"}, {"record", "--out", out}} {
			r := bonsai(t, dir, home, args...)
			wantOneLineError(t, r, false, fmt.Sprintf("mode %04o", mode), "chmod 600")
			if r.stdout != "" {
				t.Errorf("stdout(bonsai %s) = %q, want nothing", strings.Join(args, " "), r.stdout)
			}
		}
	}
	if again, err := os.ReadFile(keyFile); err != nil || !bytes.Equal(again, key) {
		t.Errorf("key after refused commands = %x (%v), want unchanged %x", again, err, key)
	}
	// Nothing was recorded with the refused key.
	if err := os.Chmod(keyFile, 0o600); err != nil {
		t.Fatal(err)
	}
	r := bonsai(t, dir, home, "log", "--json", "out")
	wantCode(t, r, 0)
	if got := strings.TrimSpace(r.stdout); got != "[]" {
		t.Errorf("log --json out = %s, want []", got)
	}
}
