package replica

import (
	"context"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// applyManager returns a manager of broker 1 over a log dir of its own,
// its fetchers running until the test ends.
func applyManager(t testing.TB) *Manager {
	t.Helper()
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	logs, err := storage.NewManager(storage.ManagerConfig{Dirs: []string{t.TempDir()}, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logs.Close() })
	m := New(Config{BrokerID: 1, Logs: logs, Logger: logger, Cluster: isrCluster{}, ReplicaLagTimeMax: time.Hour}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		m.WaitFetchers()
	})
	m.StartFetchers(ctx)
	return m
}

func state(partition, leader, epoch int32, replicas, isr []int32) Assignment {
	return Assignment{Config: config.Topic{}, State: coordinator.Partition{
		Topic: "t", Partition: partition, Leader: leader, LeaderEpoch: epoch, Replicas: replicas, ISR: isr,
		State: zkpaths.StateOnline, PartitionEpoch: epoch,
	}}
}

// checkCounts compares the manager's kept counts with a walk of its
// partitions.
func checkCounts(t *testing.T, m *Manager) {
	t.Helper()
	var held, leading, under int
	for p := range m.Partitions() {
		held++
		p.mu.Lock()
		if p.leader != nil {
			leading++
		}
		if p.underReplicatedLocked() {
			under++
		}
		p.mu.Unlock()
	}
	if m.PartitionCount() != held || m.LeaderCount() != leading || m.UnderReplicatedCount() != under {
		t.Errorf("counts held %d, leading %d, under-replicated %d; the partitions say %d, %d, %d",
			m.PartitionCount(), m.LeaderCount(), m.UnderReplicatedCount(), held, leading, under)
	}
}

// TestApplyChanges: Apply touches the partitions it is given, keeps the
// leader and under-replicated counts as roles and ISRs change, removes the
// unassigned ones, and reports those it could not apply.
func TestApplyChanges(t *testing.T) {
	m := applyManager(t)
	tp0, tp1, tp2 := zkpaths.TopicPartition{Topic: "t", Partition: 0}, zkpaths.TopicPartition{Topic: "t", Partition: 1}, zkpaths.TopicPartition{Topic: "t", Partition: 2}
	apply := func(changed map[zkpaths.TopicPartition]Assignment, unassigned ...zkpaths.TopicPartition) []zkpaths.TopicPartition {
		t.Helper()
		removed, failed := m.Apply(changed, unassigned)
		if len(failed) > 0 {
			t.Fatalf("cannot apply %v", failed)
		}
		checkCounts(t, m)
		return removed
	}

	apply(map[zkpaths.TopicPartition]Assignment{
		tp0: state(0, 1, 1, []int32{1, 2, 3}, []int32{1, 2, 3}),
		tp1: state(1, 1, 1, []int32{1, 2, 3}, []int32{1, 2}),
		tp2: state(2, 2, 1, []int32{2, 1}, []int32{2, 1}),
	})
	if m.PartitionCount() != 3 || m.LeaderCount() != 2 || m.UnderReplicatedCount() != 1 {
		t.Fatalf("held %d, leading %d, under-replicated %d; want 3, 2, 1", m.PartitionCount(), m.LeaderCount(), m.UnderReplicatedCount())
	}
	p2 := m.Partition(tp2)
	if p2.IsLeader() || p2.following != (followTarget{leader: 2, epoch: 1}) {
		t.Fatalf("t-2 leads %v, follows %+v; want following 2 at epoch 1", p2.IsLeader(), p2.following)
	}

	// The controller shrinks t-0's ISR (same leadership) and t-2 moves
	// here; t-1 is not named and stays as it is.
	shrunk := state(0, 1, 1, []int32{1, 2, 3}, []int32{1, 2})
	shrunk.State.PartitionEpoch++
	apply(map[zkpaths.TopicPartition]Assignment{
		tp0: shrunk,
		tp2: state(2, 1, 2, []int32{2, 1}, []int32{1}),
	})
	if m.LeaderCount() != 3 || m.UnderReplicatedCount() != 3 {
		t.Errorf("leading %d, under-replicated %d; want 3, 3", m.LeaderCount(), m.UnderReplicatedCount())
	}
	if got := m.Partition(tp2).LeaderEpoch(); got != 2 {
		t.Errorf("t-2 led at epoch %d, want 2", got)
	}

	// t-1's leadership moves away, t-0 is reassigned away.
	removed := apply(map[zkpaths.TopicPartition]Assignment{
		tp1: state(1, 3, 2, []int32{1, 2, 3}, []int32{2, 3}),
	}, tp0, zkpaths.TopicPartition{Topic: "never-held", Partition: 0})
	if !slices.Equal(removed, []zkpaths.TopicPartition{tp0}) {
		t.Errorf("removed %v, want [t-0]", removed)
	}
	if m.Partition(tp0) != nil {
		t.Error("t-0 still held")
	}
	if m.PartitionCount() != 2 || m.LeaderCount() != 1 || m.UnderReplicatedCount() != 1 {
		t.Errorf("held %d, leading %d, under-replicated %d; want 2, 1, 1", m.PartitionCount(), m.LeaderCount(), m.UnderReplicatedCount())
	}

	// A log that does not open is reported, the others applied.
	bad := zkpaths.TopicPartition{Topic: "not/legal", Partition: 0}
	_, failed := m.Apply(map[zkpaths.TopicPartition]Assignment{
		bad: state(0, 1, 1, []int32{1}, []int32{1}),
		tp1: state(1, 1, 3, []int32{1, 2, 3}, []int32{1, 2, 3}),
	}, nil)
	if !slices.Equal(failed, []zkpaths.TopicPartition{bad}) {
		t.Errorf("failed %v, want [%v]", failed, bad)
	}
	if !m.Partition(tp1).IsLeader() {
		t.Error("t-1 not led after the failed open of another partition")
	}
	checkCounts(t, m)

	m.Close()
	if m.PartitionCount() != 0 {
		t.Errorf("%d partitions held after Close", m.PartitionCount())
	}
}

// TestApplyRetriesLeadership: a leadership the log could not record is
// reported failed, and taken when applied again.
func TestApplyRetriesLeadership(t *testing.T) {
	m := applyManager(t)
	tp := zkpaths.TopicPartition{Topic: "t", Partition: 0}
	if _, failed := m.Apply(map[zkpaths.TopicPartition]Assignment{tp: state(0, 2, 5, []int32{1, 2}, []int32{1, 2})}, nil); len(failed) > 0 {
		t.Fatal(failed)
	}
	p := m.Partition(tp)
	// The log knows epoch 5 already: leading at 4 cannot be recorded.
	if err := p.log.AssignEpochStartOffset(5, 0); err != nil {
		t.Fatal(err)
	}
	_, failed := m.Apply(map[zkpaths.TopicPartition]Assignment{tp: state(0, 1, 4, []int32{1, 2}, []int32{1, 2})}, nil)
	if !slices.Equal(failed, []zkpaths.TopicPartition{tp}) || p.IsLeader() {
		t.Fatalf("failed %v, leading %v; want [t-0], not leading", failed, p.IsLeader())
	}
	if _, failed := m.Apply(map[zkpaths.TopicPartition]Assignment{tp: state(0, 1, 6, []int32{1, 2}, []int32{1, 2})}, nil); len(failed) > 0 || !p.IsLeader() {
		t.Fatalf("failed %v, leading %v; want leading at 6", failed, p.IsLeader())
	}
	checkCounts(t, m)
}

// TestISRCheckQueue: a follower fetch that makes it eligible for the ISR
// queues its partition once, and a pass over the queue alone adds it.
func TestISRCheckQueue(t *testing.T) {
	m := applyManager(t)
	tp := zkpaths.TopicPartition{Topic: "t", Partition: 0}
	other := zkpaths.TopicPartition{Topic: "t", Partition: 1}
	if _, failed := m.Apply(map[zkpaths.TopicPartition]Assignment{
		tp:    state(0, 1, 1, []int32{1, 2}, []int32{1}),
		other: state(1, 1, 1, []int32{1, 2}, []int32{1}),
	}, nil); len(failed) > 0 {
		t.Fatal(failed)
	}
	p := m.Partition(tp)
	for range 2 {
		if _, err := m.Read(p, 2, FetchPosition{FetchOffset: 0, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1}, 0, false); err != nil {
			t.Fatal(err)
		}
	}
	queued := m.isrChecks.take()
	if len(queued) != 1 || queued[0] != p {
		t.Fatalf("queued %d partitions, want t-0 once", len(queued))
	}
	m.updateISRsOf(context.Background(), queued)
	p.mu.Lock()
	isr := slices.Clone(p.leader.isr)
	p.mu.Unlock()
	if !slices.Equal(isr, []int32{1, 2}) {
		t.Errorf("ISR of t-0 %v after the pass, want [1 2]", isr)
	}
	o := m.Partition(other)
	o.mu.Lock()
	otherISR := slices.Clone(o.leader.isr)
	o.mu.Unlock()
	if !slices.Equal(otherISR, []int32{1}) {
		t.Errorf("ISR of t-1, which no fetch queued, %v; want [1]", otherISR)
	}
	if m.UnderReplicatedCount() != 1 {
		t.Errorf("under-replicated %d, want 1", m.UnderReplicatedCount())
	}
	if len(m.isrChecks.take()) != 0 {
		t.Error("queue not empty after take")
	}
}
