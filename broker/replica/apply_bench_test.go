package replica

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// benchLogs is how many real logs the benchmark's partitions share: a
// process may not hold 100k logs' descriptors, and the role changes
// measured here touch a log only to record a new leader epoch (once per
// shared log and epoch).
const benchLogs = 16

// benchManager returns a manager of broker 1 holding n partitions of topic
// "t", leading each at epoch 1 with replicas and ISR [1 2 3].
func benchManager(b *testing.B, n int) (*Manager, map[zkpaths.TopicPartition]Assignment) {
	b.Helper()
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	m := New(Config{BrokerID: 1, Logger: logger, Cluster: isrCluster{}, ReplicaLagTimeMax: time.Hour}, 1)
	logs := make([]*storage.Log, benchLogs)
	for i := range logs {
		l, err := storage.Open(b.TempDir(), storage.DefaultConfig(), storage.OpenOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = l.Close() })
		logs[i] = l
	}
	cfg := config.Topic{}
	assigned := make(map[zkpaths.TopicPartition]Assignment, n)
	for i := range n {
		tp := zkpaths.TopicPartition{Topic: "t", Partition: int32(i)}
		m.partitions.add(newPartition(tp, logs[i%benchLogs], cfg))
		assigned[tp] = Assignment{Config: cfg, State: coordinator.Partition{
			Topic: "t", Partition: int32(i), Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3},
			Leader: 1, LeaderEpoch: 1, State: zkpaths.StateOnline, PartitionEpoch: 1,
		}}
	}
	applyBench(b, m, assigned, assigned)
	return m, assigned
}

// applyBench applies changed (a subset of assigned, already in it).
func applyBench(b *testing.B, m *Manager, _, changed map[zkpaths.TopicPartition]Assignment) {
	if _, failed := m.Apply(changed, nil); len(failed) > 0 {
		b.Fatalf("cannot apply %v", failed)
	}
}

// BenchmarkApply measures one Apply at 100k partitions of which k change:
// the ISR of k partitions this broker leads shrinks (the controller taking
// a dead broker out), or their leader epoch moves on.
func BenchmarkApply(b *testing.B) {
	const n = 100_000
	for _, k := range []int{1, 1000} {
		for _, kind := range []string{"isr", "epoch"} {
			b.Run(fmt.Sprintf("partitions=%d/changed=%d/%s", n, k, kind), func(b *testing.B) {
				m, assigned := benchManager(b, n)
				changed := make(map[zkpaths.TopicPartition]Assignment, k)
				epoch := int32(1)
				b.ResetTimer()
				for i := range b.N {
					epoch++
					clear(changed)
					for j := range k {
						tp := zkpaths.TopicPartition{Topic: "t", Partition: int32((i*k + j) % n)}
						a := assigned[tp]
						st := a.State
						st.PartitionEpoch++
						if kind == "isr" {
							if len(st.ISR) == 3 {
								st.ISR = []int32{1, 2}
							} else {
								st.ISR = []int32{1, 2, 3}
							}
						} else {
							st.LeaderEpoch = epoch
						}
						a.State = st
						assigned[tp] = a
						changed[tp] = a
					}
					applyBench(b, m, assigned, changed)
				}
			})
		}
	}
}
