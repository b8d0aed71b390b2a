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
// records survive a crash. An output's time is its modification time.
func (r *Recorder) Record(run Run) ([]Output, error) {
	inputs := make([]cid.Cid, 0, len(run.Inputs))
	paths := make(map[string]cid.Cid, len(run.Inputs)+len(run.Outputs))
	for p, c := range run.Inputs {
		inputs = append(inputs, c)
		paths[p] = c
	}
	var blocks []lineage.Block
	var outs []Output
	for _, p := range run.Outputs {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("output %w", err)
		}
		c, err := r.hashFile(abs)
		if err != nil {
			return nil, fmt.Errorf("output %w", err)
		}
		rec := &lineage.Record{
			Executor:   lineage.Executor{UID: run.UID},
			Program:    run.Program,
			Output:     c,
			Inputs:     withoutCID(inputs, c),
			Time:       st.ModTime().Unix(),
			Incomplete: run.Incomplete,
		}
		blk, err := rec.Sign(r.Key)
		if err != nil {
			return nil, fmt.Errorf("sign record for %s: %w", abs, err)
		}
		blocks = append(blocks, blk)
		paths[abs] = c
		outs = append(outs, Output{Path: abs, Content: c, Record: blk.CID})
	}
	if _, err := r.Store.Put(blocks, paths); err != nil {
		return nil, err
	}
	return outs, nil
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
