// Package testrec makes records for tests: content CIDs of strings and
// records signed by the fixed test keys, so tests across packages build
// their ancestries one way.
package testrec

import (
	"strings"
	"testing"

	"github.com/bonsai-lineage/bonsai/internal/testkeys"
	"github.com/bonsai-lineage/bonsai/lineage"
	"github.com/ipfs/go-cid"
)

// Content is the content CID of s, as lineage.HashReader names it.
func Content(t testing.TB, s string) cid.Cid {
	t.Helper()
	c, err := lineage.HashReader(strings.NewReader(s), lineage.DefaultHash)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Block is a record signed by test key key: output the content out, made
// at time from the contents inputs.
func Block(t testing.TB, key byte, out string, time int64, inputs ...string) lineage.Block {
	t.Helper()
	r := &lineage.Record{Output: Content(t, out), Time: time}
	for _, in := range inputs {
		r.Inputs = append(r.Inputs, Content(t, in))
	}
	b, err := r.Sign(testkeys.Key(key))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
