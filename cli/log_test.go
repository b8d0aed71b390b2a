package cli_test

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
)

func TestLog(t *testing.T) {
	t.Parallel()
	home, id := initHome(t)
	dir := t.TempDir()
	f := writeFile(t, dir, "f", "same content\n", time.Time{})
	// Three records of the same content, recorded out of time order.
	var order []cid.Cid // newest first
	byTime := map[int64]cid.Cid{}
	for _, mt := range []time.Time{fixedTime, fixedTime.Add(2 * time.Hour), fixedTime.Add(-time.Hour)} {
		if err := os.Chtimes(f, mt, mt); err != nil {
			t.Fatal(err)
		}
		byTime[mt.Unix()] = record(t, dir, home, "--out", "f")["f"]
	}
	for _, mt := range []time.Time{fixedTime.Add(2 * time.Hour), fixedTime, fixedTime.Add(-time.Hour)} {
		order = append(order, byTime[mt.Unix()])
	}

	r := bonsai(t, dir, home, "log", "f")
	wantCode(t, r, 0)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("log f = %q, want 3 lines", r.stdout)
	}
	for i, line := range lines {
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[0] != order[i].String() {
			t.Errorf("log f line %d = %q, want record %s first", i, line, order[i])
		}
		if !strings.Contains(line, "by "+id) {
			t.Errorf("log f line %d = %q, want it to name executor %s", i, line, id)
		}
	}

	r = bonsai(t, dir, home, "log", "--json", hashOf(t, f).String())
	wantCode(t, r, 0)
	list := decodeJSON[[]recJSON](t, r)
	var got []string
	for _, j := range list {
		got = append(got, j.Record)
	}
	var want []string
	for _, c := range order {
		want = append(want, c.String())
	}
	if !slices.Equal(got, want) {
		t.Errorf("log --json f = %v, want %v", got, want)
	}
	wantTimes := []string{"2024-01-02T05:04:05Z", "2024-01-02T03:04:05Z", "2024-01-02T02:04:05Z"}
	for i, j := range list {
		if j.Time != wantTimes[i] {
			t.Errorf("log --json f [%d].time = %s, want %s", i, j.Time, wantTimes[i])
		}
	}

	r = bonsai(t, dir, home, "log", "nope")
	wantOneLineError(t, r, false, "nope")
}
