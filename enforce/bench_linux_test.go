package enforce

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
	"golang.org/x/sys/unix"
)

// The opener: the test binary run again with BONSAI_OPENER=REPS and a list
// of files on stdin opens and closes each file REPS times, in order, and
// prints the nanoseconds it took. It is another process than the guard
// (whose own opens pass unchecked).
func TestMain(m *testing.M) {
	if reps := os.Getenv("BONSAI_OPENER"); reps != "" {
		os.Exit(opener(reps))
	}
	os.Exit(m.Run())
}

func opener(repsArg string) int {
	reps, err := strconv.Atoi(repsArg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "opener:", err)
		return 2
	}
	var files []string
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		files = append(files, sc.Text())
	}
	start := time.Now()
	for range reps {
		for _, f := range files {
			fd, err := unix.Open(f, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				fmt.Fprintf(os.Stderr, "opener: open %s: %v\n", f, err)
				return 1
			}
			unix.Close(fd)
		}
	}
	fmt.Println(time.Since(start).Nanoseconds())
	return 0
}

// openNs runs the opener over files, reps times, and returns the time per
// open.
func openNs(b *testing.B, files []string, reps int) float64 {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), "BONSAI_OPENER="+strconv.Itoa(reps))
	cmd.Stdin = strings.NewReader(strings.Join(files, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("opener: %v", err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("opener said %q", out)
	}
	return ns / float64(len(files)*reps)
}

// chainFiles writes n files under dir, each with an ancestry of depth
// records (a chain of contents, the file's own record on top), signed
// into f's resolver.
func (f *guardFixture) chainFiles(b *testing.B, dir string, n, depth int) []string {
	b.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	var files []string
	for i := range n {
		var prev cid.Cid
		for d := range depth {
			out := content(b, fmt.Sprintf("%s-%d-step-%d", dir, i, d))
			if d == depth-1 {
				body := fmt.Sprintf("file %d of %s\n", i, dir)
				out = content(b, body)
				p := filepath.Join(dir, fmt.Sprintf("f%04d", i))
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					b.Fatal(err)
				}
				files = append(files, p)
			}
			r := &lineage.Record{Output: out, Time: 1764000000}
			if prev.Defined() {
				r.Inputs = []cid.Cid{prev}
			}
			blk, err := r.Sign(f.key)
			if err != nil {
				b.Fatal(err)
			}
			f.res.mapResolver[out] = append(f.res.mapResolver[out], blk)
			prev = out
		}
	}
	return files
}

// BenchmarkGuardedOpen: open(2)+close(2) from another process, on a
// tmpfs the guard marks: outside the policy's scope (the mount is marked,
// so this is the cost every open on a guarded mount pays), in scope with
// a cached verdict, and in scope deciding for the first time (ancestry of
// depth 5 in the resolver); against the same on an unmarked tmpfs, in the
// same run. Then a file-heavy workload (tar of 2,000 files) on the
// guarded tree, first (every verdict new) and again (cached), as a ratio
// to the same tree unguarded. One iteration does it all; the figures are
// the metrics.
func BenchmarkGuardedOpen(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("fanotify permission events need root")
	}
	for b.Loop() {
		f := newGuardFixture(b, `apiVersion: bonsai/v1
kind: Policy
metadata: {name: bench}
spec:
  mode: enforce
  scope: {paths: [DIR/guarded/]}
  rules: [{verifiedLineage: {depth: 16}}, {notRevoked: {}}]
`)
		plain := b.TempDir()
		if err := unix.Mount("tmpfs", plain, "tmpfs", 0, "size=64m"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { unix.Unmount(plain, unix.MNT_DETACH) })
		guarded := f.chainFiles(b, filepath.Join(f.dir, "guarded", "open"), 200, 5)
		outside := f.chainFiles(b, filepath.Join(f.dir, "outside"), 200, 1)
		unguarded := f.chainFiles(b, filepath.Join(plain, "open"), 200, 1)
		const reps = 50
		first := openNs(b, guarded, 1) // every verdict new: depth-5 ancestries
		cached := openNs(b, guarded, reps)
		out := openNs(b, outside, reps)
		bare := openNs(b, unguarded, reps)
		b.ReportMetric(bare, "unguarded-ns/open")
		b.ReportMetric(out, "marked-mount-out-of-scope-ns/open")
		b.ReportMetric(cached, "cached-verdict-ns/open")
		b.ReportMetric(first, "first-verdict-depth5-ns/open")
		b.ReportMetric(cached-bare, "cached-added-ns")

		// The workload: tar over 2,000 files, guarded and not.
		f.chainFiles(b, filepath.Join(f.dir, "guarded", "tree"), 2000, 1)
		f.chainFiles(b, filepath.Join(plain, "tree"), 2000, 1)
		tarTime := func(dir string) float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			start := time.Now()
			// To a pipe, not /dev/null: GNU tar reads nothing for /dev/null.
			cmd := exec.CommandContext(ctx, "tar", "-cf", "-", "-C", dir, ".")
			cmd.Stdout = io.Discard
			if err := cmd.Run(); err != nil {
				b.Fatalf("tar %s: %v", dir, err)
			}
			return float64(time.Since(start).Nanoseconds())
		}
		tarPlain1 := tarTime(filepath.Join(plain, "tree"))
		tarGuardedFirst := tarTime(filepath.Join(f.dir, "guarded", "tree"))
		tarGuardedCached := tarTime(filepath.Join(f.dir, "guarded", "tree"))
		tarPlain2 := tarTime(filepath.Join(plain, "tree"))
		tarPlain := (tarPlain1 + tarPlain2) / 2
		b.ReportMetric(tarPlain/tarGuardedFirst, "tar-throughput-first/unguarded")
		b.ReportMetric(tarPlain/tarGuardedCached, "tar-throughput-cached/unguarded")
	}
}
