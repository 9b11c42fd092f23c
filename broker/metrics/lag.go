package metrics

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/internal/lag"
	"github.com/kzoo/kzoo/zkpaths"
)

// DefaultLagTimeout bounds the time one scrape may spend reading the end
// offsets of the partitions that groups committed offsets for. Partitions
// whose leader has not answered by then are left out of that scrape.
const DefaultLagTimeout = 2 * time.Second

// PartitionSeriesLimit is the most partitions of one topic a group gets
// per-partition series for (kzoo_consumer_group_lag,
// kzoo_consumer_group_committed_offset). A group reading a topic of more
// gets its per-topic series alone: at tens of thousands of partitions, one
// series each would make every scrape huge, and dashboards chart the
// topic's total lag anyway.
const PartitionSeriesLimit = 1000

// CommittedOffsetSource gives the committed offsets of the groups this
// broker coordinates. *group.Coordinator implements it.
type CommittedOffsetSource interface {
	CommittedOffsets() []group.CommittedOffset
}

// EndOffsetReader reads partitions' end offsets: their high watermarks, the
// offset a consumer that has read everything it may read would commit.
type EndOffsetReader interface {
	// EndOffsets returns the end offsets of those of partitions it could
	// read before ctx is done; it leaves the others out.
	EndOffsets(ctx context.Context, partitions []zkpaths.TopicPartition) map[zkpaths.TopicPartition]int64
}

// LagSample is one group's lag on one partition.
type LagSample struct {
	Group string
	zkpaths.TopicPartition
	// Committed is the group's committed offset and End the partition's
	// end offset when the lag was computed.
	Committed, End int64
	// Lag is End - Committed, or 0 when the group committed beyond End
	// (the end offset was read from a leader that is behind, or the log
	// was truncated): a consumer is never "ahead" of its partition.
	Lag int64
}

// ComputeLag returns the lag of every committed offset whose partition has
// an end offset in ends, ordered by group, topic and partition. Offsets of
// partitions missing from ends are skipped, and so are negative (unset) and
// repeated committed offsets (see uniqueCommitted). It is exported so that
// the web console shows the very lag the metrics export, not a second
// computation of it.
func ComputeLag(committed []group.CommittedOffset, ends map[zkpaths.TopicPartition]int64) []LagSample {
	var samples []LagSample
	for _, c := range uniqueCommitted(committed) {
		tp := zkpaths.TopicPartition{Topic: c.Topic, Partition: c.Partition}
		end, ok := ends[tp]
		if !ok {
			continue
		}
		samples = append(samples, LagSample{
			Group:          c.Group,
			TopicPartition: tp,
			Committed:      c.Offset,
			End:            end,
			Lag:            lag.Of(c.Offset, end),
		})
	}
	return samples
}

// uniqueCommitted returns committed without negative offsets (a group with
// no position on a partition) and with one offset per group and partition
// (the first), ordered by group, topic and partition. A metric may carry one
// sample per label set only; a repeated one would fail the scrape.
func uniqueCommitted(committed []group.CommittedOffset) []group.CommittedOffset {
	out := make([]group.CommittedOffset, 0, len(committed))
	for _, c := range committed {
		if c.Offset >= 0 {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, compareGroupPartition)
	return slices.CompactFunc(out, func(a, b group.CommittedOffset) bool { return compareGroupPartition(a, b) == 0 })
}

func compareGroupPartition(a, b group.CommittedOffset) int {
	return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// partitionsOf returns the distinct partitions of committed, in order.
func partitionsOf(committed []group.CommittedOffset) []zkpaths.TopicPartition {
	tps := make([]zkpaths.TopicPartition, 0, len(committed))
	for _, c := range committed {
		tps = append(tps, zkpaths.TopicPartition{Topic: c.Topic, Partition: c.Partition})
	}
	slices.SortFunc(tps, func(a, b zkpaths.TopicPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return slices.Compact(tps)
}

var groupLabels = []string{"group", "topic", "partition"}

var (
	lagDesc = prometheus.NewDesc("kzoo_consumer_group_lag",
		"Messages a consumer group has yet to consume on a partition: the partition's high watermark minus the group's committed offset. Reported by the group's coordinator.",
		groupLabels, nil)
	committedDesc = prometheus.NewDesc("kzoo_consumer_group_committed_offset",
		"A consumer group's committed offset on a partition. Reported by the group's coordinator.",
		groupLabels, nil)
	topicLagDesc = prometheus.NewDesc("kzoo_consumer_group_topic_lag",
		"Messages a consumer group has yet to consume on a topic: kzoo_consumer_group_lag summed over the topic's partitions with a committed offset and a readable end offset. Reported by the group's coordinator, for every topic, however many partitions it has.",
		[]string{"group", "topic"}, nil)
)

// GroupCollector reports the committed offsets and lag of the groups this
// broker coordinates, computed when scraped.
type GroupCollector struct {
	committed CommittedOffsetSource
	ends      EndOffsetReader
	timeout   time.Duration
	// partitionSeriesLimit is PartitionSeriesLimit (tests lower it).
	partitionSeriesLimit int
	// unreadable counts the partitions left out of a scrape's lag.
	unreadable prometheus.Counter
}

// NewGroupCollector returns a collector that takes committed offsets from
// committed and end offsets from ends, waiting at most timeout for the
// latter in each scrape.
func NewGroupCollector(committed CommittedOffsetSource, ends EndOffsetReader, timeout time.Duration) *GroupCollector {
	return &GroupCollector{
		committed:            committed,
		ends:                 ends,
		timeout:              timeout,
		partitionSeriesLimit: PartitionSeriesLimit,
		unreadable: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kzoo_consumer_group_end_offset_failures_total",
			Help: "Partitions left out of kzoo_consumer_group_lag because their end offset could not be read in time (no leader, leader unreachable or slow), summed over scrapes.",
		}),
	}
}

// Describe implements prometheus.Collector.
func (c *GroupCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- committedDesc
	ch <- topicLagDesc
	c.unreadable.Describe(ch)
}

// Collect implements prometheus.Collector. It blocks for at most the
// collector's timeout while the end offsets are read.
func (c *GroupCollector) Collect(ch chan<- prometheus.Metric) {
	committed := uniqueCommitted(c.committed.CommittedOffsets())
	perPartition := c.perPartitionSeries(committed)
	for _, o := range committed {
		if perPartition[groupTopic{o.Group, o.Topic}] {
			ch <- groupSample(committedDesc, o.Offset, o.Group, o.Topic, o.Partition)
		}
	}
	partitions := partitionsOf(committed)
	var ends map[zkpaths.TopicPartition]int64
	if len(partitions) > 0 {
		// A Collect has no context of its own; the timeout also bounds
		// how long a stopping endpoint waits for this scrape.
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		ends = c.ends.EndOffsets(ctx, partitions)
		cancel()
	}
	missing := 0
	for _, tp := range partitions {
		if _, ok := ends[tp]; !ok {
			missing++
		}
	}
	c.unreadable.Add(float64(missing))
	samples := ComputeLag(committed, ends)
	for _, s := range samples {
		if perPartition[groupTopic{s.Group, s.Topic}] {
			ch <- groupSample(lagDesc, s.Lag, s.Group, s.Topic, s.Partition)
		}
	}
	// Samples are ordered by group and topic: sum each run.
	for i := 0; i < len(samples); {
		j, sum := i, int64(0)
		for ; j < len(samples) && samples[j].Group == samples[i].Group && samples[j].Topic == samples[i].Topic; j++ {
			sum += samples[j].Lag
		}
		m, err := prometheus.NewConstMetric(topicLagDesc, prometheus.GaugeValue, float64(sum), samples[i].Group, samples[i].Topic)
		if err != nil {
			m = prometheus.NewInvalidMetric(topicLagDesc, err)
		}
		ch <- m
		i = j
	}
	ch <- c.unreadable
}

// groupTopic is a group's offsets on one topic.
type groupTopic struct{ group, topic string }

// perPartitionSeries tells which groups' topics get per-partition series:
// those with at most partitionSeriesLimit committed partitions.
func (c *GroupCollector) perPartitionSeries(committed []group.CommittedOffset) map[groupTopic]bool {
	counts := make(map[groupTopic]int)
	for _, o := range committed {
		counts[groupTopic{o.Group, o.Topic}]++
	}
	out := make(map[groupTopic]bool, len(counts))
	for gt, n := range counts {
		out[gt] = n <= c.partitionSeriesLimit
	}
	return out
}

// groupSample is one gauge sample of a per-group, per-partition metric.
// Group ids come from clients and need not be valid UTF-8, which a label
// value must be: such a sample becomes an error of this scrape (logged and
// counted by the endpoint), not a panic.
func groupSample(desc *prometheus.Desc, value int64, groupID, topic string, partition int32) prometheus.Metric {
	m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, float64(value), groupID, topic, strconv.Itoa(int(partition)))
	if err != nil {
		return prometheus.NewInvalidMetric(desc, err)
	}
	return m
}
