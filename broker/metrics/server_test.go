package metrics

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"
)

// startServer serves reg on a free loopback port until the test ends and
// returns the endpoint's base URL.
func startServer(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	s, err := Listen("127.0.0.1:0", reg, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve() = %v after its context ended", err)
		}
	})
	return "http://" + s.Addr().String()
}

func TestServerServesTheRegistry(t *testing.T) {
	reg := NewRegistry()
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "kzoo_test_gauge", Help: "A gauge of the test."})
	gauge.Set(42)
	reg.MustRegister(gauge)
	url := startServer(t, reg)

	if err := testutil.ScrapeAndCompare(url+Path, strings.NewReader(`
# HELP kzoo_test_gauge A gauge of the test.
# TYPE kzoo_test_gauge gauge
kzoo_test_gauge 42
`), "kzoo_test_gauge"); err != nil {
		t.Error(err)
	}

	resp, err := http.Get(url + Path)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", Path, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want the text format", ct)
	}
	// The runtime, process and handler metrics come with the registry.
	for _, name := range []string{"go_goroutines", "process_start_time_seconds", "promhttp_metric_handler_requests_total"} {
		if !strings.Contains(string(body), "\n"+name) {
			t.Errorf("%s missing from the scrape", name)
		}
	}
}

func TestServerAnswersOnlyGETMetrics(t *testing.T) {
	url := startServer(t, NewRegistry())
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/other", http.StatusNotFound},
		{http.MethodPost, Path, http.StatusMethodNotAllowed},
	} {
		req, err := http.NewRequest(tc.method, url+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}

func TestServeStopsWithItsContext(t *testing.T) {
	log := logrus.New()
	log.SetOutput(io.Discard)
	s, err := Listen("127.0.0.1:0", NewRegistry(), log)
	if err != nil {
		t.Fatal(err)
	}
	addr := s.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Serve(ctx); err != nil {
		t.Fatalf("Serve() = %v, want nil once its context is done", err)
	}
	if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Serve returned", addr)
	}
}

func TestListenReportsABusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if s, err := Listen(ln.Addr().String(), NewRegistry(), logrus.New()); err == nil {
		s.ln.Close()
		t.Fatalf("Listen(%s) on a busy port: no error", ln.Addr())
	}
}
