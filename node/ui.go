package node

// The web view: a read-only page served over HTTP on a TCP address the
// daemon's owner chooses (`bonsai daemon --ui ADDR`, off by default). It
// is a handler of its own, apart from the local API: it answers GET (and
// HEAD) only and changes nothing in the store (but for the records the
// swarm resolver caches while it checks an ancestry, as for any
// verification through the daemon); it serves its page, script and style
// from files embedded in the binary and fetches nothing from elsewhere.
// Unlike the local API's socket (owner-only), a TCP port is open to every
// local user: the view binds loopback unless told otherwise, and refuses
// a request whose Host is not a loopback name (DNS rebinding).

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"
)

//go:embed ui
var uiFiles embed.FS

// ErrUIPublic is wrapped by CheckUIAddr for an address that is not
// loopback (or has no host, meaning every interface) when public
// addresses were not allowed.
var ErrUIPublic = errors.New("not a loopback address")

// Bounds of the web view's server.
const (
	uiListenTimeout = 10 * time.Second
	uiReadTimeout   = 10 * time.Second
	// uiWriteTimeout is past uiCheckTimeout: an ancestry's check ends,
	// and its answer is written, before the server gives up.
	uiWriteTimeout   = uiCheckTimeout + 15*time.Second
	uiIdleTimeout    = 60 * time.Second
	uiMaxHeaderBytes = 16 << 10
	uiShutdownWithin = 5 * time.Second
)

// CheckUIAddr checks the web view's address, host:port: the host must be
// a loopback IP address or "localhost" unless public is set; an empty
// host (every interface) counts as public. Port 0 picks a free port.
func CheckUIAddr(addr string, public bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("web view %s: %w", addr, err)
	}
	if public || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	if host == "" {
		return fmt.Errorf("web view %s: every interface: %w", addr, ErrUIPublic)
	}
	return fmt.Errorf("web view %s: %w", addr, ErrUIPublic)
}

// ListenUI checks addr (see CheckUIAddr) and opens the TCP listener the
// web view is served on. It is separate from ServeUI so that an address
// that cannot be served fails the daemon's start. It gives up after ctx
// ends or 10 seconds; its errors wrap net's, or ErrUIPublic.
func ListenUI(ctx context.Context, addr string, public bool) (net.Listener, error) {
	if err := CheckUIAddr(addr, public); err != nil {
		return nil, err
	}
	return listenTCP(ctx, "web view", addr, uiListenTimeout)
}

// ServeUI serves the web view of the node on l until ctx ends, and closes
// l. public turns off the checks of loopbackHostOnly (a loopback Host
// header, no cross-site request).
func (n *Node) ServeUI(ctx context.Context, l net.Listener, public bool) error {
	srv := &http.Server{
		Handler:           n.UIHandler(public),
		ReadHeaderTimeout: uiReadTimeout,
		ReadTimeout:       uiReadTimeout,
		WriteTimeout:      uiWriteTimeout,
		IdleTimeout:       uiIdleTimeout,
		MaxHeaderBytes:    uiMaxHeaderBytes,
	}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), uiShutdownWithin)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("web view: %w", err)
	}
	return nil
}

// The web view's JSON endpoints, all GET.
const (
	uiAncestry = "/ui/v1/ancestry" // ?q=PATH|CID|SHA256: UIAncestry
	uiOutbox   = "/ui/v1/outbox"   // UIOutbox
	uiPins     = "/ui/v1/pins"     // UIPins
	uiQuery    = "q"
)

// UIHandler is the web view: its page, script and style, and the JSON
// endpoints the page reads, GET only (a GET route also answers HEAD; any
// other method is 405). Every answer carries a Content-Security-Policy
// that admits only the page's own files, and nosniff. Unless public, a
// request whose Host is not a loopback name or address is refused.
func (n *Node) UIHandler(public bool) http.Handler {
	static, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic(err) // the embedded directory is there at build time
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(static))
	mux.Handle("GET "+uiAncestry, atMost(maxUIChecks, http.HandlerFunc(n.serveUIAncestry)))
	mux.HandleFunc("GET "+uiOutbox, n.serveUIOutbox)
	mux.HandleFunc("GET "+uiPins, n.serveUIPins)
	if public {
		return securityHeaders(mux)
	}
	return securityHeaders(loopbackHostOnly(mux))
}

// maxUIChecks is how many ancestry checks the web view runs at once; more
// are refused (503) rather than queued, so a page reloaded in a loop, or
// any local user, cannot keep the daemon's cores busy.
const maxUIChecks = 2

// atMost runs h for at most n requests at a time and answers the others
// 503 with a Retry-After.
func atMost(n int, h http.Handler) http.Handler {
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "web view: too many ancestry checks at once; try again", http.StatusServiceUnavailable)
		}
	})
}

// securityHeaders sets on every answer the headers that keep the page to
// its own files: no inline script, no script or style from elsewhere, no
// framing, no content-type sniffing, no referrer.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// loopbackHostOnly refuses (421) a request whose Host header is not a
// loopback name or address: a page elsewhere that rebinds its own DNS name
// to 127.0.0.1 cannot read the web view.
func loopbackHostOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A page elsewhere may still make the browser send a request
		// (an image, a form): it can read nothing, but would start checks.
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			http.Error(w, "web view: requests from other sites are refused", http.StatusForbidden)
			return
		}
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			http.Error(w, "web view: this host name is refused: use a loopback address", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}
