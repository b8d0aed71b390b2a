package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bonsai-lineage/bonsai/bpf"
	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
)

// TestRecordObservedTooManyInputs: an output made from more files than a
// record may name is still recorded, bounded and marked incomplete, and
// does not sink the other outputs of the run.
func TestRecordObservedTooManyInputs(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, t.TempDir())
	var ins []string
	for i := 0; i <= lineage.MaxInputs; i++ {
		p := filepath.Join(dir, fmt.Sprintf("in%d", i))
		if err := os.WriteFile(p, []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		ins = append(ins, p)
	}
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(out, []byte("all of them"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &store.Recorder{Store: st, Key: testkeys.Key(1)}
	outs, err := rec.RecordObserved([]bpf.Observed{{Path: out, Inputs: ins}})
	if err != nil || len(outs) != 1 {
		t.Fatalf("RecordObserved = %v, %v", outs, err)
	}
	data, err := st.Get(outs[0].Record)
	if err != nil {
		t.Fatal(err)
	}
	r, err := lineage.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Incomplete || len(r.Inputs) != lineage.MaxInputs {
		t.Errorf("record: incomplete=%v, %d inputs; want true, %d", r.Incomplete, len(r.Inputs), lineage.MaxInputs)
	}
}
