package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/bonsai-lineage/bonsai/enforce"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/urfave/cli/v2"
)

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "the enforcement decisions kept in the audit log, oldest first",
		Description: "Every decision on a file in a policy's scope (time, policy, rule, mode, decision, path\n" +
			"and CID, pid, program, uid, reason, latency) and every enforcement gap ('enforcement down\n" +
			"from T1 to T2') is kept in the store, which holds the newest --audit-max entries of the\n" +
			"daemon (older ones are dropped, and the count of dropped entries is shown).",
		Flags: []cli.Flag{
			jsonFlag,
			&cli.DurationFlag{Name: "since", Usage: "only the last `DURATION` (e.g. 1h)"},
			&cli.StringFlag{Name: "policy", Usage: "only decisions of policy `NAME`"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("audit takes no arguments")
			}
			if c.Duration("since") < 0 {
				return usagef("--since %v: must be positive", c.Duration("since"))
			}
			var since time.Time
			if d := c.Duration("since"); d > 0 {
				since = time.Now().Add(-d)
			}
			var out node.APIAudit
			err := viaDaemonOrStore(c, reading, func(api *node.Client) (err error) {
				out, err = api.Audit(c.Context, node.APIAuditQuery{Since: since, Policy: c.String("policy")})
				return err
			}, func(st *store.Store) error {
				var err error
				if out.Events, err = st.Audit(since, c.String("policy")); err != nil {
					return err
				}
				out.Dropped, err = st.AuditDropped()
				return err
			})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				if out.Events == nil {
					out.Events = []enforce.Event{}
				}
				return printJSON(c.App.Writer, out)
			}
			w := c.App.Writer
			if out.Dropped > 0 {
				fmt.Fprintf(w, "(%d older entries dropped past the log's bound)\n", out.Dropped)
			}
			for _, e := range out.Events {
				what := e.Path
				if e.Dest != "" {
					what = e.Dest
				}
				fields := []string{e.Time.Local().Format(time.RFC3339), e.Kind, e.Decision}
				if e.Policy != "" {
					fields = append(fields, "policy="+e.Policy, "rule="+orDash(e.Rule), "mode="+string(e.Mode))
				}
				if what != "" {
					fields = append(fields, what)
				}
				if e.PID != 0 {
					fields = append(fields, fmt.Sprintf("pid=%d uid=%d prog=%s", e.PID, e.UID, orDash(e.Program)))
				}
				if e.Latency > 0 {
					fields = append(fields, fmt.Sprintf("latency=%v", e.Latency.Round(time.Microsecond)))
				}
				if e.Cached {
					fields = append(fields, "cached")
				}
				fmt.Fprintf(w, "%s: %s\n", strings.Join(fields, " "), e.Reason)
			}
			return nil
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runEnforcementStatus(c *cli.Context) error {
	if c.NArg() != 0 {
		return usagef("status --enforcement takes no arguments")
	}
	h, err := home(c)
	if err != nil {
		return err
	}
	api, ok := node.Dial(c.Context, h)
	if !ok {
		return fmt.Errorf("no daemon runs on %s: nothing enforces (start 'bonsai daemon')", h)
	}
	defer api.Close()
	st, err := api.Enforcement(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, st)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "opens and execs: %s (%s)\n", st.Files, st.FilesWhy)
	if len(st.Marks) > 0 {
		fmt.Fprintf(w, "  watching the filesystems of: %s\n", strings.Join(st.Marks, " "))
	}
	fmt.Fprintf(w, "policies: %s\n", orDash(strings.Join(st.Policies, " ")))
	fmt.Fprintf(w, "egress: %s\n", st.Egress)
	fmt.Fprintf(w, "BPF LSM: %s\n", st.LSM)
	fmt.Fprintf(w, "decisions since start: %d\n", st.Decisions)
	fmt.Fprintf(w, "fail mode: %s\n", st.FailMode)
	return nil
}
