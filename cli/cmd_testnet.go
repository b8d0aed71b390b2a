package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bonsai-lineage/bonsai/testnet"
	"github.com/urfave/cli/v2"
)

func testnetCommand() *cli.Command {
	dirFlag := &cli.StringFlag{Name: "dir", Usage: "the testnet's `DIR` (homes DIR/node1 …)", Value: "testnet"}
	dirOf := func(c *cli.Context) (string, error) { return filepath.Abs(c.String("dir")) }
	loadNet := func(c *cli.Context) (*testnet.ProcNet, error) {
		dir, err := dirOf(c)
		if err != nil {
			return nil, err
		}
		return testnet.Load(dir)
	}
	return &cli.Command{
		Name:  "testnet",
		Usage: "run a local swarm of daemons on loopback",
		Subcommands: []*cli.Command{
			{
				Name:  "up",
				Usage: "start N daemons as separate processes, bootstrapped to each other; return when all are connected",
				Flags: []cli.Flag{
					dirFlag,
					&cli.IntFlag{Name: "nodes", Usage: "start `N` daemons", Value: 5},
					&cli.IntFlag{Name: "base-port", Usage: "node K listens on TCP `PORT`+K-1 on 127.0.0.1", Value: 4801},
					&cli.IntFlag{Name: "replication", Usage: "DHT replicas per record, `K` (the bucket size; at least 12)", Value: 20},
					&cli.DurationFlag{Name: "timeout", Usage: "give up after `DURATION`", Value: 2 * time.Minute},
				},
				Action: func(c *cli.Context) error {
					dir, err := dirOf(c)
					if err != nil {
						return err
					}
					if c.Int("nodes") < 1 || c.Int("nodes") > 200 {
						return usagef("--nodes %d: want 1 to 200", c.Int("nodes"))
					}
					bin, err := os.Executable()
					if err != nil {
						return err
					}
					if err := os.MkdirAll(dir, 0o700); err != nil {
						return err
					}
					ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
					defer cancel()
					net, err := testnet.Up(ctx, testnet.UpOptions{
						Bin: bin, Dir: dir, Nodes: c.Int("nodes"), BasePort: c.Int("base-port"),
						Args: []string{"--replication", fmt.Sprint(c.Int("replication"))},
					})
					if err != nil {
						return err
					}
					for i, n := range net.Nodes {
						fmt.Fprintf(c.App.Writer, "node%d  %s  pid %d  %s\n", i+1, n.Home, n.PID, n.Addr)
					}
					return nil
				},
			},
			{
				Name:  "status",
				Usage: "show each daemon of the testnet: running, peers",
				Flags: []cli.Flag{dirFlag, jsonFlag},
				Action: func(c *cli.Context) error {
					net, err := loadNet(c)
					if err != nil {
						return err
					}
					sts := net.Status(c.Context)
					if c.Bool("json") {
						return printJSON(c.App.Writer, sts)
					}
					down := 0
					for i, s := range sts {
						state := fmt.Sprintf("running, %d peers", s.Peers)
						if !s.Running {
							state, down = "stopped", down+1
						}
						fmt.Fprintf(c.App.Writer, "node%d  %s  pid %d  %s\n", i+1, s.Home, s.PID, state)
					}
					if down > 0 {
						return errNotVerified
					}
					return nil
				},
			},
			{
				Name:  "down",
				Usage: "stop the testnet's daemons cleanly (or only --node K)",
				Flags: []cli.Flag{dirFlag, &cli.IntFlag{Name: "node", Usage: "stop only node `K` (1-based)"}},
				Action: func(c *cli.Context) error {
					net, err := loadNet(c)
					if err != nil {
						return err
					}
					ctx, cancel := context.WithTimeout(c.Context, time.Minute)
					defer cancel()
					if k := c.Int("node"); k != 0 {
						if k < 1 || k > len(net.Nodes) {
							return usagef("--node %d: the testnet has nodes 1 to %d", k, len(net.Nodes))
						}
						return net.Stop(ctx, k-1)
					}
					return net.Down(ctx)
				},
			},
		},
	}
}
