package broker

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// diffTopic is a topic whose partition i has replicas replicas[i], led by
// the first at epoch 1.
func diffTopic(name string, replicas ...[]int32) *coordinator.Topic {
	t := &coordinator.Topic{Name: name, Configs: map[string]string{}}
	for i, r := range replicas {
		t.Partitions = append(t.Partitions, coordinator.Partition{
			Topic: name, Partition: int32(i), Replicas: r, ISR: r, Leader: r[0], LeaderEpoch: 1,
			State: zkpaths.StateOnline, PartitionEpoch: 1,
		})
	}
	return t
}

func diffSnapshot(topics ...*coordinator.Topic) *coordinator.Snapshot {
	snap := &coordinator.Snapshot{Topics: map[string]*coordinator.Topic{}}
	for _, t := range topics {
		snap.Topics[t.Name] = t
	}
	return snap
}

// withTopic returns a copy of snap with t in place of its namesake.
func withTopic(snap *coordinator.Snapshot, t *coordinator.Topic) *coordinator.Snapshot {
	next := &coordinator.Snapshot{Topics: maps.Clone(snap.Topics)}
	next.Topics[t.Name] = t
	return next
}

// cloneTopic is a deep copy of t, as a coordinator that rebuilt it would
// publish.
func cloneTopic(t *coordinator.Topic) *coordinator.Topic {
	c := *t
	c.Configs = maps.Clone(t.Configs)
	c.Partitions = slices.Clone(t.Partitions)
	for i := range c.Partitions {
		c.Partitions[i].Replicas = slices.Clone(c.Partitions[i].Replicas)
		c.Partitions[i].ISR = slices.Clone(c.Partitions[i].ISR)
	}
	return &c
}

func noConfig(*coordinator.Topic) config.Topic { return config.Topic{} }

func diffPartitions(d viewDiff) (changed, unassigned []zkpaths.TopicPartition) {
	for tp := range d.changed {
		changed = append(changed, tp)
	}
	slices.SortFunc(changed, zkpaths.TopicPartition.Compare)
	unassigned = slices.Clone(d.unassigned)
	slices.SortFunc(unassigned, zkpaths.TopicPartition.Compare)
	return changed, unassigned
}

func tp(topic string, partition int32) zkpaths.TopicPartition {
	return zkpaths.TopicPartition{Topic: topic, Partition: partition}
}

func checkDiff(t *testing.T, d viewDiff, wantChanged, wantUnassigned []zkpaths.TopicPartition) {
	t.Helper()
	changed, unassigned := diffPartitions(d)
	if !slices.Equal(changed, wantChanged) {
		t.Errorf("changed %v, want %v", changed, wantChanged)
	}
	if !slices.Equal(unassigned, wantUnassigned) {
		t.Errorf("unassigned %v, want %v", unassigned, wantUnassigned)
	}
}

// TestDiffViews: the replica manager is handed what a view changes for this
// broker, and nothing else.
func TestDiffViews(t *testing.T) {
	const me = 1
	a := diffTopic("a", []int32{1, 2}, []int32{2, 3}, []int32{3, 1})
	b := diffTopic("b", []int32{2, 1})
	first := diffSnapshot(a, b)

	t.Run("first view assigns every replica of this broker", func(t *testing.T) {
		d := diffViews(me, nil, first, false, noConfig, nil)
		checkDiff(t, d, []zkpaths.TopicPartition{tp("a", 0), tp("a", 2), tp("b", 0)}, nil)
	})
	t.Run("the same topics change nothing", func(t *testing.T) {
		d := diffViews(me, first, diffSnapshot(a, b), false, noConfig, nil)
		checkDiff(t, d, nil, nil)
	})
	t.Run("a rebuilt but equal topic changes nothing", func(t *testing.T) {
		d := diffViews(me, first, withTopic(first, cloneTopic(a)), false, noConfig, nil)
		checkDiff(t, d, nil, nil)
	})
	t.Run("a new leader epoch and an ISR change", func(t *testing.T) {
		c := cloneTopic(a)
		c.Partitions[0].ISR = []int32{1}
		c.Partitions[0].PartitionEpoch++
		c.Partitions[1].LeaderEpoch++ // not ours
		c.Partitions[2].Leader, c.Partitions[2].LeaderEpoch = 1, 2
		d := diffViews(me, first, withTopic(first, c), false, noConfig, nil)
		checkDiff(t, d, []zkpaths.TopicPartition{tp("a", 0), tp("a", 2)}, nil)
		if got := d.changed[tp("a", 2)].State; got.Leader != 1 || got.LeaderEpoch != 2 {
			t.Errorf("a-2 handed over as %+v", got)
		}
	})
	t.Run("a config change reaches every replica of the topic", func(t *testing.T) {
		c := cloneTopic(a)
		c.Configs["retention.ms"] = "1000"
		var resolved []string
		configOf := func(t *coordinator.Topic) config.Topic {
			resolved = append(resolved, t.Name)
			return config.Topic{"retention.ms": t.Configs["retention.ms"]}
		}
		d := diffViews(me, first, withTopic(first, c), false, configOf, nil)
		checkDiff(t, d, []zkpaths.TopicPartition{tp("a", 0), tp("a", 2)}, nil)
		if got := d.changed[tp("a", 0)].Config["retention.ms"]; got != "1000" {
			t.Errorf("a-0 config %v", d.changed[tp("a", 0)].Config)
		}
		if !slices.Equal(resolved, []string{"a"}) {
			t.Errorf("configs resolved for %v, want once for a", resolved)
		}
	})
	t.Run("all hands over every replica", func(t *testing.T) {
		d := diffViews(me, first, first, true, noConfig, nil)
		checkDiff(t, d, []zkpaths.TopicPartition{tp("a", 0), tp("a", 2), tp("b", 0)}, nil)
	})
	t.Run("a replica reassigned away and one reassigned here", func(t *testing.T) {
		c := cloneTopic(a)
		c.Partitions[0].Replicas, c.Partitions[0].ISR = []int32{2, 3}, []int32{2, 3}
		c.Partitions[1].AddingReplicas = []int32{1}
		c.Partitions[1].Replicas = []int32{1, 2, 3}
		d := diffViews(me, first, withTopic(first, c), false, noConfig, nil)
		checkDiff(t, d, []zkpaths.TopicPartition{tp("a", 1)}, []zkpaths.TopicPartition{tp("a", 0)})
	})
	t.Run("a topic being deleted and one gone", func(t *testing.T) {
		c := cloneTopic(a)
		c.Deleting = true
		next := diffSnapshot(c)
		d := diffViews(me, first, next, false, noConfig, nil)
		checkDiff(t, d, nil, []zkpaths.TopicPartition{tp("a", 0), tp("a", 2), tp("b", 0)})
	})
	t.Run("a partition added", func(t *testing.T) {
		c := diffTopic("b", []int32{2, 1}, []int32{1, 3})
		d := diffViews(me, first, withTopic(first, c), false, noConfig, nil)
		checkDiff(t, d, []zkpaths.TopicPartition{tp("b", 1)}, nil)
	})
	t.Run("failed partitions are handed over again while assigned", func(t *testing.T) {
		retry := map[zkpaths.TopicPartition]struct{}{tp("a", 0): {}, tp("a", 1): {}, tp("gone", 0): {}}
		d := diffViews(me, first, diffSnapshot(a, b), false, noConfig, retry)
		checkDiff(t, d, []zkpaths.TopicPartition{tp("a", 0)}, nil)
	})
}

// TestDiffViewsOffline: the count of partitions without a leader follows
// the changed topics alone.
func TestDiffViewsOffline(t *testing.T) {
	a := diffTopic("a", []int32{1}, []int32{2})
	b := diffTopic("b", []int32{2})
	b.Partitions[0].State, b.Partitions[0].Leader = zkpaths.StateOffline, -1
	first := diffSnapshot(a, b)
	offline := diffViews(1, nil, first, false, noConfig, nil).offline
	if offline != 1 {
		t.Fatalf("offline %d in the first view, want 1", offline)
	}
	c := cloneTopic(a)
	c.Partitions[1].Leader = -1 // Online without a leader
	second := withTopic(first, c)
	offline += diffViews(1, first, second, false, noConfig, nil).offline
	if offline != 2 {
		t.Errorf("offline %d after a's leader is lost, want 2", offline)
	}
	third := diffSnapshot(c) // b deleted
	offline += diffViews(1, second, third, false, noConfig, nil).offline
	if offline != 1 {
		t.Errorf("offline %d once b is gone, want 1", offline)
	}
}

// applyMeta is the cluster as applyMetadata needs it: a view for the
// replica manager's liveness checks, and deletion confirmations.
type applyMeta struct {
	*fakeMetadata
	mu        sync.Mutex
	view      *coordinator.Snapshot
	confirmed []string
}

func (m *applyMeta) Snapshot() *coordinator.Snapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.view
}

func (m *applyMeta) ConfirmReplicasDeleted(ctx context.Context, topic string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.confirmed = append(m.confirmed, topic)
	return nil
}

// TestApplyMetadataFollowsViews: successive views reach the replica
// manager as changes: partitions opened, led and followed, moved away and
// deleted (their logs removed, the deletion confirmed), with the health
// counts kept from the changes.
func TestApplyMetadataFollowsViews(t *testing.T) {
	s, fake := testServer(t, nil)
	meta := &applyMeta{fakeMetadata: fake}
	s.meta = meta
	withReplicas(t, s)
	s.connLimits = newConnLimiter(s.cfg.InterBrokerListener, s.cfg.Values.Runtime().Connections, discardLogger())
	apply := func(snap *coordinator.Snapshot) {
		t.Helper()
		meta.mu.Lock()
		meta.view = snap
		meta.mu.Unlock()
		if !s.applyMetadata(context.Background(), snap) {
			t.Fatal("view not applied completely")
		}
	}
	held := func() []zkpaths.TopicPartition {
		var out []zkpaths.TopicPartition
		for p := range s.replicas.Partitions() {
			out = append(out, p.TopicPartition())
		}
		slices.SortFunc(out, zkpaths.TopicPartition.Compare)
		return out
	}

	a := diffTopic("a", []int32{1, 2}, []int32{2, 1}, []int32{2, 3})
	b := diffTopic("b", []int32{1, 3})
	b.Partitions[0].ISR = []int32{1}
	first := diffSnapshot(a, b)
	// Port 1: the fetchers of the partitions followed are refused at once.
	first.Brokers = map[int32]coordinator.Broker{}
	for id := int32(1); id <= 3; id++ {
		first.Brokers[id] = plaintextBroker(id, "127.0.0.1", 1)
	}
	apply(first)
	if got, want := held(), []zkpaths.TopicPartition{tp("a", 0), tp("a", 1), tp("b", 0)}; !slices.Equal(got, want) {
		t.Fatalf("holding %v, want %v", got, want)
	}
	if !s.replicas.Partition(tp("a", 0)).IsLeader() || s.replicas.Partition(tp("a", 1)).IsLeader() {
		t.Error("a-0 not led or a-1 led")
	}
	if h := s.Health(); h.UnderReplicated != 1 || h.Offline != 0 {
		t.Errorf("health %+v, want 1 under-replicated (b-0), none offline", h)
	}

	// a-1 moves away, a-2 loses its leader, b's ISR is whole again.
	c := cloneTopic(a)
	c.Partitions[1].Replicas, c.Partitions[1].ISR = []int32{2, 3}, []int32{2, 3}
	c.Partitions[2].Leader, c.Partitions[2].State = -1, zkpaths.StateOffline
	nb := cloneTopic(b)
	nb.Partitions[0].ISR, nb.Partitions[0].PartitionEpoch = []int32{1, 3}, 2
	second := diffSnapshot(c, nb)
	second.Brokers = first.Brokers
	apply(second)
	if got, want := held(), []zkpaths.TopicPartition{tp("a", 0), tp("b", 0)}; !slices.Equal(got, want) {
		t.Errorf("holding %v, want %v", got, want)
	}
	if _, ok := s.logs.Get(tp("a", 1)); ok {
		t.Error("the log of a-1, moved away, is still there")
	}
	if h := s.Health(); h.UnderReplicated != 0 || h.Offline != 1 {
		t.Errorf("health %+v, want none under-replicated, 1 offline (a-2)", h)
	}

	// b is deleted.
	db := cloneTopic(nb)
	db.Deleting = true
	third := diffSnapshot(c, db)
	third.Brokers = first.Brokers
	third.PendingDeletion = map[string][]int32{"b": {1, 3}}
	apply(third)
	if got, want := held(), []zkpaths.TopicPartition{tp("a", 0)}; !slices.Equal(got, want) {
		t.Errorf("holding %v, want %v", got, want)
	}
	if _, ok := s.logs.Get(tp("b", 0)); ok {
		t.Error("the log of b-0, deleted, is still there")
	}
	if !slices.Equal(meta.confirmed, []string{"b"}) {
		t.Errorf("deletions confirmed %v, want [b]", meta.confirmed)
	}
}
