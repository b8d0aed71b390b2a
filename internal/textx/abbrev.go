package textx

// Abbrev shortens an identifier (a CID, a peer ID) for people: its first
// 4 characters, "…", and its last tail, which tell identifiers apart. Up
// to 16 characters it is left whole.
func Abbrev(s string, tail int) string {
	if len(s) <= 16 || tail >= len(s)-4 {
		return s
	}
	return s[:4] + "…" + s[len(s)-tail:]
}
