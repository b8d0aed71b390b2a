// Package textx holds the small text helpers several packages share: text
// from outside made fit to store or send.
package textx

import (
	"strings"
	"unicode/utf8"
)

// Clip returns s as valid UTF-8 (invalid bytes replaced by U+FFFD) of at
// most max bytes, cut on a rune boundary.
func Clip(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
