package console

import (
	"context"
	"io"
	"net/http"
	"sync"
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

// Defaults of Config.
const (
	DefaultTick              = 5 * time.Second
	DefaultPeerTimeout       = 2 * time.Second
	DefaultLagHistory        = time.Hour
	DefaultLagSampleInterval = 30 * time.Second
	DefaultMaxTracked        = 1000
	// ThroughputWindow is how far back the throughput charts go.
	ThroughputWindow = 15 * time.Minute
)

// withDefaults fills in the zero fields of cfg.
func (cfg Config) withDefaults() Config {
	if cfg.Tick <= 0 {
		cfg.Tick = DefaultTick
	}
	if cfg.PeerTimeout <= 0 {
		cfg.PeerTimeout = DefaultPeerTimeout
	}
	if cfg.LagHistory <= 0 {
		cfg.LagHistory = DefaultLagHistory
	}
	if cfg.LagSampleInterval <= 0 {
		cfg.LagSampleInterval = DefaultLagSampleInterval
	}
	if cfg.MaxTrackedGroups <= 0 {
		cfg.MaxTrackedGroups = DefaultMaxTracked
	}
	if cfg.MaxTrackedTopics <= 0 {
		cfg.MaxTrackedTopics = DefaultMaxTracked
	}
	if cfg.Logger == nil {
		discard := logrus.New()
		discard.Out = io.Discard
		cfg.Logger = discard
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg
}

// Console is one broker's web console. New makes it; Observe feeds it the
// broker's cluster views, Run gathers figures until its context ends, and
// Handler serves the pages.
//
// Two goroutines write it: the broker's metadata goroutine (Observe) and
// Run's. Both prepare what they change without a lock, then swap it in
// under mu, which every reader (State and the history getters) holds only
// to copy out: nothing ever waits on I/O while holding it.
type Console struct {
	src Source
	cfg Config

	// transport and client fetch the other brokers' reports; Run closes
	// the transport's idle connections when it ends.
	transport *http.Transport
	client    *http.Client

	// observeMu serialises Observe; observed is the last view it diffed.
	observeMu sync.Mutex
	observed  *coordinator.Snapshot

	// gatherMu serialises ticks; prev holds the last report of each
	// broker, to turn its cumulative byte counts into rates.
	gatherMu sync.Mutex
	prev     map[int32]timedReport

	mu               sync.Mutex
	snap             *coordinator.Snapshot
	stats            ClusterStats
	stateEvents      *ring[Event]
	controllerEvents *ring[Event]
	// stateView and controllerView are the rings newest first, built
	// once per change (nil when stale) and shared by every State until
	// the next: a page per subscriber per tick copies nothing.
	stateView, controllerView []Event
	history                   *history
	version                   uint64

	subs subscribers
}

// New returns a console over src, with cfg's zero fields set to their
// defaults.
func New(src Source, cfg Config) *Console {
	cfg = cfg.withDefaults()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Peers are the cluster's own brokers: never through a proxy.
	transport.Proxy = nil
	return &Console{
		src:              src,
		cfg:              cfg,
		transport:        transport,
		client:           &http.Client{Transport: transport},
		prev:             make(map[int32]timedReport),
		stateEvents:      newRing[Event](maxPartitionEvents),
		controllerEvents: newRing[Event](maxControllerEvents),
		history:          newHistory(cfg),
	}
}

// Observe hands the console the broker's newest cluster view. It never
// blocks on anything slow: it diffs the view with the previous one (a
// pointer comparison per unchanged topic, see diffSnapshots), then swaps
// it in under a lock held for a few copies, and wakes the live pages
// without waiting for them.
func (c *Console) Observe(snap *coordinator.Snapshot) {
	if snap == nil {
		return
	}
	c.observeMu.Lock()
	defer c.observeMu.Unlock()
	if snap == c.observed {
		return
	}
	events := diffSnapshots(c.observed, snap, c.cfg.Now())
	c.observed = snap

	c.mu.Lock()
	c.snap = snap
	// A view's events are pushed last first, so that newest first they
	// read in the diff's order (by topic and partition).
	for i := len(events) - 1; i >= 0; i-- {
		if events[i].Kind == EventController {
			c.controllerEvents.push(events[i])
			c.controllerView = nil
		} else {
			c.stateEvents.push(events[i])
			c.stateView = nil
		}
	}
	c.version++
	v := c.version
	c.mu.Unlock()
	c.subs.publish(v)
}

// Run gathers every broker's report each tick until ctx is done; the
// first tick is at once.
func (c *Console) Run(ctx context.Context) {
	defer c.transport.CloseIdleConnections()
	ticker := time.NewTicker(c.cfg.Tick)
	defer ticker.Stop()
	for {
		c.tick(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// tick gathers one round of reports, records their history and wakes the
// live pages.
func (c *Console) tick(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	snap := c.snap
	c.mu.Unlock()
	stats := c.gather(ctx, snap)
	if ctx.Err() != nil {
		return // a round cut short by shutdown is not a figure to show
	}

	c.mu.Lock()
	c.stats = stats
	c.history.record(stats)
	c.version++
	v := c.version
	c.mu.Unlock()
	c.subs.publish(v)
}

// ---- what the pages read (the state helper implements these) ----

// State is one consistent read of everything a page renders.
type State struct {
	Now    time.Time
	Broker int32
	// Snap is nil before the broker's first cluster view.
	Snap             *coordinator.Snapshot
	ZooKeeper        coordinator.ZooKeeperStatus
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

// State returns what the pages render now. The snapshot, the stats' maps
// and the event slices are shared: read them, never write them.
func (c *Console) State() State {
	zk := c.src.ZooKeeper()
	broker := c.src.BrokerID()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stateView == nil {
		c.stateView = c.stateEvents.newestFirst()
	}
	if c.controllerView == nil {
		c.controllerView = c.controllerEvents.newestFirst()
	}
	return State{
		Now:              c.cfg.Now(),
		Broker:           broker,
		Snap:             c.snap,
		ZooKeeper:        zk,
		Stats:            c.stats,
		StateEvents:      c.stateView,
		ControllerEvents: c.controllerView,
		Version:          c.version,
	}
}

// LagHistory returns a group's total lag over the kept history, oldest
// first.
func (c *Console) LagHistory(group string) []Point {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.history.lag(group, c.cfg.Now())
}

// ThroughputHistory returns bytes in and out per second over the kept
// history, oldest first, of broker id (topic "") or of topic (id -1).
func (c *Console) ThroughputHistory(id int32, topic string) (in, out []Point) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.history.throughput(id, topic, c.cfg.Now())
}
