package store_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/internal/testrec"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
)

func openStore(t *testing.T, home string) *store.Store {
	t.Helper()
	st, err := store.Open(home)
	if err != nil {
		t.Fatalf("Open(%s) = %v", home, err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func contentOf(t testing.TB, s string) cid.Cid { return testrec.Content(t, s) }

func block(t testing.TB, key byte, out string, time int64, inputs ...string) lineage.Block {
	return testrec.Block(t, key, out, time, inputs...)
}

func TestPutResolve(t *testing.T) {
	st := openStore(t, t.TempDir())
	old := block(t, 1, "out", 100, "a")
	newer := block(t, 2, "out", 200, "b")
	n, err := st.Put([]lineage.Block{old, newer}, nil)
	if err != nil || n != 2 {
		t.Fatalf("Put = %d, %v; want 2, nil", n, err)
	}
	if n, err := st.Put([]lineage.Block{old}, nil); err != nil || n != 0 {
		t.Errorf("Put(again) = %d, %v; want 0, nil", n, err)
	}
	claims, err := st.Claims(contentOf(t, "out"))
	if err != nil {
		t.Fatal(err)
	}
	if len(claims) != 2 || claims[0].Record != newer.CID || claims[1].Record != old.CID {
		t.Errorf("Claims = %v, want newest (%s) first then %s", claims, newer.CID, old.CID)
	}
	blocks, err := st.Resolve(context.Background(), contentOf(t, "out"))
	if err != nil || len(blocks) != 2 {
		t.Fatalf("Resolve = %d blocks, %v; want 2", len(blocks), err)
	}
	for _, b := range blocks {
		if _, err := lineage.Open(b.CID, b.Data); err != nil {
			t.Errorf("Resolve gave a block that does not open: %v", err)
		}
	}
	if blocks, err := st.Resolve(context.Background(), contentOf(t, "nothing")); err != nil || len(blocks) != 0 {
		t.Errorf("Resolve(unknown) = %d blocks, %v; want 0, nil", len(blocks), err)
	}
	if _, err := st.Get(contentOf(t, "nothing")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
}

// TestResolveMany: resolving many outputs in one call (one iterator,
// outputs sought in key order) gives, for each, what Resolve gives, in the
// caller's order: several claims newest first, none, duplicates asked
// twice; a cancelled context stops it.
func TestResolveMany(t *testing.T) {
	home := t.TempDir()
	st := openStore(t, home)
	var blocks []lineage.Block
	var outs []cid.Cid
	for i := range 50 {
		name := fmt.Sprintf("out-%d", i)
		blocks = append(blocks, block(t, 1, name, int64(i), "a"))
		if i%7 == 0 {
			blocks = append(blocks, block(t, 2, name, int64(1000+i), "b"))
		}
		outs = append(outs, contentOf(t, name))
	}
	if _, err := st.Put(blocks, nil); err != nil {
		t.Fatal(err)
	}
	outs = append(outs, contentOf(t, "nothing"), contentOf(t, "out-7"), contentOf(t, "out-0"))
	got, err := st.ResolveMany(context.Background(), outs)
	if err != nil || len(got) != len(outs) {
		t.Fatalf("ResolveMany = %d answers, %v; want %d", len(got), err, len(outs))
	}
	for i, out := range outs {
		want, err := st.Resolve(context.Background(), out)
		if err != nil {
			t.Fatal(err)
		}
		if len(got[i]) != len(want) {
			t.Errorf("ResolveMany[%d] (%s): %d blocks, Resolve: %d", i, out, len(got[i]), len(want))
			continue
		}
		for j := range want {
			if got[i][j].CID != want[j].CID || !bytes.Equal(got[i][j].Data, want[j].Data) {
				t.Errorf("ResolveMany[%d][%d] = %s, Resolve gives %s", i, j, got[i][j].CID, want[j].CID)
			}
		}
	}
	if n := len(got[len(outs)-3]); n != 0 {
		t.Errorf("ResolveMany(unknown) = %d blocks, want 0", n)
	}
	if n := len(got[7]); n != 2 {
		t.Errorf("ResolveMany(out-7) = %d blocks, want 2", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := st.ResolveMany(ctx, outs); !errors.Is(err, context.Canceled) {
		t.Errorf("ResolveMany(cancelled) = %v, want context.Canceled", err)
	}
}

// TestPutAllOrNothing: one bad block refuses the whole batch and leaves
// the store as it was.
func TestPutAllOrNothing(t *testing.T) {
	st := openStore(t, t.TempDir())
	good := block(t, 1, "good", 1)
	bad := block(t, 1, "bad", 1)
	bad.Data = append([]byte(nil), bad.Data...)
	bad.Data[len(bad.Data)-20] ^= 1
	if _, err := st.Put([]lineage.Block{good, bad}, map[string]cid.Cid{"/p": good.CID}); err == nil {
		t.Fatal("Put(good, corrupt) = nil, want an error")
	}
	if has, _ := st.Has(good.CID); has {
		t.Errorf("good record of a refused batch was stored")
	}
	if _, ok, _ := st.PathCID("/p"); ok {
		t.Errorf("path entry of a refused batch was stored")
	}
}

func TestPathIndex(t *testing.T) {
	st := openStore(t, t.TempDir())
	a, b := contentOf(t, "a"), contentOf(t, "b")
	if err := st.SetPaths(map[string]cid.Cid{"/x": a, "/y": a}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetPaths(map[string]cid.Cid{"/x": b}); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := st.PathCID("/x"); err != nil || !ok || got != b {
		t.Errorf("PathCID(/x) = %s, %v, %v; want %s", got, ok, err, b)
	}
	if paths, _ := st.PathsOf(a); len(paths) != 1 || paths[0] != "/y" {
		t.Errorf("PathsOf(a) = %v, want [/y]", paths)
	}
	if paths, _ := st.PathsOf(b); len(paths) != 1 || paths[0] != "/x" {
		t.Errorf("PathsOf(b) = %v, want [/x]", paths)
	}
}

func TestStoreInUse(t *testing.T) {
	home := t.TempDir()
	openStore(t, home)
	_, err := store.Open(home)
	var inUse *store.InUseError
	if !errors.As(err, &inUse) || !errors.Is(err, store.ErrInUse) {
		t.Fatalf("second Open = %v, want InUseError", err)
	}
	if inUse.PID != os.Getpid() {
		t.Errorf("InUseError.PID = %d, want %d", inUse.PID, os.Getpid())
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("in use by pid %d", os.Getpid())) {
		t.Errorf("error = %q, want it to name the pid", err)
	}
}

func TestReopenKeepsRecords(t *testing.T) {
	home := t.TempDir()
	st, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	b := block(t, 1, "x", 1)
	if _, err := st.Put([]lineage.Block{b}, nil); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = openStore(t, home)
	if has, err := st.Has(b.CID); !has || err != nil {
		t.Errorf("Has after reopen = %v, %v; want true", has, err)
	}
}

// TestKill9 records in a child process that prints each record CID once
// Put has returned, kills it with SIGKILL mid-stream, and checks that every
// CID it printed is in the store.
func TestKill9(t *testing.T) {
	if os.Getenv("BONSAI_KILL9_CHILD") != "" {
		kill9Child()
		return
	}
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKill9$")
	cmd.Env = append(os.Environ(), "BONSAI_KILL9_CHILD="+home)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var printed []cid.Cid
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		c, err := cid.Decode(strings.TrimSpace(sc.Text()))
		if err != nil {
			continue // test framework chatter
		}
		printed = append(printed, c)
		if len(printed) == 50 {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	_ = cmd.Wait()
	if len(printed) < 50 {
		t.Fatalf("child printed %d CIDs before dying, want 50", len(printed))
	}
	st := openStore(t, home) // the kernel dropped the dead child's lock
	for _, c := range printed {
		if has, err := st.Has(c); !has || err != nil {
			t.Errorf("record %s acknowledged before kill -9 is missing (%v)", c, err)
		}
	}
}

func kill9Child() {
	home := os.Getenv("BONSAI_KILL9_CHILD")
	st, err := store.Open(home)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	k := testkeys.Key(1)
	for i := 0; ; i++ {
		r := &lineage.Record{Output: mustHash(fmt.Sprint("out", i)), Time: int64(i)}
		b, err := r.Sign(k)
		if err == nil {
			_, err = st.Put([]lineage.Block{b}, nil)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		fmt.Println(b.CID)
	}
}

func mustHash(s string) cid.Cid {
	c, err := lineage.HashReader(strings.NewReader(s), lineage.DefaultHash)
	if err != nil {
		panic(err)
	}
	return c
}

func TestRecorderAndAncestry(t *testing.T) {
	home := t.TempDir()
	dir := t.TempDir()
	st := openStore(t, home)
	rec := &store.Recorder{Store: st, Key: testkeys.Key(1)}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a", "alpha")
	b := write("b", "beta")
	in, err := rec.HashPaths([]string{a})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := rec.Record(store.Run{Inputs: in, Outputs: []string{b}, UID: 7})
	if err != nil || len(outs) != 1 {
		t.Fatalf("Record = %v, %v", outs, err)
	}
	c := write("c", "gamma")
	in, _ = rec.HashPaths([]string{b})
	outs2, err := rec.Record(store.Run{Inputs: in, Outputs: []string{c}})
	if err != nil {
		t.Fatal(err)
	}
	roots, blocks, err := st.Ancestry(outs2[0].Content)
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 1 || roots[0] != outs2[0].Record || len(blocks) != 2 {
		t.Errorf("Ancestry(c) = roots %v, %d blocks; want [%s], 2", roots, len(blocks), outs2[0].Record)
	}
	if got, ok, _ := st.PathCID(b); !ok || got != outs[0].Content {
		t.Errorf("PathCID(b) = %s, want %s", got, outs[0].Content)
	}
	res, err := lineage.Check(context.Background(), outs2[0].Content, st, lineage.Options{})
	if err != nil || !res.Verified {
		t.Fatalf("Check(c) = %+v, %v; want verified", res, err)
	}
	if got := res.Nodes[contentOf(t, "alpha")].Verdict; got != lineage.Source {
		t.Errorf("verdict of a = %v, want source", got)
	}
	if _, err := rec.Record(store.Run{Outputs: []string{filepath.Join(dir, "missing")}}); err == nil {
		t.Errorf("Record(missing output) = nil, want an error")
	}
}

func TestOutputs(t *testing.T) {
	st := openStore(t, t.TempDir())
	blocks := []lineage.Block{block(t, 1, "x", 1), block(t, 2, "x", 2), block(t, 1, "y", 1)}
	if _, err := st.Put(blocks, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[cid.Cid]int{}
	if err := st.Outputs(func(out cid.Cid) error { seen[out]++; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[contentOf(t, "x")] != 1 || seen[contentOf(t, "y")] != 1 {
		t.Errorf("Outputs = %v, want x and y once each", seen)
	}
}
