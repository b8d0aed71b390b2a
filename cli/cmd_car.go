package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write the whole local ancestry of a file as a CAR v1 file",
		ArgsUsage: "--car OUT FILE|CID",
		Description: "The CAR's roots are the records of the target; its blocks are every record of the\n" +
			"target's ancestry held in the local store, and the revocations held against them.\n" +
			"'bonsai import' reads it back; so do the IPLD tools.\n" +
			"--json: {car, output, roots, records, revocations}.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "car", Usage: "write the CAR to `OUT` (required; - is standard output)"},
			&cli.BoolFlag{Name: "force", Usage: "replace OUT if it is an existing regular file"},
			hashFlag,
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			if c.String("car") == "" {
				return usagef("export needs --car OUT")
			}
			if c.Bool("json") && c.String("car") == "-" {
				return usagef("export --json --car -: standard output is the CAR; drop --json or name a file")
			}
			if err := checkOutput(c.String("car"), c.Bool("force")); err != nil {
				return err
			}
			out, _, st, err := targetAndBackend(c, "export", reading)
			if err != nil {
				return err
			}
			defer st.Close()
			roots, blocks, err := st.Ancestry(out)
			if err != nil {
				return err
			}
			revs, err := revocationsOf(st, blocks)
			if err != nil {
				return err
			}
			blocks = append(blocks, revs...)
			if len(roots) == 0 {
				return fmt.Errorf("%s: no record of %s in the local store", c.Args().First(), out)
			}
			if c.String("car") == "-" {
				// The CAR is the output: the summary goes to stderr.
				if err := streamCAR(c.App.Writer, roots, blocks); err != nil {
					return err
				}
				fmt.Fprintf(c.App.ErrWriter, "wrote %s (%s) to standard output\n", plural(len(blocks), "record"), plural(len(roots), "root"))
				return nil
			}
			if err := writeCAR(c.String("car"), c.Bool("force"), roots, blocks); err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, struct {
					CAR         string   `json:"car"`
					Output      string   `json:"output"`
					Roots       []string `json:"roots"`
					Records     int      `json:"records"`
					Revocations int      `json:"revocations"`
				}{absPath(c.String("car")), out.String(), cidStrings(roots), len(blocks) - len(revs), len(revs)})
			}
			also := ""
			if len(revs) > 0 {
				also = " and " + plural(len(revs), "revocation")
			}
			fmt.Fprintf(c.App.Writer, "wrote %s%s (%s) to %s\n", plural(len(blocks)-len(revs), "record"), also, plural(len(roots), "root"), quotePath(c.String("car")))
			return nil
		},
	}
}

// checkOutput refuses an output path that exists, unless force is set and
// it is a regular file: a device, FIFO, socket, directory or symlink is
// never replaced. "-" (standard output) always passes.
func checkOutput(path string, force bool) error {
	if path == "-" {
		return nil
	}
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s: exists and is a %s, not a regular file: not replaced", path, fileKind(st.Mode()))
	}
	if !force {
		return fmt.Errorf("%s: exists: not replaced (--force replaces it)", path)
	}
	return nil
}

// fileKind names a file's type for people.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeSymlink != 0:
		return "symbolic link"
	case m.IsDir():
		return "directory"
	case m&os.ModeNamedPipe != 0:
		return "FIFO"
	case m&os.ModeSocket != 0:
		return "socket"
	case m&os.ModeCharDevice != 0:
		return "character device"
	case m&os.ModeDevice != 0:
		return "block device"
	}
	return "special file"
}

// streamCAR writes a CARv1 to w as it goes.
func streamCAR(w io.Writer, roots []cid.Cid, blocks []lineage.Block) error {
	bw := bufio.NewWriter(w)
	if err := store.WriteCAR(bw, roots, blocks); err != nil {
		return fmt.Errorf("write CAR: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write CAR to standard output: %w", err)
	}
	return nil
}

// writeCAR writes a CARv1 next to path and renames it into place, so a
// failed export never leaves half a file under the name asked for. Without
// force it links rather than renames, so a file that appeared at path
// meanwhile is never replaced; with force, only a regular file is.
func writeCAR(path string, force bool, roots []cid.Cid, blocks []lineage.Block) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bonsai-car-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	bw := bufio.NewWriter(tmp)
	if err := store.WriteCAR(bw, roots, blocks); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if force {
		if err := checkOutput(path, true); err != nil {
			return err
		}
		err = os.Rename(tmp.Name(), path)
	} else if err = os.Link(tmp.Name(), path); errors.Is(err, os.ErrExist) {
		return checkOutput(path, false)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return store.SyncDir(filepath.Dir(path))
}
