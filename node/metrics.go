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

// ServeMetrics serves Prometheus metrics of the node on addr (opt-in:
// `bonsai daemon --metrics ADDR`) until ctx ends. Values are read when
// scraped, so the metrics cost nothing between scrapes.
func (n *Node) ServeMetrics(ctx context.Context, addr string) error {
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

	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
