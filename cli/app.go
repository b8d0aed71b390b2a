package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"
)

// Main runs the bonsai command line with args (args[0] is the program name)
// and returns the process exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	out := &checkedWriter{w: stdout}
	app := New(out, stderr)
	err := app.RunContext(ctx, interspersed(app, args))
	if out.err != nil && (err == nil || errors.Is(err, errNotVerified)) {
		err = fmt.Errorf("write standard output: %w", out.err)
	}
	return exitCode(ctx, err, stderr)
}

// New builds the bonsai application.
func New(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "bonsai",
		Usage: "record, sign and verify the lineage of files",
		Description: "bonsai records which program, run by whom, made a file from which inputs, as small\n" +
			"signed records named by content IDs (CIDs), and verifies a file's whole ancestry.\n\n" +
			exitContract,
		Writer:                 stdout,
		ErrWriter:              stderr,
		HideHelpCommand:        false,
		UseShortOptionHandling: true,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name:    "home",
				Usage:   "node home `DIR`: identity key and store",
				EnvVars: []string{"BONSAI_HOME"},
				Value:   defaultHome(),
			},
			lockWaitFlag,
		},
		Commands: []*cli.Command{
			initCommand(), idCommand(), hashCommand(), recordCommand(),
			verifyCommand(), showCommand(), logCommand(), importCommand(), exportCommand(),
			daemonCommand(), statusCommand(), swarmKeyCommand(), testnetCommand(),
			runCommand(), eventsCommand(), gcCommand(), policyCommand(), auditCommand(), revokeCommand(), versionCommand(),
		},
		// Errors are printed once, as one line, by exitCode.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError:   onUsageError,
	}
	app.Commands = append(app.Commands, pinCommands()...)
	for _, c := range app.Commands {
		c.OnUsageError = onUsageError
	}
	return app
}

func onUsageError(_ *cli.Context, err error, _ bool) error { return usageError{err.Error()} }

func defaultHome() string {
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".bonsai")
	}
	return ".bonsai"
}
