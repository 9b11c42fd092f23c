package broker

// What the group coordinator (package group) and the transaction coordinator
// (package txn) share on the broker side. Each keeps its state in an internal
// topic, created on the first FindCoordinator that needs it; a key's
// coordinator is the leader of the partition the key hashes to; and the
// broker lends each coordinator the partitions of its topic this broker
// comes to lead, as a coordinatorLog, through one queue that keeps the order
// in which leadership changed.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/broker/txn"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/internal/kafkahash"
	"github.com/kzoo/kzoo/zkpaths"
)

// isInternalTopic reports whether topic is one of Kafka's internal topics,
// which only the broker itself writes.
func isInternalTopic(topic string) bool {
	return topic == group.OffsetsTopic || topic == txn.StateTopic
}

// FindCoordinator key types.
const (
	coordinatorKeyGroup       int8 = 0
	coordinatorKeyTransaction int8 = 1
)

// internalTopicCreateTimeout bounds the ZooKeeper write that creates an
// internal topic.
const internalTopicCreateTimeout = 10 * time.Second

// internalTopicSpec is how an internal topic is created: with its own
// settings, never the defaults of user topics.
type internalTopicSpec struct {
	partitions        int32
	replicationFactor int16
	configs           map[string]string
}

// internalTopicSpec returns the creation settings of the internal topic
// name, from the broker's offsets.topic.* or transaction.state.log.* keys.
func (s *Server) internalTopicSpec(name string) (internalTopicSpec, bool) {
	switch name {
	case group.OffsetsTopic:
		// Compacted (the latest commit of each key is what counts), small
		// segments so that compaction and loading keep up, batches kept as
		// the coordinator writes them.
		return internalTopicSpec{
			partitions:        s.cfg.OffsetsTopicPartitions,
			replicationFactor: s.cfg.OffsetsTopicReplicationFactor,
			configs: map[string]string{
				"cleanup.policy":   "compact",
				"segment.bytes":    strconv.Itoa(int(s.cfg.OffsetsTopicSegmentBytes)),
				"compression.type": "producer",
			},
		}, true
	case txn.StateTopic:
		// As Kafka: compacted, and min.insync.replicas from
		// transaction.state.log.min.isr, so that a transaction's state is on
		// enough replicas before the coordinator acts on it.
		return internalTopicSpec{
			partitions:        s.cfg.TransactionStateTopicPartitions,
			replicationFactor: s.cfg.TransactionStateTopicReplicationFactor,
			configs: map[string]string{
				"cleanup.policy":      "compact",
				"segment.bytes":       strconv.Itoa(int(s.cfg.TransactionStateTopicSegmentBytes)),
				"compression.type":    "uncompressed",
				"min.insync.replicas": strconv.Itoa(int(s.cfg.TransactionStateTopicMinISR)),
			},
		}, true
	}
	return internalTopicSpec{}, false
}

// createInternalTopic creates the internal topic name with its settings,
// whatever auto.create.topics.enable says, as Kafka does on the first
// FindCoordinator. Its replication factor is the configured one, but never
// more than the live brokers, and its min.insync.replicas never more than
// that. Losing a race to create it (another request, another broker) is
// success: the topic is there either way.
func (s *Server) createInternalTopic(ctx context.Context, name string) error {
	spec, ok := s.internalTopicSpec(name)
	if !ok {
		return fmt.Errorf("%s is not an internal topic", name)
	}
	if !s.startCreating(name) {
		return nil // another request of this broker is creating it
	}
	defer s.doneCreating(name)

	live := s.snapshot().LiveBrokerIDs()
	rf := min(int(spec.replicationFactor), len(live))
	if isr, err := strconv.Atoi(spec.configs["min.insync.replicas"]); err == nil && isr > rf {
		spec.configs["min.insync.replicas"] = strconv.Itoa(max(rf, 1))
	}
	assignment, err := placement.AssignReplicas(live, int(spec.partitions), rf,
		rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2)))
	if err != nil {
		return fmt.Errorf("assign the replicas of %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, internalTopicCreateTimeout)
	defer cancel()
	err = s.meta.CreateTopic(ctx, name, assignment, spec.configs)
	switch {
	case errors.Is(err, coordinator.ErrTopicExists):
		return nil
	case err != nil:
		s.logger.WithError(err).WithField("topic", name).Warn("cannot create an internal topic")
		return fmt.Errorf("create %s: %w", name, err)
	}
	s.logger.WithFields(logrus.Fields{
		"topic": name, "partitions": len(assignment), "replication_factor": rf,
	}).Info("created an internal topic")
	return nil
}

// startCreating marks the internal topic name as being created by this
// broker; it reports false when it already is.
func (s *Server) startCreating(name string) bool {
	s.creatingMu.Lock()
	defer s.creatingMu.Unlock()
	if s.creating[name] {
		return false
	}
	if s.creating == nil {
		s.creating = make(map[string]bool)
	}
	s.creating[name] = true
	return true
}

func (s *Server) doneCreating(name string) {
	s.creatingMu.Lock()
	defer s.creatingMu.Unlock()
	delete(s.creating, name)
}

// coordinatorLookup is where one FindCoordinator key's coordinator is, or
// why it is not available.
type coordinatorLookup struct {
	node        coordinator.Broker // when err is nil
	err         *kerr.Error
	message     string
	createTopic bool // the coordinator's topic does not exist: create it
}

// lookupCoordinator finds the coordinator of key in snap: the live leader
// of the partition of topic (an internal topic) the key hashes to, over the
// topic's actual partition count. Until the topic exists and that partition
// has a leader the answer is COORDINATOR_NOT_AVAILABLE, which clients retry.
func lookupCoordinator(snap *coordinator.Snapshot, topic, key string) coordinatorLookup {
	unavailable := func(why string) coordinatorLookup {
		return coordinatorLookup{err: kerr.CoordinatorNotAvailable, message: why}
	}
	t := snap.Topics[topic]
	switch {
	case t == nil:
		l := unavailable(topic + " is being created")
		l.createTopic = true
		return l
	case t.Deleting:
		return unavailable(topic + " is being deleted")
	case len(t.Partitions) == 0:
		return unavailable(topic + " has no partitions yet")
	}
	partition := kafkahash.PartitionFor(key, int32(len(t.Partitions)))
	p := t.Partitions[partition]
	leader, live := snap.Brokers[p.Leader]
	if p.State != zkpaths.StateOnline || p.Leader < 0 || !live {
		return unavailable(fmt.Sprintf("partition %d of %s has no leader", partition, topic))
	}
	return coordinatorLookup{node: leader}
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

func (s *Server) handleFindCoordinator(ctx context.Context, req *request, in *kmsg.FindCoordinatorRequest, resp *kmsg.FindCoordinatorResponse) any {
	// At most one attempt per request to create the topic, however many
	// keys need it.
	var createOnce sync.Once
	ensureTopic := func(topic string) error {
		var err error
		createOnce.Do(func() { err = s.createInternalTopic(ctx, topic) })
		return err
	}
	if in.Version >= 4 {
		for _, key := range in.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, s.findCoordinator(req, in.CoordinatorType, key, ensureTopic))
		}
		return resp
	}
	c := s.findCoordinator(req, in.CoordinatorType, in.CoordinatorKey, ensureTopic)
	resp.ErrorCode, resp.ErrorMessage = c.ErrorCode, c.ErrorMessage
	resp.NodeID, resp.Host, resp.Port = c.NodeID, c.Host, c.Port
	return resp
}

// findCoordinator answers one FindCoordinator key with the coordinator's
// endpoint of the listener the client connected through, if it may
// DESCRIBE the group or transactional id. ensureTopic creates the
// coordinator's internal topic when it does not exist yet.
func (s *Server) findCoordinator(req *request, keyType int8, key string, ensureTopic func(topic string) error) kmsg.FindCoordinatorResponseCoordinator {
	listener := req.listener
	var topic string
	switch keyType {
	case coordinatorKeyGroup:
		topic = group.OffsetsTopic
		if !s.authorized(req, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, key) {
			return coordinatorLookup{err: kerr.GroupAuthorizationFailed}.answer(key, listener)
		}
	case coordinatorKeyTransaction:
		topic = txn.StateTopic
		if !s.authorized(req, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, key) {
			return coordinatorLookup{err: kerr.TransactionalIDAuthorizationFailed}.answer(key, listener)
		}
		if key == "" {
			// Kafka refuses an empty transactional id here already.
			return coordinatorLookup{err: kerr.InvalidRequest, message: "empty transactional id"}.answer(key, listener)
		}
	default:
		return coordinatorLookup{err: kerr.InvalidRequest, message: fmt.Sprintf("unknown coordinator key type %d", keyType)}.answer(key, listener)
	}
	l := lookupCoordinator(s.snapshot(), topic, key)
	if l.createTopic {
		if err := ensureTopic(topic); err != nil {
			l.message = errorMessage(err)
		}
	}
	return l.answer(key, listener)
}

// runCoordinators runs the group and transaction coordinators' timers and
// hands them the partitions of their topics this broker comes to lead or
// stops leading, in the order that happens, until ctx is done; then it
// closes the coordinators, which answer the requests still waiting in them.
//
// The hand-offs are queued by the role changes (under the partition's
// locks) and delivered from here, outside them: a coordinator is free to
// take its own locks in BecomeLeader and Resign, even ones it holds while
// it appends to the very partition whose locks the role change holds.
func (s *Server) runCoordinators(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.groups.Run(ctx) })
	wg.Go(func() { s.txns.Run(ctx) })
	defer func() {
		wg.Wait()
		s.groups.Close()
		s.txns.Close()
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
			switch {
			case h.topic == group.OffsetsTopic && h.log != nil:
				s.groups.BecomeLeader(h.partition, h.epoch, h.log)
			case h.topic == group.OffsetsTopic:
				s.groups.Resign(h.partition, h.epoch)
			case h.log != nil:
				s.txns.BecomeLeader(h.partition, h.epoch, h.log)
			default:
				s.txns.Resign(h.partition, h.epoch)
			}
		}
	}
}

// coordinatorWriteTimeout is how long a coordinator's write waits for the
// in-sync replicas: offsets.commit.timeout.ms for the group coordinator,
// and for the transaction coordinator Kafka's request.timeout.ms default.
func (s *Server) coordinatorWriteTimeout(topic string) time.Duration {
	if topic == group.OffsetsTopic {
		return s.cfg.OffsetsCommitTimeout
	}
	return 30 * time.Second
}

// onCoordinatorLeadership hands p, a partition of a coordinator's topic
// that this broker now leads at epoch (leading) or no longer leads, to its
// coordinator; other partitions are none of theirs. The caller holds p's
// locks.
func (s *Server) onCoordinatorLeadership(p *replica.Partition, epoch int32, leading bool) {
	tp := p.TopicPartition()
	if !isInternalTopic(tp.Topic) {
		return
	}
	h := coordinatorHandoff{topic: tp.Topic, partition: tp.Partition, epoch: epoch}
	if leading {
		h.log = &coordinatorLog{
			replicas: s.replicas, p: p, epoch: epoch, writeTimeout: s.coordinatorWriteTimeout(tp.Topic),
			logger: s.logger.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}),
		}
	}
	s.handoffs.push(h)
}

// coordinatorHandoff is one leadership change of a partition of a
// coordinator's topic: the coordinator takes the partition at epoch (log
// set) or gives it back (log nil).
type coordinatorHandoff struct {
	topic            string
	partition, epoch int32
	log              *coordinatorLog
}

// handoffQueue is the FIFO of leadership changes waiting to be delivered to
// the coordinators. Pushing never blocks.
type handoffQueue struct {
	mu      sync.Mutex
	pending []coordinatorHandoff
	wake    chan struct{} // capacity 1: "pending is not empty"
}

func newHandoffQueue() handoffQueue { return handoffQueue{wake: make(chan struct{}, 1)} }

func (q *handoffQueue) push(h coordinatorHandoff) {
	q.mu.Lock()
	q.pending = append(q.pending, h)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes and returns everything queued, oldest first.
func (q *handoffQueue) take() []coordinatorHandoff {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.pending
	q.pending = nil
	return out
}

// coordinatorLog is a partition of a coordinator's topic as the coordinator
// sees it (group.Log, txn.Log): its log, written as leader at the epoch it
// was handed over at and acknowledged once the in-sync replicas have it.
type coordinatorLog struct {
	replicas     *replica.Manager
	p            *replica.Partition
	epoch        int32
	writeTimeout time.Duration // how long an append waits for the ISR
	logger       logrus.FieldLogger
}

// Append writes batch as leader at l.epoch and waits, as an acks=all
// produce does, for the high watermark to pass it. Its errors are the bare
// *kerr.Error values group.Log documents, or ctx's error.
func (l *coordinatorLog) Append(ctx context.Context, batch []byte) (int64, error) {
	last, err := l.replicas.AppendAndAwait(ctx, l.p, l.epoch, batch, l.writeTimeout)
	if err != nil {
		return -1, l.appendError(err)
	}
	return last, nil
}

// appendError is the error Append returns for a failed append: the Kafka
// error it carries, unwrapped, ctx's error as it is, or KAFKA_STORAGE_ERROR
// for a failure of the log itself, whose details are logged here since the
// code cannot carry them.
func (l *coordinatorLog) appendError(err error) error {
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	l.logger.WithError(err).WithField("leader_epoch", l.epoch).Error("coordinator append failed")
	return kerr.KafkaStorageError
}

// Read copies the whole batches from the one holding offset up to about
// maxBytes (at least one batch) and at most up to the log end offset.
func (l *coordinatorLog) Read(offset int64, maxBytes int) ([]byte, error) {
	tp := l.p.TopicPartition()
	limit := int32(min(max(maxBytes, 0), math.MaxInt32))
	slice, err := l.p.Log().Read(offset, l.p.Log().LogEndOffset(), limit)
	if err != nil {
		return nil, fmt.Errorf("read %s from offset %d: %w", tp, offset, err)
	}
	var buf bytes.Buffer
	buf.Grow(int(slice.Size))
	if _, err := slice.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("read %s from offset %d: %w", tp, offset, err)
	}
	return buf.Bytes(), nil
}

func (l *coordinatorLog) LogStartOffset() int64 { return l.p.Log().LogStartOffset() }
func (l *coordinatorLog) LogEndOffset() int64   { return l.p.Log().LogEndOffset() }
