package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// errNotVerified ends a command whose verdict (already printed) is
// negative: exit status 1, nothing more to say.
var errNotVerified = errors.New("not verified")

// exitStatus passes a child command's exit status through unchanged.
type exitStatus struct{ code int }

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError is a command line that does not parse.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// exitCode maps an error from a command to the process exit status and
// prints it as one line: 0 success, 1 not verified, 2 any error.
func exitCode(err error, stderr io.Writer) int {
	var st exitStatus
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errNotVerified):
		return 1
	case errors.As(err, &st):
		return st.code
	}
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " ")), " ")
	fmt.Fprintf(stderr, "bonsai: %s\n", msg)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "bonsai: run 'bonsai help' or 'bonsai COMMAND --help' for usage")
	}
	return 2
}
