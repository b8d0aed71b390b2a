package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/bonsai-lineage/bonsai/bpf"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/urfave/cli/v2"
)

func runCommand() *cli.Command {
	return &cli.Command{
		Name:      "run",
		Usage:     "run a command under eBPF capture and sign a record for every file it writes",
		ArgsUsage: "[--json] [--] CMD [ARGS...]",
		Description: "Runs CMD in a cgroup of its own and watches its whole process tree in the kernel: which\n" +
			"files each process read before it wrote. When CMD exits, every file it wrote that still\n" +
			"exists gets a signed record (inputs: the files it was made from, through pipes and\n" +
			"temporary files; program: the writing executable), and bonsai prints\n" +
			"'OUTPUT_PATH RECORD_CID' lines and exits with CMD's status. Needs root, or CAP_BPF and\n" +
			"CAP_PERFMON; without them use 'bonsai record'.\n\n" +
			"--json prints what was observed and recorded instead: each output with its record CID,\n" +
			"the paths of the files it was made from, its program, and whether it is incomplete.",
		SkipFlagParsing: true,
		Action:          runRun,
	}
}

func runRun(c *cli.Context) error {
	args := c.Args().Slice()
	asJSON := false
	if len(args) > 0 && args[0] == "--json" {
		asJSON, args = true, args[1:]
	}
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return usagef("run needs a command: bonsai run [--] CMD [ARGS...]")
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
	// The capture first: without privileges it says which ones are missing.
	capture, err := bpf.Open(bpf.Options{})
	if err != nil {
		return captureError(err)
	}
	defer capture.Close()
	cg, err := newRunCgroup()
	if err != nil {
		return err
	}
	defer cg.remove()
	if err := capture.AddCgroup(cg.id); err != nil {
		return err
	}

	events := make(chan bpf.Event, 4096)
	go func() {
		defer close(events)
		for {
			ev, err := capture.Read()
			if err != nil {
				return
			}
			events <- ev
		}
	}()
	cmd := exec.CommandContext(c.Context, path, args[1:]...)
	cmd.Args[0] = args[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, c.App.Writer, c.App.ErrWriter
	cmd.SysProcAttr = cg.procAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", args[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	tr := bpf.NewTracker()
	var runErr error
	running := true
	for running {
		select {
		case ev, ok := <-events:
			if !ok {
				return errors.New("capture stopped while the command ran")
			}
			tr.Handle(ev)
		case runErr = <-done:
			running = false
		}
	}
	// The command is done; its events may still be in the ring buffer.
	// Drain until every process of the tree has exited, or a grace period
	// passes (a daemon it left behind keeps running: its outputs so far are
	// recorded as incomplete).
	grace := time.NewTimer(3 * time.Second)
	defer grace.Stop()
drain:
	for tr.Live() > 0 {
		select {
		case ev, ok := <-events:
			if !ok {
				break drain
			}
			tr.Handle(ev)
		case <-grace.C:
			tr.MarkLost()
			fmt.Fprintf(c.App.ErrWriter, "bonsai: %d processes of the run still alive: outputs marked incomplete\n", tr.Live())
			break drain
		}
	}
	// Whatever is already queued belongs to the run too.
	for more := true; more; {
		select {
		case ev, ok := <-events:
			if !ok {
				more = false
				break
			}
			tr.Handle(ev)
		default:
			more = false
		}
	}
	if lost, err := capture.Lost(); err != nil || sumLost(lost) > 0 {
		tr.MarkLost()
		fmt.Fprintf(c.App.ErrWriter, "bonsai: the capture lost events (%v): outputs marked incomplete\n", lost)
	}
	capture.Close()
	if n := tr.Unnamed(); n > 0 {
		tr.MarkLost()
		fmt.Fprintf(c.App.ErrWriter, "bonsai: %d written files could not be named (their process was gone before its paths were resolved): outputs marked incomplete\n", n)
	}

	obs := tr.Outputs()
	status := 0
	var ee *exec.ExitError
	switch {
	case runErr == nil:
	case errors.As(runErr, &ee):
		status = ee.ExitCode()
		if status <= 0 {
			status = 2
		}
	default:
		return fmt.Errorf("run %s: %w", args[0], runErr)
	}
	if len(obs) > 0 {
		st, err := openBackend(c)
		if err != nil {
			return err
		}
		defer st.Close()
		outs, err := (&node.Recorder{Store: st, Key: key}).RecordObserved(obs)
		if err != nil {
			return err
		}
		if asJSON {
			if err := printObserved(c.App.Writer, obs, outs); err != nil {
				return err
			}
		} else {
			for _, o := range outs {
				fmt.Fprintf(c.App.Writer, "%s %s\n", relPath(o.Path), o.Record)
			}
		}
		if err := st.Close(); err != nil {
			return err
		}
	}
	if asJSON && len(obs) == 0 {
		fmt.Fprintln(c.App.Writer, "[]")
	}
	if status != 0 {
		return exitStatus{status}
	}
	return nil
}

type observedJSON struct {
	Path       string   `json:"path"`
	Record     string   `json:"record"`
	Inputs     []string `json:"inputs"`
	Program    string   `json:"program,omitempty"`
	Incomplete bool     `json:"incomplete,omitempty"`
}

// printObserved writes the run's outputs with their input paths: the
// lineage the capture saw, before it became content CIDs (a byte-for-byte
// copy has the CID of its source and so no edge in its record).
func printObserved(w io.Writer, obs []bpf.Observed, outs []node.Output) error {
	list := make([]observedJSON, len(obs))
	for i, o := range obs {
		list[i] = observedJSON{Path: o.Path, Record: outs[i].Record.String(), Inputs: o.Inputs, Program: o.Program, Incomplete: o.Incomplete}
		if list[i].Inputs == nil {
			list[i].Inputs = []string{}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(list)
}

func sumLost(m map[bpf.Kind]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
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

// relPath shows a path relative to the working directory when inside it.
func relPath(p string) string { return onePath([]string{p}, "") }

func eventsCommand() *cli.Command {
	return &cli.Command{
		Name:  "events",
		Usage: "stream the raw capture observations (for debugging), until interrupted",
		Flags: []cli.Flag{
			jsonFlag,
			&cli.IntSliceFlag{Name: "pid", Usage: "only `PID` and its descendants (repeatable; default: every process)"},
		},
		Action: func(c *cli.Context) error {
			opts := bpf.Options{All: len(c.IntSlice("pid")) == 0}
			for _, p := range c.IntSlice("pid") {
				opts.PIDs = append(opts.PIDs, uint32(p))
			}
			capture, err := bpf.Open(opts)
			if err != nil {
				return captureError(err)
			}
			go func() {
				<-c.Context.Done()
				capture.Close()
			}()
			enc := json.NewEncoder(c.App.Writer)
			for {
				ev, err := capture.Read()
				if err != nil {
					if c.Context.Err() != nil {
						return nil
					}
					return err
				}
				if c.Bool("json") {
					if err := enc.Encode(ev); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintln(c.App.Writer, formatEvent(ev))
			}
		},
	}
}

func formatEvent(ev bpf.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s pid %-7d", ev.Kind, ev.PID)
	switch ev.Kind {
	case bpf.KindFork:
		fmt.Fprintf(&b, " child %d", ev.Child)
	case bpf.KindRename:
		fmt.Fprintf(&b, " %s -> %s", ev.Path, ev.Path2)
	default:
		if ev.Ino != 0 {
			fmt.Fprintf(&b, " inode %d:%d mode %o", ev.Dev, ev.Ino, ev.Mode)
		}
		if ev.Path != "" {
			fmt.Fprintf(&b, " %s", ev.Path)
		}
	}
	return b.String()
}
