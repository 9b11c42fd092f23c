package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// requestDurationBuckets span a request's life from a cached Metadata
// answer (well under a millisecond) to a long-poll Fetch or an acks=all
// Produce waiting out its timeout (the broker caps a fetch wait at 30 s).
var requestDurationBuckets = prometheus.ExponentialBuckets(0.0005, 2, 17) // 0.5 ms .. ~33 s

// Traffic counts what passes through a broker: requests per API, record
// bytes and records in and out per topic, and ISR changes. It is a
// prometheus.Collector for the broker's registry.
//
// The data path never takes a lock here: the counters of an API are
// resolved when Traffic is made, and those of a topic once, on its first
// request, then found through a sync.Map, which reads keys it holds
// without locking.
//
// A nil *Traffic counts nothing, so that a broker (or a test) built
// without one needs no checks at every call site.
type Traffic struct {
	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	bytesIn   *prometheus.CounterVec
	recordsIn *prometheus.CounterVec
	bytesOut  *prometheus.CounterVec
	// replicationBytesOut counts what followers fetch, which is not
	// consumer traffic (Kafka's ReplicationBytesOutPerSec).
	replicationBytesOut prometheus.Counter
	isrShrinks          prometheus.Counter
	isrExpands          prometheus.Counter

	// apis holds the resolved counters of each API key, indexed by key.
	apis []*apiTraffic
	// topics maps a topic name to its *TopicTraffic.
	topics sync.Map
}

// apiTraffic is one API's resolved request series.
type apiTraffic struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// TopicTraffic is one topic's resolved counters. A nil *TopicTraffic
// counts nothing.
type TopicTraffic struct {
	bytesIn, recordsIn, bytesOut prometheus.Counter
}

// NewTraffic returns counters for a broker serving the API keys in apis.
// Their request series exist from the start, at zero, so that a rate over
// them is defined before the first request.
func NewTraffic(apis []int16) *Traffic {
	t := &Traffic{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kzoo_requests_total",
			Help: "Requests handled, by API.",
		}, []string{"api"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kzoo_request_duration_seconds",
			Help:    "Time from a request's decoding to its response being ready, by API; it includes the wait of a long-poll Fetch or an acks=all Produce.",
			Buckets: requestDurationBuckets,
		}, []string{"api"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kzoo_topic_bytes_in_total",
			Help: "Record batch bytes appended from producers, by topic (retried duplicates and replication excluded).",
		}, []string{"topic"}),
		recordsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kzoo_topic_records_in_total",
			Help: "Records appended from producers, by topic (retried duplicates and replication excluded).",
		}, []string{"topic"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kzoo_topic_bytes_out_total",
			Help: "Record batch bytes sent to consumers, by topic (follower fetches excluded).",
		}, []string{"topic"}),
		replicationBytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kzoo_replication_bytes_out_total",
			Help: "Record batch bytes sent to followers of the partitions this broker leads.",
		}),
		isrShrinks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kzoo_isr_shrinks_total",
			Help: "ISR changes this broker wrote as leader that removed lagging followers.",
		}),
		isrExpands: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kzoo_isr_expands_total",
			Help: "ISR changes this broker wrote as leader that added caught-up followers.",
		}),
	}
	for _, key := range apis {
		if key < 0 {
			continue
		}
		if int(key) >= len(t.apis) {
			t.apis = append(t.apis, make([]*apiTraffic, int(key)+1-len(t.apis))...)
		}
		t.apis[key] = t.resolveAPI(key)
	}
	return t
}

func (t *Traffic) resolveAPI(key int16) *apiTraffic {
	name := kmsg.NameForKey(key)
	if name == "" {
		name = "Unknown"
	}
	return &apiTraffic{
		requests: t.requests.WithLabelValues(name),
		duration: t.durations.WithLabelValues(name),
	}
}

func (t *Traffic) collectors() []prometheus.Collector {
	if t == nil {
		return nil
	}
	return []prometheus.Collector{
		t.requests, t.durations, t.bytesIn, t.recordsIn, t.bytesOut,
		t.replicationBytesOut, t.isrShrinks, t.isrExpands,
	}
}

// Describe implements prometheus.Collector.
func (t *Traffic) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range t.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (t *Traffic) Collect(ch chan<- prometheus.Metric) {
	for _, c := range t.collectors() {
		c.Collect(ch)
	}
}

// ObserveRequest counts one request of API key that took d to handle.
func (t *Traffic) ObserveRequest(key int16, d time.Duration) {
	if t == nil {
		return
	}
	var a *apiTraffic
	if key >= 0 && int(key) < len(t.apis) {
		a = t.apis[key]
	}
	if a == nil {
		// An API not announced to NewTraffic: correct, only slower.
		a = t.resolveAPI(key)
	}
	a.requests.Inc()
	a.duration.Observe(d.Seconds())
}

// Topic returns the counters of topic, creating its series on first use.
func (t *Traffic) Topic(topic string) *TopicTraffic {
	if t == nil {
		return nil
	}
	if tt, ok := t.topics.Load(topic); ok {
		return tt.(*TopicTraffic)
	}
	tt, _ := t.topics.LoadOrStore(topic, &TopicTraffic{
		bytesIn:   t.bytesIn.WithLabelValues(topic),
		recordsIn: t.recordsIn.WithLabelValues(topic),
		bytesOut:  t.bytesOut.WithLabelValues(topic),
	})
	return tt.(*TopicTraffic)
}

// TopicTotal is one topic's record bytes in from producers and out to
// consumers since the broker started (or since the topic's series were last
// forgotten).
type TopicTotal struct {
	BytesIn, BytesOut int64
}

// TopicTotals reads the counters behind kzoo_topic_bytes_in_total and
// kzoo_topic_bytes_out_total of every topic with traffic here: what the web
// console turns into rates, so that its figures are those of the metrics.
func (t *Traffic) TopicTotals() map[string]TopicTotal {
	out := make(map[string]TopicTotal)
	if t == nil {
		return out
	}
	t.topics.Range(func(key, value any) bool {
		tt := value.(*TopicTraffic)
		out[key.(string)] = TopicTotal{BytesIn: counterValue(tt.bytesIn), BytesOut: counterValue(tt.bytesOut)}
		return true
	})
	return out
}

// counterValue reads a counter's value (0 if it cannot be read, which a
// plain counter always can).
func counterValue(c prometheus.Counter) int64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return int64(m.GetCounter().GetValue())
}

// ForgetTopics removes the series of every topic that keep rejects, such
// as deleted topics, so that they stop being exported. A topic seen again
// later starts again from zero, which Prometheus reads as a counter reset.
func (t *Traffic) ForgetTopics(keep func(topic string) bool) {
	if t == nil {
		return
	}
	t.topics.Range(func(key, _ any) bool {
		topic := key.(string)
		if keep(topic) {
			return true
		}
		// Series first, then the entry: a request between the two counts
		// into the old, unexported counters and is lost, as it would be
		// a moment later; a Topic after both makes series that are
		// exported. The other order could leave an entry whose series
		// were deleted under it.
		for _, vec := range []*prometheus.CounterVec{t.bytesIn, t.recordsIn, t.bytesOut} {
			vec.DeleteLabelValues(topic)
		}
		t.topics.Delete(topic)
		return true
	})
}

// AddReplicationBytesOut counts n record bytes sent to a follower.
func (t *Traffic) AddReplicationBytesOut(n int64) {
	if t == nil || n <= 0 {
		return
	}
	t.replicationBytesOut.Add(float64(n))
}

// ISRChanged counts one ISR write by a partition leader, which may have
// removed and added followers at once.
func (t *Traffic) ISRChanged(shrunk, expanded bool) {
	if t == nil {
		return
	}
	if shrunk {
		t.isrShrinks.Inc()
	}
	if expanded {
		t.isrExpands.Inc()
	}
}

// AddIn counts records appended from a producer, in bytes of record
// batches.
func (tt *TopicTraffic) AddIn(bytes, records int64) {
	if tt == nil {
		return
	}
	tt.bytesIn.Add(float64(bytes))
	tt.recordsIn.Add(float64(records))
}

// AddOut counts record batch bytes sent to a consumer.
func (tt *TopicTraffic) AddOut(bytes int64) {
	if tt == nil || bytes <= 0 {
		return
	}
	tt.bytesOut.Add(float64(bytes))
}
