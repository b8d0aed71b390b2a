//go:build linux

package cli_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needRoot skips, with the reason printed, where eBPF capture cannot run.
// CI runs as root, so these tests run there.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("bonsai run needs root (CAP_BPF, CAP_PERFMON, cgroups): skipped as uid", os.Geteuid())
	}
}

type observed struct {
	Path       string
	Output     string
	Record     string
	Inputs     []string `json:"input_paths"`
	Program    string
	Incomplete bool
}

// runDoc is what `bonsai run --json` prints.
type runDoc struct {
	Outputs []observed
	Summary struct {
		Status    int
		Processes int
		Events    map[string]uint64
		Lost      map[string]uint64
		Gaps      []struct {
			What    string
			PID     uint32
			Path    string
			Outputs []string
		}
	}
}

// parseRun decodes `bonsai run --json` output and checks that the capture
// missed nothing: no event lost, no gap, no output incomplete.
func parseRun(t *testing.T, r result) runDoc {
	t.Helper()
	var doc runDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("run --json output: %v\n%s", err, r)
	}
	for k, n := range doc.Summary.Lost {
		if n != 0 {
			t.Errorf("lost %d %s events", n, k)
		}
	}
	for _, g := range doc.Summary.Gaps {
		t.Errorf("capture gap: %+v", g)
	}
	for _, o := range doc.Outputs {
		if o.Incomplete {
			t.Errorf("%s recorded incomplete: %s", o.Path, r.stderr)
		}
	}
	if doc.Summary.Processes == 0 || doc.Summary.Events["exec"] == 0 {
		t.Errorf("summary %+v: no process or exec seen", doc.Summary)
	}
	return doc
}

// edges renders outputs as "out<-in1,in2" with paths relative to dir.
func edges(dir string, obs []observed) []string {
	rel := func(p string) string {
		r, err := filepath.Rel(dir, p)
		if err != nil || strings.HasPrefix(r, "..") {
			return p
		}
		return r
	}
	var out []string
	for _, o := range obs {
		var ins []string
		for _, in := range o.Inputs {
			ins = append(ins, rel(in))
		}
		out = append(out, rel(o.Path)+"<-"+strings.Join(ins, ","))
	}
	slices.Sort(out)
	return out
}

// runCaptured runs `bonsai run --json -- sh -c script` in dir and returns
// the observed edges as "out<-in1,in2" with paths relative to dir.
func runCaptured(t *testing.T, dir, home, script string) ([]string, []observed) {
	t.Helper()
	r := bonsai(t, dir, home, "run", "--json", "--", "sh", "-c", script)
	wantCode(t, r, 0)
	doc := parseRun(t, r)
	return edges(dir, doc.Outputs), doc.Outputs
}

func TestRunCapture(t *testing.T) {
	needRoot(t)
	tests := []struct {
		name   string
		files  map[string]string
		script string
		want   []string
	}{
		{"shell pipeline", map[string]string{"a": "b\na\nc\n", "c": "z\n"},
			"sort a > b; cat b c > d; tr a-z A-Z < d > e", []string{"b<-a", "d<-b,c", "e<-d"}},
		{"pipe", map[string]string{"a": "b\na\n"}, "cat a | sort > f", []string{"f<-a"}},
		{"atomic rename", map[string]string{"a": "data\n"}, "cp a t && mv t g", []string{"g<-a"}},
		{"dd byte by byte", map[string]string{"a": strings.Repeat("x", 4096)}, "dd if=a of=o bs=1 status=none", []string{"o<-a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home, dir := t.TempDir(), t.TempDir()
			wantCode(t, bonsai(t, dir, home, "init"), 0)
			for name, body := range tt.files {
				writeFile(t, dir, name, body, time.Time{})
			}
			got, _ := runCaptured(t, dir, home, tt.script)
			if !slices.Equal(got, tt.want) {
				t.Errorf("run %q: edges = %v, want %v", tt.script, got, tt.want)
			}
		})
	}
}

func TestRunVerifiesDepth3(t *testing.T) {
	needRoot(t)
	home, dir := t.TempDir(), t.TempDir()
	wantCode(t, bonsai(t, dir, home, "init"), 0)
	writeFile(t, dir, "a", "b\na\nc\n", time.Time{})
	writeFile(t, dir, "c", "z\n", time.Time{})
	runCaptured(t, dir, home, "sort a > b; cat b c > d; tr a-z A-Z < d > e")
	v := bonsai(t, dir, home, "verify", "--json", "e")
	wantCode(t, v, 0)
	var res struct {
		Verified bool
		Nodes    []struct {
			Path    string
			Depth   int
			Verdict string
		}
	}
	if err := json.Unmarshal([]byte(v.stdout), &res); err != nil {
		t.Fatal(err)
	}
	depth := 0
	for _, n := range res.Nodes {
		depth = max(depth, n.Depth)
	}
	if !res.Verified || depth != 3 {
		t.Errorf("verify e: verified=%v depth=%d, want true, 3 (%+v)", res.Verified, depth, res.Nodes)
	}
}

// TestRunCompile: a real gcc build; prog's lineage reaches main.c and
// util.c through gcc's temporary files, which are not outputs.
func TestRunCompile(t *testing.T) {
	needRoot(t)
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed: .ci/run installs it")
	}
	home, dir := t.TempDir(), t.TempDir()
	wantCode(t, bonsai(t, dir, home, "init"), 0)
	writeFile(t, dir, "main.c", "int util(void);\nint main(void) { return util(); }\n", time.Time{})
	writeFile(t, dir, "util.c", "int util(void) { return 0; }\n", time.Time{})
	got, obs := runCaptured(t, dir, home, "gcc -o prog main.c util.c")
	if len(obs) != 1 || filepath.Base(obs[0].Path) != "prog" {
		t.Fatalf("outputs = %v, want only prog (temporaries are not outputs)", got)
	}
	if !slices.Contains(got[0:1], "prog<-main.c,util.c") {
		t.Errorf("edges = %v, want prog<-main.c,util.c", got)
	}
	wantCode(t, bonsai(t, dir, home, "verify", "prog"), 0)
}

// TestRunScope: a process outside the run writes into the same directory
// while the run is going on; it produces nothing.
func TestRunScope(t *testing.T) {
	needRoot(t)
	home, dir := t.TempDir(), t.TempDir()
	wantCode(t, bonsai(t, dir, home, "init"), 0)
	writeFile(t, dir, "a", "data\n", time.Time{})
	fifo := filepath.Join(dir, "go")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bonsaiBin, "--home", home, "run", "--json", "--", "sh", "-c", "read x < go; cat a > o")
	cmd.Dir, cmd.Env = dir, childEnv()
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Out of scope: this test process writes a file, then releases the run.
	if err := os.WriteFile(filepath.Join(dir, "outside"), []byte("not captured\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fifo, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bonsai run: %v\n%s", err, out.String())
	}
	doc := parseRun(t, result{stdout: out.String()})
	if len(doc.Outputs) != 1 || filepath.Base(doc.Outputs[0].Path) != "o" {
		t.Errorf("outputs = %+v, want only o", doc.Outputs)
	}
}

func TestRunExitStatus(t *testing.T) {
	needRoot(t)
	home, dir := t.TempDir(), t.TempDir()
	wantCode(t, bonsai(t, dir, home, "init"), 0)
	wantCode(t, bonsai(t, dir, home, "run", "sh", "-c", "exit 3"), 3)
	// Killed by a signal: 128+N, as a shell says.
	wantCode(t, bonsai(t, dir, home, "run", "sh", "-c", "kill -TERM $$"), 128+int(syscall.SIGTERM))
}

// TestRunInodeReuse: one process writes and deletes temporary files in a
// loop while another writes outputs in the same directory; ext4 gives the
// outputs the inodes of deleted temporaries. No output names a file its
// writer never read.
func TestRunInodeReuse(t *testing.T) {
	needRoot(t)
	home, dir := t.TempDir(), t.TempDir()
	wantCode(t, bonsai(t, dir, home, "init"), 0)
	for i := range 5 {
		writeFile(t, dir, fmt.Sprintf("src%d", i), fmt.Sprintf("source %d\n", i), time.Time{})
	}
	got, _ := runCaptured(t, dir, home, `
		(i=0; while [ $i -lt 300 ]; do echo $i > tmp$i; cat tmp$i > /dev/null; rm tmp$i; i=$((i+1)); done) &
		i=0; while [ $i -lt 60 ]; do cat src$((i % 5)) > out$i; i=$((i+1)); done
		wait`)
	var want []string
	for i := range 60 {
		want = append(want, fmt.Sprintf("out%d<-src%d", i, i%5))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("edges:\n%v\nwant:\n%v", got, want)
	}
}

// TestRunShortLived: processes that change directory and exit at once;
// their relative paths are resolved in the kernel at the event, so every
// output is named and nothing is missing.
func TestRunShortLived(t *testing.T) {
	needRoot(t)
	home, dir := t.TempDir(), t.TempDir()
	wantCode(t, bonsai(t, dir, home, "init"), 0)
	writeFile(t, dir, "a", "data\n", time.Time{})
	var want []string
	for i := range 40 {
		if err := os.Mkdir(filepath.Join(dir, fmt.Sprint("d", i)), 0o755); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("d%d/o<-a", i))
	}
	slices.Sort(want)
	got, _ := runCaptured(t, dir, home, `i=0; while [ $i -lt 40 ]; do (cd d$i && exec cp ../a o); i=$((i+1)); done`)
	if !slices.Equal(got, want) {
		t.Errorf("edges:\n%v\nwant:\n%v", got, want)
	}
}

// TestRunWithoutPrivileges: as an ordinary user, bonsai run says which
// capabilities it lacks and points to bonsai record.
func TestRunWithoutPrivileges(t *testing.T) {
	needRoot(t) // to become someone else
	dir := t.TempDir()
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	bin := nobodyBinary(t)
	cmd := exec.Command(bin, "--home", filepath.Join(dir, "h"), "run", "true")
	cmd.Dir, cmd.Env = dir, childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	init := exec.Command(bin, "--home", filepath.Join(dir, "h"), "init")
	init.Dir, init.Env, init.SysProcAttr = dir, childEnv(), cmd.SysProcAttr
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("init as nobody: %v: %s", err, out)
	}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("run as nobody: %v, want exit 2\n%s", err, out)
	}
	for _, want := range []string{"CAP_BPF", "CAP_PERFMON", "bonsai record"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error %q does not mention %s", out, want)
		}
	}
}
