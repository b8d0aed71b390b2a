package cli_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/ipld/go-car/v2/storage"
)

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
