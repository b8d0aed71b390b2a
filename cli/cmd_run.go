package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/bonsai-lineage/bonsai/bpf"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/urfave/cli/v2"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a command under eBPF capture and sign a record for every file it writes",
		ArgsUsage: "[--json] [--] CMD [ARGS...]",
		Description: "Runs CMD in a cgroup of its own and watches its whole process tree in the kernel: which\n" +
			"files each process read before it wrote. When every process of the run has exited, each\n" +
			"file it wrote that still exists gets a signed record (inputs: the files it was made from,\n" +
			"through pipes and temporary files, and outputs of the same run by their own CID;\n" +
			"program: the writing executable), and bonsai prints 'OUTPUT_PATH RECORD_CID' lines and\n" +
			"exits with CMD's status (128+N when a signal N ended it). Needs root, or CAP_BPF and\n" +
			"CAP_PERFMON; without them use 'bonsai record'.\n\n" +
			"What the capture missed (lost events, a path the kernel could not resolve, a process\n" +
			"still running after a grace period, an input removed before it could be hashed) is\n" +
			"reported on standard error, once per gap, with the outputs it concerns; only those\n" +
			"outputs are signed as incomplete.\n\n" +
			"--json prints one JSON document instead: 'outputs' (each with its record CID, the paths\n" +
			"of the files it was made from, its program, and whether it is incomplete) and\n" +
			"'summary' (command status, processes and events seen, paths the kernel could not\n" +
			"resolve, events lost, gaps, and the CPU time the capture and the recording cost).\n" +
			"CMD's own standard output then goes to standard error.",
		SkipFlagParsing: true,
		Action:          runRun,
	}
}

func runRun(c *cli.Context) error {
	args, asJSON, err := runArgs(c.Args().Slice())
	if err != nil {
		return err
	}
	if args[0] == "-h" || args[0] == "--help" {
		cli.HelpPrinter(c.App.Writer, cli.CommandHelpTemplate, c.Command)
		return nil
	}
	key, err := loadKey(c)
	if err != nil {
		return err
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return fmt.Errorf("command %s: %w", args[0], err)
	}
	stdout := io.Writer(c.App.Writer)
	if asJSON {
		stdout = c.App.ErrWriter // standard output is the JSON document
	}
	run, err := captureRun(c.Context, args, path, stdout, c.App.ErrWriter, c.App.Writer, c.App.ErrWriter)
	if err != nil {
		return err
	}
	if !asJSON {
		printGaps(c.App.ErrWriter, run.Result.Gaps)
	}
	outs, recordCPU, err := recordRun(c, key, run)
	if err != nil {
		return err
	}
	if asJSON {
		if err := printRunJSON(c.App.Writer, run, outs, recordCPU); err != nil {
			return err
		}
	} else {
		for _, o := range outs {
			fmt.Fprintf(c.App.Writer, "%s %s\n", relPath(o.Path), o.Record)
		}
	}
	if run.Status != 0 {
		return exitStatus{run.Status}
	}
	return nil
}

// runArgs splits run's arguments ([--json] [--] CMD [ARGS...]): the
// command line to run, and whether --json was given.
func runArgs(args []string) (cmd []string, asJSON bool, err error) {
	if len(args) > 0 && args[0] == "--json" {
		asJSON, args = true, args[1:]
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return nil, false, usagef("run needs a command: bonsai run [--json] [--] CMD [ARGS...]")
	}
	return args, asJSON, nil
}

// recordRun signs and stores a record of every output of run, through the
// daemon when one runs, and returns them with the CPU time it took. An
// interrupted run is still recorded (incomplete), within a deadline of
// its own.
func recordRun(c *cli.Context, key lineage.Signer, run *capturedRun) ([]store.Output, time.Duration, error) {
	start := selfCPU()
	if c.Context.Err() != nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(c.Context), SignalGrace/2)
		defer cancel()
		c.Context = rctx
	}
	if len(run.Result.Outputs) == 0 {
		return nil, selfCPU() - start, nil
	}
	st, err := openBackend(c, writing)
	if err != nil {
		return nil, 0, err
	}
	defer st.Close()
	outs, err := (&store.Recorder{Store: st, Key: key}).RecordObserved(run.Result.Outputs)
	if err != nil {
		return nil, 0, err
	}
	if err := st.Close(); err != nil {
		return nil, 0, err
	}
	return outs, selfCPU() - start, nil
}

// printGaps says, one line each, what the capture missed and which
// outputs it made incomplete.
func printGaps(w io.Writer, gaps []bpf.Gap) {
	for _, g := range gaps {
		var b strings.Builder
		b.WriteString("bonsai: capture gap: ")
		b.WriteString(g.What)
		var about []string
		if g.Proc.PID != 0 {
			about = append(about, fmt.Sprintf("process %d", g.Proc.PID))
			if g.Program != "" {
				about = append(about, g.Program)
			}
		}
		if g.Path != "" {
			about = append(about, relPath(g.Path))
		}
		if len(about) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(about, ", "))
		}
		switch n := len(g.Outputs); {
		case n == 0:
			b.WriteString(": no output concerned")
		default:
			shown := make([]string, 0, 5)
			for _, o := range g.Outputs[:min(n, 5)] {
				shown = append(shown, relPath(o))
			}
			if n > 5 {
				shown = append(shown, fmt.Sprintf("and %d more", n-5))
			}
			fmt.Fprintf(&b, ": %s recorded as incomplete: %s", plural(n, "output"), strings.Join(shown, ", "))
		}
		fmt.Fprintln(w, b.String())
	}
}

// runJSON is what `bonsai run --json` prints.
type runJSON struct {
	Outputs []observedJSON `json:"outputs"`
	Summary runSummaryJSON `json:"summary"`
}

type observedJSON struct {
	Path       string   `json:"path"`
	Output     string   `json:"output"`
	Record     string   `json:"record"`
	InputPaths []string `json:"input_paths"`
	Program    string   `json:"program,omitempty"`
	Incomplete bool     `json:"incomplete,omitempty"`
}

type runSummaryJSON struct {
	Command   []string          `json:"command"`
	Status    int               `json:"status"`
	Processes int               `json:"processes"`
	Events    map[string]uint64 `json:"events"`
	CutPaths  int               `json:"cut_paths"`
	Lost      map[string]uint64 `json:"lost"`
	Gaps      []gapJSON         `json:"gaps"`
	Cost      runCostJSON       `json:"cost"`
}

// runCostJSON is what the capture cost, in CPU seconds: bonsai's own while
// the command ran (and the capture was set up), bonsai's own to hash, sign
// and store the records, and the kernel programs' (present only while the
// kernel's BPF statistics are on: sysctl kernel.bpf_stats_enabled=1).
type runCostJSON struct {
	CaptureCPU float64  `json:"capture_cpu_s"`
	RecordCPU  float64  `json:"record_cpu_s"`
	KernelCPU  *float64 `json:"kernel_cpu_s,omitempty"`
}

type gapJSON struct {
	What    string   `json:"what"`
	PID     uint32   `json:"pid,omitempty"`
	Program string   `json:"program,omitempty"`
	Path    string   `json:"path,omitempty"`
	Outputs []string `json:"outputs"`
}

// printRunJSON writes the run's outputs with their input paths (the
// lineage the capture saw, before it became content CIDs: a byte-for-byte
// copy has the CID of its source and so no edge in its record) and its
// summary.
func printRunJSON(w io.Writer, run *capturedRun, outs []store.Output, recordCPU time.Duration) error {
	doc := runJSON{
		Outputs: make([]observedJSON, len(run.Result.Outputs)),
		Summary: runSummaryJSON{
			Command:   run.Command,
			Status:    run.Status,
			Processes: run.Summary.Processes,
			Events:    run.Summary.Events,
			CutPaths:  run.Summary.CutPaths,
			Lost:      map[string]uint64{},
			Gaps:      make([]gapJSON, len(run.Result.Gaps)),
			Cost:      runCostJSON{CaptureCPU: run.CaptureCPU.Seconds(), RecordCPU: recordCPU.Seconds()},
		},
	}
	if run.KernelCPU > 0 {
		k := run.KernelCPU.Seconds()
		doc.Summary.Cost.KernelCPU = &k
	}
	for k, n := range run.Lost.ByKind {
		doc.Summary.Lost[k.String()] = n
	}
	if run.Lost.Uncharged > 0 {
		doc.Summary.Lost["uncharged"] = run.Lost.Uncharged
	}
	for i, o := range run.Result.Outputs {
		doc.Outputs[i] = observedJSON{Path: o.Path, Output: outs[i].Content.String(), Record: outs[i].Record.String(),
			InputPaths: o.Inputs, Program: o.Program, Incomplete: o.Incomplete}
		if doc.Outputs[i].InputPaths == nil {
			doc.Outputs[i].InputPaths = []string{}
		}
	}
	for i, g := range run.Result.Gaps {
		doc.Summary.Gaps[i] = gapJSON{What: g.What, PID: g.Proc.PID, Program: g.Program, Path: g.Path, Outputs: g.Outputs}
		if g.Outputs == nil {
			doc.Summary.Gaps[i].Outputs = []string{}
		}
	}
	return printJSON(w, doc)
}

// captureError turns a capture that cannot start into the one-line error a
// user can act on.
func captureError(err error) error {
	if errors.Is(err, bpf.ErrPermission) {
		return err // it names the capabilities and points to 'bonsai record'
	}
	if errors.Is(err, bpf.ErrNotSupported) {
		return fmt.Errorf("eBPF capture is not supported on this system (%v); record by hand with 'bonsai record'", err)
	}
	return err
}
