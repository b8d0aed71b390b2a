package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

func TestRecordCommand(t *testing.T) {
	t.Parallel()
	home, id := initHome(t)
	dir := t.TempDir()
	a := writeFile(t, dir, "a", "alpha\n", time.Time{})
	recs := record(t, dir, home, "--in", "a", "--out", "b", "--", "sh", "-c", "tr a-z A-Z < a > b")
	b := filepath.Join(dir, "b")
	if got, _ := os.ReadFile(b); string(got) != "ALPHA\n" {
		t.Fatalf("b = %q, want the command's output", got)
	}
	if len(recs) != 1 || !recs["b"].Defined() {
		t.Fatalf("record printed %v, want one line for b", recs)
	}
	r := bonsai(t, dir, home, "show", "--json", recs["b"].String())
	wantCode(t, r, 0)
	got := decodeJSON[recJSON](t, r)
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Fatal(err)
	}
	want := recJSON{
		Record: recs["b"].String(), Verdict: "verified", Executor: id, UID: uint32(os.Getuid()),
		Program: hashOf(t, sh).String(), Inputs: []string{hashOf(t, a).String()},
		Output: hashOf(t, b).String(),
	}
	got.Time, got.Size = "", 0
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("show --json record(b) = %+v, want %+v", got, want)
	}
}

func TestRecordListForms(t *testing.T) {
	t.Parallel()
	k := fixedKey(t, 1)
	contents := map[string]string{"a": "alpha\n", "b": "beta\n", "c": "gamma\n", "d": "delta\n"}
	var want map[string]cid.Cid
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"lists", []string{"--in", "a", "b", "--out", "c", "d"}},
		{"repeated", []string{"--in", "a", "--in", "b", "--out", "c", "--out", "d"}},
		{"equals", []string{"--in=a", "--in=b", "--out=c", "--out=d"}},
		{"outputs first", []string{"--out", "c", "d", "--in", "b", "a"}},
		{"mixed", []string{"--in", "b", "--out", "c", "--in", "a", "--out", "d"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := homeWithKey(t, k)
			dir := t.TempDir()
			for name, content := range contents {
				writeFile(t, dir, name, content, fixedTime)
			}
			if want == nil {
				want = map[string]cid.Cid{}
				ins := []cid.Cid{hashOf(t, filepath.Join(dir, "a")), hashOf(t, filepath.Join(dir, "b"))}
				for _, out := range []string{"c", "d"} {
					want[out] = expectRecord(t, k, hashOf(t, filepath.Join(dir, out)), fixedTime, ins...).CID
				}
			}
			r := bonsai(t, dir, home, append([]string{"record"}, tc.args...)...)
			wantCode(t, r, 0)
			wantOut := fmt.Sprintf("c %s\nd %s\n", want["c"], want["d"])
			if r.stdout != wantOut {
				t.Errorf("record %s = %q, want %q", strings.Join(tc.args, " "), r.stdout, wantOut)
			}
		})
	}
}

func TestRecordFailingCommand(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := t.TempDir()
	writeFile(t, dir, "a", "alpha\n", time.Time{})
	for _, status := range []int{1, 3, 42} {
		r := bonsai(t, dir, home, "record", "--in", "a", "--out", "b", "--",
			"sh", "-c", fmt.Sprintf("echo partial > b; exit %d", status))
		wantCode(t, r, status)
		if r.stdout != "" {
			t.Errorf("record with failing command stdout = %q, want nothing", r.stdout)
		}
		if !strings.Contains(r.stderr, "nothing recorded") {
			t.Errorf("record with failing command stderr = %q, want 'nothing recorded'", r.stderr)
		}
	}
	r := bonsai(t, dir, home, "log", "b")
	wantCode(t, r, 0)
	if r.stdout != "" {
		t.Errorf("log b after failed runs = %q, want nothing", r.stdout)
	}
	r = bonsai(t, dir, home, "log", "--json", "b")
	wantCode(t, r, 0)
	if got := strings.TrimSpace(r.stdout); got != "[]" {
		t.Errorf("log --json b after failed runs = %s, want []", got)
	}
	r = bonsai(t, dir, home, "verify", "b")
	wantCode(t, r, 1)
}

func TestRecordUsageErrors(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := t.TempDir()
	writeFile(t, dir, "a", "alpha\n", time.Time{})
	writeFile(t, dir, "b", "beta\n", time.Time{})
	for _, tc := range []struct {
		name  string
		args  []string
		usage bool
		sub   string
	}{
		{"unknown flag", []string{"--bogus", "--out", "b"}, true, "unknown flag --bogus"},
		{"no out", []string{"--in", "a"}, true, "at least one --out"},
		{"nothing at all", nil, true, "at least one --out"},
		{"empty command", []string{"--out", "b", "--"}, true, "nothing after --"},
		{"file before flag", []string{"a", "--out", "b"}, true, "must follow --in or --out"},
		{"unknown hash", []string{"--hash", "md5", "--out", "b"}, true, "unknown hash"},
		{"hash without value", []string{"--out", "b", "--hash"}, true, "--hash needs a value"},
		{"missing input", []string{"--in", "nope", "--out", "b"}, false, "nope"},
		{"missing output", []string{"--in", "a", "--out", "nope"}, false, "nope"},
		{"missing command", []string{"--out", "b", "--", "no-such-command-bonsai"}, false, "no-such-command-bonsai"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bonsai(t, dir, home, append([]string{"record"}, tc.args...)...)
			wantOneLineError(t, r, tc.usage, tc.sub)
		})
	}
	r := bonsai(t, dir, home, "log", "--json", "b")
	wantCode(t, r, 0)
	if got := strings.TrimSpace(r.stdout); got != "[]" {
		t.Errorf("log --json b after refused records = %s, want []", got)
	}
}

func TestRecordHelp(t *testing.T) {
	home := t.TempDir()
	for _, args := range [][]string{{"record", "--help"}, {"record", "-h"}, {"help", "record"}} {
		r := bonsai(t, t.TempDir(), home, args...)
		wantCode(t, r, 0)
		if !strings.Contains(r.stdout, "--in FILE... --out FILE...") {
			t.Errorf("bonsai %v stdout = %q, want the record usage", args, r.stdout)
		}
	}
}

// TestCopyDoesNotPoison: recording a byte-for-byte copy must not make the
// original unverifiable (the copy's record would name its output as input).
func TestCopyDoesNotPoison(t *testing.T) {
	home, dir := t.TempDir(), t.TempDir()
	wantCode(t, bonsai(t, dir, home, "init"), 0)
	writeFile(t, dir, "q", "q\n", time.Time{})
	wantCode(t, bonsai(t, dir, home, "record", "--out", "q"), 0)
	writeFile(t, dir, "q2", "q\n", time.Time{})
	wantCode(t, bonsai(t, dir, home, "record", "--in", "q", "--out", "q2"), 0)
	for _, f := range []string{"q", "q2"} {
		if r := bonsai(t, dir, home, "verify", f); r.code != 0 {
			t.Errorf("verify %s = exit %d, want 0\n%s%s", f, r.code, r.stdout, r.stderr)
		}
	}
}
