package cli_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestVersion: `bonsai version` names the module and the Go release, in
// text and in JSON, and takes no arguments.
func TestVersion(t *testing.T) {
	r := bonsai(t, "", "", "version")
	wantCode(t, r, 0)
	if !strings.HasPrefix(r.stdout, "github.com/bonsai-lineage/bonsai ") || !strings.Contains(r.stdout, ", go1.") {
		t.Errorf("version: %q", r.stdout)
	}
	r = bonsai(t, "", "", "version", "--json")
	wantCode(t, r, 0)
	var v struct{ Module, Version, Go string }
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.Module != "github.com/bonsai-lineage/bonsai" || v.Version == "" || !strings.HasPrefix(v.Go, "go1.") {
		t.Errorf("version --json = %+v (%v)", v, err)
	}
	wantOneLineError(t, bonsai(t, "", "", "version", "extra"), true, "version takes no arguments")
}
