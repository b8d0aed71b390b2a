package cli

import (
	"encoding/json"
	"fmt"

	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	"github.com/urfave/cli/v2"
)

// daemonAPI connects to the home's daemon, or says that one is needed.
func daemonAPI(c *cli.Context) (*node.Client, error) {
	h, err := home(c)
	if err != nil {
		return nil, err
	}
	api, ok := node.Dial(c.Context, h)
	if !ok {
		return nil, fmt.Errorf("no daemon running for %s (start 'bonsai daemon')", h)
	}
	return api, nil
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "where a record stands (local, published, replicated to N peers) and whose it is (or, with --enforcement, what enforces)",
		ArgsUsage: "RECORD_CID | --enforcement",
		Flags: []cli.Flag{jsonFlag, &cli.BoolFlag{Name: "enforcement",
			Usage: "say which enforcement backends are active and why (asks the running daemon)"}},
		Action: func(c *cli.Context) error {
			if c.Bool("enforcement") {
				return runEnforcementStatus(c)
			}
			if c.NArg() != 1 {
				return usagef("status needs exactly one record CID")
			}
			rc, err := cid.Decode(c.Args().First())
			if err != nil {
				return fmt.Errorf("%s: not a CID: %w", c.Args().First(), err)
			}
			b, err := openBackend(c, reading)
			if err != nil {
				return err
			}
			defer b.Close()
			st, err := b.Status(c.Context, rc)
			if err != nil {
				return err
			}
			if !st.Local {
				return notHeld(b, rc, fmt.Errorf("%s: %w", rc, store.ErrNotFound))
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, st)
			}
			w := c.App.Writer
			fmt.Fprintf(w, "%s  %s (%s)\n", rc, statusState(st), statusWhose(st))
			if st.Outbox != "" {
				fmt.Fprintf(w, "outbox   %s, %s", st.Outbox, plural(st.Attempts, "attempt"))
				if st.LastError != "" {
					fmt.Fprintf(w, ", last error: %s", st.LastError)
				}
				fmt.Fprintln(w)
			}
			for _, p := range st.Holders {
				fmt.Fprintf(w, "replica  %s\n", p)
			}
			return nil
		},
	}
}

// statusState says how far a held record has gone: an own record is
// local until the outbox has published it, then published, then
// replicated; anyone else's record is held here, and maybe replicated.
func statusState(st node.APIStatus) string {
	if st.Origin != "own" {
		if st.Replicas > 0 {
			return "held, also by " + plural(st.Replicas, "peer")
		}
		return "held"
	}
	switch {
	case st.Replicas > 0:
		return "replicated to " + plural(st.Replicas, "peer")
	case st.Outbox == "published":
		return "published"
	}
	return "local"
}

// statusWhose says whose a held record is and why this node holds it.
func statusWhose(st node.APIStatus) string {
	signer := st.Executor
	if signer == "" {
		signer = "an unknown key"
	}
	switch st.Origin {
	case "own":
		return "own record"
	case "imported":
		return "imported record, signed by " + signer + ", not this node: not published by this node"
	case "cached":
		return "cached copy of a record signed by " + signer
	case "replica":
		return "replica of a record signed by " + signer + ", held for the swarm"
	}
	return st.Origin + " record, signed by " + signer
}

func pinCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "pin",
			Usage:     "fetch a file's whole ancestry, keep it from GC and serve it (needs the daemon)",
			ArgsUsage: "FILE|CID",
			Flags:     []cli.Flag{hashFlag},
			Action: func(c *cli.Context) error {
				out, err := targetOnly(c, "pin")
				if err != nil {
					return err
				}
				api, err := daemonAPI(c)
				if err != nil {
					return err
				}
				defer api.Close()
				p, err := api.Pin(c.Context, out)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "pinned %s: %s, %s\n", p.Output, plural(p.Records, "record"), plural(int(p.Bytes), "byte"))
				return nil
			},
		},
		{
			Name:      "unpin",
			Usage:     "let a pinned ancestry be collected again",
			ArgsUsage: "FILE|CID",
			Flags:     []cli.Flag{hashFlag},
			Action: func(c *cli.Context) error {
				out, err := targetOnly(c, "unpin")
				if err != nil {
					return err
				}
				return viaDaemonOrStore(c, writing, func(api *node.Client) error {
					return api.Unpin(c.Context, out)
				}, func(st *store.Store) error { return st.Unpin(out) })
			},
		},
		{
			Name:  "pins",
			Usage: "list pinned ancestries with their record counts and bytes",
			Flags: []cli.Flag{jsonFlag},
			Action: func(c *cli.Context) error {
				var pins []node.APIPin
				err := viaDaemonOrStore(c, reading, func(api *node.Client) (err error) {
					pins, err = api.Pins(c.Context)
					return err
				}, func(st *store.Store) error {
					ps, err := st.Pins()
					for _, p := range ps {
						pins = append(pins, node.APIPinOf(p))
					}
					return err
				})
				if err != nil {
					return err
				}
				if c.Bool("json") {
					enc := json.NewEncoder(c.App.Writer)
					enc.SetIndent("", "  ")
					if pins == nil {
						pins = []node.APIPin{}
					}
					return enc.Encode(pins)
				}
				for _, p := range pins {
					fmt.Fprintf(c.App.Writer, "%s  %s  %s  pinned %s\n", p.Output, plural(p.Records, "record"), plural(int(p.Bytes), "byte"), p.PinnedAt)
				}
				return nil
			},
		},
	}
}

// targetOnly reads the one FILE|CID argument of a command.
func targetOnly(c *cli.Context, command string) (cid.Cid, error) {
	if c.NArg() != 1 {
		return cid.Undef, usagef("%s needs exactly one FILE or CID", command)
	}
	hash, err := hasher(c)
	if err != nil {
		return cid.Undef, err
	}
	out, _, err := target(c.Args().First(), hash)
	return out, err
}
