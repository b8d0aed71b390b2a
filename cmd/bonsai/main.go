// Command bonsai records, signs and verifies the lineage of files.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/bonsai-lineage/bonsai/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
