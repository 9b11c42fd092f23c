package replica

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/zkpaths"
)

// BenchmarkIdleFollowerRequest measures a fetcher building its request for
// idle partitions: in full (no session), and incremental in a session
// where nothing moved. The cost per partition is ns/op divided by the
// partition count.
func BenchmarkIdleFollowerRequest(b *testing.B) {
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	m := New(Config{BrokerID: 2, Logger: logger, Now: time.Now, Cluster: isrCluster{}, ReplicaLagTimeMax: time.Hour}, 1)
	target := followTarget{leader: 1, epoch: 1}
	for _, partitions := range []int{1000, 5000} {
		f := &fetcher{source: 1, parts: make(map[zkpaths.TopicPartition]*fetchedPartition), wake: make(chan struct{}, 1)}
		for i := range int32(partitions) {
			log, err := storage.Open(b.TempDir(), storage.DefaultConfig(), storage.OpenOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = log.Close() })
			p := newPartition(zkpaths.TopicPartition{Topic: "t", Partition: i}, log, config.Topic{})
			p.following = target
			f.parts[p.tp] = &fetchedPartition{p: p, target: target}
		}
		b.Run(fmt.Sprintf("partitions=%d/full", partitions), func(b *testing.B) {
			for b.Loop() {
				f.session.reset()
				f.session.closeID = 0
				m.buildReplicaFetch(f)
			}
		})
		b.Run(fmt.Sprintf("partitions=%d/session", partitions), func(b *testing.B) {
			f.session.reset()
			m.buildReplicaFetch(f)
			f.session.answered(7)
			for b.Loop() {
				req, _, _ := m.buildReplicaFetch(f)
				if len(req.Topics) != 0 {
					b.Fatal("an idle session's request names partitions")
				}
				f.session.answered(7)
			}
		})
	}
}
