package broker

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kzoo/kzoo/coordinator"
)

// TestLogFileMetrics: the descriptor cache's figures reach the metrics, read when
// scraped.
func TestLogFileMetrics(t *testing.T) {
	s, f := metricsTestServer(t, 1, &coordinator.Snapshot{ControllerID: 1})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.logFileMetrics()...)
	names := []string{"kzoo_log_open_files", "kzoo_log_open_files_limit", "kzoo_log_file_opens_total",
		"kzoo_log_file_evictions_total", "kzoo_log_open_files_over_limit_total"}
	if n, err := testutil.GatherAndCount(reg, names...); err != nil || n != len(names) {
		t.Fatalf("%d series (%v), want %d", n, err, len(names))
	}
	before := s.logs.FileCacheStats()
	addPartition(f, "t", 0, 1) // opens the partition's log: its new segment is open
	after := s.logs.FileCacheStats()
	if after.Opens <= before.Opens || after.Open == 0 || after.Limit <= 0 {
		t.Fatalf("cache stats %+v after opening a log, were %+v", after, before)
	}
	if v := testutil.ToFloat64(logFileMetric(t, s, "kzoo_log_open_files")); v != float64(after.Open) {
		t.Fatalf("kzoo_log_open_files %v, want %d", v, after.Open)
	}
	if v := testutil.ToFloat64(logFileMetric(t, s, "kzoo_log_open_files_limit")); v != float64(after.Limit) {
		t.Fatalf("kzoo_log_open_files_limit %v, want %d", v, after.Limit)
	}
	if v := testutil.ToFloat64(logFileMetric(t, s, "kzoo_log_file_opens_total")); v != float64(after.Opens) {
		t.Fatalf("kzoo_log_file_opens_total %v, want %d", v, after.Opens)
	}
}

// logFileMetric returns the collector of one of s's log file metrics.
func logFileMetric(t *testing.T, s *Server, name string) prometheus.Collector {
	t.Helper()
	for _, c := range s.logFileMetrics() {
		ch := make(chan *prometheus.Desc, 1)
		c.Describe(ch)
		if strings.Contains((<-ch).String(), `"`+name+`"`) {
			return c
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
