package cli

import (
	"fmt"

	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/urfave/cli/v2"
)

func initCommand() *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "create the node's home, identity key and store; print the peer ID",
		Description: "Creates --home (mode 0700) with an Ed25519 identity key (mode 0600) and an empty\n" +
			"store. Running it again is harmless: an existing key is never overwritten.",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("init takes no arguments")
			}
			h, err := home(c)
			if err != nil {
				return err
			}
			k, created, err := store.Init(h)
			if err != nil {
				return err
			}
			if created {
				fmt.Fprintf(c.App.ErrWriter, "initialized %s\n", h)
			}
			fmt.Fprintln(c.App.Writer, k.ID())
			return nil
		},
	}
}

func idCommand() *cli.Command {
	return &cli.Command{
		Name:  "id",
		Usage: "print the node's peer ID (its public identity)",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "addrs", Usage: "print the running daemon's dialable multiaddrs (with /p2p/PEERID), one a line"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			var out struct {
				Peer  string   `json:"peer"`
				Addrs []string `json:"addrs,omitempty"`
			}
			if c.Bool("addrs") {
				api, err := daemonAPI(c)
				if err != nil {
					return err
				}
				defer api.Close()
				info, err := api.Info(c.Context)
				if err != nil {
					return err
				}
				out.Peer, out.Addrs = info.ID, append([]string{}, info.Addrs...)
			} else {
				k, err := loadKey(c)
				if err != nil {
					return err
				}
				out.Peer = k.ID().String()
			}
			switch {
			case c.Bool("json"):
				return printJSON(c.App.Writer, out)
			case c.Bool("addrs"):
				for _, a := range out.Addrs {
					fmt.Fprintln(c.App.Writer, a)
				}
			default:
				fmt.Fprintln(c.App.Writer, out.Peer)
			}
			return nil
		},
	}
}

func hashCommand() *cli.Command {
	return &cli.Command{
		Name:      "hash",
		Usage:     "print each file's content CID, as records name it (nothing is stored)",
		ArgsUsage: "FILE...",
		Flags:     []cli.Flag{hashFlag, jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("hash needs at least one FILE")
			}
			hash, err := hasher(c)
			if err != nil {
				return err
			}
			type hashed struct {
				Path   string `json:"path"`
				Output string `json:"output"`
			}
			list := []hashed{}
			for _, p := range c.Args().Slice() {
				id, err := hash(p)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					list = append(list, hashed{Path: absPath(p), Output: id.String()})
					continue
				}
				fmt.Fprintf(c.App.Writer, "%s  %s\n", id, quotePath(p))
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, list)
			}
			return nil
		},
	}
}
