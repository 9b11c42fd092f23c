package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kzoo/kzoo/e2e/cluster"
)

// TestMetrics produces and consumes through a real broker and checks that
// its traffic counters moved by what went through it, and that the group's
// lag falls to 0 once it has committed everything.
func TestMetrics(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 1, PortOffset: 14600})
	const (
		topic   = "metrics-traffic"
		group   = "metrics-traffic-app"
		records = 200
	)
	bootstrap := c.Bootstrap()
	createTopic(t, bootstrap, topic, 1, 1, nil)
	addr := c.MetricsAddr(1)
	series := func(name, label, value string) string { return name + "{" + label + `="` + value + `"}` }
	var (
		recordsIn       = series("kzoo_topic_records_in_total", "topic", topic)
		bytesIn         = series("kzoo_topic_bytes_in_total", "topic", topic)
		bytesOut        = series("kzoo_topic_bytes_out_total", "topic", topic)
		produceRequests = series("kzoo_requests_total", "api", "Produce")
		fetchRequests   = series("kzoo_requests_total", "api", "Fetch")
		produceTimings  = series("kzoo_request_duration_seconds_count", "api", "Produce")
	)
	before := scrapeMetrics(t, addr)

	// Produce, one record at a time so that they make many batches.
	producer, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range records {
		value := []byte(fmt.Sprintf("record-%d", i))
		if err := producer.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			t.Fatalf("produce record %d: %v", i, err)
		}
	}

	// Consume everything in a group and commit it.
	consumer, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(group), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	consumed := 0
	for consumed < records {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", consumed, records, err)
		}
		fetches.EachError(func(topic string, partition int32, err error) {
			t.Logf("fetch %s/%d: %v", topic, partition, err)
		})
		consumed += fetches.NumRecords()
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
	waitLag(t, addr, group, topic, []int64{0})

	after := scrapeMetrics(t, addr)
	delta := func(name string) float64 { return after[name] - before[name] }
	t.Logf("deltas: %v records and %v bytes in, %v bytes out, %v Produce and %v Fetch requests",
		delta(recordsIn), delta(bytesIn), delta(bytesOut), delta(produceRequests), delta(fetchRequests))
	if got := delta(recordsIn); got != records {
		t.Errorf("%s moved by %v, want %d", recordsIn, got, records)
	}
	if got := delta(bytesIn); got <= 0 {
		t.Errorf("%s moved by %v, want > 0", bytesIn, got)
	}
	// The consumer read every batch at least once, as stored.
	if in, out := delta(bytesIn), delta(bytesOut); out < in {
		t.Errorf("%s moved by %v, less than the %v bytes produced", bytesOut, out, in)
	}
	// One ProduceSync each: at least one Produce request per record.
	if got := delta(produceRequests); got < records {
		t.Errorf("%s moved by %v, want >= %d", produceRequests, got, records)
	}
	if got := delta(produceTimings); got != delta(produceRequests) {
		t.Errorf("%s moved by %v, want %v like the Produce requests", produceTimings, got, delta(produceRequests))
	}
	if got := delta(fetchRequests); got < 1 {
		t.Errorf("%s moved by %v, want >= 1", fetchRequests, got)
	}
}

// scrapeMetrics reads the Prometheus text at addr into a map from series
// (name and labels, as written) to value.
func scrapeMetrics(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape %s: %s: %s", addr, resp.Status, body)
	}
	samples := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("scrape %s: malformed sample %q", addr, line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("scrape %s: sample %q: %v", addr, line, err)
		}
		samples[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scrape %s: %v", addr, err)
	}
	return samples
}
