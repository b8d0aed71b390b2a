package cli

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// interspersed lets flags follow positional arguments ('bonsai verify
// FILE --json', as the README writes it): it moves a command's flags
// before its positional arguments, which it puts after a "--" so none of
// them is read as a flag. Commands that parse their own arguments (run,
// record: what follows belongs to the command they run) and everything
// after a "--" are left as given.
func interspersed(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	i := 1 + skipFlags(app.Flags, args[1:])
	cmds := app.Commands
	var cmd *cli.Command
	for i < len(args) {
		next := findCommand(cmds, args[i])
		if next == nil {
			break
		}
		cmd, cmds = next, next.Subcommands
		i++
		if len(cmds) == 0 {
			break
		}
		i += skipFlags(cmd.Flags, args[i:])
	}
	if cmd == nil || cmd.SkipFlagParsing || len(cmd.Subcommands) > 0 {
		return args
	}
	var globals, flags, pos []string
	rest := args[i:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "--":
			pos = append(pos, rest[j+1:]...)
			j = len(rest)
		case isFlag(a):
			// A global flag after the command (--home, --lock-wait) goes
			// back before it; the command's own flags before its
			// arguments.
			dst := &flags
			defs := cmd.Flags
			if !hasFlag(cmd.Flags, a) && hasFlag(app.Flags, a) {
				dst, defs = &globals, app.Flags
			}
			*dst = append(*dst, a)
			if takesValue(defs, a) {
				if j+1 == len(rest) {
					// No value follows: leave the line as given, for the
					// parser to say so.
					return args
				}
				*dst = append(*dst, rest[j+1])
				j++
			}
		default:
			pos = append(pos, a)
		}
	}
	// args[:i] is: program, global flags, command names.
	out := append([]string{args[0]}, globals...)
	out = append(append(out, args[1:i]...), flags...)
	if len(pos) > 0 {
		out = append(append(out, "--"), pos...)
	}
	return out
}

// skipFlags counts the leading flag arguments of args (with their values).
func skipFlags(defs []cli.Flag, args []string) int {
	j := 0
	for j < len(args) && isFlag(args[j]) && args[j] != "--" {
		if takesValue(defs, args[j]) {
			j++
		}
		j++
	}
	return min(j, len(args))
}

func isFlag(a string) bool { return len(a) > 1 && a[0] == '-' }

// hasFlag reports whether flag argument a names one of defs.
func hasFlag(defs []cli.Flag, a string) bool {
	name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
	for _, f := range defs {
		for _, n := range f.Names() {
			if n == name {
				return true
			}
		}
	}
	return false
}

// takesValue reports whether flag argument a (-x, --name; not --name=v)
// names one of defs that takes a value in the next argument.
func takesValue(defs []cli.Flag, a string) bool {
	if strings.Contains(a, "=") {
		return false
	}
	name := strings.TrimLeft(a, "-")
	for _, f := range defs {
		for _, n := range f.Names() {
			if n == name {
				tv, ok := f.(interface{ TakesValue() bool })
				return ok && tv.TakesValue()
			}
		}
	}
	return false
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}
