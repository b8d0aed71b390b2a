package store_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/bpf"
	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
)

// TestRecordInputBound: Record and RecordObserved build records the same
// way and both bound them to lineage.MaxInputs inputs, counted as distinct
// contents other than the output's own. Past the bound a declared run
// (Record) is refused, naming the output, and nothing is stored; an
// observed one (RecordObserved) is recorded bounded and incomplete.
func TestRecordInputBound(t *testing.T) {
	dir := t.TempDir()
	var files []string
	for i := 0; i <= lineage.MaxInputs; i++ {
		p := filepath.Join(dir, fmt.Sprintf("in%d", i))
		if err := os.WriteFile(p, []byte(fmt.Sprint(i)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	dup := filepath.Join(dir, "dup") // the content of in0
	if err := os.WriteFile(dup, []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(out, []byte("all of them"), 0o644); err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(dir, "self") // the content of out
	if err := os.WriteFile(self, []byte("all of them"), 0o644); err != nil {
		t.Fatal(err)
	}
	max := files[:lineage.MaxInputs]

	tests := []struct {
		name           string
		observed       bool
		inputs         []string
		wantErr        bool
		wantInputs     int
		wantIncomplete bool
	}{
		{"record at the bound", false, max, false, lineage.MaxInputs, false},
		{"record past the bound", false, files, true, 0, false},
		{"record: same content twice", false, append(append([]string{}, max...), dup), false, lineage.MaxInputs, false},
		{"record: output's own content", false, append(append([]string{}, max...), self), false, lineage.MaxInputs, false},
		{"observed at the bound", true, max, false, lineage.MaxInputs, false},
		{"observed past the bound", true, files, false, lineage.MaxInputs, true},
		{"observed: same content twice", true, append(append([]string{}, max...), dup), false, lineage.MaxInputs, false},
		{"observed: output's own content", true, append(append([]string{}, max...), self), false, lineage.MaxInputs, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, t.TempDir())
			rec := &store.Recorder{Store: st, Key: testkeys.Key(1)}
			var outs []store.Output
			var err error
			if tc.observed {
				outs, err = rec.RecordObserved([]bpf.Observed{{Path: out, Inputs: tc.inputs}})
			} else {
				ins, herr := rec.HashPaths(tc.inputs)
				if herr != nil {
					t.Fatal(herr)
				}
				outs, err = rec.Record(store.Run{Inputs: ins, Outputs: []string{out}})
			}
			if tc.wantErr {
				if err == nil || !errors.Is(err, lineage.ErrTooLarge) || !strings.Contains(err.Error(), out) {
					t.Fatalf("err = %v; want ErrTooLarge naming %s", err, out)
				}
				claims, cerr := st.Claims(contentOf(t, "all of them"))
				if cerr != nil || len(claims) != 0 {
					t.Errorf("after a refusal: %d claims stored, %v", len(claims), cerr)
				}
				return
			}
			if err != nil || len(outs) != 1 {
				t.Fatalf("outputs %v, err %v", outs, err)
			}
			data, err := st.Get(outs[0].Record)
			if err != nil {
				t.Fatal(err)
			}
			r, err := lineage.Decode(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Inputs) != tc.wantInputs || r.Incomplete != tc.wantIncomplete {
				t.Errorf("record: %d inputs, incomplete=%v; want %d, %v", len(r.Inputs), r.Incomplete, tc.wantInputs, tc.wantIncomplete)
			}
		})
	}
}
