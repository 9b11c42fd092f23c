package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kzoo/kzoo/broker/quota"
	"github.com/kzoo/kzoo/zkpaths"
)

func TestQuotaCollectorReportsAManagersRates(t *testing.T) {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	now := start
	m := quota.NewManager(quota.DefaultSettings(), func() time.Time { return now })
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{
		{User: "alice"}:                         {quota.ProducerByteRate: "100"},
		{ClientID: zkpaths.DefaultConfigEntity}: {quota.RequestPercentage: "10"},
	})
	m.SetTopicQuotas(map[string]quota.TopicQuota{"orders": {Fetch: 1000}})
	m.Record(quota.Produce, quota.Identity{User: "alice", ClientID: "a1"}, 1000)
	m.Record(quota.Produce, quota.Identity{User: "alice", ClientID: "a2"}, 1100) // shared: 210 B/s, 11 s
	m.Record(quota.Request, quota.Identity{User: "bob", ClientID: "b"}, 50)      // 5 %
	m.RecordTopic(quota.Fetch, "orders", 20000)                                  // 2000 B/s, 10 s

	c := NewQuotaCollector(m)
	if err := prometheus.NewPedanticRegistry().Register(c); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP kzoo_quota_bound The client quota the rate is held to (bytes/s for produce and fetch, percent of one handler thread for request, partitions/s for controller_mutation); user or client_id is empty where the rate is shared by all users or all client ids of its quota entity.
# TYPE kzoo_quota_bound gauge
kzoo_quota_bound{client_id="",kind="produce",user="alice"} 100
kzoo_quota_bound{client_id="b",kind="request",user=""} 10
# HELP kzoo_quota_rate Rate measured against a client quota over the quota window (bytes/s for produce and fetch, percent of one handler thread for request, partitions/s for controller_mutation); user or client_id is empty where the rate is shared by all users or all client ids of its quota entity.
# TYPE kzoo_quota_rate gauge
kzoo_quota_rate{client_id="",kind="produce",user="alice"} 210
kzoo_quota_rate{client_id="b",kind="request",user=""} 5
# HELP kzoo_quota_throttle_seconds_total Throttle time given to clients for exceeding a client quota; user or client_id is empty where the rate is shared by all users or all client ids of its quota entity.
# TYPE kzoo_quota_throttle_seconds_total counter
kzoo_quota_throttle_seconds_total{client_id="",kind="produce",user="alice"} 11
kzoo_quota_throttle_seconds_total{client_id="b",kind="request",user=""} 0
# HELP kzoo_topic_quota_bound A topic's quota on this broker in bytes/s (producer.byte.rate, consumer.byte.rate).
# TYPE kzoo_topic_quota_bound gauge
kzoo_topic_quota_bound{kind="fetch",topic="orders"} 1000
# HELP kzoo_topic_quota_rate Bytes/s produced to (kind produce) or fetched from (kind fetch) a topic with a quota on this broker, over the quota window.
# TYPE kzoo_topic_quota_rate gauge
kzoo_topic_quota_rate{kind="fetch",topic="orders"} 2000
# HELP kzoo_topic_quota_throttle_seconds_total Throttle time given to clients for exceeding a topic's quota on this broker.
# TYPE kzoo_topic_quota_throttle_seconds_total counter
kzoo_topic_quota_throttle_seconds_total{kind="fetch",topic="orders"} 10
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	// An hour later with no traffic the rates are gone, and their series.
	now = start.Add(2 * time.Hour)
	m.Record(quota.Produce, quota.Identity{User: "carol", ClientID: "c"}, 1) // no quota: nothing kept; runs the sweep
	if n := testutil.CollectAndCount(c); n != 0 {
		t.Errorf("%d series after an idle hour, want 0", n)
	}
}
