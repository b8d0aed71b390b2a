package cli

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	"github.com/urfave/cli/v2"
)

func recordCommand() *cli.Command {
	return &cli.Command{
		Name:      "record",
		Usage:     "sign lineage records by hand: outputs made from inputs, optionally by running a command",
		ArgsUsage: "--in FILE... --out FILE... [-- CMD ARGS...]",
		Description: "Hashes the inputs, runs CMD if one is given after --, then hashes the outputs and signs\n" +
			"one record per output naming every input (and CMD's executable as the program).\n" +
			"Prints one 'OUTPUT_PATH RECORD_CID' line per output (--json: {outputs: [{path, output,\n" +
			"record}]}). If CMD fails, nothing is recorded\n" +
			"and bonsai exits with CMD's status. With no --in, the outputs are recorded as sources.\n\n" +
			"--in and --out each take one or more files: --in a b --out c, or --in a --in b --out c.",
		// The flags take lists of files, which urfave's flag parser does not:
		// parseRecordArgs reads them; these entries are for --help.
		SkipFlagParsing: true,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "in", Usage: "input `FILE`s the outputs were made from"},
			&cli.StringSliceFlag{Name: "out", Usage: "output `FILE`s to record (at least one)"},
			hashFlag,
			jsonFlag,
		},
		Action: runRecord,
	}
}

type recordArgs struct {
	in, out []string
	hash    string
	cmd     []string
	help    bool
	json    bool
}

func parseRecordArgs(args []string) (recordArgs, error) {
	ra := recordArgs{hash: "sha2-256"}
	var list *[]string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			ra.cmd = args[i+1:]
			if len(ra.cmd) == 0 {
				return ra, usagef("record: nothing after --: give a command or drop the --")
			}
			return ra, nil
		case a == "-h" || a == "--help":
			ra.help = true
			return ra, nil
		case a == "--json" || a == "-json":
			ra.json = true
			list = nil
		case a == "--in" || a == "-in":
			list = &ra.in
		case a == "--out" || a == "-out":
			list = &ra.out
		case strings.HasPrefix(a, "--in="):
			ra.in = append(ra.in, strings.TrimPrefix(a, "--in="))
			list = &ra.in
		case strings.HasPrefix(a, "--out="):
			ra.out = append(ra.out, strings.TrimPrefix(a, "--out="))
			list = &ra.out
		case a == "--hash" || strings.HasPrefix(a, "--hash="):
			if v, ok := strings.CutPrefix(a, "--hash="); ok {
				ra.hash = v
			} else if i+1 < len(args) {
				i++
				ra.hash = args[i]
			} else {
				return ra, usagef("record: --hash needs a value")
			}
			list = nil
		case strings.HasPrefix(a, "-") && a != "-":
			return ra, usagef("record: unknown flag %s", a)
		default:
			if list == nil {
				return ra, usagef("record: %q: files must follow --in or --out", a)
			}
			*list = append(*list, a)
		}
	}
	return ra, nil
}

func runRecord(c *cli.Context) error {
	ra, err := parseRecordArgs(c.Args().Slice())
	if err != nil {
		return err
	}
	if ra.help {
		cli.HelpPrinter(c.App.Writer, cli.CommandHelpTemplate, c.Command)
		return nil
	}
	if len(ra.out) == 0 {
		return usagef("record needs at least one --out FILE")
	}
	code, err := lineage.HashCode(ra.hash)
	if err != nil {
		return usageError{err.Error()}
	}
	key, err := loadKey(c)
	if err != nil {
		return err
	}
	rec := &store.Recorder{Key: key, Hash: code, Ctx: c.Context}
	// Inputs are hashed before the command runs: it may rewrite them.
	inputs, err := rec.HashPaths(ra.in)
	if err != nil {
		return fmt.Errorf("input %w", err)
	}
	program := cid.Undef
	if len(ra.cmd) > 0 {
		path, err := exec.LookPath(ra.cmd[0])
		if err != nil {
			return fmt.Errorf("command %s: %w", ra.cmd[0], err)
		}
		if program, err = lineage.HashFileContext(c.Context, path, code); err != nil {
			return fmt.Errorf("program %w", err)
		}
		cmd := exec.CommandContext(c.Context, path, ra.cmd[1:]...)
		cmd.Args[0] = ra.cmd[0]
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, childOutput(c.App.Writer), childOutput(c.App.ErrWriter)
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				fmt.Fprintf(c.App.ErrWriter, "bonsai: %s failed (%v): nothing recorded\n", ra.cmd[0], ee)
				if st := ee.ExitCode(); st > 0 {
					return exitStatus{st}
				}
				return exitStatus{2}
			}
			return fmt.Errorf("run %s: %w", ra.cmd[0], err)
		}
	}
	st, err := openSink(c)
	if err != nil {
		return err
	}
	defer st.Close()
	rec.Store = st
	outs, err := rec.Record(store.Run{Inputs: inputs, Program: program, Outputs: ra.out, UID: uint32(os.Getuid())})
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	if ra.json {
		return printJSON(c.App.Writer, outputsJSON(outs))
	}
	for i, o := range outs {
		fmt.Fprintf(c.App.Writer, "%s %s\n", quotePath(ra.out[i]), o.Record)
	}
	return nil
}

// recordedJSON is one output 'record --json' signed.
type recordedJSON struct {
	Path   string `json:"path"`
	Output string `json:"output"`
	Record string `json:"record"`
}

func outputsJSON(outs []store.Output) any {
	list := make([]recordedJSON, len(outs))
	for i, o := range outs {
		list[i] = recordedJSON{Path: absPath(o.Path), Output: o.Content.String(), Record: o.Record.String()}
	}
	return struct {
		Outputs []recordedJSON `json:"outputs"`
	}{list}
}
