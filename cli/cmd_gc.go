package cli

import (
	"fmt"

	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/urfave/cli/v2"
)

func gcCommand() *cli.Command {
	return &cli.Command{
		Name:  "gc",
		Usage: "run one GC pass now and say what it kept and collected",
		Description: "Keeps the node's own records, λ levels of ancestry below them, the records imported\n" +
			"into it, the replicas the node holds as one of the k peers closest to their key, and\n" +
			"pinned ancestries. Anything else is retired: no longer announced to the swarm, and\n" +
			"deleted by a later pass once the announcements already made have lapsed (two days; a\n" +
			"record needed again meanwhile is restored). With a daemon running it runs there;\n" +
			"without, on the store with the config's keep_levels, keeping every replica (no routing\n" +
			"table to tell which).",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("gc takes no arguments")
			}
			var st store.GCStats
			err := viaDaemonOrStore(c, writing, func(api *node.Client) (err error) {
				st, err = api.GC(c.Context)
				return err
			}, func(local *store.Store) error {
				h, err := home(c)
				if err != nil {
					return err
				}
				cfg, err := loadDaemonConfig(h)
				if err != nil {
					return err
				}
				keep := node.DefaultKeepLevels
				if cfg.KeepLevels != nil {
					keep = *cfg.KeepLevels
				}
				st, err = local.GC(c.Context, store.GCOptions{KeepLevels: keep, Grace: node.DefaultProvideValidity})
				return err
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, st)
			}
			fmt.Fprintf(c.App.Writer, "examined %s: kept %d, retired %d (no longer announced), removed %d (%s), restored %d\n",
				plural(st.Examined, "record"), st.Kept, st.Retired, st.Removed, plural(st.BytesFreed, "byte"), st.Restored)
			return nil
		},
	}
}
