package broker

// The broker side of the group coordinator (package group): it builds the
// coordinator from the broker's config, routes the group APIs to it, answers
// FindCoordinator, creates __consumer_offsets on first use, and lends the
// coordinator each __consumer_offsets partition this broker leads as a
// group.Log.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/zkpaths"
)

// transactionStateTopic is the transaction coordinator's internal topic.
// kzoo has no transaction coordinator yet, but clients may not write the
// topic either.
const transactionStateTopic = "__transaction_state"

// isInternalTopic reports whether topic is one of Kafka's internal topics,
// which only the broker itself writes.
func isInternalTopic(topic string) bool {
	return topic == group.OffsetsTopic || topic == transactionStateTopic
}

// FindCoordinator key types.
const (
	coordinatorKeyGroup       int8 = 0
	coordinatorKeyTransaction int8 = 1
)

// offsetsTopicCreateTimeout bounds the ZooKeeper write that creates
// __consumer_offsets.
const offsetsTopicCreateTimeout = 10 * time.Second

// newGroupCoordinator builds the group coordinator from the broker's config.
// The partition count it hashes group ids over is that of __consumer_offsets
// when the topic already exists (whatever offsets.topic.num.partitions says
// now), so that it agrees with FindCoordinator and the other brokers.
func newGroupCoordinator(cfg *config.Broker, snap *coordinator.Snapshot, logger logrus.FieldLogger) *group.Coordinator {
	return group.New(group.Config{
		OffsetsTopicPartitions:        offsetsTopicPartitions(snap, cfg.OffsetsTopicPartitions),
		MinSessionTimeout:             cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:             cfg.GroupMaxSessionTimeout,
		InitialRebalanceDelay:         cfg.GroupInitialRebalanceDelay,
		MaxGroupSize:                  cfg.GroupMaxSize,
		OffsetsRetention:              cfg.OffsetsRetention,
		OffsetsRetentionCheckInterval: cfg.OffsetsRetentionCheckInterval,
		OffsetMetadataMaxBytes:        cfg.OffsetMetadataMaxBytes,
		Logger:                        logger,
	})
}

// offsetsTopicPartitions is the partition count of __consumer_offsets in
// snap, or configured when the topic does not exist (yet).
func offsetsTopicPartitions(snap *coordinator.Snapshot, configured int32) int32 {
	if snap != nil {
		if t := snap.Topics[group.OffsetsTopic]; t != nil && len(t.Partitions) > 0 {
			return int32(len(t.Partitions))
		}
	}
	return configured
}

// groupAPI adapts a request handler of the coordinator to the API table.
func groupAPI[Req kmsg.Request, Resp kmsg.Response](handle func(*group.Coordinator, context.Context, Req) Resp) handlerFunc {
	return func(s *Server, ctx context.Context, req *request) any {
		return handle(s.groups, ctx, req.body.(Req))
	}
}

// clientHost is the host of a client's address as JoinGroup records it for
// the member: Kafka's form, Java's InetAddress.toString of an address
// without a name ("/127.0.0.1"), which its tools print as they get it.
func clientHost(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return "/" + tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "/" + addr.String()
	}
	return "/" + host
}

// runGroupCoordinator runs the coordinator's timers and hands it the
// __consumer_offsets partitions this broker comes to lead or stops leading,
// in the order that happens, until ctx is done; then it closes the
// coordinator, which answers the requests still waiting in it.
//
// The hand-offs are queued by the role changes (under the partition's
// locks) and delivered from here, outside them: the coordinator is free to
// take its own locks in BecomeLeader and Resign, even ones it holds while
// it appends to the very partition whose locks the role change holds.
func (s *Server) runGroupCoordinator(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.groups.Run(ctx)
	}()
	defer func() {
		<-done
		s.groups.Close()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.handoffs.wake:
		}
		for _, h := range s.handoffs.take() {
			if ctx.Err() != nil {
				return
			}
			if h.log != nil {
				s.groups.BecomeLeader(h.partition, h.epoch, h.log)
			} else {
				s.groups.Resign(h.partition, h.epoch)
			}
		}
	}
}

// startCoordinating hands p, a __consumer_offsets partition that this
// broker now leads at epoch, to the group coordinator. The caller holds p's
// locks.
func (s *Server) startCoordinating(p *replica.Partition, epoch int32) {
	tp := p.TopicPartition()
	s.handoffs.push(offsetsHandoff{
		partition: tp.Partition,
		epoch:     epoch,
		log: &offsetsLog{
			replicas: s.replicas, p: p, epoch: epoch, commitTimeout: s.cfg.OffsetsCommitTimeout,
			logger: s.logger.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}),
		},
	})
}

// stopCoordinating takes p, a __consumer_offsets partition this broker no
// longer leads at epoch, back from the group coordinator. The caller holds
// p's locks.
func (s *Server) stopCoordinating(p *replica.Partition, epoch int32) {
	s.handoffs.push(offsetsHandoff{partition: p.TopicPartition().Partition, epoch: epoch})
}

// offsetsHandoff is one leadership change of a __consumer_offsets
// partition: the coordinator takes the partition at epoch (log set) or gives
// it back (log nil).
type offsetsHandoff struct {
	partition, epoch int32
	log              group.Log
}

// handoffQueue is the FIFO of leadership changes waiting to be delivered to
// the group coordinator. Pushing never blocks.
type handoffQueue struct {
	mu      sync.Mutex
	pending []offsetsHandoff
	wake    chan struct{} // capacity 1: "pending is not empty"
}

func newHandoffQueue() handoffQueue { return handoffQueue{wake: make(chan struct{}, 1)} }

func (q *handoffQueue) push(h offsetsHandoff) {
	q.mu.Lock()
	q.pending = append(q.pending, h)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes and returns everything queued, oldest first.
func (q *handoffQueue) take() []offsetsHandoff {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.pending
	q.pending = nil
	return out
}

// offsetsLog is a __consumer_offsets partition as the group coordinator
// sees it (group.Log): its log, written as leader at the epoch it was handed
// over at and acknowledged once the in-sync replicas have it.
type offsetsLog struct {
	replicas *replica.Manager
	p        *replica.Partition
	epoch    int32
	// commitTimeout is offsets.commit.timeout.ms: how long an append waits
	// for the ISR.
	commitTimeout time.Duration
	logger        logrus.FieldLogger
}

// Append writes batch as leader at l.epoch and waits, as an acks=all
// produce does, for the high watermark to pass it. Its errors are the bare
// *kerr.Error values group.Log documents, or ctx's error.
func (l *offsetsLog) Append(ctx context.Context, batch []byte) (int64, error) {
	last, err := l.replicas.AppendAndAwait(ctx, l.p, l.epoch, batch, l.commitTimeout)
	if err != nil {
		return -1, l.appendError(err)
	}
	return last, nil
}

// appendError is the error Append returns for a failed append: the Kafka
// error it carries, unwrapped, ctx's error as it is, or KAFKA_STORAGE_ERROR
// for a failure of the log itself, whose details are logged here since the
// code cannot carry them.
func (l *offsetsLog) appendError(err error) error {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	l.logger.WithError(err).WithField("leader_epoch", l.epoch).Error("group coordinator append failed")
	return kerr.KafkaStorageError
}

// Read copies the whole batches from the one holding offset up to about
// maxBytes (at least one batch) and at most up to the log end offset.
func (l *offsetsLog) Read(offset int64, maxBytes int) ([]byte, error) {
	limit := int32(min(max(maxBytes, 0), math.MaxInt32))
	slice, err := l.p.Log().Read(offset, l.p.Log().LogEndOffset(), limit)
	if err != nil {
		return nil, fmt.Errorf("read %s-%d from offset %d: %w", l.p.TopicPartition().Topic, l.p.TopicPartition().Partition, offset, err)
	}
	var buf bytes.Buffer
	buf.Grow(int(slice.Size))
	if _, err := slice.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("read %s-%d from offset %d: %w", l.p.TopicPartition().Topic, l.p.TopicPartition().Partition, offset, err)
	}
	return buf.Bytes(), nil
}

func (l *offsetsLog) LogStartOffset() int64 { return l.p.Log().LogStartOffset() }
func (l *offsetsLog) LogEndOffset() int64   { return l.p.Log().LogEndOffset() }

func (s *Server) handleFindCoordinator(ctx context.Context, req *request, in *kmsg.FindCoordinatorRequest, resp *kmsg.FindCoordinatorResponse) any {
	// At most one attempt per request to create __consumer_offsets, however
	// many keys need it.
	var createOnce sync.Once
	ensureOffsetsTopic := func() error {
		var err error
		createOnce.Do(func() { err = s.createOffsetsTopic(ctx) })
		return err
	}
	if in.Version >= 4 {
		for _, key := range in.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, s.findCoordinator(in.CoordinatorType, key, req.listener, ensureOffsetsTopic))
		}
		return resp
	}
	c := s.findCoordinator(in.CoordinatorType, in.CoordinatorKey, req.listener, ensureOffsetsTopic)
	resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
	resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
	return resp
}

// findCoordinator answers one FindCoordinator key with the coordinator's
// endpoint of listener, the one the client connected through.
// ensureOffsetsTopic creates __consumer_offsets when the key's group needs
// it.
func (s *Server) findCoordinator(keyType int8, key, listener string, ensureOffsetsTopic func() error) kmsg.FindCoordinatorResponseCoordinator {
	var l coordinatorLookup
	switch keyType {
	case coordinatorKeyGroup:
		l = lookupGroupCoordinator(s.snapshot(), key, s.cfg.OffsetsTopicPartitions)
		if l.createTopic {
			if err := ensureOffsetsTopic(); err != nil {
				l.message = errorMessage(err)
			}
		}
	case coordinatorKeyTransaction:
		l = coordinatorLookup{err: kerr.CoordinatorNotAvailable, message: "kzoo has no transaction coordinator: transactions are not supported yet"}
	default:
		l = coordinatorLookup{err: kerr.InvalidRequest, message: fmt.Sprintf("unknown coordinator key type %d", keyType)}
	}
	return l.answer(key, listener)
}

// coordinatorLookup is where one FindCoordinator key's coordinator is, or
// why it is not available.
type coordinatorLookup struct {
	node        coordinator.Broker // when err is nil
	err         *kerr.Error
	message     string
	createTopic bool // __consumer_offsets does not exist: create it
}

// answer is the FindCoordinator entry for key, naming the coordinator's
// endpoint of listener. A coordinator without one is not available to this
// client (Kafka answers so too).
func (l coordinatorLookup) answer(key, listener string) kmsg.FindCoordinatorResponseCoordinator {
	c := kmsg.NewFindCoordinatorResponseCoordinator()
	c.Key = key
	host, port, reachable := listenerEndpoint(l.node, listener)
	if l.err == nil && !reachable {
		l.err = kerr.CoordinatorNotAvailable
		l.message = fmt.Sprintf("coordinator %d has no %s listener", l.node.ID, listener)
	}
	if l.err != nil {
		c.NodeID, c.Port = -1, -1
		c.ErrorCode = l.err.Code
		msg := l.err.Description
		if l.message != "" {
			msg = l.message
		}
		c.ErrorMessage = &msg
		return c
	}
	c.NodeID, c.Host, c.Port = l.node.ID, host, port
	return c
}

// lookupGroupCoordinator finds the coordinator of groupID in snap: the live
// leader of the __consumer_offsets partition the id hashes to, over the
// topic's actual partition count (configuredPartitions when the topic does
// not exist, which it then must be created with). Until the topic exists
// and that partition has a leader the answer is COORDINATOR_NOT_AVAILABLE,
// which clients retry.
func lookupGroupCoordinator(snap *coordinator.Snapshot, groupID string, configuredPartitions int32) coordinatorLookup {
	unavailable := func(why string) coordinatorLookup {
		return coordinatorLookup{err: kerr.CoordinatorNotAvailable, message: why}
	}
	t := snap.Topics[group.OffsetsTopic]
	switch {
	case t == nil:
		l := unavailable(group.OffsetsTopic + " is being created")
		l.createTopic = true
		return l
	case t.Deleting:
		return unavailable(group.OffsetsTopic + " is being deleted")
	case len(t.Partitions) == 0:
		return unavailable(group.OffsetsTopic + " has no partitions yet")
	}
	partition := group.PartitionFor(groupID, int32(len(t.Partitions)))
	p := t.Partitions[partition]
	leader, live := snap.Brokers[p.Leader]
	if p.State != zkpaths.StateOnline || p.Leader < 0 || !live {
		return unavailable(fmt.Sprintf("partition %d of %s has no leader", partition, group.OffsetsTopic))
	}
	return coordinatorLookup{node: leader}
}

// createOffsetsTopic creates __consumer_offsets with the offsets.topic.*
// settings, whatever auto.create.topics.enable says, as Kafka does on the
// first FindCoordinator. Its replication factor is
// offsets.topic.replication.factor, but never more than the live brokers.
// Losing a race to create it (another request, another broker) is success:
// the topic is there either way.
func (s *Server) createOffsetsTopic(ctx context.Context) error {
	if !s.creatingOffsetsTopic.CompareAndSwap(false, true) {
		return nil // another request of this broker is creating it
	}
	defer s.creatingOffsetsTopic.Store(false)

	live := s.snapshot().LiveBrokerIDs()
	rf := min(int(s.cfg.OffsetsTopicReplicationFactor), len(live))
	assignment, err := placement.AssignReplicas(live, int(s.cfg.OffsetsTopicPartitions), rf,
		rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2)))
	if err != nil {
		return fmt.Errorf("assign the replicas of %s: %w", group.OffsetsTopic, err)
	}
	ctx, cancel := context.WithTimeout(ctx, offsetsTopicCreateTimeout)
	defer cancel()
	err = s.meta.CreateTopic(ctx, group.OffsetsTopic, assignment, offsetsTopicConfigs(s.cfg))
	switch {
	case errors.Is(err, coordinator.ErrTopicExists):
		return nil
	case err != nil:
		s.logger.WithError(err).WithField("topic", group.OffsetsTopic).Warn("cannot create the offsets topic")
		return fmt.Errorf("create %s: %w", group.OffsetsTopic, err)
	}
	s.logger.WithFields(logrus.Fields{
		"topic": group.OffsetsTopic, "partitions": len(assignment), "replication_factor": rf,
	}).Info("created the offsets topic")
	return nil
}

// offsetsTopicConfigs are the topic configs __consumer_offsets is created
// with, Kafka's: compacted (the latest commit of each key is what counts),
// small segments so that compaction and loading keep up, and batches kept
// as the coordinator writes them.
func offsetsTopicConfigs(cfg *config.Broker) map[string]string {
	return map[string]string{
		"cleanup.policy":   "compact",
		"segment.bytes":    strconv.Itoa(int(cfg.OffsetsTopicSegmentBytes)),
		"compression.type": "producer",
	}
}

// forgetGroupOffsets removes from the groups this broker coordinates the
// committed offsets of the topics that previous had and snap no longer has
// or is deleting, as Kafka does when a topic is deleted: a topic created
// again under the same name starts without them.
func (s *Server) forgetGroupOffsets(previous, snap *coordinator.Snapshot) {
	if previous == nil || s.groups == nil {
		return
	}
	var deleted []string
	for name, t := range previous.Topics {
		if t.Deleting {
			continue // already forgotten when its deletion started
		}
		if now := snap.Topics[name]; now == nil || now.Deleting {
			deleted = append(deleted, name)
		}
	}
	s.groups.ForgetTopics(deleted)
}
