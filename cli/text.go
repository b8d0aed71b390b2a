package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// plural says "1 record", "2 records": the count with its noun agreed.
// Nouns ending in s, x, ch or sh take "es".
func plural[N ~int | ~int64 | ~uint64 | ~uint32](n N, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	suffix := "s"
	for _, end := range []string{"s", "x", "ch", "sh"} {
		if strings.HasSuffix(noun, end) {
			suffix = "es"
		}
	}
	return fmt.Sprintf("%d %s%s", n, noun, suffix)
}

// quotePath writes a file name for a line of text output: as it is when
// it holds only printable characters and no space, quote or backslash,
// else Go-quoted ("a\nb", "my file"), as git quotes unusual names, so one
// name never spills over a line or into the next field.
func quotePath(p string) string {
	if !utf8.ValidString(p) {
		return strconv.Quote(p)
	}
	for _, r := range p {
		if r == ' ' || r == '"' || r == '\\' || !unicode.IsPrint(r) {
			return strconv.Quote(p)
		}
	}
	return p
}

// absPath is p made absolute for JSON output (p itself if that fails).
func absPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		return abs
	}
	return p
}

// relPath shows a path for text output: relative to the working
// directory when inside it, quoted when unusual (see quotePath).
func relPath(p string) string {
	if p == "" {
		return ""
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, p); err == nil && !strings.HasPrefix(rel, "..") {
			p = rel
		}
	}
	return quotePath(p)
}
