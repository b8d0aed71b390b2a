package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	"github.com/urfave/cli/v2"
)

// maxImportFile bounds one imported file: far above any real ancestry's
// CAR, far below this machine's memory.
const maxImportFile = 1 << 30

func importCommand() *cli.Command {
	return &cli.Command{
		Name:      "import",
		Usage:     "add records from raw record blocks or CAR files to the store",
		ArgsUsage: "FILE...",
		Description: "Each FILE is a CAR (v1 or v2) of record and revocation blocks, or one raw block; - is\n" +
			"standard input, and a pipe or FIFO is read as a stream. Every record and revocation is checked (CID, strict decoding, signature) before anything is\n" +
			"written; one bad block refuses the whole import with its reason, and the store is left as\n" +
			"it was. Records signed by another node's key are kept as imported: GC keeps them, but\n" +
			"this node never publishes them as its own ('bonsai status' says whose they are).\n" +
			"Revocations imported through the daemon are published to the swarm.\n" +
			"--json: {records, added, revocations} (counts).",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("import needs at least one FILE")
			}
			var all, allRevs []lineage.Block
			for _, p := range c.Args().Slice() {
				blocks, err := readBlocks(c.Context, p)
				if err != nil {
					return err
				}
				records, revs := splitRevocations(blocks)
				if _, errs := lineage.OpenAll(records); errors.Join(errs...) != nil {
					for i, err := range errs {
						if err != nil {
							return fmt.Errorf("%s: record %s: %w (nothing imported)", p, records[i].CID, err)
						}
					}
				}
				for _, b := range revs {
					if _, err := lineage.OpenRevocation(b.CID, b.Data); err != nil {
						return fmt.Errorf("%s: revocation %s: %w (nothing imported)", p, b.CID, err)
					}
				}
				all = append(all, records...)
				allRevs = append(allRevs, revs...)
			}
			// The key tells own records from others' (imported).
			if _, err := loadKey(c); err != nil {
				return err
			}
			st, err := openBackend(c, writing)
			if err != nil {
				return err
			}
			defer st.Close()
			added, err := st.Put(all, nil)
			if err != nil {
				return err
			}
			for _, b := range allRevs {
				if err := st.AddRevocation(b); err != nil {
					return err
				}
			}
			if err := st.Close(); err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, map[string]int{"records": len(all), "added": added, "revocations": len(allRevs)})
			}
			fmt.Fprintf(c.App.Writer, "imported %s (%d new)", plural(len(all), "record"), added)
			if len(allRevs) > 0 {
				fmt.Fprintf(c.App.Writer, " and %s", plural(len(allRevs), "revocation"))
			}
			fmt.Fprintln(c.App.Writer)
			return nil
		},
	}
}

// readBlocks reads a CAR file's blocks, or a file holding one raw record
// or revocation (store.ReadCAR).
func readBlocks(ctx context.Context, path string) ([]lineage.Block, error) {
	data, err := readInput(ctx, path, maxImportFile)
	if err != nil {
		return nil, err
	}
	blocks, err := store.ReadCAR(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return blocks, nil
}

// splitRevocations separates revocation blocks from record blocks (a
// block that decodes as a revocation is one).
func splitRevocations(blocks []lineage.Block) (records, revs []lineage.Block) {
	for _, b := range blocks {
		if _, err := lineage.DecodeRevocation(b.Data); err == nil {
			revs = append(revs, b)
		} else {
			records = append(records, b)
		}
	}
	return records, revs
}

// revocationsOf is every revocation held against the records of blocks.
func revocationsOf(st backend, blocks []lineage.Block) ([]lineage.Block, error) {
	all, err := st.AllRevocations()
	if err != nil {
		return nil, err
	}
	in := map[cid.Cid]bool{}
	for _, b := range blocks {
		in[b.CID] = true
	}
	var out []lineage.Block
	for _, b := range all {
		v, err := lineage.DecodeRevocation(b.Data)
		if err != nil {
			return nil, fmt.Errorf("stored revocation %s: %w", b.CID, err)
		}
		if in[v.Target] {
			out = append(out, b)
		}
	}
	return out, nil
}
