package textx

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"cut ascii", "abcdef", 3, "abc"},
		{"cut before a 2-byte rune", "abé", 3, "ab"},
		{"keep a whole 2-byte rune", "abé", 4, "abé"},
		{"cut inside a 4-byte rune", "a😀b", 3, "a"},
		{"invalid bytes replaced", "a\xffb", 10, "a\uFFFDb"},
		{"zero", "abc", 0, ""},
	} {
		got := Clip(tc.in, tc.max)
		if got != tc.want || len(got) > tc.max || !utf8.ValidString(got) {
			t.Errorf("%s: Clip(%q, %d) = %q, want %q", tc.name, tc.in, tc.max, got, tc.want)
		}
	}
	if got := Clip(strings.Repeat("é", 100), 7); got != "ééé" {
		t.Errorf("Clip(é×100, 7) = %q, want ééé", got)
	}
}

func TestAbbrev(t *testing.T) {
	tests := []struct {
		in   string
		tail int
		want string
	}{
		{"", 10, ""},
		{"bafkreiexactly16", 10, "bafkreiexactly16"},
		{"bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", 10, "bafk…7aqa4s52zy"},
		{"12D3KooWMhMT33HuPu4T51kYv61ieUGHoSqoKnvkd4LjYuuZ735Y", 8, "12D3…YuuZ735Y"},
		{"abcdefghijklmnopq", 20, "abcdefghijklmnopq"},
	}
	for _, tt := range tests {
		if got := Abbrev(tt.in, tt.tail); got != tt.want {
			t.Errorf("Abbrev(%q, %d) = %q, want %q", tt.in, tt.tail, got, tt.want)
		}
	}
}
