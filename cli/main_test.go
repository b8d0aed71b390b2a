package cli_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// bonsaiBin is the real binary, built once by TestMain.
var bonsaiBin string

// fakeHome is the HOME of every child, so a test that forgot --home can
// never touch the real ~/.bonsai.
var fakeHome string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "bonsai-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create temp dir:", err)
		return 2
	}
	defer os.RemoveAll(tmp)
	bonsaiBin = filepath.Join(tmp, "bonsai")
	fakeHome = filepath.Join(tmp, "home")
	if err := os.Mkdir(fakeHome, 0o700); err != nil {
		fmt.Fprintln(os.Stderr, "create fake HOME:", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", bonsaiBin, "./cmd/bonsai")
	build.Dir = ".." // the module root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build ./cmd/bonsai: %v\n%s", err, out)
		return 2
	}
	return m.Run()
}
