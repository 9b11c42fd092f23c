package replica

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"sync"
	"sync/atomic"
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
	isrChecks  isrCheckQueue
	quotas     *replicationQuotas
	// leading and underReplicated count the partitions this broker leads
	// and those of them with an ISR smaller than their replica set, kept
	// as roles and ISRs change (trackCounts) so that the metrics and the
	// health check never walk every partition.
	leading, underReplicated atomic.Int64
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

// Partitions yields every replica this broker holds; one added or removed
// meanwhile may or may not be yielded.
func (m *Manager) Partitions() iter.Seq[*Partition] { return m.partitions.each }

// PartitionCount counts the replicas this broker holds.
func (m *Manager) PartitionCount() int { return m.partitions.len() }

// LeaderCount counts the partitions this broker leads.
func (m *Manager) LeaderCount() int { return int(m.leading.Load()) }

// UnderReplicatedCount counts the partitions this broker leads whose ISR is
// smaller than their replica set.
func (m *Manager) UnderReplicatedCount() int { return int(m.underReplicated.Load()) }

// Assignment is a partition this broker is assigned, as the cluster view
// has it: its state znode, and the topic config in effect.
type Assignment struct {
	State  coordinator.Partition
	Config config.Topic
}

// Apply applies a change of the cluster view to the replicas this broker
// holds. changed holds the partitions assigned to this broker that are new
// to it or whose state or config changed: Apply opens the logs of the new
// ones and makes each replica leader at its epoch when its state names this
// broker leader of an Online partition, follower of its leader when it
// names another, and applies its config. unassigned names the partitions no
// longer assigned to this broker: it stops serving those it holds and
// returns them, for their logs to be removed. failed names the partitions
// it could not apply (a log that would not open, a leadership it could not
// record), for the caller to apply again later.
//
// Its cost is that of the partitions named, never of every partition held:
// a failover that reaches the broker one batch of partitions at a time
// stays linear in the partitions that move.
func (m *Manager) Apply(changed map[zkpaths.TopicPartition]Assignment, unassigned []zkpaths.TopicPartition) (removed, failed []zkpaths.TopicPartition) {
	var tally applyTally
	jobs := make([]applyJob, 0, len(changed))
	for tp, a := range changed {
		jobs = append(jobs, applyJob{tp: tp, a: a})
	}
	// Opening a log and recording a new leader epoch write (and sync)
	// files: a broker that takes over the leadership of thousands of
	// partitions does those in parallel, as Kafka opens logs with several
	// recovery threads. Each job takes only its own partition's locks.
	inParallel(len(jobs), applyWorkers, func(i int) { m.applyOne(jobs[i].tp, jobs[i].a, &tally) })
	for _, tp := range unassigned {
		p := m.partitions.remove(tp)
		if p == nil {
			continue
		}
		change, _ := m.setRole(p, coordinator.Partition{Leader: -1, State: zkpaths.StateOffline})
		tally.count(change)
		p.wakeWaiters()
		removed = append(removed, tp)
	}
	tally.log(m.logger, len(changed), len(unassigned), m.partitions.len())
	return removed, tally.failed
}

// applyWorkers bounds the partitions Apply changes at once.
const applyWorkers = 16

// applyJob is one partition Apply changes.
type applyJob struct {
	tp zkpaths.TopicPartition
	a  Assignment
}

// applyOne opens tp's log if this broker holds no replica of it yet, and
// applies a's config and state to it.
func (m *Manager) applyOne(tp zkpaths.TopicPartition, a Assignment, tally *applyTally) {
	p := m.partitions.get(tp)
	switch {
	case p == nil:
		// Opening may recover a log; readers find the partition once it is
		// added.
		l, err := m.cfg.Logs.GetOrCreate(tp, a.Config.Storage())
		if err != nil {
			tally.fail(tp, fmt.Errorf("cannot open the log: %w", err))
			return
		}
		p = newPartition(tp, l, a.Config)
		p.throttled.Store(partitionThrottles(a.Config, tp.Partition, m.cfg.BrokerID))
		p.isrChecks = &m.isrChecks
		m.partitions.add(p)
		tally.add(&tally.opened)
	case m.updateConfig(p, a.Config):
		tally.add(&tally.configs)
	}
	change, err := m.setRole(p, a.State)
	tally.count(change)
	if err != nil {
		tally.fail(tp, err)
	}
}

// inParallel calls fn(0) ... fn(n-1) on up to workers goroutines, and
// returns once every call has.
func inParallel(n, workers int, fn func(i int)) {
	if n <= 1 || workers <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(n, workers) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// applyTally summarises one Apply for the log: at 100k partitions a
// failover moves tens of thousands of them, and one line each would bury
// everything else. Each partition's change is logged at debug level.
type applyTally struct {
	mu                                                     sync.Mutex
	opened, configs, leading, following, resigned, stopped int
	failed                                                 []zkpaths.TopicPartition
	firstFailure                                           error
}

func (t *applyTally) add(n *int) {
	t.mu.Lock()
	*n++
	t.mu.Unlock()
}

func (t *applyTally) count(c roleChange) {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch c {
	case becameLeader:
		t.leading++
	case becameFollower:
		t.following++
	case resigned:
		t.resigned++
	case stoppedFollowing:
		t.stopped++
	}
}

func (t *applyTally) fail(tp zkpaths.TopicPartition, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.failed) == 0 {
		t.firstFailure = err
	}
	t.failed = append(t.failed, tp)
}

func (t *applyTally) log(logger logrus.FieldLogger, changed, unassigned, held int) {
	if len(t.failed) > 0 {
		logger.WithError(t.firstFailure).WithFields(logrus.Fields{
			"failed": len(t.failed), "first": t.failed[0].String(),
		}).Error("cannot apply the cluster view to some partitions; retrying")
	}
	if t.opened+t.configs+t.leading+t.following+t.resigned+t.stopped == 0 {
		return
	}
	logger.WithFields(logrus.Fields{
		"changed": changed, "unassigned": unassigned, "held": held,
		"opened": t.opened, "config_changes": t.configs, "became_leader": t.leading,
		"became_follower": t.following, "resigned": t.resigned, "stopped_following": t.stopped,
	}).Info("applied the cluster view")
}

// Close stops serving every partition: waiting requests are woken and find
// it gone.
func (m *Manager) Close() {
	m.partitions.each(func(p *Partition) bool {
		m.partitions.remove(p.tp)
		p.leaderEpoch.Store(-1)
		p.wakeWaiters()
		return true
	})
}

// updateConfig applies a topic's config, when it changed, to p's log, and
// reports whether it did.
func (m *Manager) updateConfig(p *Partition, cfg config.Topic) bool {
	if maps.Equal(*p.cfg.Load(), cfg) {
		return false
	}
	p.log.UpdateConfig(cfg.Storage())
	p.cfg.Store(&cfg)
	p.throttled.Store(partitionThrottles(cfg, p.tp.Partition, m.cfg.BrokerID))
	if m.debugEnabled() {
		m.partitionLogger(p).Debug("applied a config change")
	}
	return true
}

// debugEnabled reports whether the manager's logger writes debug lines: a
// failover changes tens of thousands of partitions, and the lines of each
// are not even built unless they are written.
func (m *Manager) debugEnabled() bool {
	switch l := m.logger.(type) {
	case *logrus.Entry:
		return l.Logger.IsLevelEnabled(logrus.DebugLevel)
	case *logrus.Logger:
		return l.IsLevelEnabled(logrus.DebugLevel)
	default:
		return true
	}
}

func (m *Manager) partitionLogger(p *Partition) logrus.FieldLogger {
	return m.logger.WithFields(logrus.Fields{"topic": p.tp.Topic, "partition": p.tp.Partition})
}
