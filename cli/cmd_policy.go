package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/bonsai-lineage/bonsai/enforce"
	"github.com/bonsai-lineage/bonsai/internal/fsx"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	"github.com/urfave/cli/v2"
)

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "manage enforcement policies: apply, list, rm, and test one against a file",
		Description: "A policy (YAML: apiVersion bonsai/v1, kind Policy, metadata.name, spec.mode enforce|audit,\n" +
			"spec.scope.paths, spec.rules: verifiedLineage {depth, full, trust}, notRevoked,\n" +
			"confidential {allowEgress}) guards files opened or executed under its paths. A malformed\n" +
			"policy is refused whole, with its file, line and field; the applied set is then unchanged.\n" +
			"Policies are kept in the node's store (through the daemon when it runs).",
		Subcommands: []*cli.Command{
			{
				Name:      "apply",
				Usage:     "check FILE and keep it as a policy, replacing one of the same name",
				ArgsUsage: "FILE",
				Action:    runPolicyApply,
			},
			{
				Name:   "list",
				Usage:  "the applied policies",
				Flags:  []cli.Flag{jsonFlag},
				Action: runPolicyList,
			},
			{
				Name:      "rm",
				Usage:     "remove the policy NAME",
				ArgsUsage: "NAME",
				Action:    runPolicyRm,
			},
			{
				Name:      "test",
				Usage:     "dry run: what policy FILE decides for PATH (exit 0 allow, 1 deny)",
				ArgsUsage: "FILE PATH",
				Description: "Decides as the enforcing daemon would, without applying FILE: prints the decision, the\n" +
					"rule that failed and the path through the ancestry to the node at fault. A PATH outside\n" +
					"the policy's scope is allowed. In audit mode a failing rule is reported and allowed.\n" +
					"Exit status: 0 allowed, 1 denied, 2 error (a malformed policy, a missing PATH).",
				Flags: []cli.Flag{
					jsonFlag,
					&cli.DurationFlag{Name: "timeout", Usage: "give up after `DURATION`", Value: 5 * time.Second},
					hashFlag,
				},
				Action: runPolicyTest,
			},
		},
	}
}

// readPolicyFile reads a policy file: a regular file (a FIFO or a device
// is refused, without blocking on it) of bounded size.
func readPolicyFile(path string) ([]byte, error) {
	f, err := fsx.OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, enforce.MaxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// parsePolicyArg reads and checks the policy file named by a command's
// first argument.
func parsePolicyArg(c *cli.Context, n int, usage string) (string, []byte, *enforce.Policy, error) {
	if c.NArg() != n {
		return "", nil, nil, usagef("policy %s", usage)
	}
	file := c.Args().First()
	data, err := readPolicyFile(file)
	if err != nil {
		return "", nil, nil, err
	}
	p, err := enforce.ParsePolicy(file, strings.NewReader(string(data)))
	if err != nil {
		return "", nil, nil, err
	}
	return file, data, p, nil
}

func runPolicyApply(c *cli.Context) error {
	file, data, p, err := parsePolicyArg(c, 1, "apply needs exactly one FILE")
	if err != nil {
		return err
	}
	err = viaDaemonOrStore(c, writing, func(api *node.Client) error {
		_, err := api.ApplyPolicy(c.Context, file, data)
		return err
	}, func(st *store.Store) error {
		_, err := st.PutPolicy(file, data)
		return err
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "applied policy %s (%s, %s, scope %s)\n", p.Metadata.Name, p.Spec.Mode, plural(len(p.Spec.Rules), "rule"), strings.Join(p.Spec.Scope.Paths, " "))
	return nil
}

func storedPolicies(c *cli.Context) ([]node.APIPolicy, error) {
	var out []node.APIPolicy
	err := viaDaemonOrStore(c, reading, func(api *node.Client) (err error) {
		out, err = api.Policies(c.Context)
		return err
	}, func(st *store.Store) error {
		ps, err := st.Policies()
		out = node.APIPoliciesOf(ps)
		return err
	})
	return out, err
}

func runPolicyList(c *cli.Context) error {
	if c.NArg() != 0 {
		return usagef("policy list takes no arguments")
	}
	ps, err := storedPolicies(c)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if ps == nil {
			ps = []node.APIPolicy{}
		}
		return printJSON(c.App.Writer, ps)
	}
	if len(ps) == 0 {
		fmt.Fprintln(c.App.Writer, "no policies")
		return nil
	}
	for _, p := range ps {
		var rules []string
		for _, r := range p.Policy.Spec.Rules {
			rules = append(rules, r.Name())
		}
		fmt.Fprintf(c.App.Writer, "%s\t%s\t%s\t%s\n", p.Name, p.Policy.Spec.Mode, strings.Join(p.Policy.Spec.Scope.Paths, " "), strings.Join(rules, ","))
	}
	return nil
}

func runPolicyRm(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("policy rm needs exactly one NAME")
	}
	name := c.Args().First()
	err := viaDaemonOrStore(c, writing, func(api *node.Client) error {
		return api.RemovePolicy(c.Context, name)
	}, func(st *store.Store) error { return st.DeletePolicy(name) })
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "removed policy %s\n", name)
	return nil
}

func runPolicyTest(c *cli.Context) error {
	_, _, p, err := parsePolicyArg(c, 2, "test needs a policy FILE and a PATH")
	if err != nil {
		return err
	}
	path, err := filepath.Abs(c.Args().Get(1))
	if err != nil {
		return err
	}
	var d enforce.Decision
	if !p.Covers(path) {
		d = enforce.Decision{Policy: p.Metadata.Name, Mode: p.Spec.Mode, File: path, Allow: true, Reason: "not in the policy's scope"}
	} else {
		hash, err := hasher(c)
		if err != nil {
			return err
		}
		content, err := hash(path)
		if err != nil {
			return err
		}
		st, err := openBackend(c, reading)
		if err != nil {
			return err
		}
		defer st.Close()
		ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
		defer cancel()
		idx, err := store.RevocationsOf(st)
		if err != nil {
			return err
		}
		if d, err = enforce.Decide(ctx, p, path, content, withRevocations{st, idx}); err != nil {
			return err
		}
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(c.App.Writer, d.String())
		// The trail's last line ends the decision already.
		for i, line := range d.Trail[:max(len(d.Trail)-1, 0)] {
			fmt.Fprintf(c.App.Writer, "  %s%s\n", strings.Repeat("  ", i), line)
		}
	}
	if !d.Allow {
		return errNotVerified
	}
	return nil
}

// withRevocations is a resolver that also answers for revocations, as
// enforce.Decide wants for notRevoked.
type withRevocations struct {
	lineage.Resolver
	idx store.RevocationIndex
}

func (w withRevocations) Revocations(record cid.Cid) []*lineage.Revocation {
	return w.idx.Lookup(record)
}
