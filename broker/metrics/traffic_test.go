package metrics

import (
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTrafficCountsRequestsPerAPI(t *testing.T) {
	traffic := NewTraffic([]int16{kmsg.Produce.Int16(), kmsg.Fetch.Int16()})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(traffic)

	// Announced APIs are exported before their first request.
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP kzoo_requests_total Requests handled, by API.
# TYPE kzoo_requests_total counter
kzoo_requests_total{api="Fetch"} 0
kzoo_requests_total{api="Produce"} 0
`), "kzoo_requests_total"); err != nil {
		t.Error(err)
	}

	traffic.ObserveRequest(kmsg.Produce.Int16(), 3*time.Millisecond)
	traffic.ObserveRequest(kmsg.Produce.Int16(), 2*time.Second)
	traffic.ObserveRequest(kmsg.Metadata.Int16(), time.Millisecond) // not announced
	if got := testutil.ToFloat64(traffic.requests.WithLabelValues("Produce")); got != 2 {
		t.Errorf("Produce requests = %v, want 2", got)
	}
	if got := testutil.ToFloat64(traffic.requests.WithLabelValues("Metadata")); got != 1 {
		t.Errorf("Metadata requests = %v, want 1", got)
	}
	if got := testutil.ToFloat64(traffic.requests.WithLabelValues("Fetch")); got != 0 {
		t.Errorf("Fetch requests = %v, want 0", got)
	}
	// The histogram saw both Produce durations.
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	var sum float64
	for _, f := range families {
		if f.GetName() != "kzoo_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == "Produce" {
				count, sum = m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
			}
		}
	}
	if count != 2 || sum < 2.003-1e-9 || sum > 2.003+1e-9 {
		t.Errorf("Produce duration histogram: count %d sum %v, want 2 and 2.003", count, sum)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

func TestTrafficCountsPerTopic(t *testing.T) {
	traffic := NewTraffic(nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(traffic)

	traffic.Topic("a").AddIn(100, 3)
	traffic.Topic("a").AddIn(50, 2)
	traffic.Topic("a").AddOut(120)
	traffic.Topic("a").AddOut(0) // an empty fetch makes no series move
	traffic.Topic("b").AddIn(10, 1)
	if traffic.Topic("a") != traffic.Topic("a") {
		t.Error("a topic's counters are resolved again on every call")
	}
	const want = `
# HELP kzoo_topic_bytes_in_total Record batch bytes appended from producers, by topic (retried duplicates and replication excluded).
# TYPE kzoo_topic_bytes_in_total counter
kzoo_topic_bytes_in_total{topic="a"} 150
kzoo_topic_bytes_in_total{topic="b"} 10
# HELP kzoo_topic_bytes_out_total Record batch bytes sent to consumers, by topic (follower fetches excluded).
# TYPE kzoo_topic_bytes_out_total counter
kzoo_topic_bytes_out_total{topic="a"} 120
kzoo_topic_bytes_out_total{topic="b"} 0
# HELP kzoo_topic_records_in_total Records appended from producers, by topic (retried duplicates and replication excluded).
# TYPE kzoo_topic_records_in_total counter
kzoo_topic_records_in_total{topic="a"} 5
kzoo_topic_records_in_total{topic="b"} 1
`
	names := []string{"kzoo_topic_bytes_in_total", "kzoo_topic_records_in_total", "kzoo_topic_bytes_out_total"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	wantTotals := map[string]TopicTotal{"a": {BytesIn: 150, BytesOut: 120}, "b": {BytesIn: 10}}
	if got := traffic.TopicTotals(); !maps.Equal(got, wantTotals) {
		t.Errorf("TopicTotals() = %v, want %v", got, wantTotals)
	}

	traffic.ForgetTopics(func(topic string) bool { return topic != "a" })
	if got := traffic.TopicTotals(); !maps.Equal(got, map[string]TopicTotal{"b": {BytesIn: 10}}) {
		t.Errorf("TopicTotals() after forgetting a = %v, want b's alone", got)
	}
	if n := testutil.CollectAndCount(traffic, names...); n != 3 {
		t.Errorf("after forgetting topic a: %d topic series, want 3 (topic b's)", n)
	}
	// A topic of the same name made again starts from zero.
	traffic.Topic("a").AddIn(7, 1)
	if got := testutil.ToFloat64(traffic.recordsIn.WithLabelValues("a")); got != 1 {
		t.Errorf("records in of the new topic a = %v, want 1", got)
	}
}

func TestTrafficCountsISRChanges(t *testing.T) {
	traffic := NewTraffic(nil)
	traffic.ISRChanged(true, false)
	traffic.ISRChanged(true, true)
	traffic.ISRChanged(false, true)
	traffic.ISRChanged(false, true)
	if got := testutil.ToFloat64(traffic.isrShrinks); got != 2 {
		t.Errorf("ISR shrinks = %v, want 2", got)
	}
	if got := testutil.ToFloat64(traffic.isrExpands); got != 3 {
		t.Errorf("ISR expands = %v, want 3", got)
	}
	traffic.AddReplicationBytesOut(40)
	if got := testutil.ToFloat64(traffic.replicationBytesOut); got != 40 {
		t.Errorf("replication bytes out = %v, want 40", got)
	}
}

func TestNilTrafficCountsNothing(t *testing.T) {
	var traffic *Traffic
	traffic.ObserveRequest(0, time.Second)
	traffic.Topic("a").AddIn(1, 1)
	traffic.Topic("a").AddOut(1)
	traffic.ISRChanged(true, true)
	traffic.AddReplicationBytesOut(1)
	traffic.ForgetTopics(func(string) bool { return false })
	if got := traffic.TopicTotals(); len(got) != 0 {
		t.Errorf("a nil Traffic has totals %v", got)
	}
	if n := testutil.CollectAndCount(traffic); n != 0 {
		t.Errorf("a nil Traffic collected %d metrics, want 0", n)
	}
}

func TestTrafficTopicsConcurrently(t *testing.T) {
	traffic := NewTraffic(nil)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				traffic.Topic("t").AddIn(2, 1)
			}
		})
	}
	wg.Go(func() {
		for range 100 {
			traffic.ForgetTopics(func(topic string) bool { return topic == "t" })
		}
	})
	wg.Wait()
	if got := testutil.ToFloat64(traffic.recordsIn.WithLabelValues("t")); got != 800 {
		t.Errorf("records in = %v, want 800", got)
	}
}
