package store

import (
	"fmt"
	"os"

	"github.com/bonsai-lineage/bonsai/bpf"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
)

// RecordObserved turns what the capture observed into records: for each
// output, hash it, hash the files it was made from and its program, and
// sign. An input that can no longer be read makes its output incomplete
// rather than silently smaller. All records go in one synced write.
func (r *Recorder) RecordObserved(obs []bpf.Observed) ([]Output, error) {
	var blocks []lineage.Block
	var outs []Output
	paths := map[string]cid.Cid{}
	hashed := map[string]cid.Cid{}
	hash := func(p string) (cid.Cid, error) {
		if c, ok := hashed[p]; ok {
			return c, nil
		}
		c, err := r.hashFile(p)
		if err == nil {
			hashed[p] = c
		}
		return c, err
	}
	for _, o := range obs {
		st, err := os.Stat(o.Path)
		if err != nil {
			return nil, fmt.Errorf("output %w", err)
		}
		out, err := hash(o.Path)
		if err != nil {
			return nil, fmt.Errorf("output %w", err)
		}
		rec := &lineage.Record{
			Executor:   lineage.Executor{UID: o.UID},
			Output:     out,
			Time:       st.ModTime().Unix(),
			Incomplete: o.Incomplete,
		}
		for _, in := range o.Inputs {
			c, err := hash(in)
			if err != nil {
				rec.Incomplete = true
				continue
			}
			paths[in] = c
			rec.Inputs = append(rec.Inputs, c)
		}
		rec.Inputs = withoutCID(lineage.SortInputs(rec.Inputs), out)
		if len(rec.Inputs) > lineage.MaxInputs {
			// More than a record may name: keep the bound, and say the
			// record does not tell the whole story.
			rec.Inputs = rec.Inputs[:lineage.MaxInputs]
			rec.Incomplete = true
		}
		if o.Program != "" {
			if c, err := hash(o.Program); err == nil {
				rec.Program = c
			}
		}
		blk, err := rec.Sign(r.Key)
		if err != nil {
			return nil, fmt.Errorf("sign record for %s: %w", o.Path, err)
		}
		blocks = append(blocks, blk)
		paths[o.Path] = out
		outs = append(outs, Output{Path: o.Path, Content: out, Record: blk.CID})
	}
	if len(blocks) == 0 {
		return nil, nil
	}
	if _, err := r.Store.Put(blocks, paths); err != nil {
		return nil, err
	}
	return outs, nil
}
