package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/bonsai-lineage/bonsai/node/store"
)

func TestStoreLocked(t *testing.T) {
	t.Parallel()
	home, _ := initHome(t)
	dir := pipeline(t, home)
	st, err := store.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	inUse := fmt.Sprintf("in use by pid %d", os.Getpid())
	for _, args := range [][]string{
		{"verify", "fin"},
		{"record", "--in", "raw", "--out", "mid"},
		{"log", "fin"},
		{"init"},
	} {
		r := bonsaiEnv(t, dir, home, []string{"BONSAI_LOCK_WAIT=0"}, args...)
		wantOneLineError(t, r, false, inUse)
	}
	// In this process the flock is per open file: refused as well.
	r := inProcess(t, home, "--lock-wait", "0", "verify", filepath.Join(dir, "fin"))
	wantOneLineError(t, r, false, inUse)

	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, bonsai(t, dir, home, "verify", "fin"), 0)
	r = bonsai(t, dir, home, "log", "--json", "mid")
	if list := decodeJSON[[]recJSON](t, r); len(list) != 1 {
		t.Errorf("records of mid after refused record = %d, want 1", len(list))
	}
}
