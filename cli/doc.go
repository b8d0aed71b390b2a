// Package cli is bonsai's command line (urfave/cli/v2): it parses what a
// person typed, calls into node and lineage, and is the only package that
// formats output for people. Exit codes are decided in one place (exit.go):
// 0 success or verified, 1 not verified, 2 error.
package cli
