package enforce

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/ipfs/go-cid"
	"golang.org/x/sys/unix"
)

// guardFixture is a tmpfs mounted for one test (so the guard's mount mark
// covers nothing else), a guard over it with the given policies, and the
// audit events it sent.
type guardFixture struct {
	guard  *Guard
	dir    string
	res    fixtureResolver
	key    *signer.Key
	gen    atomic.Uint64
	mu     sync.Mutex
	events []Event
	added  chan struct{} // a ping per audit event
}

func newGuardFixture(t testing.TB, policies ...string) *guardFixture {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("fanotify permission events need root: run the tests as root (CI does)")
	}
	f := &guardFixture{dir: t.TempDir(), res: fixtureResolver{mapResolver: mapResolver{}, revs: map[cid.Cid][]*lineage.Revocation{}}, added: make(chan struct{}, 1)}
	if err := unix.Mount("tmpfs", f.dir, "tmpfs", 0, "size=16m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", f.dir, err)
	}
	t.Cleanup(func() { unix.Unmount(f.dir, unix.MNT_DETACH) })
	k, err := signer.Generate()
	if err != nil {
		t.Fatal(err)
	}
	f.key = k
	var ps []*Policy
	for _, text := range policies {
		ps = append(ps, policyOf(t, strings.ReplaceAll(text, "DIR", f.dir)))
	}
	g, err := NewGuard(WithResolver(f.res), WithPolicies(func() []*Policy { return ps }),
		WithGeneration(f.gen.Load), WithAudit(func(e Event) {
			f.mu.Lock()
			f.events = append(f.events, e)
			f.mu.Unlock()
			select {
			case f.added <- struct{}{}:
			default:
			}
		}), WithDecisionTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, p := range ps {
		paths = append(paths, p.Spec.Scope.Paths...)
	}
	if err := g.Mark(paths); err != nil {
		t.Fatal(err)
	}
	f.guard = g
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Guard.Run = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Guard.Run did not stop within 10 s of its context")
		}
	})
	return f
}

// write makes a file under the fixture's dir; recorded files get a record
// signed by the fixture's key (a source record: no inputs).
func (f *guardFixture) write(t *testing.T, name, body string, mode os.FileMode, recorded bool) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if recorded {
		rec := &lineage.Record{Output: content(t, body), Time: 1764000000}
		b, err := rec.Sign(f.key)
		if err != nil {
			t.Fatal(err)
		}
		f.res.mapResolver[rec.Output] = append(f.res.mapResolver[rec.Output], b)
		f.gen.Add(1)
		f.guard.Invalidate() // as the node does on every new generation
	}
	return p
}

// fixtureResolver serves records and revocations from memory.
type fixtureResolver struct {
	mapResolver
	revs map[cid.Cid][]*lineage.Revocation
}

func (r fixtureResolver) Revocations(record cid.Cid) []*lineage.Revocation { return r.revs[record] }

// changed starts a new generation, as the node does when records or
// revocations arrive.
func (f *guardFixture) changed() {
	f.gen.Add(1)
	f.guard.Invalidate()
}

// chained writes a file made from one input whose record f signs; it
// returns the file and the input's record block.
func (f *guardFixture) chained(t *testing.T, name string) (string, lineage.Block) {
	t.Helper()
	in := content(t, name+"-input")
	inRec := &lineage.Record{Output: in, Time: 1764000000}
	inBlk, err := inRec.Sign(f.key)
	if err != nil {
		t.Fatal(err)
	}
	body := name + " made from its input\n"
	top := &lineage.Record{Output: content(t, body), Inputs: []cid.Cid{in}, Time: 1764000001}
	topBlk, err := top.Sign(f.key)
	if err != nil {
		t.Fatal(err)
	}
	f.res.mapResolver[in] = []lineage.Block{inBlk}
	f.res.mapResolver[top.Output] = []lineage.Block{topBlk}
	p := filepath.Join(f.dir, "release", name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	f.changed()
	return p, inBlk
}

// waitEvents waits (10 s at most) until path has n audit events: a
// decision is answered first and audited after.
func (f *guardFixture) waitEvents(t *testing.T, path string, n int) []Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if es := f.eventsFor(path); len(es) >= n {
			return es
		}
		select {
		case <-f.added:
		case <-deadline:
			t.Fatalf("%s: %d audit events after 10 s, want %d", path, len(f.eventsFor(path)), n)
		}
	}
}

func (f *guardFixture) eventsFor(path string) []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var es []Event
	for _, e := range f.events {
		if e.Path == path {
			es = append(es, e)
		}
	}
	return es
}

// run runs a command as a child (the test process itself is the guard's
// own: always allowed) and returns its combined output and error.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v: no answer within 20 s (a permission event left waiting?)", name, args)
	}
	return string(out), err
}

// TestGuardOpensAndExecs: under an enforce policy, a file with a record
// opens and a script with one runs; a file with no record is refused
// (EPERM) to open and to exec; outside the scope, on the same mount,
// nothing changes; an allowed file's next open is answered by the kernel
// (an ignore mark: no event), until the file changes; a denied verdict is
// answered from the guard's cache; a new record (a new generation) is
// decided again.
func TestGuardOpensAndExecs(t *testing.T) {
	f := newGuardFixture(t, `apiVersion: bonsai/v1
kind: Policy
metadata: {name: release}
spec:
  mode: enforce
  scope: {paths: [DIR/release/]}
  rules: [{verifiedLineage: {full: true}}, {notRevoked: {}}]
`)
	good := f.write(t, "release/good.txt", "recorded\n", 0o644, true)
	stray := f.write(t, "release/stray.txt", "nobody made this\n", 0o644, false)
	outside := f.write(t, "other/free.txt", "not guarded\n", 0o644, false)
	script := f.write(t, "release/ok.sh", "#!/bin/sh\necho script ran\n", 0o755, true)
	badScript := f.write(t, "release/bad.sh", "#!/bin/sh\necho should not run\n", 0o755, false)

	for _, tc := range []struct {
		name string
		cmd  []string
		ok   bool
		out  string
	}{
		{"recorded file opens", []string{"cat", good}, true, "recorded\n"},
		{"file with no record is denied", []string{"cat", stray}, false, "Operation not permitted"},
		{"outside the scope", []string{"cat", outside}, true, "not guarded\n"},
		{"recorded script runs", []string{script}, true, "script ran\n"},
		{"script with no record does not run", []string{badScript}, false, "operation not permitted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := run(t, tc.cmd[0], tc.cmd[1:]...)
			if err != nil {
				out += err.Error()
			}
			if (err == nil) != tc.ok || !strings.Contains(out, tc.out) {
				t.Errorf("%v: err=%v out=%q, want ok=%v and %q", tc.cmd, err, out, tc.ok, tc.out)
			}
		})
	}
	if es := f.waitEvents(t, stray, 1); es[0].Decision != "deny" || es[0].Rule != "verifiedLineage" || es[0].Program == "" || es[0].CID == "" {
		t.Errorf("audit of the denied open = %+v", es)
	}
	if es := f.waitEvents(t, badScript, 1); es[len(es)-1].Decision != "deny" {
		t.Errorf("audit of the denied exec = %+v", es)
	} else if !slicesContainsKind(es, "exec") {
		t.Errorf("no exec event for %s: %+v", badScript, es)
	}
	if es := f.eventsFor(outside); len(es) != 0 {
		t.Errorf("opens outside the scope were audited: %+v", es)
	}

	// The same file again: the kernel answers (an ignore mark), no event
	// reaches the guard; a denied file still makes one.
	before := f.guard.Events()
	if _, err := run(t, "cat", good); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "cat", stray); err == nil {
		t.Fatal("second cat of a file with no record succeeded")
	}
	if got := f.guard.Events() - before; got != 1 {
		t.Errorf("second opens of an allowed and a denied file made %d events, want 1 (the denied one)", got)
	}
	// Modified: the kernel drops the mark; the new content has no record.
	if err := os.WriteFile(good, []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, "cat", good); err == nil {
		t.Errorf("cat of %s after it changed (no record of the new content) = %q, want EPERM", good, out)
	}
	// A denied verdict is cached in the guard: the same unchanged file
	// again is answered from the cache.
	if _, err := run(t, "cat", good); err == nil {
		t.Fatal("cat of the changed file succeeded")
	}
	if es := f.waitEvents(t, good, 3); !es[len(es)-1].Cached || es[len(es)-1].Decision != "deny" {
		t.Errorf("third decision on %s = %+v, want a cached deny", good, es[len(es)-1])
	}
	// Record the stray file now: a new generation, decided again, allowed.
	f.write(t, "release/stray.txt", "nobody made this\n", 0o644, true)
	if out, err := run(t, "cat", stray); err != nil {
		t.Errorf("cat of %s after its record: %v %q", stray, err, out)
	}
}

func slicesContainsKind(es []Event, kind string) bool {
	for _, e := range es {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

// TestGuardAuditMode: an audit policy decides and logs, and never denies.
func TestGuardAuditMode(t *testing.T) {
	f := newGuardFixture(t, `apiVersion: bonsai/v1
kind: Policy
metadata: {name: watch}
spec:
  mode: audit
  scope: {paths: [DIR/]}
  rules: [{verifiedLineage: {}}]
`)
	stray := f.write(t, "stray.txt", "unrecorded\n", 0o644, false)
	if out, err := run(t, "cat", stray); err != nil || out != "unrecorded\n" {
		t.Fatalf("cat under an audit policy: %v %q", err, out)
	}
	es := f.waitEvents(t, stray, 1)
	if es[0].Decision != "audit-deny" || es[0].Mode != Audit {
		t.Errorf("audit events = %+v, want audit-deny", es)
	}
}

// TestGuardForgedAndRevoked: a file whose ancestry holds a forged record,
// or a record its executor revoked, is refused (EPERM); a file allowed
// before its ancestor was revoked is refused once the revocation is in
// (its ignore mark dropped with the new generation).
func TestGuardForgedAndRevoked(t *testing.T) {
	f := newGuardFixture(t, `apiVersion: bonsai/v1
kind: Policy
metadata: {name: release}
spec:
  mode: enforce
  scope: {paths: [DIR/release/]}
  rules: [{verifiedLineage: {}}, {notRevoked: {}}]
`)
	forged, inBlk := f.chained(t, "forged")
	data := append([]byte(nil), inBlk.Data...)
	data[len(data)-1] ^= 1 // the signature's last byte
	rec, err := lineage.Decode(inBlk.Data)
	if err != nil {
		t.Fatal(err)
	}
	f.res.mapResolver[rec.Output] = []lineage.Block{{CID: lineage.RecordCID(data), Data: data}}
	f.changed()
	if out, err := run(t, "cat", forged); err == nil || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("cat of a file with a forged ancestor: %v %q, want EPERM", err, out)
	}

	revoked, inBlk2 := f.chained(t, "revoked")
	if out, err := run(t, "cat", revoked); err != nil {
		t.Fatalf("cat before the revocation: %v %q", err, out)
	}
	v := &lineage.Revocation{Target: inBlk2.CID, Reason: "compiler compromised", Time: 1764000100}
	if _, err := v.Sign(f.key); err != nil {
		t.Fatal(err)
	}
	f.res.revs[inBlk2.CID] = []*lineage.Revocation{v}
	f.changed()
	if out, err := run(t, "cat", revoked); err == nil || !strings.Contains(out, "Operation not permitted") {
		t.Errorf("cat of a file whose ancestor its executor revoked: %v %q, want EPERM", err, out)
	}
	es := f.waitEvents(t, revoked, 2)
	if last := es[len(es)-1]; last.Decision != "deny" || last.Rule != "notRevoked" || !strings.Contains(last.Reason, "compiler compromised") {
		t.Errorf("audit of the revoked file = %+v", last)
	}
}
