package broker

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/coordinator"
)

// TestReplicationThrottleCounters: the bytes a follower's fetch is answered
// with of partitions throttled as leader count against the leader quota,
// and the counters export them per side.
func TestReplicationThrottleCounters(t *testing.T) {
	s, _ := metricsTestServer(t, 1, &coordinator.Snapshot{ControllerID: 1})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.replicationThrottleCounters()...)

	topics := []fetchTopic{{name: "t", partitions: []fetchPartition{
		{partition: 0, records: storage.Slice{Size: 700}, throttled: true},
		{partition: 1, records: storage.Slice{Size: 300}},
	}}}
	s.countFetched(2, topics)
	s.countFetched(3, topics)
	const want = `
# HELP kzoo_replication_throttled_bytes_total Replication bytes of the replicas a topic's leader/follower.replication.throttled.replicas name on this broker, counted against its replication quota of that side: sent to followers as leader, received as follower.
# TYPE kzoo_replication_throttled_bytes_total counter
kzoo_replication_throttled_bytes_total{side="follower"} 0
kzoo_replication_throttled_bytes_total{side="leader"} 1400
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
