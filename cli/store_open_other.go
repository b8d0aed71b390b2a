//go:build !linux

package cli

func isReadOnly(error) bool { return false }
