package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentiles(t *testing.T) {
	samples := make([]time.Duration, 1000)
	for i := range samples {
		// Out of order, 1ms..1000ms.
		samples[i] = time.Duration((i*7919)%1000+1) * time.Millisecond
	}
	orig := slices.Clone(samples)
	got := percentiles(samples, 0.5, 0.95, 0.99, 0.999)
	want := []time.Duration{501 * time.Millisecond, 951 * time.Millisecond, 991 * time.Millisecond, 1000 * time.Millisecond}
	if !slices.Equal(got, want) {
		t.Errorf("percentiles = %v, want %v", got, want)
	}
	if !slices.Equal(samples, orig) {
		t.Error("percentiles reordered its input")
	}
	if got := percentiles(nil, 0.5); !slices.Equal(got, []time.Duration{0}) {
		t.Errorf("percentiles of nothing = %v, want [0]", got)
	}
	if got := percentiles([]time.Duration{7}, 0.5, 0.999); !slices.Equal(got, []time.Duration{7, 7}) {
		t.Errorf("percentiles of one sample = %v, want [7 7]", got)
	}
}

func TestLatencyStatsSamplesLongRuns(t *testing.T) {
	const n = 3 * maxLatencySamples
	s := newLatencyStats(n)
	for i := range n {
		s.add(time.Duration(i), 10)
	}
	if s.records != n || s.bytes != 10*n {
		t.Errorf("records %d bytes %d, want %d and %d", s.records, s.bytes, n, 10*n)
	}
	if len(s.samples) != maxLatencySamples {
		t.Errorf("kept %d samples, want %d", len(s.samples), maxLatencySamples)
	}
	if s.max != n-1 || s.avg() != (n-1)/2 {
		t.Errorf("max %v avg %v, want %v and %v", s.max, s.avg(), time.Duration(n-1), time.Duration((n-1)/2))
	}
	if p := percentiles(s.samples, 0.5)[0]; p != n/2 {
		t.Errorf("median of the samples %v, want %v", p, time.Duration(n/2))
	}
}

func TestThrottleDelay(t *testing.T) {
	for _, tc := range []struct {
		sent    int64
		elapsed time.Duration
		rate    float64
		want    time.Duration
	}{
		{0, 0, 100, 0},
		{50, 100 * time.Millisecond, 100, 400 * time.Millisecond}, // 50 at 100/s are due at 500ms
		{50, time.Second, 100, 0},                                 // behind schedule: no wait
		{1_000_000, 0, -1, 0},                                     // unlimited
		{3, 0, 2, 1500 * time.Millisecond},
	} {
		if got := throttleDelay(tc.sent, tc.elapsed, tc.rate); got != tc.want {
			t.Errorf("throttleDelay(%d, %v, %v) = %v, want %v", tc.sent, tc.elapsed, tc.rate, got, tc.want)
		}
	}
}

func TestProduceSummaryLine(t *testing.T) {
	s := newLatencyStats(4)
	for _, ms := range []int{1, 2, 3, 10} {
		s.add(time.Duration(ms)*time.Millisecond, 1024*1024/4)
	}
	got := produceSummaryLine(s, 2*time.Second)
	want := "4 records sent, 2.0 records/sec (0.50 MB/sec), 4.00 ms avg latency, 10.00 ms max latency, 3.00 ms 50th, 10.00 ms 95th, 10.00 ms 99th, 10.00 ms 99.9th."
	if got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
	if got, want := windowLine(s, time.Second), "4 records sent, 4.0 records/sec (1.00 MB/sec), 4.0 ms avg latency, 10.0 ms max latency."; got != want {
		t.Errorf("window line\n got %s\nwant %s", got, want)
	}
	if got := produceSummaryLine(newLatencyStats(10), 0); !strings.HasPrefix(got, "0 records sent, 0.0 records/sec") {
		t.Errorf("summary of nothing: %s", got)
	}
}

func TestConsumeSummaryRow(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	s := consumeSummary{
		start:     start,
		end:       start.Add(4 * time.Second),
		records:   20000,
		bytes:     2 * 1024 * 1024,
		rebalance: 2 * time.Second,
	}
	want := "2026-01-02 03:04:05:006, 2026-01-02 03:04:09:006, 2.0000, 0.5000, 20000, 5000.0000, 2000, 2000, 1.0000, 10000.0000"
	if got := s.row(); got != want {
		t.Errorf("row\n got %s\nwant %s", got, want)
	}
	if n := len(strings.Split(consumeSummaryHeader, ", ")); n != len(strings.Split(want, ", ")) {
		t.Errorf("header has %d columns, row %d", n, len(strings.Split(want, ", ")))
	}
}
