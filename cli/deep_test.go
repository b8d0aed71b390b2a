package cli_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/bonsai-lineage/bonsai/node/store"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// deepChain stores a chain of n records in home's store: output i is made
// from output i-1, output 0 is a source. It returns the last output.
func deepChain(t *testing.T, home string, n int) cid.Cid {
	t.Helper()
	k := fixedKey(t, 7)
	st, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := func(i int) cid.Cid {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		h, err := mh.Sum(b[:], mh.SHA2_256, -1)
		if err != nil {
			t.Fatal(err)
		}
		return cid.NewCidV1(cid.Raw, h)
	}
	var batch []lineage.Block
	for i := 1; i <= n; i++ {
		r := &lineage.Record{Executor: lineage.Executor{UID: 1}, Output: out(i), Inputs: []cid.Cid{out(i - 1)}, Time: 1764000000}
		b, err := r.Sign(k)
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, b)
		if len(batch) == 5000 || i == n {
			if _, err := st.Put(batch, nil); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	return out(n)
}

// countingWriter counts bytes and keeps the first and last lines' worth.
type countingWriter struct {
	n    int64
	head bytes.Buffer
	tail []byte
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	if w.head.Len() < 64<<10 {
		w.head.Write(p[:min(len(p), 64<<10-w.head.Len())])
	}
	w.tail = append(w.tail, p...)
	if len(w.tail) > 64<<10 {
		w.tail = append([]byte(nil), w.tail[len(w.tail)-32<<10:]...)
	}
	return len(p), nil
}

// A 100,000-record chain verifies with memory bounded by the chain's
// size, not its depth squared: peak RSS under a fixed limit, the text tree
// a few kilobytes, every record checked.
func TestVerifyDeepChainBounded(t *testing.T) {
	const n = 100_000
	home, _ := initHome(t)
	target := deepChain(t, home, n)

	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			args := []string{"--home", home, "verify", "--depth", "200000", "--timeout", "5m"}
			if format == "json" {
				args = append(args, "--json")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bonsaiBin, append(args, target.String())...)
			cmd.Env = childEnv()
			var out countingWriter
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("verify of a %d-record chain: %v\n%s\n%s", n, err, stderr.String(), out.tail)
			}
			rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
			t.Logf("%s: peak RSS %d MiB, %d bytes of output", format, rss>>20, out.n)
			const limit = 512 << 20
			if rss > limit {
				t.Errorf("peak RSS %d MiB, want under %d MiB", rss>>20, limit>>20)
			}
			if format == "text" {
				if out.n > 64<<10 {
					t.Errorf("text tree of a %d-record chain is %d bytes, want a few KiB", n, out.n)
				}
				for _, want := range []string{"more levels", "100000 records", "verified: "} {
					if !strings.Contains(out.head.String(), want) {
						t.Errorf("text output lacks %q:\n%s", want, out.head.String())
					}
				}
			}
		})
	}
}
