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
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/cli"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
)

// cmdTimeout bounds one run of the binary.
const cmdTimeout = 30 * time.Second

// usageHint is the second stderr line of a usage error, and of nothing else.
const usageHint = "bonsai: run 'bonsai help' or 'bonsai COMMAND --help' for usage"

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
