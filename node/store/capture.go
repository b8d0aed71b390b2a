package store

import "github.com/bonsai-lineage/bonsai/bpf"

// RecordObserved turns what the capture observed into records: for each
// output, hash it, hash the files it was made from and its program, and
// sign. An input that can no longer be read makes its output incomplete
// rather than silently smaller, and so does one past the lineage.MaxInputs
// a record may name (the record keeps the first MaxInputs, in CID order).
// All records go in one synced write.
func (r *Recorder) RecordObserved(obs []bpf.Observed) ([]Output, error) {
	b := r.newBuilder()
	for _, o := range obs {
		d := draft{Path: o.Path, UID: o.UID, Incomplete: o.Incomplete, Truncate: true}
		for _, in := range o.Inputs {
			c, err := b.hash(in)
			if err != nil {
				d.Incomplete = true
				continue
			}
			b.paths[in] = c
			d.Inputs = append(d.Inputs, c)
		}
		if o.Program != "" {
			if c, err := b.hash(o.Program); err == nil {
				d.Program = c
			}
		}
		if err := b.add(d); err != nil {
			return nil, err
		}
	}
	if len(b.blocks) == 0 {
		return nil, nil
	}
	return b.put()
}
