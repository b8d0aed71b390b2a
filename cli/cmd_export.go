package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/encoding/protojson"
)

// exportFormats are the output flags of export, of which exactly one is
// given.
var exportFormats = []string{"car", "intoto", "prov"}

func exportCommand() *cli.Command {
	return &cli.Command{
		Name:      "export",
		Usage:     "write the local ancestry of a file as a CAR, as signed in-toto/SLSA provenance, or as W3C PROV-JSON",
		ArgsUsage: "--car|--intoto|--prov OUT FILE|CID",
		Description: "Exactly one of --car, --intoto, --prov names the output; OUT - is standard output (the\n" +
			"summary then goes to standard error). OUT is written to a temporary file and moved into\n" +
			"place when complete; an existing OUT is kept unless --force is given and it is a regular\n" +
			"file.\n\n" +
			"--car: a CAR v1 whose roots are the records of the target and whose blocks are every\n" +
			"record of its ancestry held in the local store, and the revocations held against them.\n" +
			"'bonsai import' reads it back; so do the IPLD tools.\n\n" +
			"--intoto: an in-toto Statement v1 with a SLSA Provenance v1 predicate, in a DSSE envelope\n" +
			"(payloadType application/vnd.in-toto+json). The subject is the target (its local file's\n" +
			"base name, or its CID, and its sha256 digest); buildType is\n" +
			"" + bonsaiBuildType + "; externalParameters hold the\n" +
			"executor's peer ID and uid and the program's CID; resolvedDependencies are the record's\n" +
			"inputs with their digests (and file: URIs when their local paths are known);\n" +
			"runDetails.builder.id is the executor as libp2p:peer:PEERID; runDetails.metadata.invocationId\n" +
			"is the record's CID, startedOn and finishedOn its time; the record block itself is a\n" +
			"byproduct, so its executor's signature can be checked too. The newest record of the\n" +
			"target that verifies here is exported; --all exports one statement per record of the\n" +
			"held ancestry that verifies. The output is JSON Lines: one envelope per line (the in-toto\n" +
			"bundle format), one line without --all.\n" +
			"Who signs: the envelope is signed by THIS node's key (keyid = this node's peer ID, whose\n" +
			"public key it embeds), attesting what its store holds and verified; the record's own\n" +
			"executor is named in builder.id.\n" +
			"Content hashed with blake3 has no in-toto digest name and is refused.\n\n" +
			"--prov: the held ancestry as W3C PROV-JSON: contents are entities and records are\n" +
			"activities (both bonsai:CID), executors are agents (peer:PEERID); used, wasGeneratedBy\n" +
			"and wasAssociatedWith relate them.\n\n" +
			"--intoto and --prov take only records that verify here (signature, revocations, a\n" +
			"complete capture), and --intoto only those whose inputs' whole ancestries verify too\n" +
			"(this node signs for them); the others are counted as skipped.\n" +
			"--json: --car {car, output, roots, records, revocations}; --intoto {intoto, output,\n" +
			"records, peer, skipped}; --prov {prov, output, records, entities, activities, agents,\n" +
			"skipped}.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "car", Usage: "write the ancestry as a CAR v1 file to `OUT` (- is standard output)"},
			&cli.StringFlag{Name: "intoto", Usage: "write a DSSE-signed in-toto SLSA provenance statement to `OUT` (- is standard output)"},
			&cli.StringFlag{Name: "prov", Usage: "write the ancestry as W3C PROV-JSON to `OUT` (- is standard output)"},
			&cli.BoolFlag{Name: "all", Usage: "with --intoto: one statement per verified record of the ancestry, not only the target's newest"},
			&cli.BoolFlag{Name: "force", Usage: "replace OUT if it is an existing regular file"},
			hashFlag,
			jsonFlag,
		},
		Action: runExport,
	}
}

// exportFormat is the one output flag given, and its OUT.
func exportFormat(c *cli.Context) (format, out string, err error) {
	var given []string
	for _, f := range exportFormats {
		if c.IsSet(f) {
			given = append(given, "--"+f)
			format, out = f, c.String(f)
		}
	}
	switch {
	case len(given) == 0:
		return "", "", usagef("export needs one of --car OUT, --intoto OUT, --prov OUT")
	case len(given) > 1:
		return "", "", usagef("export takes one of --car, --intoto, --prov, not %s and %s", given[0], given[1])
	case out == "":
		return "", "", usagef("--%s: OUT is empty (- is standard output)", format)
	case c.Bool("all") && format != "intoto":
		return "", "", usagef("--all goes with --intoto only (--%s always holds the whole ancestry)", format)
	case c.Bool("json") && out == "-":
		return "", "", usagef("export --json --%s -: standard output is the export; drop --json or name a file", format)
	}
	return format, out, nil
}

func runExport(c *cli.Context) error {
	format, outPath, err := exportFormat(c)
	if err != nil {
		return err
	}
	if err := checkOutput(outPath, c.Bool("force")); err != nil {
		return err
	}
	var key dsseKey
	if format == "intoto" {
		k, err := loadKey(c)
		if err != nil {
			return err
		}
		if key, err = newDSSEKey(k); err != nil {
			return err
		}
	}
	out, path, st, err := targetAndBackend(c, "export", reading)
	if err != nil {
		return err
	}
	defer st.Close()
	roots, blocks, err := st.Ancestry(out)
	if err != nil {
		return err
	}
	revs, err := revocationsOf(st, blocks)
	if err != nil {
		return err
	}
	if len(roots) == 0 {
		return fmt.Errorf("%s: no record of %s in the local store", c.Args().First(), out)
	}
	x := export{c: c, st: st, out: out, path: path, outPath: outPath, roots: roots, blocks: blocks, revs: revs}
	switch format {
	case "intoto":
		return x.intoto(key)
	case "prov":
		return x.prov()
	}
	return x.car()
}

// export is one run of the export command: the target and its held
// ancestry.
type export struct {
	c       *cli.Context
	st      backend
	out     cid.Cid // the target
	path    string  // the target's local path, when given as a file
	outPath string  // OUT
	roots   []cid.Cid
	blocks  []lineage.Block // the records of the ancestry
	revs    []lineage.Block // the revocations held against them
}

// write puts the export in place: OUT, or standard output for -.
func (x export) write(write func(io.Writer) error) error {
	if x.outPath == "-" {
		return writeStream(x.c.App.Writer, write)
	}
	return writeOutput(x.outPath, x.c.Bool("force"), write)
}

// summary prints what was written: the JSON summary when asked, else a
// line to standard output, or to standard error when standard output
// holds the export.
func (x export) summary(v any, line string) error {
	if x.c.Bool("json") {
		return printJSON(x.c.App.Writer, v)
	}
	if x.outPath == "-" {
		fmt.Fprintf(x.c.App.ErrWriter, "%s to standard output\n", line)
		return nil
	}
	fmt.Fprintf(x.c.App.Writer, "%s to %s\n", line, quotePath(x.outPath))
	return nil
}

// pathOf is a content's local path: the one the target was given by, else
// the first the store knows, else "".
func (x export) pathOf(c cid.Cid) (string, error) {
	prefer := ""
	if c == x.out {
		prefer = x.path
	}
	known, err := x.st.PathsOf(c)
	if err != nil {
		return "", err
	}
	return onePath(known, prefer), nil
}

// outputName is OUT as the JSON summary gives it.
func (x export) outputName() string { return absPath(x.outPath) }

func (x export) car() error {
	all := append(append([]lineage.Block(nil), x.blocks...), x.revs...)
	err := x.write(func(w io.Writer) error {
		if err := store.WriteCAR(w, x.roots, all); err != nil {
			return fmt.Errorf("CAR: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	also := ""
	if len(x.revs) > 0 {
		also = " and " + plural(len(x.revs), "revocation")
	}
	return x.summary(struct {
		CAR         string   `json:"car"`
		Output      string   `json:"output"`
		Roots       []string `json:"roots"`
		Records     int      `json:"records"`
		Revocations int      `json:"revocations"`
	}{x.outputName(), x.out.String(), cidStrings(x.roots), len(x.blocks), len(x.revs)},
		fmt.Sprintf("wrote %s%s (%s)", plural(len(x.blocks), "record"), also, plural(len(x.roots), "root")))
}

// verified checks the held ancestry and returns the records that verify
// (all of them, or the target's newest) and how many were left out; with
// ancestry, a record verifies only when its inputs' ancestries do too.
func (x export) verified(all, ancestry bool) ([]lineage.RecordCheck, int, error) {
	res, err := checkHeld(x.c.Context, x.out, x.blocks, x.revs)
	if err != nil {
		return nil, 0, err
	}
	if all {
		ok, skipped := verifiedRecords(res, ancestry)
		if len(ok) == 0 {
			return nil, 0, fmt.Errorf("%s: no record of the ancestry of %s verifies here ('bonsai verify' says why)", x.c.Args().First(), x.out)
		}
		return ok, skipped, nil
	}
	rc, ok := newestVerified(res, x.out, ancestry)
	if !ok {
		return nil, 0, fmt.Errorf("%s: no record of %s verifies here ('bonsai verify' says why)", x.c.Args().First(), x.out)
	}
	skipped := 0
	for _, r := range res.Nodes[x.out].Records {
		if !passes(res, r, ancestry) {
			skipped++
		}
	}
	return []lineage.RecordCheck{rc}, skipped, nil
}

func (x export) intoto(key dsseKey) error {
	// This node signs for a record only when its whole ancestry verifies.
	records, skipped, err := x.verified(x.c.Bool("all"), true)
	if err != nil {
		return err
	}
	data := make(map[cid.Cid][]byte, len(x.blocks))
	for _, b := range x.blocks {
		data[b.CID] = b.Data
	}
	envs := make([]*dsse.Envelope, 0, len(records))
	for _, rc := range records {
		stmt, err := provenanceStatement(rc, data[rc.CID], x.pathOf)
		if err != nil {
			return err
		}
		payload, err := protojson.Marshal(stmt)
		if err != nil {
			return fmt.Errorf("record %s: statement: %w", rc.CID, err)
		}
		env, err := signStatement(x.c.Context, key, payload)
		if err != nil {
			return fmt.Errorf("record %s: %w", rc.CID, err)
		}
		envs = append(envs, env)
	}
	err = x.write(func(w io.Writer) error {
		enc := json.NewEncoder(w) // one envelope per line: JSON Lines
		for _, env := range envs {
			if err := enc.Encode(env); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	rcs := make([]cid.Cid, len(records))
	for i, rc := range records {
		rcs[i] = rc.CID
	}
	peerID, _ := key.KeyID()
	line := fmt.Sprintf("wrote %s signed by %s", plural(len(envs), "in-toto statement"), peerID)
	if len(records) == 1 {
		line = fmt.Sprintf("wrote the in-toto statement of record %s signed by %s", records[0].CID, peerID)
	}
	if skipped > 0 {
		line += fmt.Sprintf(" (%s that %s not verify left out)", plural(skipped, "record"), doOrDoes(skipped))
	}
	return x.summary(struct {
		InToto  string   `json:"intoto"`
		Output  string   `json:"output"`
		Records []string `json:"records"`
		Peer    string   `json:"peer"`
		Skipped int      `json:"skipped"`
	}{x.outputName(), x.out.String(), cidStrings(rcs), peerID, skipped}, line)
}

func (x export) prov() error {
	records, skipped, err := x.verified(true, false)
	if err != nil {
		return err
	}
	doc, err := provOf(records, x.pathOf)
	if err != nil {
		return err
	}
	err = x.write(func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	})
	if err != nil {
		return err
	}
	line := fmt.Sprintf("wrote PROV-JSON of %s (%s, %s)", plural(len(doc.Activity), "record"),
		plural(len(doc.Entity), "content"), plural(len(doc.Agent), "executor"))
	if skipped > 0 {
		line += fmt.Sprintf(" (%s that %s not verify left out)", plural(skipped, "record"), doOrDoes(skipped))
	}
	return x.summary(struct {
		Prov       string `json:"prov"`
		Output     string `json:"output"`
		Records    int    `json:"records"`
		Entities   int    `json:"entities"`
		Activities int    `json:"activities"`
		Agents     int    `json:"agents"`
		Skipped    int    `json:"skipped"`
	}{x.outputName(), x.out.String(), len(doc.Activity), len(doc.Entity), len(doc.Activity), len(doc.Agent), skipped}, line)
}

// doOrDoes agrees "do" with a count.
func doOrDoes(n int) string {
	if n == 1 {
		return "does"
	}
	return "do"
}
