// Package metrics exposes a broker's metrics in the Prometheus text format:
// the registry the broker owns (never the global default one), the HTTP
// endpoint that serves it at /metrics, the consumer-group collector that
// computes each group's lag when it is scraped, and the counters of the
// broker's traffic (Traffic).
//
// Metric names follow Kafka's meaning in Prometheus' conventions: a kzoo_
// prefix, snake case, _total on counters.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
)

// Path is where the endpoint serves the metrics.
const Path = "/metrics"

const (
	// readHeaderTimeout bounds how long a connection may take to send its
	// request headers, so that idle or slow clients cannot hold sockets.
	readHeaderTimeout = 10 * time.Second
	// shutdownTimeout bounds how long a stopping endpoint waits for scrapes
	// in flight. It exceeds DefaultLagTimeout, so that a scrape waiting on
	// another broker's answer still completes.
	shutdownTimeout = 5 * time.Second
)

// NewRegistry returns a registry holding the Go runtime and process
// collectors; the broker adds its own collectors to it.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister( // two distinct built-in collectors cannot conflict
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// Server is the HTTP endpoint that serves a registry.
type Server struct {
	ln  net.Listener
	mux *http.ServeMux
	srv *http.Server
	log logrus.FieldLogger
}

// Listen binds addr (host:port; port 0 picks a free one) so that a port
// conflict fails the broker's start-up, and prepares to serve reg at Path.
// Nothing is served until Serve.
func Listen(addr string, reg *prometheus.Registry, log logrus.FieldLogger) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	handler := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: log,
		// A collector that fails (a duplicate sample, say) costs its own
		// samples, not the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
		// Counts those failures as promhttp_metric_handler_errors_total.
		Registry: reg,
	})
	mux := http.NewServeMux()
	// Also counts scrapes and scrapes in flight in reg.
	mux.Handle("GET "+Path, promhttp.InstrumentMetricHandler(reg, handler))
	return &Server{
		ln:  ln,
		mux: mux,
		srv: &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout},
		log: log,
	}, nil
}

// PprofPath is where ServePprof serves Go's profiles.
const PprofPath = "/debug/pprof/"

// ServePprof also serves Go's runtime profiles (net/http/pprof) at
// PprofPath, on this endpoint's own mux rather than the global default one.
// It must be called before Serve.
func (s *Server) ServePprof() {
	s.mux.HandleFunc("GET "+PprofPath, pprof.Index)
	s.mux.HandleFunc("GET "+PprofPath+"cmdline", pprof.Cmdline)
	s.mux.HandleFunc("GET "+PprofPath+"profile", pprof.Profile)
	s.mux.HandleFunc("GET "+PprofPath+"symbol", pprof.Symbol)
	s.mux.HandleFunc("POST "+PprofPath+"symbol", pprof.Symbol)
	s.mux.HandleFunc("GET "+PprofPath+"trace", pprof.Trace)
}

// Addr returns the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve answers scrapes until ctx is done, then stops accepting, lets the
// scrapes in flight finish (for a bounded time) and returns. It returns an
// error if serving failed rather than being stopped.
func (s *Server) Serve(ctx context.Context) error {
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(s.ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("metrics: serve on %s: %w", s.ln.Addr(), err)
	case <-ctx.Done():
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(stopCtx); err != nil {
		s.log.WithError(err).Warn("metrics: scrapes still running at shutdown; closing their connections")
		_ = s.srv.Close() // its only error is the listener's, already closed
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve on %s: %w", s.ln.Addr(), err)
	}
	return nil
}
