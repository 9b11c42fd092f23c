// Package group owns consumer groups: it is Kafka's classic group
// coordinator, with the groups (JoinGroup, SyncGroup, Heartbeat, LeaveGroup
// with generations, member ids, static membership and the group states
// Empty, PreparingRebalance, CompletingRebalance, Stable, Dead) and their
// committed offsets, kept in the partitions of the internal topic
// __consumer_offsets under Kafka's own key and value schemas.
//
// A group belongs to the __consumer_offsets partition PartitionFor names;
// the broker that leads that partition is the group's coordinator. The
// broker hands the coordinator each such partition it comes to lead (as a
// Log) and takes it back when leadership moves; the coordinator loads the
// partition's groups and offsets from the log before it answers for them.
// Everything the coordinator writes goes through Log.Append, which returns
// only once the in-sync replicas have it. The package knows no more of the
// partition than Log, which the broker implements: it imports neither the
// broker nor broker/storage.
//
// The record batches themselves are broker/record's: the coordinator builds
// its writes with a record.Builder and reads its partition back with
// record.Batches and a record.Reader. What is the group's is what the
// records say: schema.go has the keys and values (OffsetCommitKey and
// Value, GroupMetadataKey and Value), load.go the reading of a partition
// into groups.
//
// Transactional offset commits (TxnOffsetCommit) are written as
// transactional batches of the producer and stay pending until the
// transaction's marker in the same partition commits or aborts them: the
// broker reports each marker with CompleteTxn, a load reads it from the log
// (txn.go).
//
// Inside, each partition the coordinator holds is a shard with one mutex
// over its groups; no lock is held while a write waits in Log.Append, and
// the writes of one group are appended in the order the group made them.
// The protocol follows Kafka's GroupCoordinator (3.x, classic protocol);
// its delayed operations are deadlines that Run checks against Config.Now.
package group

import (
	"context"
	"io"
	"math"
	"sort"
	"time"

	"github.com/kzoo/kzoo/broker/shards"
	"github.com/kzoo/kzoo/internal/kafkahash"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetsTopic is the internal topic that holds groups and offsets.
const OffsetsTopic = "__consumer_offsets"

// Config is the coordinator's configuration, from the broker's keys of the
// same (Kafka) names. A zero field takes Kafka's default, except
// InitialRebalanceDelay, for which zero means no delay.
type Config struct {
	// OffsetsTopicPartitions is offsets.topic.num.partitions.
	OffsetsTopicPartitions int32
	// MinSessionTimeout and MaxSessionTimeout are
	// group.min.session.timeout.ms and group.max.session.timeout.ms.
	MinSessionTimeout, MaxSessionTimeout time.Duration
	// InitialRebalanceDelay is group.initial.rebalance.delay.ms.
	InitialRebalanceDelay time.Duration
	// MaxGroupSize is group.max.size.
	MaxGroupSize int
	// OffsetsRetention is offsets.retention.minutes.
	OffsetsRetention time.Duration
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms.
	OffsetsRetentionCheckInterval time.Duration
	// OffsetMetadataMaxBytes is offset.metadata.max.bytes.
	OffsetMetadataMaxBytes int
	// Now is the clock; nil means time.Now. Tests pass their own.
	Now func() time.Time
	// Logger receives the coordinator's log lines.
	Logger logrus.FieldLogger
}

// withDefaults fills the zero fields with Kafka's defaults.
func (cfg Config) withDefaults() Config {
	if cfg.OffsetsTopicPartitions <= 0 {
		cfg.OffsetsTopicPartitions = 50
	}
	if cfg.MinSessionTimeout <= 0 {
		cfg.MinSessionTimeout = 6 * time.Second
	}
	if cfg.MaxSessionTimeout <= 0 {
		cfg.MaxSessionTimeout = 30 * time.Minute
	}
	if cfg.InitialRebalanceDelay < 0 {
		cfg.InitialRebalanceDelay = 0
	}
	if cfg.MaxGroupSize <= 0 {
		cfg.MaxGroupSize = math.MaxInt32
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = 7 * 24 * time.Hour
	}
	if cfg.OffsetsRetentionCheckInterval <= 0 {
		cfg.OffsetsRetentionCheckInterval = 10 * time.Minute
	}
	if cfg.OffsetMetadataMaxBytes <= 0 {
		cfg.OffsetMetadataMaxBytes = 4096
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

// Log is one __consumer_offsets partition that this broker leads, as the
// broker lends it to the coordinator. The broker implements it over the
// partition's log and replication.
type Log interface {
	// Append writes batch, one uncompressed magic-v2 record batch built
	// by the coordinator (base offset 0 and no partition leader epoch:
	// the log stamps both), as leader, and returns once the in-sync
	// replicas have it (acks=all, honouring min.insync.replicas),
	// with the offset given to its last record. Its errors are
	// *kerr.Error values: NOT_LEADER_OR_FOLLOWER once leadership moved,
	// NOT_ENOUGH_REPLICAS or NOT_ENOUGH_REPLICAS_AFTER_APPEND,
	// REQUEST_TIMED_OUT; or ctx's error.
	Append(ctx context.Context, batch []byte) (lastOffset int64, err error)
	// Read returns whole record batches, starting with the one that holds
	// offset, up to about maxBytes (always at least one whole batch) and
	// never past the log end offset. At the log end it returns no bytes.
	Read(offset int64, maxBytes int) ([]byte, error)
	// LogStartOffset and LogEndOffset bound what Read can return.
	LogStartOffset() int64
	LogEndOffset() int64
}

// PartitionFor returns the __consumer_offsets partition of groupID, as
// Kafka computes it (so tools that compute it agree): the non-negative
// Java String.hashCode of the id, modulo the partition count.
func PartitionFor(groupID string, partitions int32) int32 {
	return kafkahash.PartitionFor(groupID, partitions)
}

// tickInterval is how often Run checks the coordinator's deadlines.
const tickInterval = 100 * time.Millisecond

// Coordinator is the group coordinator of one broker. Its methods are safe
// for concurrent use; each request handler blocks only its caller (a
// JoinGroup waits for the rebalance to complete).
type Coordinator struct {
	cfg Config
	log logrus.FieldLogger

	// shards are the __consumer_offsets partitions held, loading or
	// loaded.
	shards *shards.Table[*shard]
}

// New returns a coordinator that owns no partitions yet.
func New(cfg Config) *Coordinator {
	cfg = cfg.withDefaults()
	logger := cfg.Logger.WithField("component", "group-coordinator")
	return &Coordinator{
		cfg:    cfg,
		log:    logger,
		shards: shards.NewTable[*shard]("offsets partition", logger),
	}
}

func (c *Coordinator) now() time.Time { return c.cfg.Now() }

// Run drives the coordinator's timers (session and rebalance timeouts,
// delayed joins, offset expiry) until ctx is done.
func (c *Coordinator) Run(ctx context.Context) {
	timers := time.NewTicker(tickInterval)
	defer timers.Stop()
	expiry := time.NewTicker(c.cfg.OffsetsRetentionCheckInterval)
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timers.C:
			c.tick(c.now())
		case <-expiry.C:
			c.expireOffsets(c.now())
		}
	}
}

// BecomeLeader hands the coordinator __consumer_offsets partition
// `partition`, which this broker now leads at leaderEpoch. The coordinator
// loads its groups and offsets from log in the background; until that is
// done, requests for its groups get COORDINATOR_LOAD_IN_PROGRESS. A call
// for a partition already held at a lower epoch replaces it.
func (c *Coordinator) BecomeLeader(partition, leaderEpoch int32, log Log) {
	c.shards.Lead(partition, leaderEpoch, func(ctx context.Context) *shard {
		return newShard(c, ctx, partition, leaderEpoch, log)
	})
}

// Resign takes back partition, which this broker no longer leads (at
// leaderEpoch or any lower epoch): its groups are unloaded and their
// pending requests and later ones get NOT_COORDINATOR.
func (c *Coordinator) Resign(partition, leaderEpoch int32) {
	c.shards.Resign(partition, leaderEpoch)
}

// Close answers every pending request with NOT_COORDINATOR and releases all
// partitions; it is called once, when the broker stops.
func (c *Coordinator) Close() { c.shards.Close() }

// acquire returns the shard that holds groupID, locked, or the error code
// of a request for a group this broker does not coordinate
// (NOT_COORDINATOR) or is still loading (COORDINATOR_LOAD_IN_PROGRESS).
// The caller unlocks the shard.
func (c *Coordinator) acquire(groupID string) (*shard, int16) {
	s, ok := c.shards.Get(PartitionFor(groupID, c.cfg.OffsetsTopicPartitions))
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

// tick fires the deadlines that passed at now: heartbeat expiry, join and
// sync phase timeouts, delayed joins. Run calls it; tests call it directly.
func (c *Coordinator) tick(now time.Time) {
	for _, s := range c.heldShards() {
		s.tick(now)
	}
}

// expireOffsets deletes the offsets that expired at now, and the Empty
// groups left without offsets, writing their tombstones.
func (c *Coordinator) expireOffsets(now time.Time) {
	for _, s := range c.heldShards() {
		s.expireOffsets(now)
	}
}

// The request handlers. Each takes the decoded request (its Version set)
// and returns the response of the same version; they never return nil.
// Groups this broker does not coordinate get NOT_COORDINATOR. JoinGroup
// records the member's client id and host from ctx (see WithClient).

// JoinGroup adds a member to a group or has it rejoin; it waits for the
// join phase to complete.
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	return joinResponse(req.Version, c.joinGroup(ctx, req))
}

// SyncGroup takes the leader's assignment and answers each member its part,
// waiting for the leader's when needed.
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	return syncResponse(req.Version, c.syncGroup(ctx, req))
}

// Heartbeat keeps a member alive and tells it of rebalances.
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := kmsg.NewPtrHeartbeatResponse()
	resp.Version = req.Version
	resp.ErrorCode = c.heartbeat(req)
	return resp
}

// LeaveGroup removes members (v3+: several, by member or instance id).
func (c *Coordinator) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	return c.leaveGroup(req)
}

// OffsetCommit stores offsets once the in-sync replicas have them.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	return c.offsetCommit(req)
}

// OffsetFetch returns committed offsets (v8+: of several groups).
func (c *Coordinator) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	return c.offsetFetch(req)
}

// OffsetDelete deletes a group's offsets of topics it does not consume.
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	return c.offsetDelete(req)
}

// DescribeGroups describes groups, their members and assignments.
func (c *Coordinator) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	return c.describeGroups(req)
}

// ListGroups lists the groups of the partitions this broker leads.
func (c *Coordinator) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	return c.listGroups(req)
}

// DeleteGroups deletes Empty groups and their offsets.
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	return c.deleteGroups(req)
}

// clientKey is the context key of the client WithClient records.
type clientKey struct{}

// client is the client a request came from.
type client struct{ id, host string }

// WithClient returns ctx carrying the client id (from the request header)
// and host (the connection's remote address, without port) of the client a
// request came from. JoinGroup keeps them for the member: DescribeGroups
// shows them, and a new member's id starts with the client id, as in Kafka.
func WithClient(ctx context.Context, clientID, clientHost string) context.Context {
	return context.WithValue(ctx, clientKey{}, client{id: clientID, host: clientHost})
}

func clientFrom(ctx context.Context) client {
	cl, _ := ctx.Value(clientKey{}).(client)
	return cl
}

// ForgetTopics removes the committed offsets of the deleted topics from
// every group this broker coordinates, writing their tombstones, as Kafka's
// handleDeletedPartitions; a group left Empty with no offsets goes Dead.
// Partitions still loading are not cleaned.
func (c *Coordinator) ForgetTopics(topics []string) {
	if len(topics) == 0 {
		return
	}
	deleted := make(map[string]bool, len(topics))
	for _, t := range topics {
		deleted[t] = true
	}
	for _, s := range c.heldShards() {
		s.forgetTopics(deleted, c.now())
	}
}

// CommittedOffset is one group's committed offset of one partition.
type CommittedOffset struct {
	Group     string
	Topic     string
	Partition int32
	Offset    int64
}

// CommittedOffsets returns the committed offsets of every group this broker
// coordinates and has loaded, for consumer lag metrics.
func (c *Coordinator) CommittedOffsets() []CommittedOffset {
	var out []CommittedOffset
	for _, s := range c.heldShards() {
		s.mu.Lock()
		if s.loaded && !s.closed {
			for _, g := range s.groups {
				for tp, o := range g.offsets {
					out = append(out, CommittedOffset{Group: g.id, Topic: tp.Topic, Partition: tp.Partition, Offset: o.offset})
				}
			}
		}
		s.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Group != b.Group {
			return a.Group < b.Group
		}
		if a.Topic != b.Topic {
			return a.Topic < b.Topic
		}
		return a.Partition < b.Partition
	})
	return out
}
