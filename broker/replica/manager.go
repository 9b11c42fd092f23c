package replica

import (
	"context"
	"maps"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/quota"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// Cluster is what the manager needs of the rest of the cluster. The broker
// implements it over its coordinator session.
type Cluster interface {
	// UpdateISR is a partition leader's conditional ISR write; it returns
	// the new partition epoch, or coordinator.ErrFencedLeaderEpoch when
	// another leader was elected meanwhile.
	UpdateISR(ctx context.Context, topic string, partition, leaderEpoch, partitionEpoch int32, isr []int32) (int32, error)
	// Live reports whether broker id is registered, in the freshest view
	// there is.
	Live(id int32) bool
	// ReplicationAddr is the host:port a fetcher dials to reach broker id:
	// its endpoint of the inter-broker listener.
	ReplicationAddr(id int32) (string, error)
}

// Config configures a Manager.
type Config struct {
	// BrokerID is this broker.
	BrokerID int32
	// Logs opens and holds the partitions' local logs.
	Logs *storage.Manager
	// Cluster writes ISR changes and tells liveness and addresses.
	Cluster Cluster
	// ReplicaLagTimeMax is replica.lag.time.max.ms: a follower not caught
	// up for longer leaves the ISR.
	ReplicaLagTimeMax time.Duration
	// Fetch configures the follower fetchers.
	Fetch FetchConfig
	// ReplicationQuota is the windows the replication quotas are measured
	// over (Kafka's replication.quota.window.num and
	// replication.quota.window.size.seconds); the zero value is Kafka's
	// defaults. The rates come with SetReplicationThrottle.
	ReplicationQuota quota.Settings
	// Logger receives the manager's log.
	Logger logrus.FieldLogger
	// Now is the clock follower progress is measured by (time.Now when
	// nil).
	Now func() time.Time

	// OnLeadershipChange is called when this broker starts leading a
	// partition at epoch (leading true) or stops leading it at epoch. It is
	// called with the partition's locks held, in the order the changes
	// happen, and must not block nor call back into the partition: the
	// group coordinator queues it and takes the partition over later.
	OnLeadershipChange func(p *Partition, epoch int32, leading bool)
	// OnISRChange is called after each ISR write that landed.
	OnISRChange func(shrunk, expanded bool)
	// OnISRPass is called after each pass of the ISR manager over the
	// partitions this broker leads.
	OnISRPass func()
}

// Manager is the replica manager: the partitions this broker holds, their
// roles, and the one way in and out of each. Produce, Fetch and the group
// coordinator all go through it; it alone writes to the partitions' logs.
type Manager struct {
	cfg        Config
	logger     logrus.FieldLogger
	partitions partitionTable
	fetchers   fetcherManager
	isrWake    chan struct{}
	quotas     *replicationQuotas
}

// New returns a manager that holds no partition yet; numFetchers is
// num.replica.fetchers.
func New(cfg Config, numFetchers int) *Manager {
	if cfg.OnLeadershipChange == nil {
		cfg.OnLeadershipChange = func(*Partition, int32, bool) {}
	}
	if cfg.OnISRChange == nil {
		cfg.OnISRChange = func(bool, bool) {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.OnISRPass == nil {
		cfg.OnISRPass = func() {}
	}
	m := &Manager{cfg: cfg, logger: cfg.Logger, isrWake: make(chan struct{}, 1), quotas: newReplicationQuotas(cfg.ReplicationQuota, cfg.Now)}
	m.partitions.init()
	m.fetchers = fetcherManager{mgr: m, count: numFetchers, fetchers: make(map[fetcherKey]*fetcher)}
	return m
}

// StartFetchers sets the context follower fetchers run under: they start
// as the manager comes to follow partitions, and stop when ctx is done.
// It must be called before the first Apply.
func (m *Manager) StartFetchers(ctx context.Context) { m.fetchers.ctx = ctx }

// WaitFetchers waits for every fetcher to stop, once their context is done.
func (m *Manager) WaitFetchers() { m.fetchers.wait() }

// SetFetcherCount changes num.replica.fetchers at run time.
func (m *Manager) SetFetcherCount(n int) { m.fetchers.setCount(n) }

// Partition returns this broker's replica of tp, or nil when it holds none.
func (m *Manager) Partition(tp zkpaths.TopicPartition) *Partition { return m.partitions.get(tp) }

// Partitions returns every replica this broker holds. The map must not be
// changed.
func (m *Manager) Partitions() map[zkpaths.TopicPartition]*Partition { return m.partitions.all() }

// LeaderCount counts the partitions this broker leads.
func (m *Manager) LeaderCount() int { return m.count((*Partition).IsLeader) }

// UnderReplicatedCount counts the partitions this broker leads whose ISR is
// smaller than their replica set.
func (m *Manager) UnderReplicatedCount() int { return m.count((*Partition).underReplicated) }

// count counts the partitions of which is holds.
func (m *Manager) count(is func(*Partition) bool) int {
	n := 0
	for _, p := range m.partitions.all() {
		if is(p) {
			n++
		}
	}
	return n
}

// Assignment is a partition this broker is assigned, as the cluster view
// has it: its state znode, and the topic config in effect.
type Assignment struct {
	State  coordinator.Partition
	Config config.Topic
}

// Apply makes the replicas this broker holds those of assigned: it opens
// the logs of the new ones, applies every state (leader at its epoch when
// it names this broker leader of an Online partition, follower of its
// leader when it names another) and config change, and stops serving the
// partitions no longer assigned, which it returns for their logs to be
// removed. A log that does not open is logged and left out; failed reports
// that, for the caller to apply again later.
func (m *Manager) Apply(assigned map[zkpaths.TopicPartition]Assignment) (removed []zkpaths.TopicPartition, failed bool) {
	current := m.partitions.all()
	// Open what is new outside the table lock: opening may recover a log.
	opened := make(map[zkpaths.TopicPartition]*Partition)
	for tp, a := range assigned {
		if _, ok := current[tp]; ok {
			continue
		}
		l, err := m.cfg.Logs.GetOrCreate(tp, a.Config.Storage())
		if err != nil {
			m.logger.WithError(err).WithField("topic", tp.Topic).WithField("partition", tp.Partition).Error("cannot open partition")
			failed = true
			continue
		}
		p := newPartition(tp, l, a.Config)
		p.throttled.Store(partitionThrottles(a.Config, tp.Partition, m.cfg.BrokerID))
		opened[tp] = p
	}

	var gone []*Partition
	m.partitions.update(func(table map[zkpaths.TopicPartition]*Partition) {
		maps.Copy(table, opened)
		for tp, p := range table {
			a, ok := assigned[tp]
			if !ok {
				gone = append(gone, p)
				delete(table, tp)
				continue
			}
			m.setRole(p, a.State)
			m.updateConfig(p, a.Config)
		}
	})
	for _, p := range gone {
		m.setRole(p, coordinator.Partition{Leader: -1, State: zkpaths.StateOffline})
		p.wakeWaiters()
		removed = append(removed, p.tp)
	}
	return removed, failed
}

// Close stops serving every partition: waiting requests are woken and find
// it gone.
func (m *Manager) Close() {
	m.partitions.update(func(table map[zkpaths.TopicPartition]*Partition) {
		for tp, p := range table {
			p.leaderEpoch.Store(-1)
			p.wakeWaiters()
			delete(table, tp)
		}
	})
}

// updateConfig applies a topic's config, when it changed, to p's log.
func (m *Manager) updateConfig(p *Partition, cfg config.Topic) {
	if maps.Equal(*p.cfg.Load(), cfg) {
		return
	}
	p.log.UpdateConfig(cfg.Storage())
	p.cfg.Store(&cfg)
	p.throttled.Store(partitionThrottles(cfg, p.tp.Partition, m.cfg.BrokerID))
	m.partitionLogger(p).Info("applied a config change")
}

func (m *Manager) partitionLogger(p *Partition) logrus.FieldLogger {
	return m.logger.WithFields(logrus.Fields{"topic": p.tp.Topic, "partition": p.tp.Partition})
}
