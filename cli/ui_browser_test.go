package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds the whole browser test: the daemon's start, the
// browser's, and every step in the page.
const browserTimeout = 90 * time.Second

// uiLinePrefix starts the daemon's stderr line saying where the web view is.
const uiLinePrefix = "bonsai: web view (read-only) on "

// startUIDaemon runs `bonsai daemon --ui 127.0.0.1:0` for home as a real
// process and returns the web view's URL, read from the line the daemon
// writes on stderr when it is up. The daemon is stopped with SIGTERM at
// cleanup and must exit 0.
func startUIDaemon(t *testing.T, ctx context.Context, home string) string {
	t.Helper()
	// Its own context: the test's ends before the cleanup stops it.
	dctx, dcancel := context.WithTimeout(context.Background(), browserTimeout+30*time.Second)
	cmd := exec.CommandContext(dctx, bonsaiBin, "--home", home, "daemon", "--enforce=false",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--ui", "127.0.0.1:0")
	cmd.Env = childEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		dcancel()
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		log bytes.Buffer
	)
	found := make(chan string, 1)
	ready := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			mu.Lock()
			log.WriteString(line + "\n")
			mu.Unlock()
			if url, ok := strings.CutPrefix(line, uiLinePrefix); ok {
				found <- url
			}
			if strings.Contains(line, "daemon ready") {
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	daemonLog := func() string { mu.Lock(); defer mu.Unlock(); return log.String() }
	t.Cleanup(func() {
		defer dcancel()
		_ = cmd.Process.Signal(syscall.SIGTERM)
		<-scanned // the pipe closes when the daemon exits (or dctx kills it)
		if err := cmd.Wait(); err != nil {
			t.Errorf("daemon exit after SIGTERM = %v\n%s", err, daemonLog())
		}
	})
	var url string
	select {
	case url = <-found:
	case <-scanned:
		t.Fatalf("daemon exited before saying where its web view is:\n%s", daemonLog())
	case <-ctx.Done():
		t.Fatalf("daemon did not say where its web view is: %v\n%s", ctx.Err(), daemonLog())
	}
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatalf("daemon not ready: %v\n%s", ctx.Err(), daemonLog())
	}
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0/") {
		t.Fatalf("web view URL = %q, want http://127.0.0.1:PORT/ with the port bound", url)
	}
	return url
}

// pageErrors collects what the page reports as an error: console.error
// calls, uncaught exceptions, and the browser's own error log entries
// (a script or style the CSP refused, a failed load).
type pageErrors struct {
	mu   sync.Mutex
	errs []string
}

func (p *pageErrors) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		var args []string
		for _, a := range ev.Args {
			args = append(args, string(a.Value)+a.Description)
		}
		msg = "console.error: " + strings.Join(args, " ")
	case *runtime.EventExceptionThrown:
		msg = "uncaught exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			msg += " " + ev.ExceptionDetails.Exception.Description
		}
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("browser log (%s): %s %s", ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
	default:
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.errs = append(p.errs, msg)
}

// check fails the test with every error the page reported so far.
func (p *pageErrors) check(t *testing.T, step string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.errs {
		t.Errorf("%s: page error: %s", step, e)
	}
	if len(p.errs) > 0 {
		t.FailNow()
	}
}

// uiNode is a node of the drawn graph, as the page's DOM has it.
type uiNode struct {
	Output  string `json:"output"`
	Verdict string `json:"verdict"`
	OK      string `json:"ok"`
	Records string `json:"records"`
}

// uiView is what a lookup shows, read from the page's DOM.
type uiView struct {
	Target   string   `json:"target"`
	Verified string   `json:"verified"`
	Summary  string   `json:"summary"`
	Changed  string   `json:"changed"` // the warning's text, empty when hidden
	Nodes    []uiNode `json:"nodes"`
	Edges    []string `json:"edges"`   // "from>to"
	Failing  []string `json:"failing"` // "verdict output"
	Legend   []string `json:"legend"`
}

const readView = `(() => {
  const r = document.getElementById('result');
  const ch = document.getElementById('changed');
  return {
    target: r.dataset.target || '',
    verified: r.dataset.verified || '',
    summary: document.getElementById('summary').textContent,
    changed: ch.hidden ? '' : ch.textContent,
    nodes: [...document.querySelectorAll('#graph .node')].map((n) => ({
      output: n.dataset.output, verdict: n.dataset.verdict, ok: n.dataset.ok, records: n.dataset.records })),
    edges: [...document.querySelectorAll('#graph line.edge')].map((e) => e.dataset.from + '>' + e.dataset.to),
    failing: [...document.querySelectorAll('#failing li[data-output]')].map((li) => li.dataset.verdict + ' ' + li.dataset.output),
    legend: [...document.querySelectorAll('#legend li[data-verdict]')].map((li) => li.dataset.verdict),
  };
})()`

// lookupInPage types q into the page's lookup form, submits it, waits for
// the answer to be drawn and reads it from the DOM.
func lookupInPage(t *testing.T, ctx context.Context, q string) uiView {
	t.Helper()
	// A lookup marks the result "loading", then "done" (or "error").
	err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#q"), q),
		chromedp.Click(chromedp.CSS("#go")),
		chromedp.WaitReady(chromedp.CSS(`#result[data-state="done"], #result[data-state="error"]`)),
	)
	if err != nil {
		t.Fatalf("lookup %s in the page: %v", q, err)
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[uiView](readView))
	if err != nil {
		t.Fatalf("read the page after looking up %s: %v", q, err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('error').textContent`))
	if err != nil || msg != "" {
		t.Fatalf("lookup %s: the page says %q (%v)", q, msg, err)
	}
	// The next lookup waits for its own answer.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById('result').dataset.state = ''`)); err != nil {
		t.Fatal(err)
	}
	return v
}

func nodeOf(v uiView, output string) (uiNode, bool) {
	for _, n := range v.Nodes {
		if n.Output == output {
			return n, true
		}
	}
	return uiNode{}, false
}

// screenshot writes the whole page as PNG to dir/name and checks it is
// an image of some size.
func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Size() == 0 {
		t.Fatalf("screenshot %s: %v, size %d; want a file of some bytes", path, err, st.Size())
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil || cfg.Width < 400 || cfg.Height < 300 {
		t.Fatalf("screenshot %s = %dx%d (%v), want a PNG of the page", path, cfg.Width, cfg.Height, err)
	}
	t.Logf("screenshot: %s (%d bytes, %dx%d)", path, st.Size(), cfg.Width, cfg.Height)
}

// TestWebViewInBrowser: the daemon's web view, in headless Chromium. A
// known 3-step ancestry (a source, then a, b and c each made from the one
// before) shows 3 verified records and its source, edges and the record
// of a clicked node; the pending outbox and the pins are listed; a file
// changed since it was recorded is said to be; after b's record is
// revoked, c (looked up by its SHA-256) shows b as its failing node. Any
// error in the page (console.error, an uncaught exception, a refused or
// failed load) fails the test. Screenshots go to the test's temp dir.
func TestWebViewInBrowser(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skipf("no chromium on PATH (Debian package chromium; .ci/run installs it): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	defer cancel()

	home, id := initHome(t)
	dir := t.TempDir()
	writeFile(t, dir, "src", "source data\n", fixedTime)
	rec := map[string]string{}
	for _, step := range []struct{ in, out, script string }{
		{"src", "a", "tr a-z A-Z < src > a"},
		{"a", "b", "cat a a > b"},
		{"b", "c", "rev b > c"},
	} {
		for path, c := range record(t, dir, home, "--in", step.in, "--out", step.out, "--", "sh", "-c", step.script) {
			rec[filepath.Base(path)] = c.String()
		}
	}
	content := map[string]string{}
	for _, name := range []string{"src", "a", "b", "c"} {
		content[name] = hashOf(t, filepath.Join(dir, name)).String()
	}
	cBytes, err := os.ReadFile(filepath.Join(dir, "c"))
	if err != nil {
		t.Fatal(err)
	}
	cSum := sha256.Sum256(cBytes)

	url := startUIDaemon(t, ctx, home)
	wantCode(t, bonsai(t, "", home, "pin", filepath.Join(dir, "c")), 0)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.Headless, chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses to sandbox itself as root (CI)
	}
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	var perr pageErrors
	if err := chromedp.Listen(bctx, perr.listen); err != nil {
		t.Fatalf("listen to the page: %v", err)
	}
	shots := t.TempDir()

	// The page and its panels: the three own records wait in the outbox
	// (no peer to publish to), c is pinned.
	if err := chromedp.Do(bctx, chromedp.Navigate(url), chromedp.WaitReady(chromedp.CSS(`body[data-panels="loaded"]`))); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	type panels struct {
		Pending string   `json:"pending"`
		Outbox  []string `json:"outbox"`
		Pins    []string `json:"pins"`
	}
	p, err := chromedp.Run(bctx, chromedp.Evaluate[panels](`({
	  pending: document.getElementById('outbox-summary').dataset.pending || '',
	  outbox: [...document.querySelectorAll('#outbox tbody tr')].map((tr) => tr.dataset.record),
	  pins: [...document.querySelectorAll('#pins tbody tr')].map((tr) => tr.dataset.output),
	})`))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b", "c"} {
		if !strings.Contains(strings.Join(p.Outbox, " "), rec[name]) {
			t.Errorf("outbox panel = %v, want %s's record %s pending", p.Outbox, name, rec[name])
		}
	}
	if n, err := strconv.Atoi(p.Pending); err != nil || n < 3 {
		t.Errorf("outbox pending = %q, want 3 or more", p.Pending)
	}
	if len(p.Pins) != 1 || p.Pins[0] != content["c"] {
		t.Errorf("pins panel = %v, want [%s] (c)", p.Pins, content["c"])
	}
	perr.check(t, "open")

	// c by its path: 3 verified records, then the source.
	v := lookupInPage(t, bctx, filepath.Join(dir, "c"))
	if v.Target != content["c"] || v.Verified != "true" || v.Changed != "" {
		t.Errorf("lookup c: target %s verified %s changed %q; want %s, true, no change", v.Target, v.Verified, v.Changed, content["c"])
	}
	tests := []struct {
		name, verdict, records string
	}{
		{"c", "verified", "1"}, {"b", "verified", "1"}, {"a", "verified", "1"}, {"src", "source", "0"},
	}
	if len(v.Nodes) != len(tests) {
		t.Errorf("lookup c: %d nodes drawn %v, want %d", len(v.Nodes), v.Nodes, len(tests))
	}
	verified := 0
	for _, tt := range tests {
		n, ok := nodeOf(v, content[tt.name])
		if !ok {
			t.Errorf("lookup c: node %s (%s) not drawn; nodes %v", tt.name, content[tt.name], v.Nodes)
			continue
		}
		if n.Verdict != tt.verdict || n.Records != tt.records || n.OK != "true" {
			t.Errorf("node %s = verdict %s, %s records, ok %s; want %s, %s, true", tt.name, n.Verdict, n.Records, n.OK, tt.verdict, tt.records)
		}
		if n.Verdict == "verified" {
			verified++
		}
	}
	if verified != 3 {
		t.Errorf("verified nodes drawn = %d, want 3", verified)
	}
	wantEdges := []string{content["src"] + ">" + content["a"], content["a"] + ">" + content["b"], content["b"] + ">" + content["c"]}
	for _, e := range wantEdges {
		if !strings.Contains(strings.Join(v.Edges, " "), e) {
			t.Errorf("edges = %v, want %s", v.Edges, e)
		}
	}
	if len(v.Failing) != 0 {
		t.Errorf("failing nodes of a verified ancestry = %v, want none", v.Failing)
	}
	if len(v.Legend) != 13 || !strings.Contains(v.Summary, "3 verified") || !strings.Contains(v.Summary, "1 source") {
		t.Errorf("legend %v, summary %q; want 13 verdicts and the counts", v.Legend, v.Summary)
	}

	// A click on b shows its record.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`#graph .node[data-output=%q]`, content["b"]))),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#detail[data-output=%q]`, content["b"])))); err != nil {
		t.Fatalf("click node b: %v", err)
	}
	fields, err := chromedp.Run(bctx, chromedp.Evaluate[map[string]string](`Object.fromEntries(
	  [...document.querySelectorAll('#detail-records dd[data-field]')].map((d) => [d.dataset.field, d.textContent]))`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"record": rec["b"], "verdict": "verified", "executor": id,
		"uid": strconv.Itoa(os.Getuid()), "inputs": content["a"]}
	for k, w := range want {
		if fields[k] != w {
			t.Errorf("record of b, field %s = %q, want %q", k, fields[k], w)
		}
	}
	if _, err := time.Parse(time.RFC3339, fields["time"]); err != nil || fields["program"] == "" {
		t.Errorf("record of b: time %q (%v), program %q; want an RFC 3339 time and the program's CID", fields["time"], err, fields["program"])
	}
	screenshot(t, bctx, shots, "verified.png")
	perr.check(t, "verified ancestry")

	// c changed since it was recorded: the page says so, and checks what
	// the file holds now, which fails: no record claims it.
	if err := os.WriteFile(filepath.Join(dir, "c"), []byte("tampered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v = lookupInPage(t, bctx, filepath.Join(dir, "c"))
	now := hashOf(t, filepath.Join(dir, "c")).String()
	if v.Target != now || !strings.Contains(v.Changed, "Changed since recorded") || !strings.Contains(v.Changed, content["c"]) {
		t.Errorf("lookup changed c: target %s, warning %q; want %s and a warning naming the recorded %s", v.Target, v.Changed, now, content["c"])
	}
	if n, ok := nodeOf(v, now); !ok || n.Verdict != "no-record" || n.OK != "false" || len(v.Nodes) != 1 || v.Verified != "false" {
		t.Errorf("lookup changed c: verified %s, nodes %v; want only %s, no-record", v.Verified, v.Nodes, now)
	}
	if want := "no-record " + now; len(v.Failing) != 1 || v.Failing[0] != want {
		t.Errorf("failing nodes of changed c = %v, want [%s]", v.Failing, want)
	}

	// b's record revoked: c's recorded content, by its SHA-256, fails at b.
	wantCode(t, bonsai(t, "", home, "revoke", "--reason", "compromised build", rec["b"]), 0)
	v = lookupInPage(t, bctx, hex.EncodeToString(cSum[:]))
	if v.Target != content["c"] || v.Verified != "false" {
		t.Errorf("lookup c by SHA-256 after revoking b: target %s verified %s, want %s, false", v.Target, v.Verified, content["c"])
	}
	if n, ok := nodeOf(v, content["b"]); !ok || n.Verdict != "revoked" || n.OK != "false" {
		t.Errorf("node b after its record's revocation = %+v (drawn %v), want revoked, not ok", n, ok)
	}
	if n, ok := nodeOf(v, content["c"]); !ok || n.OK != "false" {
		t.Errorf("node c above revoked b = %+v (drawn %v), want not ok", n, ok)
	}
	if want := "revoked " + content["b"]; len(v.Failing) != 1 || v.Failing[0] != want {
		t.Errorf("failing nodes = %v, want [%s]", v.Failing, want)
	}
	screenshot(t, bctx, shots, "revoked.png")
	perr.check(t, "revoked ancestry")

	// The address names the lookup: the last one is in it, and opening a
	// link with ?q= looks up at once (here a's record CID: a verifies).
	loc, err := chromedp.Run(bctx, chromedp.Evaluate[string](`location.search`))
	if err != nil || loc != "?q="+hex.EncodeToString(cSum[:]) {
		t.Errorf("address after a lookup: %q (%v), want ?q= and the query", loc, err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(url+"?q="+rec["a"]),
		chromedp.WaitReady(chromedp.CSS(`#result[data-state="done"], #result[data-state="error"]`))); err != nil {
		t.Fatalf("open a link to a's record: %v", err)
	}
	v, err = chromedp.Run(bctx, chromedp.Evaluate[uiView](readView))
	if err != nil {
		t.Fatal(err)
	}
	if v.Target != content["a"] || v.Verified != "true" {
		t.Errorf("linked lookup of a's record: target %s verified %s, want %s, true", v.Target, v.Verified, content["a"])
	}
	perr.check(t, "linked lookup")
}
