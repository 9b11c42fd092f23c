package console

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// Config configures a Console.
type Config struct {
	// Tick is how often the console gathers every broker's report, turns
	// byte counts into rates and wakes its live pages (default 5 s).
	Tick time.Duration
	// PeerTimeout bounds one fetch of another broker's report (default 2 s).
	PeerTimeout time.Duration
	// LagHistory is how far back a group's lag chart goes (default 1 h),
	// sampled every LagSampleInterval (default 30 s).
	LagHistory        time.Duration
	LagSampleInterval time.Duration
	// MaxTrackedGroups and MaxTrackedTopics bound the history kept
	// (default 1000 each); beyond them the least recently seen go.
	MaxTrackedGroups, MaxTrackedTopics int
	// Logger; nil discards.
	Logger logrus.FieldLogger
	// Now; nil is time.Now.
	Now func() time.Time
}

// Console is one broker's web console. New makes it; Observe feeds it the
// broker's cluster views, Run gathers figures until its context ends, and
// Handler serves the pages.
type Console struct {
	src Source
	cfg Config
	// TODO(state helper): the current view, stats, event rings, history,
	// subscribers.
}

// New returns a console over src.
func New(src Source, cfg Config) *Console {
	return &Console{src: src, cfg: cfg}
}

// Observe hands the console the broker's newest cluster view. It never
// blocks: the broker calls it from its metadata goroutine.
func (c *Console) Observe(snap *coordinator.Snapshot) {}

// Run gathers every broker's report each tick until ctx is done.
func (c *Console) Run(ctx context.Context) {}

// ---- what the pages read (the state helper implements these) ----

// State is one consistent read of everything a page renders.
type State struct {
	Now    time.Time
	Broker int32
	// Snap is nil before the broker's first cluster view.
	Snap             *coordinator.Snapshot
	ZooKeeper        ZooKeeperStatus
	Stats            ClusterStats
	StateEvents      []Event // newest first
	ControllerEvents []Event // newest first
	// Version grows with every change a live page should show; the SSE
	// stream carries it.
	Version uint64
}

// ClusterStats is what the console gathered from every broker at one tick.
type ClusterStats struct {
	// Time is when it was gathered (zero before the first tick).
	Time    time.Time
	Brokers map[int32]BrokerStats
	Topics  map[string]TopicStats
	// Groups holds every group of every reachable coordinator, by id.
	Groups []GroupReport
}

// BrokerStats is one broker's figures at a tick.
type BrokerStats struct {
	// Reachable is false when its report could not be fetched; Err says why.
	Reachable bool
	Err       string
	// Rates are per second over the last tick (0 on the first).
	BytesInPerSec, BytesOutPerSec float64
}

// TopicStats is one topic summed over the reachable brokers.
type TopicStats struct {
	BytesInPerSec, BytesOutPerSec float64
	SizeBytes                     int64
}

// EventKind tells a partition's state change from a controller event.
type EventKind string

const (
	// EventPartition: a partition changed state, leader or ISR.
	EventPartition EventKind = "partition"
	// EventController: the controller moved, a broker came or went, a
	// topic was created or deleted, a reassignment started or ended.
	EventController EventKind = "controller"
)

// Event is one change seen between two cluster views.
type Event struct {
	Time time.Time
	Kind EventKind
	// Partition, From, To, Leader, PrevLeader and LeaderEpoch describe an
	// EventPartition (From == To when only the leader or ISR changed).
	Partition          zkpaths.TopicPartition
	From, To           zkpaths.PartitionStatus
	PrevLeader, Leader int32
	LeaderEpoch        int32
	// Cause is why, as far as the views tell ("broker 2 went away",
	// "preferred leader election", "new partition", "reassignment", ...).
	Cause string
	// Text describes an EventController.
	Text string
}

// Point is one sample of a series.
type Point struct {
	Time  time.Time
	Value float64
}

// State returns what the pages render now.
func (c *Console) State() State { return State{} }

// LagHistory returns a group's total lag over the kept history, oldest
// first.
func (c *Console) LagHistory(group string) []Point { return nil }

// ThroughputHistory returns bytes in and out per second over the kept
// history, oldest first, of broker id (topic "") or of topic (id -1).
func (c *Console) ThroughputHistory(id int32, topic string) (in, out []Point) { return nil, nil }

// TopicPartitions fetches, from each partition's leader, the offsets and
// sizes of topic's partitions, by partition; partitions whose leader did
// not answer are missing.
func (c *Console) TopicPartitions(ctx context.Context, topic string) map[int32]PartitionReport {
	return nil
}

// Subscribe returns a channel that receives the State's Version each time
// it grows (coalesced: a slow reader sees the latest), and a function that
// ends the subscription. ok is false when too many pages are subscribed.
func (c *Console) Subscribe() (versions <-chan uint64, cancel func(), ok bool) {
	return nil, func() {}, false
}
