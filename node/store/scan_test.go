package store

import (
	"errors"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"
)

func TestScan(t *testing.T) {
	st := gcTestStore(t)
	// Keys under a prefix byte no other part of the store uses.
	for _, k := range []string{"\x01a", "\x01b", "\x01c", "\x02a"} {
		if err := st.db.Set([]byte(k), []byte("v"+k[1:]), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	}
	collect := func(lower, upper []byte, stopAt string) ([]string, error) {
		var got []string
		err := st.scan("test", lower, upper, func(k, v []byte) (bool, error) {
			got = append(got, string(k)+"="+string(v))
			return string(k) != stopAt, nil
		})
		return got, err
	}
	for _, tc := range []struct {
		name         string
		lower, upper string
		stopAt       string
		want         []string
	}{
		{"prefix", "\x01", "\x02", "", []string{"\x01a=va", "\x01b=vb", "\x01c=vc"}},
		{"from key", "\x01b", "\x02", "", []string{"\x01b=vb", "\x01c=vc"}},
		{"stop", "\x01", "\x02", "\x01b", []string{"\x01a=va", "\x01b=vb"}},
		{"empty", "\x01d", "\x02", "", nil},
	} {
		got, err := collect([]byte(tc.lower), []byte(tc.upper), tc.stopAt)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	var prefixed []string
	if err := st.scanPrefix([]byte{0x02}, func(k, _ []byte) (bool, error) {
		prefixed = append(prefixed, string(k))
		return true, nil
	}); err != nil || !slices.Equal(prefixed, []string{"\x02a"}) {
		t.Errorf("scanPrefix: %q, %v", prefixed, err)
	}
	boom := errors.New("boom")
	n := 0
	err := st.scanPrefix([]byte{0x01}, func(_, _ []byte) (bool, error) { n++; return true, boom })
	if err != boom || n != 1 {
		t.Errorf("callback error: %v after %d calls; want boom after 1", err, n)
	}
}
