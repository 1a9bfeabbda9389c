// Package metrics provides vrouter's Prometheus registry and its opt-in
// HTTP listener (config `metrics.listen`). Every vrouter metric is named
// vrouter_<subsystem>_<what>[_total] and registered on the private registry
// made by NewRegistry, never on the global default one; labels are bounded
// (interface names from the config, reasons from typed enums).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every vrouter metric name.
const Namespace = "vrouter"

// NewRegistry returns a private registry holding the Go runtime and process
// collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Serve serves reg on http://listen/metrics until ctx is done. It returns
// once the listener is bound (or failed to bind); serving continues in the
// background.
func Serve(ctx context.Context, listen string, reg *prometheus.Registry, log *slog.Logger) (net.Addr, error) {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return l.Addr(), nil
}
