package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/cli"
	"github.com/bonsai-lineage/bonsai/node/store"
	urfave "github.com/urfave/cli/v2"
)

// hostileCase is one probe of issue 11's list: a command line, what it
// must exit with and say.
type hostileCase struct {
	item    int    // the numbered item (0: its "also seen")
	name    string // what is probed
	dir     string // working directory (the pipeline's when empty)
	args    []string
	env     []string
	stdout  string // a file standard output goes to (else captured)
	code    int
	oneLine bool     // stderr is exactly one "bonsai: " line
	errHas  []string // in stderr
	outHas  []string // in stdout
	outNot  []string // not in stdout
}

// runBinary runs the binary with stdout to a file when stdoutPath is set.
func runBinary(t *testing.T, dir string, env []string, stdoutPath string, args ...string) result {
	t.Helper()
	var out *os.File
	if stdoutPath != "" {
		f, err := os.OpenFile(stdoutPath, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		out = f
	}
	return execBonsai(t, cmdTimeout, dir, env, out, args...)
}

// TestHostileInput probes, over the real binary, every numbered item of
// issue 11 and its "also seen" list; afterwards everything stored before
// still verifies, unchanged.
func TestHostileInput(t *testing.T) {
	home, id := initHome(t)
	dir := pipeline(t, home)
	fin := filepath.Join(dir, "fin")
	finLog := bonsai(t, dir, home, "log", "--json", "fin")
	wantCode(t, finLog, 0)
	recFin := decodeJSON[[]recJSON](t, finLog)[0].Record

	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	odd := writeFile(t, dir, "two\nlines", "odd\n", fixedTime)
	spaced := writeFile(t, dir, "with space", "spaced\n", fixedTime)
	wantCode(t, bonsai(t, dir, home, "record", "--out", odd, spaced), 0)

	// Another node's ancestry, exported, to import here.
	homeB, idB := initHome(t)
	dirB := t.TempDir()
	writeFile(t, dirB, "b0", "B's source\n", fixedTime)
	record(t, dirB, homeB, "--out", "b0")
	writeFile(t, dirB, "b1", "B's product\n", fixedTime)
	record(t, dirB, homeB, "--in", "b0", "--out", "b1")
	carB := filepath.Join(t.TempDir(), "b.car")
	wantCode(t, bonsai(t, dirB, homeB, "export", "--car", carB, "b1"), 0)
	logB := bonsai(t, dirB, homeB, "log", "--json", "b1")
	wantCode(t, logB, 0)
	recB := decodeJSON[[]recJSON](t, logB)[0].Record

	unknown := "bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	badConfigHome, _ := initHome(t)
	if err := os.WriteFile(filepath.Join(badConfigHome, "config.json"), []byte(`{"replicaton": 3}`), 0o600); err != nil {
		t.Fatal(err)
	}

	H := func(args ...string) []string { return append([]string{"--home", home}, args...) }
	cases := []hostileCase{
		// 1. Output files.
		{item: 1, name: "export onto the exported file", args: H("export", "--car", fin, fin), code: 2, oneLine: true, errHas: []string{"exists: not replaced"}},
		{item: 1, name: "export onto a FIFO, even with --force", args: H("export", "--force", "--car", fifo, fin), code: 2, oneLine: true, errHas: []string{"FIFO"}},
		{item: 1, name: "export onto a device, even with --force", args: H("export", "--force", "--car", "/dev/full", fin), code: 2, oneLine: true, errHas: []string{"character device"}},
		// 2. FIFOs never block; signals stop commands (see TestSignalDuringFIFORead).
		{item: 2, name: "verify a FIFO", args: H("verify", fifo), code: 2, oneLine: true, errHas: []string{"not a regular file"}},
		{item: 2, name: "hash a FIFO", args: H("hash", fifo), code: 2, oneLine: true, errHas: []string{"not a regular file"}},
		{item: 2, name: "record a FIFO", args: H("record", "--out", fifo), code: 2, oneLine: true, errHas: []string{"not a regular file"}},
		{item: 2, name: "log a FIFO", args: H("log", fifo), code: 2, oneLine: true, errHas: []string{"not a regular file"}},
		// 3. Depth: --full cut by the depth limit is not verified (the
		// 100,000-record bound is TestVerifyDeepChainBounded).
		{item: 3, name: "--full cut by --depth", args: H("verify", "--full", "--depth", "1", "fin"), code: 1, outHas: []string{"depth-limit", "NOT VERIFIED"}},
		{item: 3, name: "--depth cut without --full", args: H("verify", "--depth", "1", "fin"), code: 0, outHas: []string{"verified: "}},
		// 5. Exit codes.
		{item: 5, name: "status of a missing CID", args: H("status", unknown), code: 2, oneLine: true, errHas: []string{unknown}},
		{item: 5, name: "show of a missing CID", args: H("show", unknown), code: 2, oneLine: true, errHas: []string{unknown}},
		{item: 5, name: "verify --timeout expiring", args: H("verify", "--timeout", "1ns", "fin"), code: 2, errHas: []string{"timed out after 1ns"}, outHas: []string{"INCOMPLETE: no verdict"}, outNot: []string{"NOT VERIFIED"}},
		{item: 5, name: "stdout to a full device", args: H("hash", fin), stdout: "/dev/full", code: 2, oneLine: true, errHas: []string{"write standard output", "no space left"}},
		{item: 5, name: "verify JSON to a full device", args: H("verify", "--json", fin), stdout: "/dev/full", code: 2, oneLine: true, errHas: []string{"no space left"}},
		{item: 5, name: "no store", args: []string{"--home", filepath.Join(t.TempDir(), "none"), "verify", fin}, code: 2, oneLine: true, errHas: []string{"bonsai init"}},
		// 6. Imported records are others'.
		{item: 6, name: "import another node's CAR", args: H("import", "--json", carB), code: 0, outHas: []string{`"added": 2`}},
		{item: 6, name: "status of an imported record", args: H("status", recB), code: 0, outHas: []string{"imported record", idB}, outNot: []string{"own record"}},
		{item: 6, name: "status of an own record", args: H("status", recFin), code: 0, outHas: []string{"own record"}},
		// 7. A record CID given to verify.
		{item: 7, name: "verify a record CID", args: H("verify", recFin), code: 0, outHas: []string{"verified: "}, errHas: []string{"is a record; verify its output"}},
		{item: 7, name: "verify a record CID not held", args: H("verify", "bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), code: 2, oneLine: true, errHas: []string{"record CID this node does not hold", "bonsai hash FILE"}},
		// 8. Daemon start-up (more in TestDaemonStartupErrors).
		{item: 8, name: "config.json with a typo", args: []string{"--home", badConfigHome, "daemon", "--listen", "/ip4/127.0.0.1/tcp/0"}, code: 2, oneLine: true, errHas: []string{`"replicaton"`, "config.json"}},
		{item: 8, name: "--metrics that cannot be served", args: H("daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--metrics", "nonsense"), code: 2, oneLine: true, errHas: []string{"metrics nonsense"}},
		// Also seen.
		{name: "bonsai version", args: []string{"version"}, code: 0, outHas: []string{"bonsai "}},
		{name: "flags after the positional argument", args: H("verify", "fin", "--json"), code: 0, outHas: []string{`"verified": true`}},
		{name: "a file named -x after --", args: H("hash", "--", "-x"), code: 2, oneLine: true, errHas: []string{"-x"}},
		{name: "a newline in a file name is escaped", args: H("hash", odd, spaced), code: 0, outHas: []string{`"` + strings.ReplaceAll(odd, "\n", `\n`) + `"`, `"` + spaced + `"`}},
		{name: "verify's tree escapes names", args: H("verify", odd), code: 0, outHas: []string{`two\nlines`}},
		{name: "one input, one root", args: H("export", "--car", filepath.Join(t.TempDir(), "x.car"), "fin"), code: 0, outHas: []string{"(1 root)"}},
		{name: "log: one input", args: H("log", "mid"), code: 0, outHas: []string{" 1 input ", "signature verified"}},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d %s", tc.item, tc.name), func(t *testing.T) {
			d := tc.dir
			if d == "" {
				d = dir
			}
			r := runBinary(t, d, tc.env, tc.stdout, tc.args...)
			if tc.oneLine {
				wantOneLineError(t, r, false, tc.errHas...)
			} else {
				wantCode(t, r, tc.code)
				for _, s := range tc.errHas {
					if !strings.Contains(r.stderr, s) {
						t.Errorf("stderr lacks %q\n%v", s, r)
					}
				}
			}
			if r.code != tc.code {
				t.Errorf("exit %d, want %d", r.code, tc.code)
			}
			for _, s := range tc.outHas {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q\n%v", s, r)
				}
			}
			for _, s := range tc.outNot {
				if strings.Contains(r.stdout, s) {
					t.Errorf("stdout has %q\n%v", s, r)
				}
			}
		})
	}

	// Nothing stored before was lost or changed.
	after := bonsai(t, dir, home, "log", "--json", "fin")
	wantCode(t, after, 0)
	if after.stdout != finLog.stdout {
		t.Errorf("log fin changed:\nbefore %s\nafter %s", finLog.stdout, after.stdout)
	}
	v := verifyJSON(t, dir, home, 0, "--full", "fin")
	if !v.Verified || v.Records != 3 || v.Executors[id] != 3 {
		t.Errorf("after the probes: verify --full fin = %+v", v)
	}
}

// TestSignalDuringFIFORead: a command reading a FIFO whose writer sends
// nothing stops at SIGTERM (143) or SIGINT (130), at once, saying so.
func TestSignalDuringFIFORead(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, bonsaiBin, "--home", home, "import", fifo)
			cmd.Env = childEnv()
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// A writer that opens without blocking succeeds only once the
			// reader is in open(2); it then sends nothing, so the reader
			// waits in read(2).
			var w *os.File
			for w == nil {
				f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
				switch {
				case err == nil:
					w = f
				case errors.Is(err, syscall.ENXIO) && ctx.Err() == nil:
					runtimeYield()
				default:
					t.Fatalf("open the FIFO for writing: %v (ctx %v)", err, ctx.Err())
				}
			}
			defer w.Close()
			start := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 128+int(sig) {
				t.Fatalf("import of a silent FIFO after %v: %v, want exit %d\n%s", sig, err, 128+int(sig), stderr.String())
			}
			if !strings.Contains(stderr.String(), "interrupted by SIG") || strings.Contains(stderr.String(), "did not stop") {
				t.Errorf("stderr %q: want 'interrupted by', promptly", stderr.String())
			}
			t.Logf("%v: stopped %v after the signal", sig, time.Since(start).Round(time.Millisecond))
		})
	}
}

// runtimeYield lets the child run between two polls of the FIFO.
func runtimeYield() { time.Sleep(5 * time.Millisecond) }

// TestConcurrentCommands: 20 commands at once on one store, no daemon:
// each waits its turn for the store's lock and succeeds.
func TestConcurrentCommands(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := t.TempDir()
	const n = 20
	var wg sync.WaitGroup
	results := make([]result, n)
	for i := range n {
		name := fmt.Sprintf("out%02d", i)
		writeFile(t, dir, name, name+"\n", fixedTime)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runBinaryNoFatal(dir, "--home", home, "record", "--out", name)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("record %d of %d concurrent: %v", i, n, r)
		}
	}
	for i := range n {
		v := verifyJSON(t, dir, home, 0, fmt.Sprintf("out%02d", i))
		if v.Records != 1 {
			t.Errorf("out%02d: %d records, want 1", i, v.Records)
		}
	}
	// --lock-wait 0 fails at once, in one line naming the holder.
	st := holdStore(t, home)
	wantOneLineError(t, bonsai(t, dir, home, "--lock-wait", "0", "verify", "out00"), false, "in use by pid")
	st()
}

// runBinaryNoFatal runs the binary from a goroutine other than the test's.
func runBinaryNoFatal(dir string, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bonsaiBin, args...)
	cmd.Dir, cmd.Env = dir, childEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	if err != nil && r.code == 0 {
		r.code, r.stderr = -1, r.stderr+err.Error()
	}
	return r
}

// TestUnwritableStore: a store another user owns, or on a read-only
// mount, is an error (exit 2) that says so, for every command.
func TestUnwritableStore(t *testing.T) {
	needRoot(t) // to become someone else
	home, _ := initHome(t)
	dir := pipeline(t, home)
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := nobodyBinary(t)
	for _, args := range [][]string{{"verify", "fin"}, {"record", "--out", "fin"}, {"log", "fin"}} {
		cmd := exec.Command(bin, append([]string{"--home", home}, args...)...)
		cmd.Dir, cmd.Env = dir, childEnv()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v as nobody on root's home: %v, want exit 2\n%s", args, err, stderr.String())
		}
		msg := stderr.String()
		if strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "permission denied") || strings.Contains(msg, "bonsai init") {
			t.Errorf("%v as nobody: %q, want one line saying permission denied", args, msg)
		}
	}
	wantCode(t, bonsai(t, dir, home, "verify", "--full", "fin"), 0)

	// A home on a read-only mount, even for root.
	if err := syscall.Mount(home, home, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount %s: %v", home, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(home, 0); err != nil {
			t.Errorf("unmount %s: %v", home, err)
		}
	})
	if err := syscall.Mount(home, home, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount %s read-only: %v", home, err)
	}
	for _, args := range [][]string{{"verify", "fin"}, {"record", "--out", "fin"}, {"gc"}} {
		wantOneLineError(t, bonsai(t, dir, home, args...), false, "read-only file system")
	}
}

// nobodyBinary is a copy of the binary that uid 65534 may execute.
func nobodyBinary(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{d, filepath.Dir(d)} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bonsaiBin)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(d, "bonsai")
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// TestRunKilledBySignal: a command of 'run' that dies by signal N exits
// 128+N, and what it wrote is recorded incomplete.
func TestRunKilledBySignal(t *testing.T) {
	needRoot(t)
	home, dir := t.TempDir(), t.TempDir()
	wantCode(t, bonsai(t, dir, home, "init"), 0)
	r := bonsai(t, dir, home, "run", "--json", "sh", "-c", "echo half > out; kill -KILL $$")
	wantCode(t, r, 128+int(syscall.SIGKILL))
	var doc runDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("run --json: %v\n%v", err, r)
	}
	if len(doc.Outputs) != 1 || !doc.Outputs[0].Incomplete {
		t.Fatalf("outputs of a killed command = %+v, want out incomplete", doc.Outputs)
	}
	if !strings.Contains(fmt.Sprint(doc.Summary.Gaps), "killed by SIGKILL") {
		t.Errorf("gaps %+v do not say the command was killed", doc.Summary.Gaps)
	}
}

// holdStore opens home's store in this process until the returned func.
func holdStore(t *testing.T, home string) func() {
	t.Helper()
	st, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}
}

// TestJSONNaming: every command's --json uses one scheme: snake_case
// keys, a record's CID under "record", never a bare "cid".
func TestJSONNaming(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := pipeline(t, home)
	logFin := bonsai(t, dir, home, "log", "--json", "fin")
	rec := decodeJSON[[]recJSON](t, logFin)[0].Record
	car := filepath.Join(t.TempDir(), "a.car")
	writeFile(t, dir, "new", "new\n", fixedTime)
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	for _, args := range [][]string{
		{"id", "--json"}, {"hash", "--json", "fin"}, {"record", "--json", "--in", "fin", "--out", "new"},
		{"verify", "--json", "fin"}, {"show", "--json", rec}, {"log", "--json", "fin"}, {"status", "--json", rec},
		{"export", "--json", "--car", car, "fin"}, {"import", "--json", car}, {"version", "--json"},
		{"export", "--json", "--intoto", car + ".jsonl", "--all", "fin"}, {"export", "--json", "--prov", car + ".prov.json", "fin"},
		{"policy", "list", "--json"}, {"audit", "--json"},
	} {
		r := bonsai(t, dir, home, args...)
		wantCode(t, r, 0)
		var v any
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Errorf("bonsai %v: not JSON: %v\n%s", args, err, r.stdout)
			continue
		}
		walkKeys(v, func(k string, val any) {
			if !snake.MatchString(k) || k == "cid" {
				t.Errorf("bonsai %v: key %q breaks the naming scheme", args, k)
			}
			if val == nil {
				t.Errorf("bonsai %v: key %q is null (a list is [], an absent value omitted)", args, k)
			}
		})
	}
}

func walkKeys(v any, f func(string, any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			// Maps keyed by data (peer IDs, verdicts) are values, not names.
			if !strings.HasPrefix(k, "12D3") && !strings.HasPrefix(k, "Qm") {
				f(k, e)
			}
			walkKeys(e, f)
		}
	case []any:
		for _, e := range x {
			walkKeys(e, f)
		}
	}
}

// TestHelpPlaceholders: every flag that takes a value names it in --help
// (--nodes N, not --nodes value).
func TestHelpPlaceholders(t *testing.T) {
	t.Parallel()
	app := cli.New(&bytes.Buffer{}, &bytes.Buffer{})
	var walk func(path string, cmds []*urfave.Command)
	check := func(path string, flags []urfave.Flag) {
		for _, f := range flags {
			if s := f.String(); strings.Contains(s, " value\t") {
				t.Errorf("%s: flag %q has no named placeholder", path, s)
			}
		}
	}
	walk = func(path string, cmds []*urfave.Command) {
		for _, c := range cmds {
			check(path+" "+c.Name, c.Flags)
			walk(path+" "+c.Name, c.Subcommands)
		}
	}
	check("bonsai", app.Flags)
	walk("bonsai", app.Commands)
}
