package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bonsai-lineage/bonsai/internal/textx"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/bonsai-lineage/bonsai/signer"
	"github.com/ipfs/go-cid"
	"github.com/urfave/cli/v2"
)

func home(c *cli.Context) (string, error) {
	h := c.String("home")
	if h == "" {
		return "", usagef("--home is empty")
	}
	return filepath.Abs(h)
}

func keyPath(h string) string { return filepath.Join(h, signer.KeyFileName) }

// loadKey loads the node's identity, pointing at 'bonsai init' when there
// is none.
func loadKey(c *cli.Context) (*signer.Key, error) {
	h, err := home(c)
	if err != nil {
		return nil, err
	}
	return signer.Load(keyPath(h))
}

// openStore opens the home's store; a home that was never initialized is
// an error rather than a silently created empty store. Reading opens it
// read-only. Writing makes the home's key the store's owner, so records
// signed by other keys are imported, not own; a key that does not load
// leaves the owner unset (every record put is then own, as before owners
// existed).
func openStore(c *cli.Context, mode access) (*store.Store, error) {
	h, err := home(c)
	if err != nil {
		return nil, err
	}
	st, err := openStoreWait(c, h, mode)
	if err != nil || mode == reading {
		return st, err
	}
	if k, err := signer.Load(keyPath(h)); err == nil {
		st.SetOwner(k.ID())
	}
	return st, nil
}

func hashCode(c *cli.Context) (uint64, error) {
	code, err := lineage.HashCode(c.String("hash"))
	if err != nil {
		return 0, usageError{err.Error()}
	}
	return code, nil
}

var hashFlag = &cli.StringFlag{
	Name:  "hash",
	Usage: "multihash `FUNC` for content CIDs: sha2-256, sha3-256 or blake3",
	Value: "sha2-256",
}

var jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print JSON instead of text"}

// printJSON writes v to w as indented JSON: every command's --json.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// hasher returns how this command hashes files: here, or, when a daemon
// runs and its enforcement refuses this process the file (EPERM), through
// the daemon, whose own opens pass, so a guarded file still hashes for the
// node's user.
func hasher(c *cli.Context) (func(path string) (cid.Cid, error), error) {
	code, err := hashCode(c)
	if err != nil {
		return nil, err
	}
	local := func(p string) (cid.Cid, error) { return lineage.HashFileContext(c.Context, p, code) }
	name := c.String("hash")
	return func(p string) (cid.Cid, error) {
		// Here first (this process's view of the path); through the
		// daemon only when enforcement refuses this process the file.
		id, err := local(p)
		if !errors.Is(err, os.ErrPermission) {
			return id, err
		}
		h, herr := home(c)
		if herr != nil {
			return cid.Undef, err
		}
		api, ok := node.Dial(c.Context, h)
		if !ok {
			return cid.Undef, err
		}
		defer api.Close()
		abs, aerr := filepath.Abs(p)
		if aerr != nil {
			return cid.Undef, aerr
		}
		return api.Hash(c.Context, node.APIHashQuery{Path: abs, Hash: name})
	}, nil
}

// target resolves a FILE|CID argument: an existing path is hashed, anything
// else must parse as a CID.
func target(arg string, hash func(string) (cid.Cid, error)) (c cid.Cid, path string, err error) {
	if st, serr := os.Stat(arg); serr == nil {
		if st.IsDir() {
			return cid.Undef, "", fmt.Errorf("%s: is a directory", arg)
		}
		c, err := hash(arg)
		if err != nil {
			return cid.Undef, "", err
		}
		abs, _ := filepath.Abs(arg)
		return c, abs, nil
	}
	c, err = cid.Decode(arg)
	if err != nil {
		return cid.Undef, "", fmt.Errorf("%s: no such file, and not a CID", arg)
	}
	if err := lineage.CheckCID(c); err != nil {
		return cid.Undef, "", err
	}
	return c, "", nil
}

// targetAndBackend reads a command's one FILE|CID argument and opens the
// node's backend; the caller closes it. A record CID (what 'record' and
// 'run' print) stands for the output that record names, said on stderr.
func targetAndBackend(c *cli.Context, command string, mode access) (cid.Cid, string, backend, error) {
	if c.NArg() != 1 {
		return cid.Undef, "", nil, usagef("%s needs exactly one FILE or CID", command)
	}
	hash, err := hasher(c)
	if err != nil {
		return cid.Undef, "", nil, err
	}
	out, path, err := target(c.Args().First(), hash)
	if err != nil {
		return cid.Undef, "", nil, err
	}
	st, err := openBackend(c, mode)
	if err != nil {
		return cid.Undef, "", nil, err
	}
	if path == "" && out.Type() == cid.DagCBOR {
		rc := out
		if out, err = recordOutput(st, rc); err != nil {
			st.Close()
			return cid.Undef, "", nil, err
		}
		fmt.Fprintf(c.App.ErrWriter, "bonsai: %s is a record; %s its output %s\n", shortCID(rc), command, out)
	}
	return out, path, st, nil
}

// recordOutput is the output named by record rc, which must be held here.
func recordOutput(st backend, rc cid.Cid) (cid.Cid, error) {
	data, err := st.Get(rc)
	if errors.Is(err, store.ErrNotFound) {
		return cid.Undef, fmt.Errorf("%s is a record CID this node does not hold: pass the file, or its content CID ('bonsai hash FILE')", rc)
	}
	if err != nil {
		return cid.Undef, err
	}
	r, err := lineage.DecodeBlock(rc, data)
	if err != nil {
		return cid.Undef, fmt.Errorf("stored record %s: %w", rc, err)
	}
	return r.Output, nil
}

// onePath picks a path to show for a CID: the preferred one when given,
// else the first known (absolute, as stored; relPath shortens it for text).
func onePath(paths []string, prefer string) string {
	if prefer == "" && len(paths) > 0 {
		return paths[0]
	}
	return prefer
}

// shortCID keeps a CID's tail, which is what tells CIDs apart.
func shortCID(c cid.Cid) string { return textx.Abbrev(c.String(), 10) }

func shortPeer(s string) string { return textx.Abbrev(s, 8) }
