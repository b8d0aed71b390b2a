package cli_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/cli"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
	"github.com/libp2p/go-libp2p/core/crypto"
	mh "github.com/multiformats/go-multihash"
)

// bonsaiBin is the real binary, built once by TestMain.
var bonsaiBin string

// fakeHome is the HOME of every child, so a test that forgot --home can
// never touch the real ~/.bonsai.
var fakeHome string

// cmdTimeout bounds one run of the binary.
const cmdTimeout = 30 * time.Second

// usageHint is the second stderr line of a usage error, and of nothing else.
const usageHint = "bonsai: run 'bonsai help' or 'bonsai COMMAND --help' for usage"

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "bonsai-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create temp dir:", err)
		return 2
	}
	defer os.RemoveAll(tmp)
	bonsaiBin = filepath.Join(tmp, "bonsai")
	fakeHome = filepath.Join(tmp, "home")
	if err := os.Mkdir(fakeHome, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "create fake HOME:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bonsaiBin, "./cmd/bonsai")
	build.Dir = ".." // the module root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/bonsai: %v\n%s", err, out)
		return 2
	}
	return m.Run()
}

// result is what one run of bonsai did.
type result struct {
	args   []string
	code   int
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("bonsai %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// childEnv is the environment of every child: no BONSAI_HOME from the
// caller, HOME pointing at a throwaway directory.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "BONSAI_HOME=") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "PWD=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+fakeHome)
}

// bonsai runs the real binary in dir (the test's working directory when
// empty) with --home home (none when empty).
func bonsai(t *testing.T, dir, home string, args ...string) result {
	t.Helper()
	return bonsaiEnv(t, dir, home, nil, args...)
}

func bonsaiEnv(t *testing.T, dir, home string, env []string, args ...string) result {
	t.Helper()
	return bonsaiFor(t, cmdTimeout, dir, home, env, args...)
}

// bonsaiFor is bonsaiEnv with a deadline of its own (a whole build).
func bonsaiFor(t *testing.T, timeout time.Duration, dir, home string, env []string, args ...string) result {
	t.Helper()
	full := args
	if home != "" {
		full = append([]string{"--home", home}, args...)
	}
	return execBonsai(t, timeout, dir, env, nil, full...)
}

// execBonsai runs the binary with args as they are, standard output to
// stdout when it is not nil (else captured); a run that does not exit by
// itself within timeout fails the test.
func execBonsai(t *testing.T, timeout time.Duration, dir string, env []string, stdout *os.File, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bonsaiBin, args...)
	cmd.Dir = dir
	cmd.Env = append(childEnv(), env...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if stdout != nil {
		cmd.Stdout = stdout
	}
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		r.code = ee.ExitCode()
	default:
		t.Fatalf("bonsai %s: %v (ctx: %v)\nstderr:\n%s", strings.Join(args, " "), err, ctx.Err(), r.stderr)
	}
	return r
}

// inProcess runs cli.Main in this process, with --home home.
func inProcess(t *testing.T, home string, args ...string) result {
	t.Helper()
	full := append([]string{"bonsai", "--home", home}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := cli.Main(ctx, full, &stdout, &stderr)
	return result{args: full[1:], code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func wantCode(t *testing.T, r result, want int) {
	t.Helper()
	if r.code != want {
		t.Fatalf("exit(bonsai %s) = %d, want %d\n%v", strings.Join(r.args, " "), r.code, want, r)
	}
}

// wantOneLineError checks the error contract: exit 2 and stderr holding
// exactly one "bonsai: " line, plus the usage hint for usage errors only.
// Each of subs must appear in that line.
func wantOneLineError(t *testing.T, r result, usage bool, subs ...string) {
	t.Helper()
	wantCode(t, r, 2)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	want := 1
	if usage {
		want = 2
	}
	if len(lines) != want {
		t.Fatalf("stderr lines(bonsai %s) = %d %q, want %d", strings.Join(r.args, " "), len(lines), lines, want)
	}
	if !strings.HasPrefix(lines[0], "bonsai: ") || lines[0] == usageHint {
		t.Errorf("stderr(bonsai %s) = %q, want one line starting with %q", strings.Join(r.args, " "), lines[0], "bonsai: ")
	}
	if usage && lines[1] != usageHint {
		t.Errorf("usage hint(bonsai %s) = %q, want %q", strings.Join(r.args, " "), lines[1], usageHint)
	}
	for _, s := range subs {
		if !strings.Contains(lines[0], s) {
			t.Errorf("error(bonsai %s) = %q, want it to contain %q", strings.Join(r.args, " "), lines[0], s)
		}
	}
}

// initHome makes a fresh initialized home and returns it with its peer ID.
func initHome(t *testing.T) (home, id string) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "home")
	r := bonsai(t, "", home, "init")
	wantCode(t, r, 0)
	return home, strings.TrimSpace(r.stdout)
}

// fixedTime is the mtime given to files whose records must be reproducible.
var fixedTime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// writeFile writes content to dir/name with mtime mtime (left as is when
// zero) and returns its path.
func writeFile(t *testing.T, dir, name, content string, mtime time.Time) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func hashOf(t *testing.T, path string) cid.Cid {
	t.Helper()
	c, err := lineage.HashFile(path, lineage.DefaultHash)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// recorded parses record's "PATH RECORD_CID" lines into a map.
func recorded(t *testing.T, r result) map[string]cid.Cid {
	t.Helper()
	wantCode(t, r, 0)
	out := map[string]cid.Cid{}
	for _, line := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		path, cs, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("record line %q: want 'PATH RECORD_CID'", line)
		}
		c, err := cid.Decode(cs)
		if err != nil {
			t.Fatalf("record line %q: %v", line, err)
		}
		if c.Type() != cid.DagCBOR {
			t.Fatalf("codec(record CID %s) = 0x%x, want dag-cbor", c, c.Type())
		}
		out[path] = c
	}
	return out
}

// record runs 'bonsai record args...' in dir and returns the record CID of
// each output path as printed.
func record(t *testing.T, dir, home string, args ...string) map[string]cid.Cid {
	t.Helper()
	return recorded(t, bonsai(t, dir, home, append([]string{"record"}, args...)...))
}

// fixedKey is an identity made from a fixed seed, so its peer ID and every
// record it signs are reproducible.
func fixedKey(t *testing.T, seedByte byte) *signer.Key {
	t.Helper()
	seed := bytes.Repeat([]byte{seedByte}, ed25519.SeedSize)
	priv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	k, err := signer.FromPrivKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// homeWithKey makes a home holding key k, initialized by 'bonsai init'.
func homeWithKey(t *testing.T, k *signer.Key) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	if err := k.Save(filepath.Join(home, signer.KeyFileName)); err != nil {
		t.Fatal(err)
	}
	r := bonsai(t, "", home, "init")
	wantCode(t, r, 0)
	if got := strings.TrimSpace(r.stdout); got != k.ID().String() {
		t.Fatalf("init with an existing key = %s, want %s", got, k.ID())
	}
	return home
}

// expectRecord signs the record the recorder should make, so a test can
// predict record CIDs.
func expectRecord(t *testing.T, k *signer.Key, output cid.Cid, mtime time.Time, inputs ...cid.Cid) lineage.Block {
	t.Helper()
	rec := &lineage.Record{
		Executor: lineage.Executor{UID: uint32(os.Getuid())},
		Output:   output,
		Inputs:   inputs,
		Time:     mtime.Unix(),
	}
	blk, err := rec.Sign(k)
	if err != nil {
		t.Fatal(err)
	}
	return blk
}

// The JSON the CLI emits, as much of it as the tests read.
type verifyOut struct {
	Target    string         `json:"target"`
	Verified  bool           `json:"verified"`
	Complete  bool           `json:"complete"`
	Counts    map[string]int `json:"counts"`
	Records   int            `json:"records"`
	Executors map[string]int `json:"executors"`
	ElapsedMS float64        `json:"elapsed_ms"`
	Nodes     []struct {
		Output  string    `json:"output"`
		Path    string    `json:"path"`
		Depth   int       `json:"depth"`
		Verdict string    `json:"verdict"`
		Reason  string    `json:"reason"`
		OK      bool      `json:"ok"`
		Inputs  []string  `json:"inputs"`
		Records []recJSON `json:"records"`
	} `json:"nodes"`
}

type recJSON struct {
	Record     string   `json:"record"`
	Verdict    string   `json:"verdict"`
	Reason     string   `json:"reason"`
	From       string   `json:"from"`
	Executor   string   `json:"executor"`
	UID        uint32   `json:"uid"`
	Program    string   `json:"program"`
	Time       string   `json:"time"`
	Incomplete bool     `json:"incomplete"`
	Inputs     []string `json:"inputs"`
	Output     string   `json:"output"`
	Size       int      `json:"size"` // show --json only
}

func decodeJSON[T any](t *testing.T, r result) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("json(bonsai %s): %v\n%s", strings.Join(r.args, " "), err, r.stdout)
	}
	return v
}

func verifyJSON(t *testing.T, dir, home string, wantExit int, args ...string) verifyOut {
	t.Helper()
	r := bonsai(t, dir, home, append([]string{"verify", "--json"}, args...)...)
	wantCode(t, r, wantExit)
	return decodeJSON[verifyOut](t, r)
}

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

// pipeline records raw (a source), mid from raw and fin from mid, each by
// running a command, and returns the directory holding them.
func pipeline(t *testing.T, home string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, dir, "raw", "raw data\n", time.Time{})
	record(t, dir, home, "--out", "raw")
	record(t, dir, home, "--in", "raw", "--out", "mid", "--", "sh", "-c", "tr a-z A-Z < raw > mid")
	record(t, dir, home, "--in", "mid", "--out", "fin", "--", "sh", "-c", "cat mid mid > fin")
	return dir
}

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

func TestLog(t *testing.T) {
	t.Parallel()
	home, id := initHome(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "f", "same content\n", time.Time{})
	// Three records of the same content, recorded out of time order.
	var order []cid.Cid // newest first
	byTime := map[int64]cid.Cid{}
	for _, mt := range []time.Time{fixedTime, fixedTime.Add(2 * time.Hour), fixedTime.Add(-time.Hour)} {
		if err := os.Chtimes(f, mt, mt); err != nil {
			t.Fatal(err)
		}
		byTime[mt.Unix()] = record(t, dir, home, "--out", "f")["f"]
	}
	for _, mt := range []time.Time{fixedTime.Add(2 * time.Hour), fixedTime, fixedTime.Add(-time.Hour)} {
		order = append(order, byTime[mt.Unix()])
	}

	r := bonsai(t, dir, home, "log", "f")
	wantCode(t, r, 0)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("log f = %q, want 3 lines", r.stdout)
	}
	for i, line := range lines {
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != order[i].String() {
			t.Errorf("log f line %d = %q, want record %s first", i, line, order[i])
		}
		if !strings.Contains(line, "by "+id) {
			t.Errorf("log f line %d = %q, want it to name executor %s", i, line, id)
		}
	}

	r = bonsai(t, dir, home, "log", "--json", hashOf(t, f).String())
	wantCode(t, r, 0)
	list := decodeJSON[[]recJSON](t, r)
	var got []string
	for _, j := range list {
		got = append(got, j.Record)
	}
	var want []string
	for _, c := range order {
		want = append(want, c.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("log --json f = %v, want %v", got, want)
	}
	wantTimes := []string{"2024-01-02T05:04:05Z", "2024-01-02T03:04:05Z", "2024-01-02T02:04:05Z"}
	for i, j := range list {
		if j.Time != wantTimes[i] {
			t.Errorf("log --json f [%d].time = %s, want %s", i, j.Time, wantTimes[i])
		}
	}

	r = bonsai(t, dir, home, "log", "nope")
	wantOneLineError(t, r, false, "nope")
}

func TestExportImport(t *testing.T) {
	t.Parallel()
	home, id := initHome(t)
	dir := pipeline(t, home)
	car := filepath.Join(t.TempDir(), "out.car")
	r := bonsai(t, dir, home, "export", "--car", car, "fin")
	wantCode(t, r, 0)
	if want := "wrote 3 records (1 root) to " + car + "\n"; r.stdout != want {
		t.Errorf("export = %q, want %q", r.stdout, want)
	}

	fresh, freshID := initHome(t)
	if freshID == id {
		t.Fatalf("two inits made the same peer ID %s", id)
	}
	target := hashOf(t, filepath.Join(dir, "fin")).String()
	wantCode(t, bonsai(t, "", fresh, "verify", target), 1) // nothing yet

	r = bonsai(t, "", fresh, "import", car)
	wantCode(t, r, 0)
	if r.stdout != "imported 3 records (3 new)\n" {
		t.Errorf("import = %q, want %q", r.stdout, "imported 3 records (3 new)\n")
	}
	j := verifyJSON(t, "", fresh, 0, target)
	if len(j.Nodes) != 3 || j.Executors[id] != 3 {
		t.Errorf("verify --json in fresh home = %d nodes, executors %v; want 3 nodes by %s", len(j.Nodes), j.Executors, id)
	}
	for _, n := range j.Nodes {
		if n.Path != "" {
			t.Errorf("verify in fresh home: node %s path %q, want none (paths are never exported)", n.Output, n.Path)
		}
	}
	r = bonsai(t, "", fresh, "import", car)
	wantCode(t, r, 0)
	if r.stdout != "imported 3 records (0 new)\n" {
		t.Errorf("import again = %q, want %q", r.stdout, "imported 3 records (0 new)\n")
	}
	// The export reads back with the IPLD tools too.
	roots, blocks := readCAR(t, car)
	if len(roots) != 1 || len(blocks) != 3 {
		t.Errorf("CAR = %d roots %d blocks, want 1 and 3", len(roots), len(blocks))
	}

	writeFile(t, dir, "unrecorded", "x\n", time.Time{})
	r = bonsai(t, dir, home, "export", "--car", car+".2", "unrecorded")
	wantOneLineError(t, r, false, "no record")
	if _, err := os.Stat(car + ".2"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat(CAR of a failed export) = %v, want not exist", err)
	}
	// A missing --car is a usage error like any other.
	r = bonsai(t, dir, home, "export", "fin")
	wantOneLineError(t, r, true, "--car")
}

func readCAR(t *testing.T, path string) ([]cid.Cid, []lineage.Block) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br, err := carv2.NewBlockReader(f)
	if err != nil {
		t.Fatalf("read CAR %s: %v", path, err)
	}
	var blocks []lineage.Block
	for {
		b, err := br.Next()
		if err != nil {
			break
		}
		blocks = append(blocks, lineage.Block{CID: b.Cid(), Data: b.RawData()})
	}
	return br.Roots, blocks
}

func writeCAR(t *testing.T, path string, roots []cid.Cid, blocks []lineage.Block) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := storage.NewWritable(f, roots, carv2.WriteAsCarV1(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := w.Put(context.Background(), string(b.CID.Bytes()), b.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finalize(); err != nil {
		t.Fatal(err)
	}
}

// flipSig returns the block re-encoded with one signature bit flipped and
// named by its new CID: a well-formed record whose signature fails.
func flipSig(t *testing.T, b lineage.Block) lineage.Block {
	t.Helper()
	rec, err := lineage.Decode(b.Data)
	if err != nil {
		t.Fatal(err)
	}
	rec.Sig = slices.Clone(rec.Sig)
	rec.Sig[10] ^= 0x01
	bad, err := rec.Block()
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

func TestImportRefuses(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := pipeline(t, home) // chain A: raw <- mid <- fin
	// Chain B, which the bad files carry.
	writeFile(t, dir, "srcB", "b source\n", time.Time{})
	recB := record(t, dir, home, "--out", "srcB")["srcB"]
	recOutB := record(t, dir, home, "--in", "srcB", "--out", "outB", "--", "sh", "-c", "rev srcB > outB")["outB"]
	targetA := hashOf(t, filepath.Join(dir, "fin")).String()
	srcB := hashOf(t, filepath.Join(dir, "srcB")).String()
	outB := hashOf(t, filepath.Join(dir, "outB")).String()

	files := t.TempDir()
	goodA := filepath.Join(files, "a.car")
	wantCode(t, bonsai(t, dir, home, "export", "--car", goodA, "fin"), 0)
	goodB := filepath.Join(files, "b.car")
	wantCode(t, bonsai(t, dir, home, "export", "--car", goodB, "outB"), 0)
	_, blocksB := readCAR(t, goodB)
	var srcBlock, outBlock lineage.Block
	for _, b := range blocksB {
		switch {
		case b.CID.Equals(recB):
			srcBlock = b
		case b.CID.Equals(recOutB):
			outBlock = b
		}
	}
	if srcBlock.Data == nil || outBlock.Data == nil {
		t.Fatalf("CAR of outB = %v, want records %s and %s", blocksB, recB, recOutB)
	}
	bad := flipSig(t, outBlock)

	badCAR := filepath.Join(files, "bad-sig.car")
	writeCAR(t, badCAR, []cid.Cid{bad.CID}, []lineage.Block{srcBlock, bad})
	badRaw := filepath.Join(files, "bad-sig.block")
	if err := os.WriteFile(badRaw, bad.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	// A block whose bytes do not hash to the CID the CAR gives it.
	mismatch := filepath.Join(files, "mismatch.car")
	other := outBlock
	other.CID = recB
	writeCAR(t, mismatch, []cid.Cid{recB}, []lineage.Block{other})
	data, err := os.ReadFile(goodB)
	if err != nil {
		t.Fatal(err)
	}
	truncated := filepath.Join(files, "truncated.car")
	if err := os.WriteFile(truncated, data[:len(data)-7], 0o644); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(files, "garbage")
	if err := os.WriteFile(garbage, bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(files, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	fresh, _ := initHome(t)
	r := bonsai(t, "", fresh, "import", goodA)
	wantCode(t, r, 0)

	for _, tc := range []struct {
		name string
		args []string
		subs []string
	}{
		{"bad signature in CAR", []string{badCAR}, []string{"bad-sig.car", "record " + bad.CID.String(), "bad signature", "nothing imported"}},
		{"bad signature raw block", []string{badRaw}, []string{"bad-sig.block", "record " + bad.CID.String(), "bad signature"}},
		{"good file then bad file", []string{goodB, badCAR}, []string{"bad-sig.car", bad.CID.String(), "bad signature"}},
		{"CID mismatch", []string{mismatch}, []string{"mismatch.car", recB.String(), "mismatch"}},
		{"truncated CAR", []string{truncated}, []string{"truncated.car", "corrupt CAR"}},
		{"garbage", []string{garbage}, []string{"garbage", "neither a CAR file"}},
		{"empty", []string{empty}, []string{"empty"}},
		{"missing file", []string{filepath.Join(files, "nope")}, []string{"nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bonsai(t, "", fresh, append([]string{"import"}, tc.args...)...)
			wantOneLineError(t, r, false, tc.subs...)
			if r.stdout != "" {
				t.Errorf("import %s stdout = %q, want nothing", tc.name, r.stdout)
			}
		})
	}
	wantOneLineError(t, bonsai(t, "", fresh, "import"), true, "at least one FILE")

	// The store is as it was: chain A verifies, nothing of chain B is there.
	j := verifyJSON(t, "", fresh, 0, targetA)
	if len(j.Nodes) != 3 || j.Records != 3 {
		t.Errorf("verify chain A after refused imports = %d nodes %d records, want 3 and 3", len(j.Nodes), j.Records)
	}
	for _, c := range []string{srcB, outB} {
		j := verifyJSON(t, "", fresh, 1, c)
		if len(j.Nodes) != 1 || j.Nodes[0].Verdict != "no-record" {
			t.Errorf("verify %s after refused imports = %+v, want one no-record node", c, j.Nodes)
		}
	}
	for _, c := range []cid.Cid{recB, recOutB, bad.CID} {
		wantOneLineError(t, bonsai(t, "", fresh, "show", c.String()), false, "not in local store")
	}
}

func TestStoreLocked(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := pipeline(t, home)
	st, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inUse := fmt.Sprintf("in use by pid %d", os.Getpid())
	for _, args := range [][]string{
		{"verify", "fin"},
		{"record", "--in", "raw", "--out", "mid"},
		{"log", "fin"},
		{"init"},
	} {
		r := bonsaiEnv(t, dir, home, []string{"BONSAI_LOCK_WAIT=0"}, args...)
		wantOneLineError(t, r, false, inUse)
	}
	// In this process the flock is per open file: refused as well.
	r := inProcess(t, home, "--lock-wait", "0", "verify", filepath.Join(dir, "fin"))
	wantOneLineError(t, r, false, inUse)

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, bonsai(t, dir, home, "verify", "fin"), 0)
	r = bonsai(t, dir, home, "log", "--json", "mid")
	if list := decodeJSON[[]recJSON](t, r); len(list) != 1 {
		t.Errorf("records of mid after refused record = %d, want 1", len(list))
	}
}

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
