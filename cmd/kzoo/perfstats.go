package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The arithmetic of the perf tools, free of I/O and clocks so it can be
// tested exactly: latency percentiles, rates, throttling and the report
// lines, which follow kafka-producer-perf-test and
// kafka-consumer-perf-test.

// maxLatencySamples bounds the latencies kept for percentiles, as Kafka's
// producer perf test does, so that a run of any length fits in memory.
const maxLatencySamples = 500000

const bytesPerMB = 1024 * 1024

// latencyStats accumulates the outcome of acknowledged records: exact
// count, bytes, total and maximum latency, and every sampleEvery-th
// latency for the percentiles (none when sampleEvery is 0, as for the
// progress windows, which print no percentiles).
type latencyStats struct {
	records     int64
	bytes       int64
	total       time.Duration
	max         time.Duration
	sampleEvery int64
	samples     []time.Duration
}

// newLatencyStats sizes the sampling for a run of expected records.
func newLatencyStats(expected int64) *latencyStats {
	every := max(1, expected/maxLatencySamples)
	return &latencyStats{sampleEvery: every, samples: make([]time.Duration, 0, min(expected/every+1, maxLatencySamples+1))}
}

func (s *latencyStats) add(latency time.Duration, bytes int) {
	if s.sampleEvery > 0 && s.records%s.sampleEvery == 0 {
		s.samples = append(s.samples, latency)
	}
	s.records++
	s.bytes += int64(bytes)
	s.total += latency
	s.max = max(s.max, latency)
}

func (s *latencyStats) avg() time.Duration {
	if s.records == 0 {
		return 0
	}
	return s.total / time.Duration(s.records)
}

// percentiles returns the latency at each quantile q (0 < q < 1) of
// samples: the sample at index ⌊q·n⌋ of the n sorted samples, as Kafka's
// producer perf test picks it. samples is not modified; none gives zeros.
func percentiles(samples []time.Duration, quantiles ...float64) []time.Duration {
	out := make([]time.Duration, len(quantiles))
	if len(samples) == 0 {
		return out
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	for i, q := range quantiles {
		index := int(q * float64(len(sorted)))
		out[i] = sorted[min(max(index, 0), len(sorted)-1)]
	}
	return out
}

// perSecond is count per second over elapsed; 0 for an empty interval.
func perSecond(count float64, elapsed time.Duration) float64 {
	if elapsed <= 0 {
		return 0
	}
	return count / elapsed.Seconds()
}

// throttleDelay is how long to wait before sending record number sent
// (counting from 0) so that, elapsed after the start, no more than
// perSecond records per second have gone out. perSecond ≤ 0 is unlimited.
func throttleDelay(sent int64, elapsed time.Duration, perSecond float64) time.Duration {
	if perSecond <= 0 {
		return 0
	}
	due := time.Duration(float64(sent) / perSecond * float64(time.Second))
	return max(due-elapsed, 0)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// windowLine is a periodic line of perf produce, for the records
// acknowledged in the last window.
func windowLine(s *latencyStats, elapsed time.Duration) string {
	return fmt.Sprintf("%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.",
		s.records, perSecond(float64(s.records), elapsed), perSecond(float64(s.bytes)/bytesPerMB, elapsed), ms(s.avg()), ms(s.max))
}

// produceSummaryLine is perf produce's final line over the whole run.
// Latencies are printed with two decimals, not Kafka's whole
// milliseconds, since on a local cluster most are below one.
func produceSummaryLine(s *latencyStats, elapsed time.Duration) string {
	p := percentiles(s.samples, 0.5, 0.95, 0.99, 0.999)
	return fmt.Sprintf("%d records sent, %.1f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, %.2f ms 50th, %.2f ms 95th, %.2f ms 99th, %.2f ms 99.9th.",
		s.records, perSecond(float64(s.records), elapsed), perSecond(float64(s.bytes)/bytesPerMB, elapsed),
		ms(s.avg()), ms(s.max), ms(p[0]), ms(p[1]), ms(p[2]), ms(p[3]))
}

// consumeSummary is the outcome of perf consume.
type consumeSummary struct {
	start, end time.Time
	records    int64
	bytes      int64
	rebalance  time.Duration // joining the group, 0 without one
}

const consumeSummaryHeader = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"

// perfTime formats t as Kafka's tool does, "yyyy-MM-dd HH:mm:ss:SSS"; Go
// layouts know fractional seconds only after a dot or a comma.
func perfTime(t time.Time) string {
	return fmt.Sprintf("%s:%03d", t.Format("2006-01-02 15:04:05"), t.Nanosecond()/int(time.Millisecond))
}

// row is the line under consumeSummaryHeader. The fetch columns leave
// out the time spent joining the group.
func (s consumeSummary) row() string {
	elapsed := s.end.Sub(s.start)
	fetching := elapsed - s.rebalance
	mb := float64(s.bytes) / bytesPerMB
	return strings.Join([]string{
		perfTime(s.start),
		perfTime(s.end),
		fmt.Sprintf("%.4f", mb),
		fmt.Sprintf("%.4f", perSecond(mb, elapsed)),
		fmt.Sprintf("%d", s.records),
		fmt.Sprintf("%.4f", perSecond(float64(s.records), elapsed)),
		fmt.Sprintf("%d", s.rebalance.Milliseconds()),
		fmt.Sprintf("%d", fetching.Milliseconds()),
		fmt.Sprintf("%.4f", perSecond(mb, fetching)),
		fmt.Sprintf("%.4f", perSecond(float64(s.records), fetching)),
	}, ", ")
}
