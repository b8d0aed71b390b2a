package cli

import (
	"fmt"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// versionInfo is what `bonsai version` says: the module version and the
// VCS commit the binary was built from, as the Go toolchain recorded them.
type versionInfo struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

func buildVersion() versionInfo {
	v := versionInfo{Module: "github.com/bonsai-lineage/bonsai", Version: "(unknown)"}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.Module, v.Version, v.Go = bi.Main.Path, bi.Main.Version, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the module version and the commit this binary was built from",
		Flags: []cli.Flag{jsonFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 0 {
				return usagef("version takes no arguments")
			}
			v := buildVersion()
			if c.Bool("json") {
				return printJSON(c.App.Writer, v)
			}
			commit := v.Commit
			if commit == "" {
				commit = "(no VCS information)"
			} else if v.Modified {
				commit += " (modified)"
			}
			fmt.Fprintf(c.App.Writer, "%s %s, commit %s, %s\n", v.Module, v.Version, commit, v.Go)
			return nil
		},
	}
}
