package metrics

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/zkpaths"
)

func tp(topic string, partition int32) zkpaths.TopicPartition {
	return zkpaths.TopicPartition{Topic: topic, Partition: partition}
}

func TestComputeLag(t *testing.T) {
	committed := []group.CommittedOffset{
		{Group: "g2", Topic: "t", Partition: 0, Offset: 5},
		{Group: "g1", Topic: "t", Partition: 1, Offset: 7},
		{Group: "g1", Topic: "t", Partition: 0, Offset: 10},
		{Group: "g1", Topic: "u", Partition: 0, Offset: 3},  // no end offset: skipped
		{Group: "g1", Topic: "t", Partition: 2, Offset: 50}, // beyond the end: lag 0
		{Group: "g3", Topic: "t", Partition: 0, Offset: -1}, // no position: skipped
		{Group: "g2", Topic: "t", Partition: 0, Offset: 6},  // repeated: the first wins
	}
	ends := map[zkpaths.TopicPartition]int64{
		tp("t", 0): 12,
		tp("t", 1): 7,
		tp("t", 2): 40,
	}
	want := []LagSample{
		{Group: "g1", TopicPartition: tp("t", 0), Committed: 10, End: 12, Lag: 2},
		{Group: "g1", TopicPartition: tp("t", 1), Committed: 7, End: 7, Lag: 0},
		{Group: "g1", TopicPartition: tp("t", 2), Committed: 50, End: 40, Lag: 0},
		{Group: "g2", TopicPartition: tp("t", 0), Committed: 5, End: 12, Lag: 7},
	}
	if got := ComputeLag(committed, ends); !slices.Equal(got, want) {
		t.Errorf("ComputeLag() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestComputeLagWithoutEndOffsets(t *testing.T) {
	committed := []group.CommittedOffset{{Group: "g", Topic: "t", Partition: 0, Offset: 1}}
	if got := ComputeLag(committed, nil); len(got) != 0 {
		t.Errorf("ComputeLag() without end offsets = %+v, want none", got)
	}
	if got := ComputeLag(nil, map[zkpaths.TopicPartition]int64{tp("t", 0): 4}); len(got) != 0 {
		t.Errorf("ComputeLag() without committed offsets = %+v, want none", got)
	}
}

func TestPartitionsOf(t *testing.T) {
	committed := []group.CommittedOffset{
		{Group: "b", Topic: "t", Partition: 1},
		{Group: "a", Topic: "u", Partition: 0},
		{Group: "a", Topic: "t", Partition: 1},
		{Group: "a", Topic: "t", Partition: 0},
	}
	want := []zkpaths.TopicPartition{tp("t", 0), tp("t", 1), tp("u", 0)}
	if got := partitionsOf(committed); !slices.Equal(got, want) {
		t.Errorf("partitionsOf() = %v, want %v", got, want)
	}
}

type staticCommitted []group.CommittedOffset

func (s staticCommitted) CommittedOffsets() []group.CommittedOffset { return s }

// fakeEnds answers from a map and records what it was asked.
type fakeEnds struct {
	ends  map[zkpaths.TopicPartition]int64
	asked [][]zkpaths.TopicPartition
}

func (f *fakeEnds) EndOffsets(ctx context.Context, partitions []zkpaths.TopicPartition) map[zkpaths.TopicPartition]int64 {
	f.asked = append(f.asked, slices.Clone(partitions))
	out := make(map[zkpaths.TopicPartition]int64)
	for _, tp := range partitions {
		if end, ok := f.ends[tp]; ok {
			out[tp] = end
		}
	}
	return out
}

func TestGroupCollector(t *testing.T) {
	committed := staticCommitted{
		{Group: "orders", Topic: "t", Partition: 0, Offset: 10},
		{Group: "orders", Topic: "t", Partition: 1, Offset: 4},
		{Group: "audit", Topic: "t", Partition: 0, Offset: 12},
	}
	ends := &fakeEnds{ends: map[zkpaths.TopicPartition]int64{tp("t", 0): 12}} // t-1 unreadable
	c := NewGroupCollector(committed, ends, time.Minute)

	want := `
# HELP kzoo_consumer_group_committed_offset A consumer group's committed offset on a partition. Reported by the group's coordinator.
# TYPE kzoo_consumer_group_committed_offset gauge
kzoo_consumer_group_committed_offset{group="audit",partition="0",topic="t"} 12
kzoo_consumer_group_committed_offset{group="orders",partition="0",topic="t"} 10
kzoo_consumer_group_committed_offset{group="orders",partition="1",topic="t"} 4
# HELP kzoo_consumer_group_end_offset_failures_total Partitions left out of kzoo_consumer_group_lag because their end offset could not be read in time (no leader, leader unreachable or slow), summed over scrapes.
# TYPE kzoo_consumer_group_end_offset_failures_total counter
kzoo_consumer_group_end_offset_failures_total 1
# HELP kzoo_consumer_group_lag Messages a consumer group has yet to consume on a partition: the partition's high watermark minus the group's committed offset. Reported by the group's coordinator.
# TYPE kzoo_consumer_group_lag gauge
kzoo_consumer_group_lag{group="audit",partition="0",topic="t"} 0
kzoo_consumer_group_lag{group="orders",partition="0",topic="t"} 2
# HELP kzoo_consumer_group_topic_lag Messages a consumer group has yet to consume on a topic: kzoo_consumer_group_lag summed over the topic's partitions with a committed offset and a readable end offset. Reported by the group's coordinator, for every topic, however many partitions it has.
# TYPE kzoo_consumer_group_topic_lag gauge
kzoo_consumer_group_topic_lag{group="audit",topic="t"} 0
kzoo_consumer_group_topic_lag{group="orders",topic="t"} 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	// Each partition is asked for once, however many groups committed on it.
	if want := [][]zkpaths.TopicPartition{{tp("t", 0), tp("t", 1)}}; !slices.EqualFunc(ends.asked, want, slices.Equal) {
		t.Errorf("end offsets asked for %v, want %v", ends.asked, want)
	}

	// The failure count accumulates over scrapes.
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP kzoo_consumer_group_end_offset_failures_total Partitions left out of kzoo_consumer_group_lag because their end offset could not be read in time (no leader, leader unreachable or slow), summed over scrapes.
# TYPE kzoo_consumer_group_end_offset_failures_total counter
kzoo_consumer_group_end_offset_failures_total 2
`), "kzoo_consumer_group_end_offset_failures_total"); err != nil {
		t.Error(err)
	}
}

// TestGroupCollectorPartitionSeriesLimit: a group's topic of more committed
// partitions than the limit gets its topic series alone; the others keep
// theirs.
func TestGroupCollectorPartitionSeriesLimit(t *testing.T) {
	committed := staticCommitted{
		{Group: "g", Topic: "big", Partition: 0, Offset: 1},
		{Group: "g", Topic: "big", Partition: 1, Offset: 2},
		{Group: "g", Topic: "big", Partition: 2, Offset: 3},
		{Group: "g", Topic: "small", Partition: 0, Offset: 1},
		{Group: "h", Topic: "big", Partition: 0, Offset: 0},
	}
	ends := &fakeEnds{ends: map[zkpaths.TopicPartition]int64{tp("big", 0): 10, tp("big", 1): 10, tp("big", 2): 10, tp("small", 0): 5}}
	c := NewGroupCollector(committed, ends, time.Minute)
	c.partitionSeriesLimit = 2
	want := `
# HELP kzoo_consumer_group_committed_offset A consumer group's committed offset on a partition. Reported by the group's coordinator.
# TYPE kzoo_consumer_group_committed_offset gauge
kzoo_consumer_group_committed_offset{group="g",partition="0",topic="small"} 1
kzoo_consumer_group_committed_offset{group="h",partition="0",topic="big"} 0
# HELP kzoo_consumer_group_lag Messages a consumer group has yet to consume on a partition: the partition's high watermark minus the group's committed offset. Reported by the group's coordinator.
# TYPE kzoo_consumer_group_lag gauge
kzoo_consumer_group_lag{group="g",partition="0",topic="small"} 4
kzoo_consumer_group_lag{group="h",partition="0",topic="big"} 10
# HELP kzoo_consumer_group_topic_lag Messages a consumer group has yet to consume on a topic: kzoo_consumer_group_lag summed over the topic's partitions with a committed offset and a readable end offset. Reported by the group's coordinator, for every topic, however many partitions it has.
# TYPE kzoo_consumer_group_topic_lag gauge
kzoo_consumer_group_topic_lag{group="g",topic="big"} 24
kzoo_consumer_group_topic_lag{group="g",topic="small"} 4
kzoo_consumer_group_topic_lag{group="h",topic="big"} 10
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "kzoo_consumer_group_committed_offset", "kzoo_consumer_group_lag", "kzoo_consumer_group_topic_lag"); err != nil {
		t.Error(err)
	}
}

func TestGroupCollectorWithoutGroups(t *testing.T) {
	ends := &fakeEnds{}
	c := NewGroupCollector(staticCommitted(nil), ends, time.Minute)
	if n := testutil.CollectAndCount(c, "kzoo_consumer_group_lag", "kzoo_consumer_group_committed_offset"); n != 0 {
		t.Errorf("collected %d group samples without groups", n)
	}
	if len(ends.asked) != 0 {
		t.Errorf("end offsets asked for %v without groups", ends.asked)
	}
}

// slowEnds answers one partition at once and the others never: it returns
// once the scrape's deadline passes.
type slowEnds struct {
	fast        zkpaths.TopicPartition
	hadDeadline bool
}

func (s *slowEnds) EndOffsets(ctx context.Context, partitions []zkpaths.TopicPartition) map[zkpaths.TopicPartition]int64 {
	_, s.hadDeadline = ctx.Deadline()
	<-ctx.Done()
	return map[zkpaths.TopicPartition]int64{s.fast: 100}
}

func TestGroupCollectorBoundsTheScrape(t *testing.T) {
	committed := staticCommitted{
		{Group: "g", Topic: "t", Partition: 0, Offset: 90},
		{Group: "g", Topic: "t", Partition: 1, Offset: 5},
	}
	ends := &slowEnds{fast: tp("t", 0)}
	c := NewGroupCollector(committed, ends, 10*time.Millisecond)
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP kzoo_consumer_group_lag Messages a consumer group has yet to consume on a partition: the partition's high watermark minus the group's committed offset. Reported by the group's coordinator.
# TYPE kzoo_consumer_group_lag gauge
kzoo_consumer_group_lag{group="g",partition="0",topic="t"} 10
`), "kzoo_consumer_group_lag"); err != nil {
		t.Error(err)
	}
	if !ends.hadDeadline {
		t.Error("end offsets were read without a deadline")
	}
}

func TestGroupCollectorRejectsInvalidLabelsWithoutPanicking(t *testing.T) {
	committed := staticCommitted{
		{Group: "ok", Topic: "t", Partition: 0, Offset: 1},
		{Group: "bad\xff", Topic: "t", Partition: 0, Offset: 1},
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(NewGroupCollector(committed, &fakeEnds{ends: map[zkpaths.TopicPartition]int64{tp("t", 0): 3}}, time.Minute))
	families, err := reg.Gather()
	if err == nil {
		t.Error("Gather() reported no error for a group id that is not UTF-8")
	}
	var lag []string
	for _, f := range families {
		if f.GetName() != "kzoo_consumer_group_lag" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "group" {
					lag = append(lag, l.GetValue())
				}
			}
		}
	}
	if !slices.Equal(lag, []string{"ok"}) {
		t.Errorf("lag reported for groups %q, want [ok]", lag)
	}
}
