package cli_test

import (
	"fmt"
	"net"
	"testing"
)

// TestDaemonUIAddrRefused: a --ui address that is not loopback (or names
// no host: every interface) is a usage error unless --ui-public is given,
// as is --ui-public alone; a port in use fails the start. All before the
// daemon says it is ready.
func TestDaemonUIAddrRefused(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // after the parallel subtests
	busyAddr := busy.Addr().String()
	tests := []struct {
		name  string
		args  []string
		usage bool
		want  string
	}{
		{"every interface", []string{"--ui", ":0"}, true, "bonsai: --ui :0: not a loopback address"},
		{"any address", []string{"--ui", "0.0.0.0:0"}, true, "bonsai: --ui 0.0.0.0:0: not a loopback address"},
		{"a LAN address", []string{"--ui", "192.0.2.1:8737"}, true, "add --ui-public"},
		{"no port", []string{"--ui", "127.0.0.1"}, true, "bonsai: --ui 127.0.0.1: want HOST:PORT"},
		{"public without ui", []string{"--ui-public"}, true, "bonsai: --ui-public: needs --ui ADDR"},
		{"port in use", []string{"--ui", busyAddr}, false, fmt.Sprintf("bonsai: daemon: web view %s: address already in use", busyAddr)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			home, _ := initHome(t)
			args := append([]string{"daemon", "--enforce=false", "--listen", "/ip4/127.0.0.1/tcp/0"}, tt.args...)
			wantOneLineError(t, bonsai(t, "", home, args...), tt.usage, tt.want)
		})
	}
}
