// Package loopback gives tests a TCP listener on 127.0.0.1 that accepts
// and closes every connection: a destination for egress tests.
package loopback

import (
	"net"
	"testing"
)

// Listen starts the listener, stopped when the test ends, and returns its
// address.
func Listen(t testing.TB) *net.TCPAddr {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr)
}
