package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	"github.com/urfave/cli/v2"
)

func showCommand() *cli.Command {
	return &cli.Command{
		Name:      "show",
		Usage:     "print one record from the store, decoded",
		ArgsUsage: "RECORD_CID",
		Flags: []cli.Flag{
			jsonFlag,
			&cli.BoolFlag{Name: "raw", Usage: "write the record's exact block bytes (DAG-CBOR) to stdout"},
		},
		Action: runShow,
	}
}

func runShow(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("show needs exactly one record CID")
	}
	rc, err := cid.Decode(c.Args().First())
	if err != nil {
		return fmt.Errorf("%s: not a CID: %w", c.Args().First(), err)
	}
	st, err := openBackend(c, reading)
	if err != nil {
		return err
	}
	defer st.Close()
	data, err := st.Get(rc)
	if errors.Is(err, store.ErrNotFound) {
		return notHeld(st, rc, err)
	}
	if err != nil {
		return err
	}
	if c.Bool("raw") {
		_, err := c.App.Writer.Write(data)
		return err
	}
	r, err := lineage.DecodeBlock(rc, data)
	if err != nil {
		return fmt.Errorf("stored record %s: %w", rc, err)
	}
	sigErr := r.Verify()
	if c.Bool("json") {
		j := signatureJSON(rc, r, sigErr)
		return printJSON(c.App.Writer, struct {
			node.RecordView
			Size int `json:"size"`
		}{j, len(data)})
	}
	w := c.App.Writer
	fmt.Fprintf(w, "record     %s\n", rc)
	fmt.Fprintf(w, "output     %s%s\n", r.Output, pathSuffix(st, r.Output))
	fmt.Fprintf(w, "executor   %s uid %d\n", r.Executor.Peer, r.Executor.UID)
	if r.Program.Defined() {
		fmt.Fprintf(w, "program    %s%s\n", r.Program, pathSuffix(st, r.Program))
	}
	fmt.Fprintf(w, "inputs     %d\n", len(r.Inputs))
	for _, in := range r.Inputs {
		fmt.Fprintf(w, "  %s%s\n", in, pathSuffix(st, in))
	}
	fmt.Fprintf(w, "time       %s\n", r.TimeOf().Format(time.RFC3339))
	if r.Incomplete {
		fmt.Fprintln(w, "incomplete yes: the capture missed something for this output")
	}
	if sigErr != nil {
		fmt.Fprintf(w, "signature  BAD: %v\n", sigErr)
	} else {
		fmt.Fprintln(w, "signature  ok")
	}
	fmt.Fprintf(w, "size       %s\n", plural(len(data), "byte"))
	return nil
}

// notHeld is the error of a command asked about a record the store does
// not hold (err, wrapping store.ErrNotFound): when rc is the output of
// records held, it says so and names one of them.
func notHeld(st backend, rc cid.Cid, err error) error {
	if claims, cerr := st.Claims(rc); cerr == nil && len(claims) > 0 {
		return fmt.Errorf("%s is an output, not a record: 'bonsai log' lists its %s, e.g. %s", rc, plural(len(claims), "record"), claims[0].Record)
	}
	return err
}

func pathSuffix(st backend, c cid.Cid) string {
	paths, err := st.PathsOf(c)
	if err != nil || len(paths) == 0 {
		return ""
	}
	return "  " + relPath(onePath(paths, ""))
}

func logCommand() *cli.Command {
	return &cli.Command{
		Name:      "log",
		Usage:     "list the stored records whose output is FILE's current content, newest first",
		ArgsUsage: "FILE|CID",
		Flags:     []cli.Flag{jsonFlag, hashFlag},
		Action: func(c *cli.Context) error {
			out, _, st, err := targetAndBackend(c, "log", reading)
			if err != nil {
				return err
			}
			defer st.Close()
			claims, err := st.Claims(out)
			if err != nil {
				return err
			}
			list := []node.RecordView{}
			for _, cl := range claims {
				r, err := lineage.Decode(cl.Data)
				if err != nil {
					return fmt.Errorf("stored record %s: %w", cl.Record, err)
				}
				list = append(list, signatureJSON(cl.Record, r, r.Verify()))
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, list)
			}
			if len(list) == 0 {
				fmt.Fprintf(c.App.ErrWriter, "no records for %s\n", out)
			}
			for _, j := range list {
				fmt.Fprintf(c.App.Writer, "%s  %s  by %s uid %d  %s  signature %s\n", j.Record, j.Time, j.Executor, j.UID, plural(len(j.Inputs), "input"), j.Verdict)
			}
			return nil
		},
	}
}

// signatureJSON is a stored record with the verdict of its own signature
// (its ancestry is verify's business).
func signatureJSON(rc cid.Cid, r *lineage.Record, sigErr error) node.RecordView {
	j := node.ViewRecord(rc, r)
	j.Verdict = lineage.Verified.String()
	if sigErr != nil {
		j.Verdict, j.Reason = lineage.BadSignature.String(), sigErr.Error()
	}
	return j
}
