package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// The exit-status contract of every command, also in the README and in
// 'bonsai --help':
//
//	0        success; for verify and policy test: verified, allowed
//	1        not verified (or denied); the verdict is already printed
//	2        error: bad input or usage, I/O, a missing record or file, a
//	         timeout, a store that cannot be opened, a failed write
//	128+n    stopped by signal n (130 SIGINT, 143 SIGTERM); for run, the
//	         command died by signal n (its outputs are then incomplete)
//
// Other statuses of run and record are the wrapped command's own.
const exitContract = "Exit status: 0 success or verified; 1 not verified (the verdict is printed); 2 error\n" +
	"(bad input, I/O, missing record, timeout, store unavailable, failed write); 128+n stopped by\n" +
	"signal n (130 SIGINT, 143 SIGTERM), or for run and record the command's own status."

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
// prints it as one line: 0 success, 1 not verified, 2 any error, 128+n
// when ctx was cancelled by signal n and the command did not finish.
func exitCode(ctx context.Context, err error, stderr io.Writer) int {
	var st exitStatus
	var sig *SignalError
	switch {
	case err == nil:
		return 0
	case errors.As(context.Cause(ctx), &sig):
		fmt.Fprintf(stderr, "bonsai: %s\n", sig)
		return sig.Code()
	case errors.Is(err, errNotVerified):
		return 1
	case errors.As(err, &st):
		return st.code
	}
	msg := oneLine(err.Error())
	fmt.Fprintf(stderr, "bonsai: %s\n", msg)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "bonsai: run 'bonsai help' or 'bonsai COMMAND --help' for usage")
	}
	return 2
}

// checkedWriter remembers the first failed write to standard output, so a
// command whose output was lost (a full disk, a closed pipe) fails.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// fileOf is the *os.File under w, for what needs a descriptor (a child's
// standard output, a terminal test); nil when there is none.
func fileOf(w io.Writer) *os.File {
	if c, ok := w.(*checkedWriter); ok {
		w = c.w
	}
	f, _ := w.(*os.File)
	return f
}

// childOutput is what a child process writes to in place of w: the file
// itself when there is one (no copying goroutine), else w.
func childOutput(w io.Writer) io.Writer {
	if f := fileOf(w); f != nil {
		return f
	}
	return w
}

// oneLine is an error message as one line of plain text: line breaks
// become spaces, other control bytes (a file name's escape sequences)
// are escaped, so no message can move the terminal's cursor or forge a
// line.
func oneLine(msg string) string {
	msg = strings.Join(strings.Fields(strings.ReplaceAll(msg, "\n", " ")), " ")
	var b strings.Builder
	for _, r := range msg {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
