package bpf

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// TestGenerated checks that the committed eBPF object was built from the
// sources as they are: `go generate` (make generate) records the SHA-256 of
// capture.bpf.c, vmlinux.h and gen.go in capture.bpf.c.sha256 when it
// rebuilds capture_x86_bpfel.{go,o}.
func TestGenerated(t *testing.T) {
	f, err := os.Open("capture.bpf.c.sha256")
	if err != nil {
		t.Fatalf("%v: run make generate", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 2 {
			t.Fatalf("capture.bpf.c.sha256: bad line %q: run make generate", sc.Text())
		}
		want, name := fields[0], strings.TrimPrefix(fields[1], "*")
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%v: run make generate", err)
		}
		sum := sha256.Sum256(b)
		if got := hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s changed since the eBPF object was generated (sha256 %s, recorded %s): run make generate", name, got, want)
		}
		seen[name] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"capture.bpf.c", "vmlinux.h", "gen.go"} {
		if !seen[name] {
			t.Errorf("capture.bpf.c.sha256 has no hash of %s: run make generate", name)
		}
	}
	for _, name := range []string{"capture_x86_bpfel.go", "capture_x86_bpfel.o"} {
		if _, err := os.Stat(name); err != nil {
			t.Errorf("%v: run make generate", err)
		}
	}
}
