package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metricsListenTimeout bounds ListenMetrics (a host name is resolved).
const metricsListenTimeout = 10 * time.Second

// ListenMetrics opens the TCP listener the metrics are served on: addr is
// host:port (`bonsai daemon --metrics ADDR`; an empty host is every
// interface). It is separate from ServeMetrics so that an address that
// cannot be served fails the daemon's start, before it reports ready. It
// gives up after ctx ends or 10 seconds (name resolution); its errors
// wrap net's.
func ListenMetrics(ctx context.Context, addr string) (net.Listener, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("metrics %s: %w", addr, err)
	}
	return listenTCP(ctx, "metrics", addr, metricsListenTimeout)
}

// listenTCP listens on addr for what (named in its error), giving up
// after timeout.
func listenTCP(ctx context.Context, what, addr string, timeout time.Duration) (net.Listener, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, addr, err)
	}
	return l, nil
}

// ServeMetrics serves Prometheus metrics of the node on l (see
// ListenMetrics) until ctx ends, and closes l. Values are read when
// scraped, so the metrics cost nothing between scrapes.
func (n *Node) ServeMetrics(ctx context.Context, l net.Listener) error {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "bonsai", Name: name, Help: help}, f))
	}
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "bonsai", Name: name, Help: help}, f))
	}
	outbox := func(published bool) func() float64 {
		return func() float64 {
			p, d, err := n.Store.OutboxCounts()
			if err != nil {
				return -1
			}
			if published {
				return float64(d)
			}
			return float64(p)
		}
	}
	gauge("peers", "Connected peers.", func() float64 { return float64(len(n.Swarm.Host.Network().Peers())) })
	gauge("routing_table_peers", "Peers in the DHT routing table.", func() float64 { return float64(n.Swarm.DHT.RoutingTable().Size()) })
	gauge("outbox_pending", "Own records not yet published.", outbox(false))
	gauge("outbox_published", "Own records published.", outbox(true))
	gauge("replicas_pending", "Received replicas not yet indexed.", func() float64 { return float64(n.Swarm.PendingReplicas()) })
	counter("provider_lookups_total", "Provider lookups made to resolve outputs.", func() float64 { return float64(n.Stats().ProviderLookups) })
	counter("fetch_round_trips_total", "Fetch-protocol requests made.", func() float64 { return float64(n.Stats().RoundTrips) })
	counter("fetch_rounds_total", "Sequential rounds of swarm prefetch (a verification's latency grows with them).", func() float64 { return float64(n.Stats().Rounds) })
	counter("records_fetched_total", "Verified records fetched from peers.", func() float64 { return float64(n.Stats().Fetched) })
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))

	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
		case <-stopped:
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
