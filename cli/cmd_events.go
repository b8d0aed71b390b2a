package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bonsai-lineage/bonsai/bpf"
	"github.com/urfave/cli/v2"
)

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
	fmt.Fprintf(&b, "%-8s pid %-7d", ev.Kind, ev.Proc.PID)
	switch ev.Kind {
	case bpf.KindFork:
		fmt.Fprintf(&b, " child %d", ev.Child.PID)
	case bpf.KindRename:
		fmt.Fprintf(&b, " %s -> %s", ev.Path, ev.Path2)
	default:
		if ev.File.Ino != 0 {
			fmt.Fprintf(&b, " inode %d:%d gen %d mode %o", ev.File.Dev, ev.File.Ino, ev.File.Gen, ev.Mode)
		}
		if ev.Path != "" {
			fmt.Fprintf(&b, " %s", ev.Path)
		}
	}
	if ev.Flags&bpf.FlagCut != 0 {
		b.WriteString(" (path cut)")
	}
	return b.String()
}
