package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
)

// Sink is where a Recorder puts records: the store, or the daemon's local
// API when a daemon owns the store.
type Sink interface {
	Put(blocks []lineage.Block, paths map[string]cid.Cid) (int, error)
}

// Recorder turns observed runs into signed, stored records.
type Recorder struct {
	Store Sink
	Key   lineage.Signer
	// Hash is the multihash function of content CIDs (default sha2-256).
	Hash uint64
	// Ctx, when set, stops hashing when it ends (an interrupted command).
	Ctx context.Context
}

func (r *Recorder) hashFile(path string) (cid.Cid, error) {
	ctx := r.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	return lineage.HashFileContext(ctx, path, r.hash())
}

// Output is one recorded output file.
type Output struct {
	Path    string
	Content cid.Cid
	Record  cid.Cid
}

// Run describes one execution whose lineage is recorded: which files it
// read (already hashed: inputs are hashed before the program may change
// them) and which it wrote.
type Run struct {
	Inputs     map[string]cid.Cid // absolute path -> content CID
	Program    cid.Cid            // cid.Undef when unknown
	Outputs    []string           // absolute paths
	UID        uint32
	Incomplete bool
}

func (r *Recorder) hash() uint64 {
	if r.Hash == 0 {
		return lineage.DefaultHash
	}
	return r.Hash
}

// HashPaths returns the content CID of each file, keyed by absolute path.
func (r *Recorder) HashPaths(paths []string) (map[string]cid.Cid, error) {
	out := make(map[string]cid.Cid, len(paths))
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		c, err := r.hashFile(abs)
		if err != nil {
			return nil, err
		}
		out[abs] = c
	}
	return out, nil
}

// Record hashes each output, signs one record per output naming every
// input, and stores them all in one synced write: when it returns, the
// records survive a crash. An output's time is its modification time. A
// run whose inputs (distinct contents, the output's own aside) are more
// than a record may name (lineage.MaxInputs) is refused, naming the
// output, and nothing is stored.
func (r *Recorder) Record(run Run) ([]Output, error) {
	inputs := make([]cid.Cid, 0, len(run.Inputs))
	b := r.newBuilder()
	for p, c := range run.Inputs {
		inputs = append(inputs, c)
		b.paths[p] = c
	}
	for _, p := range run.Outputs {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		err = b.add(draft{Path: abs, UID: run.UID, Program: run.Program, Inputs: inputs, Incomplete: run.Incomplete})
		if err != nil {
			return nil, err
		}
	}
	return b.put()
}

// draft is one record to build, before its output is hashed.
type draft struct {
	Path       string // the output, absolute
	UID        uint32
	Program    cid.Cid // cid.Undef when unknown
	Inputs     []cid.Cid
	Incomplete bool
	// Truncate bounds a record naming more than lineage.MaxInputs inputs
	// to the first MaxInputs (in CID order) and marks it incomplete;
	// without it such a record is an error.
	Truncate bool
}

// builder builds the records of one run, Record's and RecordObserved's
// alike, and stores them in one synced write.
type builder struct {
	r      *Recorder
	hashed map[string]cid.Cid // each file hashed once per run
	blocks []lineage.Block
	paths  map[string]cid.Cid // path index entries to store with the records
	outs   []Output
}

func (r *Recorder) newBuilder() *builder {
	return &builder{r: r, hashed: map[string]cid.Cid{}, paths: map[string]cid.Cid{}}
}

// hash returns the content CID of the file at path, hashing it at most
// once.
func (b *builder) hash(path string) (cid.Cid, error) {
	if c, ok := b.hashed[path]; ok {
		return c, nil
	}
	c, err := b.r.hashFile(path)
	if err == nil {
		b.hashed[path] = c
	}
	return c, err
}

// add hashes the output of d and signs its record: its inputs sorted,
// each once, without the output's own content (a copy's output has the
// content of its input), at most lineage.MaxInputs of them; its time the
// output's modification time.
func (b *builder) add(d draft) error {
	st, err := os.Stat(d.Path)
	if err != nil {
		return fmt.Errorf("output %w", err)
	}
	out, err := b.hash(d.Path)
	if err != nil {
		return fmt.Errorf("output %w", err)
	}
	rec := &lineage.Record{
		Executor:   lineage.Executor{UID: d.UID},
		Program:    d.Program,
		Output:     out,
		Inputs:     withoutCID(lineage.SortInputs(d.Inputs), out),
		Time:       st.ModTime().Unix(),
		Incomplete: d.Incomplete,
	}
	if n := len(rec.Inputs); n > lineage.MaxInputs {
		if !d.Truncate {
			return fmt.Errorf("output %s: %w: %d distinct inputs, a record names at most %d", d.Path, lineage.ErrTooLarge, n, lineage.MaxInputs)
		}
		// More than a record may name: keep the bound, and say the
		// record does not tell the whole story.
		rec.Inputs = rec.Inputs[:lineage.MaxInputs]
		rec.Incomplete = true
	}
	blk, err := rec.Sign(b.r.Key)
	if err != nil {
		return fmt.Errorf("sign record for %s: %w", d.Path, err)
	}
	b.blocks = append(b.blocks, blk)
	b.paths[d.Path] = out
	b.outs = append(b.outs, Output{Path: d.Path, Content: out, Record: blk.CID})
	return nil
}

// put stores the records built, and the paths, in one synced write.
func (b *builder) put() ([]Output, error) {
	if _, err := b.r.Store.Put(b.blocks, b.paths); err != nil {
		return nil, err
	}
	return b.outs, nil
}

// withoutCID drops c from cs: a copy's output has the content of its input,
// and a record never names its output among its inputs.
func withoutCID(cs []cid.Cid, c cid.Cid) []cid.Cid {
	out := make([]cid.Cid, 0, len(cs))
	for _, x := range cs {
		if !x.Equals(c) {
			out = append(out, x)
		}
	}
	return out
}

// Ancestry collects the blocks of every stored record in the ancestry of
// output, breadth first, each once. roots are the records claiming output.
func (s *Store) Ancestry(output cid.Cid) (roots []cid.Cid, blocks []lineage.Block, err error) {
	seen := map[cid.Cid]bool{output: true}
	queue := []cid.Cid{output}
	for len(queue) > 0 {
		out := queue[0]
		queue = queue[1:]
		claims, err := s.Claims(out)
		if err != nil {
			return nil, nil, err
		}
		for _, cl := range claims {
			data := cl.Data
			rec, err := lineage.Decode(data)
			if err != nil {
				return nil, nil, fmt.Errorf("stored record %s: %w", cl.Record, err)
			}
			if out == output {
				roots = append(roots, cl.Record)
			}
			blocks = append(blocks, lineage.Block{CID: cl.Record, Data: data})
			for _, in := range rec.Inputs {
				if !seen[in] {
					seen[in] = true
					queue = append(queue, in)
				}
			}
		}
	}
	return roots, blocks, nil
}
