package broker

import (
	"fmt"
	"testing"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// scaleSnapshot is a view of n partitions RF3 over brokers 1-3 in topics of
// perTopic partitions each.
func scaleSnapshot(n, perTopic int) *coordinator.Snapshot {
	snap := &coordinator.Snapshot{
		ClusterID: "c", ControllerID: 1,
		Brokers: map[int32]coordinator.Broker{},
		Topics:  map[string]*coordinator.Topic{},
	}
	for id := int32(1); id <= 3; id++ {
		snap.Brokers[id] = coordinator.Broker{ID: id, Endpoints: []coordinator.Endpoint{{Listener: "PLAINTEXT", Host: "127.0.0.1", Port: 9092 + id}}}
	}
	for first := 0; first < n; first += perTopic {
		name := fmt.Sprintf("topic-%06d", first/perTopic)
		t := &coordinator.Topic{Name: name, Configs: map[string]string{}, ID: [16]byte{byte(first), byte(first >> 8), byte(first >> 16)}}
		for i := range min(perTopic, n-first) {
			leader := int32(1 + (first+i)%3)
			replicas := []int32{leader, 1 + leader%3, 1 + (leader+1)%3}
			t.Partitions = append(t.Partitions, coordinator.Partition{
				Topic: name, Partition: int32(i), Replicas: replicas, ISR: replicas, Leader: leader, LeaderEpoch: 1,
				State: zkpaths.StateOnline, PartitionEpoch: 1, ControllerEpoch: 1,
			})
		}
		snap.Topics[name] = t
	}
	return snap
}

// failover returns a copy of snap in which k partitions led by broker 2
// move to broker 1 (the controller electing a new leader for a batch of
// them), sharing every topic it does not change.
func failover(snap *coordinator.Snapshot, k int) *coordinator.Snapshot {
	next := *snap
	next.Topics = make(map[string]*coordinator.Topic, len(snap.Topics))
	for name, t := range snap.Topics {
		next.Topics[name] = t
	}
	for name, t := range snap.Topics {
		if k == 0 {
			break
		}
		c := cloneTopic(t)
		for i := range c.Partitions {
			p := &c.Partitions[i]
			if k > 0 && p.Leader == 2 {
				p.Leader, p.LeaderEpoch, p.PartitionEpoch = 1, p.LeaderEpoch+1, p.PartitionEpoch+1
				k--
			}
		}
		next.Topics[name] = c
	}
	return &next
}

// BenchmarkDiffViews measures what the broker computes per new view before
// the replica manager applies it, at 100k partitions with 1 and 1,000
// changed: one topic of 100k partitions (every partition compared) and
// 1,000 topics of 100 (unchanged topics skipped).
func BenchmarkDiffViews(b *testing.B) {
	const n = 100_000
	for _, perTopic := range []int{n, 100} {
		for _, k := range []int{1, 1000} {
			prev := scaleSnapshot(n, perTopic)
			next := failover(prev, k)
			b.Run(fmt.Sprintf("partitions=%d/per_topic=%d/changed=%d", n, perTopic, k), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if d := diffViews(1, prev, next, false, noConfig, nil); len(d.changed) != k {
						b.Fatalf("%d changed, want %d", len(d.changed), k)
					}
				}
			})
		}
	}
}
