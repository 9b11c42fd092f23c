// Package txn owns transactions: it is Kafka's transaction coordinator
// (KIP-98, with KIP-360's epoch bumps), which gives each transactional id
// a producer id and epoch, records which partitions its open transaction
// wrote to, and ends the transaction by having commit or abort markers
// written to each of them.
//
// A transactional id belongs to the __transaction_state partition
// PartitionFor names; the broker that leads that partition is the id's
// coordinator. The broker hands the coordinator each such partition it
// comes to lead (as a Log) and takes it back when leadership moves; the
// coordinator loads the partition's ids from the log before it answers
// for them, and finishes the transactions it finds half ended (their
// markers are written again). Every change of an id's state is written
// through Log.Append (acks=all) before it is answered and before the
// coordinator's memory changes; while that write is under way, other
// requests for the id get CONCURRENT_TRANSACTIONS. The package knows no
// more of the cluster than its interfaces (Log, ProducerIDs, Markers,
// Topics), which the broker implements: it imports neither the broker nor
// broker/storage, broker/replica or broker/group.
//
// The record batches are broker/record's (a record.Builder writes them,
// record.Batches and a record.Reader read them back); schema.go has
// Kafka's key and value, state.go the pure state machine of one id,
// shard.go a partition's ids and writes, markers.go the ending of
// transactions, load.go the loading of a partition. The protocol follows
// Kafka's TransactionCoordinator of 3.x (before KIP-890's transaction
// versions); its timers are Run's ticks against Config.Now.
package txn

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/shards"
	"github.com/kzoo/kzoo/internal/kafkahash"
	"github.com/kzoo/kzoo/zkpaths"
)

// StateTopic is the internal topic that holds the transactional ids.
const StateTopic = "__transaction_state"

// PartitionFor returns the __transaction_state partition of
// transactionalID, as Kafka computes it.
func PartitionFor(transactionalID string, partitions int32) int32 {
	return kafkahash.PartitionFor(transactionalID, partitions)
}

// Config is the coordinator's configuration, from the broker's keys of the
// same (Kafka) names. A zero field takes Kafka's default.
type Config struct {
	// StateTopicPartitions is transaction.state.log.num.partitions.
	StateTopicPartitions int32
	// MaxTimeout is transaction.max.timeout.ms.
	MaxTimeout time.Duration
	// IDExpiration is transactional.id.expiration.ms.
	IDExpiration time.Duration
	// AbortTimedOutInterval is
	// transaction.abort.timed.out.transaction.cleanup.interval.ms.
	AbortTimedOutInterval time.Duration
	// RemoveExpiredInterval is
	// transaction.remove.expired.transaction.cleanup.interval.ms.
	RemoveExpiredInterval time.Duration
	// Now is the clock; nil means time.Now. Tests pass their own.
	Now func() time.Time
	// Logger receives the coordinator's log lines.
	Logger logrus.FieldLogger
}

func (cfg Config) withDefaults() Config {
	if cfg.StateTopicPartitions <= 0 {
		cfg.StateTopicPartitions = 50
	}
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = 15 * time.Minute
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = 7 * 24 * time.Hour
	}
	if cfg.AbortTimedOutInterval <= 0 {
		cfg.AbortTimedOutInterval = 10 * time.Second
	}
	if cfg.RemoveExpiredInterval <= 0 {
		cfg.RemoveExpiredInterval = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		cfg.Logger = l
	}
	return cfg
}

// Log is one __transaction_state partition that this broker leads, as the
// broker lends it to the coordinator (the same contract as group.Log).
type Log interface {
	// Append writes batch, one uncompressed magic-v2 batch built by the
	// coordinator, as leader, and returns once the in-sync replicas have
	// it (acks=all). Its errors are *kerr.Error values
	// (NOT_LEADER_OR_FOLLOWER once leadership moved, NOT_ENOUGH_REPLICAS,
	// REQUEST_TIMED_OUT, ...) or ctx's error.
	Append(ctx context.Context, batch []byte) (lastOffset int64, err error)
	// Read returns whole record batches from the one holding offset, up
	// to about maxBytes (at least one batch), never past the log end.
	Read(offset int64, maxBytes int) ([]byte, error)
	// LogStartOffset and LogEndOffset bound what Read can return.
	LogStartOffset() int64
	LogEndOffset() int64
}

// ProducerIDs hands out producer ids unique in the cluster.
type ProducerIDs interface {
	Allocate(ctx context.Context) (int64, error)
}

// Marker is what a transaction marker says: whose transaction it ends, at
// which coordinator epoch, commit or abort.
type Marker = record.Marker

// Markers writes transaction markers to the partitions of a transaction.
type Markers interface {
	// WriteMarkers writes m to each partition through its current leader
	// and returns once every one has it (or its topic is gone), retrying
	// as leaders move; it returns early only with ctx's error.
	WriteMarkers(ctx context.Context, m Marker, partitions []zkpaths.TopicPartition) error
}

// Topics tells whether a partition exists, for AddPartitionsToTxn.
type Topics interface {
	PartitionExists(tp zkpaths.TopicPartition) bool
}

// Coordinator is the transaction coordinator of one broker. Its methods are
// safe for concurrent use.
type Coordinator struct {
	cfg     Config
	log     logrus.FieldLogger
	ids     ProducerIDs
	markers Markers
	topics  Topics

	// shards are the __transaction_state partitions held, loading or
	// loaded.
	shards *shards.Table[*shard]

	stats counters
}

// New returns a coordinator that owns no partitions yet.
func New(cfg Config, ids ProducerIDs, markers Markers, topics Topics) *Coordinator {
	cfg = cfg.withDefaults()
	logger := cfg.Logger.WithField("component", "txn-coordinator")
	return &Coordinator{
		cfg:     cfg,
		log:     logger,
		ids:     ids,
		markers: markers,
		topics:  topics,
		shards:  shards.NewTable[*shard]("transaction state partition", logger),
	}
}

func (c *Coordinator) now() time.Time { return c.cfg.Now() }

// Run drives the coordinator's timers until ctx is done: every
// AbortTimedOutInterval it aborts the transactions open past their
// timeout, every RemoveExpiredInterval it removes the ids idle past
// IDExpiration. Each tick's writes are made in Run's goroutine, one after
// another.
func (c *Coordinator) Run(ctx context.Context) {
	abort := time.NewTicker(c.cfg.AbortTimedOutInterval)
	defer abort.Stop()
	expire := time.NewTicker(c.cfg.RemoveExpiredInterval)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-abort.C:
			c.abortTimedOut(c.now())
		case <-expire.C:
			c.expireIDs(c.now())
		}
	}
}

// BecomeLeader hands the coordinator __transaction_state partition
// `partition`, which this broker now leads at leaderEpoch (the coordinator
// epoch its markers carry). The coordinator loads the partition's ids in
// the background; until then their requests get
// COORDINATOR_LOAD_IN_PROGRESS. A call for a partition held at a lower
// epoch replaces it.
func (c *Coordinator) BecomeLeader(partition, leaderEpoch int32, log Log) {
	c.shards.Lead(partition, leaderEpoch, func(ctx context.Context) *shard {
		return newShard(c, ctx, partition, leaderEpoch, log)
	})
}

// Resign takes back partition, which this broker no longer leads (at
// leaderEpoch or any lower epoch): its ids are dropped, the ending of its
// transactions stops (the next coordinator resumes it), and their requests
// get NOT_COORDINATOR.
func (c *Coordinator) Resign(partition, leaderEpoch int32) {
	c.shards.Resign(partition, leaderEpoch)
}

// Close releases every partition and waits for the coordinator's
// goroutines; it is called once, when the broker stops.
func (c *Coordinator) Close() { c.shards.Close() }

// acquire returns the shard that holds transactionalID, locked, or the
// error code of a request for an id this broker does not coordinate
// (NOT_COORDINATOR) or is still loading (COORDINATOR_LOAD_IN_PROGRESS).
// The caller unlocks the shard.
func (c *Coordinator) acquire(transactionalID string) (*shard, int16) {
	s, ok := c.shards.Get(PartitionFor(transactionalID, c.cfg.StateTopicPartitions))
	if !ok {
		return nil, errNotCoordinator
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return nil, errNotCoordinator
	case !s.loaded:
		s.mu.Unlock()
		return nil, errCoordinatorLoadInProgress
	}
	return s, errNone
}

// heldShards returns the shards held now, in partition order.
func (c *Coordinator) heldShards() []*shard { return c.shards.All() }

// abortTimedOut aborts, with an epoch bump that fences their producers,
// the transactions open longer than their timeout at now. Run calls it;
// tests call it directly.
func (c *Coordinator) abortTimedOut(now time.Time) {
	for _, s := range c.heldShards() {
		s.abortTimedOut(now)
	}
}

// expireIDs removes the ids with no open transaction that were not used
// for IDExpiration at now, writing their tombstones.
func (c *Coordinator) expireIDs(now time.Time) {
	for _, s := range c.heldShards() {
		s.expireIDs(now)
	}
}

// Stats are the coordinator's figures for metrics. The counters count
// since the coordinator started, on this broker.
type Stats struct {
	// Ongoing is the number of open transactions (Ongoing, PrepareCommit,
	// PrepareAbort) in the partitions this broker leads now.
	Ongoing int
	// MarkersWritten counts the markers written, one per partition of a
	// transaction ended.
	MarkersWritten uint64
	// Committed and Aborted count the transactions completed (their
	// CompleteCommit or CompleteAbort written).
	Committed, Aborted uint64
	// CompletedDuration is the sum, and MaxCompletedDuration the largest,
	// of the completed transactions' durations, from their first
	// partition to their Complete record: with Committed+Aborted, the mean.
	CompletedDuration, MaxCompletedDuration time.Duration
}

// counters are the running figures behind Stats.
type counters struct {
	markers, committed, aborted atomic.Uint64
	durationNanos, maxNanos     atomic.Int64
}

func (k *counters) completed(commit bool, d time.Duration) {
	if commit {
		k.committed.Add(1)
	} else {
		k.aborted.Add(1)
	}
	d = max(d, 0)
	k.durationNanos.Add(int64(d))
	for {
		old := k.maxNanos.Load()
		if int64(d) <= old || k.maxNanos.CompareAndSwap(old, int64(d)) {
			return
		}
	}
}

// Stats returns the coordinator's figures now.
func (c *Coordinator) Stats() Stats {
	st := Stats{
		MarkersWritten:       c.stats.markers.Load(),
		Committed:            c.stats.committed.Load(),
		Aborted:              c.stats.aborted.Load(),
		CompletedDuration:    time.Duration(c.stats.durationNanos.Load()),
		MaxCompletedDuration: time.Duration(c.stats.maxNanos.Load()),
	}
	for _, s := range c.heldShards() {
		s.mu.Lock()
		if s.loaded && !s.closed {
			for _, m := range s.txns {
				switch m.state {
				case stateOngoing, statePrepareCommit, statePrepareAbort:
					st.Ongoing++
				}
			}
		}
		s.mu.Unlock()
	}
	return st
}
