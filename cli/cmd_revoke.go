package cli

import (
	"fmt"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	"github.com/urfave/cli/v2"
)

func revokeCommand() *cli.Command {
	return &cli.Command{
		Name:      "revoke",
		Usage:     "sign a revocation of a record: it and every descendant fail verification",
		ArgsUsage: "FILE|CID",
		Description: "FILE (or a content CID) revokes the records of that content signed by this node; a record\n" +
			"CID revokes that record. The revocation (revoker, target record, reason, time) is signed\n" +
			"in a domain of its own, kept in the store and, through the daemon, published to the\n" +
			"swarm, where every node verifies it before relaying it; 'export --car' carries it.\n" +
			"It counts wherever the record's own executor signed it, or where the verifier trusts the\n" +
			"revoker ('verify --trust-revoker', a policy's revokers); anyone else's is shown and\n" +
			"ignored. Without a daemon it is kept here and served to peers once one runs.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "reason", Usage: "why, in `TEXT` (at most 1024 bytes)"},
			hashFlag,
		},
		Action: runRevoke,
	}
}

func runRevoke(c *cli.Context) error {
	if len(c.String("reason")) > lineage.MaxReasonLen {
		return usagef("--reason: %d bytes, at most %d", len(c.String("reason")), lineage.MaxReasonLen)
	}
	if c.NArg() != 1 {
		return usagef("revoke needs exactly one FILE or CID")
	}
	key, err := loadKey(c)
	if err != nil {
		return err
	}
	var records []cid.Cid
	arg := c.Args().First()
	if rc, err := cid.Decode(arg); err == nil && rc.Type() == cid.DagCBOR {
		records = []cid.Cid{rc}
	}
	out, _, st, err := func() (cid.Cid, string, backend, error) {
		if records != nil {
			b, err := openBackend(c, writing)
			return cid.Undef, "", b, err
		}
		return targetAndBackend(c, "revoke", writing)
	}()
	if err != nil {
		return err
	}
	defer st.Close()
	if records == nil {
		claims, err := st.Claims(out)
		if err != nil {
			return err
		}
		if len(claims) == 0 {
			return fmt.Errorf("%s: no record of %s here to revoke", arg, out)
		}
		var others []cid.Cid
		for _, cl := range claims {
			r, err := lineage.Decode(cl.Data)
			if err != nil {
				return fmt.Errorf("stored record %s: %w", cl.Record, err)
			}
			if r.Executor.Peer == key.ID() {
				records = append(records, cl.Record)
			} else {
				others = append(others, cl.Record)
			}
		}
		if len(records) == 0 {
			records = others
			fmt.Fprintf(c.App.ErrWriter, "bonsai: note: the records of %s were signed by others; this revocation counts only where %s is a trusted revoker\n", arg, key.ID())
		}
	}
	for _, rc := range records {
		rev, err := st.Revoke(c.Context, key, rc, c.String("reason"))
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "revoked %s: revocation %s\n", rc, rev)
	}
	return st.Close()
}
