package broker

import (
	"context"
	"testing"
	"time"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/metrics"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// replicaFixture gives a test Server a replica manager over a log dir of
// its own, and assigns it partitions the way the cluster view does: through
// Manager.Apply.
type replicaFixture struct {
	t        *testing.T
	s        *Server
	assigned map[zkpaths.TopicPartition]replica.Assignment
}

func withReplicas(t *testing.T, s *Server) *replicaFixture {
	t.Helper()
	return withReplicasAt(t, s, time.Now)
}

// withReplicasAt is withReplicas with the replica manager on clock now.
func withReplicasAt(t *testing.T, s *Server, now func() time.Time) *replicaFixture {
	t.Helper()
	logs, err := storage.NewManager(storage.ManagerConfig{Dirs: []string{t.TempDir()}, Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	if s.traffic == nil {
		s.traffic = metrics.NewTraffic(nil)
	}
	s.logs = logs
	cfg := s.replicaConfig()
	cfg.Now = now
	s.replicas = replica.New(cfg, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		s.replicas.WaitFetchers()
	})
	s.replicas.StartFetchers(ctx)
	return &replicaFixture{t: t, s: s, assigned: make(map[zkpaths.TopicPartition]replica.Assignment)}
}

// set assigns this broker topic-partition in state st with cfg, and
// returns its replica of it.
func (f *replicaFixture) set(topic string, partition int32, cfg config.Topic, st coordinator.Partition) *replica.Partition {
	f.t.Helper()
	tp := zkpaths.TopicPartition{Topic: topic, Partition: partition}
	st.Topic, st.Partition = topic, partition
	f.assigned[tp] = replica.Assignment{State: st, Config: cfg}
	if _, failed := f.s.replicas.Apply(map[zkpaths.TopicPartition]replica.Assignment{tp: f.assigned[tp]}, nil); len(failed) > 0 {
		f.t.Fatalf("cannot open %s", tp)
	}
	return f.s.replicas.Partition(tp)
}

// lead makes this broker leader of topic-partition at epoch, with replicas
// and isr.
func (f *replicaFixture) lead(topic string, partition int32, cfg config.Topic, epoch int32, replicas, isr []int32) *replica.Partition {
	f.t.Helper()
	return f.set(topic, partition, cfg, coordinator.Partition{
		Leader: f.s.cfg.ID, LeaderEpoch: epoch, Replicas: replicas, ISR: isr, State: zkpaths.StateOnline,
	})
}

// followerFetched is a fetch by follower from offset, with its log start
// logStart: how the leader learns the follower's progress.
func (f *replicaFixture) followerFetched(p *replica.Partition, follower int32, offset, logStart int64) {
	f.t.Helper()
	pos := replica.FetchPosition{FetchOffset: offset, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1, LogStartOffset: logStart}
	if _, err := f.s.replicas.Read(p, follower, pos, 0, false); err != nil {
		f.t.Fatalf("fetch of follower %d: %v", follower, err)
	}
}

// appendAsLeader writes batch to p as leader under acks=1.
func (f *replicaFixture) appendAsLeader(p *replica.Partition, batch []byte) storage.AppendResult {
	f.t.Helper()
	a := []replica.Append{{Partition: p, Records: batch, LeaderEpoch: -1}}
	f.s.replicas.AppendRecords(context.Background(), 1, 0, a)
	if a[0].Err != nil {
		f.t.Fatalf("append to %s: %v", p.TopicPartition(), a[0].Err)
	}
	return a[0].Result
}

// change applies st to p, which keeps its config.
func (f *replicaFixture) change(p *replica.Partition, st coordinator.Partition) {
	f.t.Helper()
	tp := p.TopicPartition()
	f.set(tp.Topic, tp.Partition, f.assigned[tp].Config, st)
}
