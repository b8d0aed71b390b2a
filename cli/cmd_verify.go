package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/bonsai-lineage/bonsai/internal/ancestry"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mattn/go-isatty"
	"github.com/urfave/cli/v2"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "verify a file's ancestry: every record's signature, recursively through every input",
		ArgsUsage: "FILE|CID",
		Description: "Hashes FILE (or takes an output CID), finds the records that produced it, checks each\n" +
			"signature and recurses into every input. Prints the ancestry as a tree (short CID, local\n" +
			"path when known, verdict, executor) and a one-line summary.\n\n" +
			"An input with no record anywhere is a source, not a failure, unless --full is given.\n" +
			"A record revoked by its executor (or by a --trust-revoker) is revoked, and so fails every\n" +
			"descendant; other revocations are shown and ignored.\n" +
			"--format dot or mermaid prints the ancestry as a graph instead (and no summary line): one\n" +
			"node per content (short CID, local path), one box per record (executor, program, time),\n" +
			"edges from inputs to records to outputs, coloured by verdict, with a legend. A graph\n" +
			fmt.Sprintf("draws %d levels, as the tree does; the levels below are one node (\"… N more levels,\n", ancestry.Depth) +
			"M nodes\"). Render DOT with Graphviz ('bonsai verify --format dot FILE | dot -Tsvg > a.svg');\n" +
			"paste Mermaid into a ```mermaid block of a Markdown file. Not with --json.\n" +
			"Exit status: 0 verified, 1 not verified, 2 error (including --timeout expiring), 130/143\n" +
			"interrupted.",
		Flags: []cli.Flag{
			jsonFlag,
			&cli.StringFlag{Name: "format", Value: "tree", Usage: "print the ancestry as `FORMAT`: tree (text), dot (Graphviz) or mermaid (a Mermaid flowchart)"},
			&cli.IntFlag{Name: "depth", Usage: "check at most `N` levels of inputs (0: up to 1024)"},
			&cli.StringSliceFlag{Name: "trust", Usage: "trust only records signed by `PEERID` (repeatable); default: any valid signature, executors listed"},
			&cli.StringSliceFlag{Name: "trust-revoker", Usage: "count revocations signed by `PEERID` besides each record's own executor's (repeatable)"},
			&cli.BoolFlag{Name: "full", Usage: "require a record for every ancestor: a source with no record fails"},
			&cli.DurationFlag{Name: "timeout", Usage: "give up after `DURATION` (exit 2: not a verdict)", Value: time.Minute},
			hashFlag,
		},
		Action: runVerify,
	}
}

func runVerify(c *cli.Context) error {
	if c.Int("depth") < 0 {
		return usagef("--depth %d: must be 0 or more", c.Int("depth"))
	}
	format := c.String("format")
	switch {
	case format != "tree" && format != "dot" && format != "mermaid":
		return usagef("--format %s: want tree, dot or mermaid", format)
	case format != "tree" && c.Bool("json"):
		return usagef("--json and --format %s: give one or the other", format)
	}
	opts := lineage.Options{MaxDepth: c.Int("depth"), RequireFull: c.Bool("full")}
	for _, s := range c.StringSlice("trust") {
		id, err := peer.Decode(s)
		if err != nil {
			return usagef("--trust %s: not a peer ID: %v", s, err)
		}
		opts.Trusted = append(opts.Trusted, id)
	}
	for _, s := range c.StringSlice("trust-revoker") {
		id, err := peer.Decode(s)
		if err != nil {
			return usagef("--trust-revoker %s: not a peer ID: %v", s, err)
		}
		opts.TrustedRevokers = append(opts.TrustedRevokers, id)
	}
	target, path, st, err := targetAndBackend(c, "verify", reading)
	if err != nil {
		return err
	}
	defer st.Close()
	idx, err := store.RevocationsOf(st)
	if err != nil {
		return err
	}
	opts.Revocations = idx.Lookup
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	if isTerminal(c.App.ErrWriter) {
		// Progress on a terminal only: logs and pipes get the result alone.
		start := time.Now()
		opts.Progress = func(depth, nodes, records int) {
			if time.Since(start) > 300*time.Millisecond {
				fmt.Fprintf(c.App.ErrWriter, "\rchecking: depth %d, %s, %s…", depth, plural(nodes, "node"), plural(records, "record"))
			}
		}
		defer fmt.Fprint(c.App.ErrWriter, "\r\033[K")
	}
	before, viaDaemon := st.FetchStats(ctx)
	res, err := lineage.Check(ctx, target, st, opts)
	if err != nil {
		return err
	}
	var swarm *node.FetchStats
	if viaDaemon {
		after, _ := st.FetchStats(ctx)
		d := statsDiff(before, after)
		swarm = &d
	}
	paths, err := pathsOf(st, res, target, path)
	if err != nil {
		return err
	}
	// A check the deadline or a signal cut short has no verdict.
	var unfinished error
	if !res.Verified {
		switch {
		case c.Context.Err() != nil:
			unfinished = context.Cause(c.Context)
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			unfinished = fmt.Errorf("verify %s: timed out after %v with %s not checked (--timeout sets the limit)",
				c.Args().First(), c.Duration("timeout"), plural(res.Counts[lineage.LimitReached], "node"))
		}
	}
	switch {
	case format == "dot" || format == "mermaid":
		g := ancestry.New(res, paths, opts.RequireFull)
		g.RelativeTo, _ = os.Getwd() // none when it is gone: paths stay absolute
		write := ancestry.WriteDOT
		if format == "mermaid" {
			write = ancestry.WriteMermaid
		}
		if err := write(c.App.Writer, g); err != nil {
			return err
		}
	case c.Bool("json"):
		out := resultJSON(res)
		out.Complete = unfinished == nil
		out.Swarm = swarm
		if err := writeVerifyJSON(c.App.Writer, out, res, paths); err != nil {
			return err
		}
	default:
		printTree(c.App.Writer, res, paths, opts.RequireFull)
		if swarm != nil && (swarm.RoundTrips > 0 || swarm.ProviderLookups > 0) {
			printSwarm(c.App.Writer, *swarm)
		}
		if unfinished != nil {
			fmt.Fprintf(c.App.Writer, "INCOMPLETE: no verdict (%s): %s checked, %s not\n",
				unfinished, plural(len(res.Nodes)-res.Counts[lineage.LimitReached], "node"), plural(res.Counts[lineage.LimitReached], "node"))
		} else {
			fmt.Fprintln(c.App.Writer, summary(res, paths, opts.RequireFull))
		}
	}
	switch {
	case unfinished != nil:
		return unfinished
	case !res.Verified:
		return errNotVerified
	}
	return nil
}

// pathsOf maps every node of the result to a local path when one is known.
func pathsOf(st backend, res *lineage.Result, target cid.Cid, targetPath string) (map[cid.Cid]string, error) {
	paths := map[cid.Cid]string{}
	for _, c := range res.Order {
		known, err := st.PathsOf(c)
		if err != nil {
			return nil, err
		}
		prefer := ""
		if c == target {
			prefer = targetPath
		}
		if p := onePath(known, prefer); p != "" {
			paths[c] = p
		}
	}
	return paths, nil
}

// statsDiff is what the daemon fetched between two snapshots: the swarm
// work of one verification.
func statsDiff(a, b node.FetchStats) node.FetchStats {
	d := node.FetchStats{
		Rounds:          b.Rounds - a.Rounds,
		ProviderLookups: b.ProviderLookups - a.ProviderLookups,
		RoundTrips:      b.RoundTrips - a.RoundTrips,
		Fetched:         b.Fetched - a.Fetched,
		Peers:           map[string]*node.PeerStats{},
	}
	for p, s := range b.Peers {
		prev := a.Peers[p]
		if prev == nil {
			prev = &node.PeerStats{}
		}
		ps := node.PeerStats{Requests: s.Requests - prev.Requests, Records: s.Records - prev.Records,
			Refused: s.Refused - prev.Refused, Failures: s.Failures - prev.Failures, LastErr: s.LastErr}
		if ps.Requests > 0 {
			d.Peers[p] = &ps
		}
	}
	return d
}

// printSwarm is the per-peer summary of a verification that went to the
// swarm.
func printSwarm(w io.Writer, s node.FetchStats) {
	fmt.Fprintf(w, "swarm: %s fetched in %s over %s (%s)\n",
		plural(s.Fetched, "record"), plural(s.RoundTrips, "round trip"), plural(s.Rounds, "sequential round"), plural(s.ProviderLookups, "provider lookup"))
	peers := slices.Sorted(maps.Keys(s.Peers))
	for _, p := range peers {
		ps := s.Peers[p]
		line := fmt.Sprintf("  peer %s: %s, %s", shortPeer(p), plural(ps.Requests, "request"), plural(ps.Records, "record"))
		if ps.Refused > 0 {
			line += fmt.Sprintf(", %d refused", ps.Refused)
		}
		if ps.Failures > 0 {
			line += fmt.Sprintf(", %d failed (%s)", ps.Failures, ps.LastErr)
		}
		fmt.Fprintln(w, line)
	}
}

// isTerminal reports whether w is a terminal (not merely a character
// device: /dev/null is one too).
func isTerminal(w io.Writer) bool {
	f := fileOf(w)
	return f != nil && isatty.IsTerminal(f.Fd())
}
