// Command bonsai records, signs and verifies the lineage of files.
package main

import (
	"context"
	"os"

	"github.com/bonsai-lineage/bonsai/cli"
)

func main() {
	ctx, stop := cli.WithSignals(context.Background(), os.Stderr)
	code := cli.Main(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
