package txn

import (
	"context"
	"errors"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/zkpaths"
)

// The request handlers take the decoded request (its Version set) and
// return the response of the same version; they never return nil. They
// serve the versions of Kafka 3.x's coordinator: InitProducerID v0-v4,
// AddPartitionsToTxn v0-v3, AddOffsetsToTxn v0-v3, EndTxn v0-v3 (later
// versions are KIP-890's and answered as the latest of these).

// maxTransactionalIDLength bounds a transactional id: the protocol's
// strings hold at most 32767 bytes.
const maxTransactionalIDLength = 32767

// InitProducerID gives a transactional producer its producer id and a new
// epoch, fencing any earlier producer of the same id: an open transaction
// is aborted first (the answer is then CONCURRENT_TRANSACTIONS and the
// client retries). A request without a transactional id is the idempotent
// producers' and the broker's to answer: it gets INVALID_REQUEST here.
func (c *Coordinator) InitProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	resp := kmsg.NewPtrInitProducerIDResponse()
	resp.Version = req.Version
	resp.ProducerID, resp.ProducerEpoch = noProducerID, noProducerEpoch
	pid, epoch, code := c.initProducerID(ctx, req)
	if code == errNone {
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
	}
	// PRODUCER_FENCED came to InitProducerID with v4 (KIP-588).
	resp.ErrorCode = fencedCode(code, req.Version, 4)
	return resp
}

func (c *Coordinator) initProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) (int64, int16, int16) {
	if req.TransactionalID == nil || *req.TransactionalID == "" || len(*req.TransactionalID) > maxTransactionalIDLength {
		return 0, 0, errInvalidRequest
	}
	id := *req.TransactionalID
	timeout := msDuration(req.TransactionTimeoutMillis)
	if req.TransactionTimeoutMillis <= 0 || timeout > c.cfg.MaxTimeout {
		return 0, 0, errInvalidTransactionTimeout
	}
	// KIP-360 (v3+): the producer id and epoch the client has, if any.
	var expected *producerIDAndEpoch
	if req.Version >= 3 && (req.ProducerID != noProducerID || req.ProducerEpoch != noProducerEpoch) {
		if req.ProducerID == noProducerID || req.ProducerEpoch == noProducerEpoch {
			return 0, 0, errInvalidRequest
		}
		expected = &producerIDAndEpoch{req.ProducerID, req.ProducerEpoch}
	}

	// A new producer id is allocated outside the shard's lock, and the
	// decision made again with it (the id may have changed meanwhile).
	newPID := noProducerID
	for range 3 {
		s, code := c.acquire(id)
		if code != errNone {
			return 0, 0, code
		}
		d := s.decideInit(id, timeout, expected, newPID, c.now())
		s.mu.Unlock()
		switch {
		case d.code != errNone:
			return 0, 0, d.code
		case d.needPID:
			pid, err := c.ids.Allocate(ctx)
			if err != nil {
				c.log.WithError(err).WithField("transactional_id", id).Warn("allocating a producer id failed")
				var ke *kerr.Error
				if errors.As(err, &ke) {
					return 0, 0, ke.Code
				}
				return 0, 0, errCoordinatorNotAvailable
			}
			newPID = pid
			continue
		}
		code = s.write(d.m, d.t)
		if code != errNone {
			return 0, 0, code
		}
		if d.fence {
			// The open transaction is being aborted; the client retries
			// and then gets the next epoch.
			return 0, 0, errConcurrentTransactions
		}
		c.log.WithFields(logrus.Fields{"transactional_id": id, "producer_id": d.t.producerID, "epoch": d.t.producerEpoch}).
			Debug("initialized a transactional producer")
		return d.t.producerID, d.t.producerEpoch, errNone
	}
	return 0, 0, errConcurrentTransactions
}

type producerIDAndEpoch struct {
	id    int64
	epoch int16
}

// initDecision is what an InitProducerID is to do: answer code, get a new
// producer id first, or write t (for fence, the abort of the open
// transaction).
type initDecision struct {
	code    int16
	needPID bool
	m       *txnMeta
	t       *transit
	fence   bool
}

// decideInit is Kafka's prepareInitProducerIdTransit. newPID is a producer
// id allocated for this request, or -1. The caller holds s.mu.
func (s *shard) decideInit(id string, timeout time.Duration, expected *producerIDAndEpoch, newPID int64, now time.Time) initDecision {
	m := s.txns[id]
	if m == nil {
		if newPID == noProducerID {
			return initDecision{needPID: true}
		}
		m = newMeta(id, newPID, timeout, now)
		var exp *int16
		if expected != nil {
			exp = &expected.epoch
		}
		t, _, err := m.prepareEpochBump(timeout, exp, now)
		if err != nil {
			return initDecision{code: errUnknownServerError}
		}
		s.txns[id] = m
		return initDecision{m: m, t: t}
	}
	if m.pending != nil {
		return initDecision{code: errConcurrentTransactions}
	}
	if expected != nil && !(m.producerEpoch == noProducerEpoch || expected.id == m.producerID ||
		expected.id == m.lastProducerID && epochExhausted(expected.epoch)) {
		return initDecision{code: errProducerFenced}
	}
	switch m.state {
	case statePrepareCommit, statePrepareAbort:
		return initDecision{code: errConcurrentTransactions}
	case stateEmpty, stateCompleteCommit, stateCompleteAbort:
		if epochExhausted(m.producerEpoch) && (expected == nil || expected.epoch == m.producerEpoch) {
			if newPID == noProducerID {
				return initDecision{needPID: true}
			}
			t, err := m.prepareRotation(newPID, timeout, expected != nil, now)
			if err != nil {
				return initDecision{code: errUnknownServerError}
			}
			return initDecision{m: m, t: t}
		}
		var exp *int16
		if expected != nil {
			exp = &expected.epoch
		}
		t, fenced, err := m.prepareEpochBump(timeout, exp, now)
		switch {
		case fenced:
			return initDecision{code: errProducerFenced}
		case err != nil:
			s.logger.WithField("transactional_id", id).WithError(err).Error("cannot bump a producer epoch")
			return initDecision{code: errUnknownServerError}
		}
		return initDecision{m: m, t: t}
	case stateOngoing:
		t, err := m.prepareFenceAbort(now)
		if err != nil {
			s.logger.WithField("transactional_id", id).WithError(err).Error("cannot fence a producer")
			return initDecision{code: errUnknownServerError}
		}
		return initDecision{m: m, t: t, fence: true}
	}
	return initDecision{code: errUnknownServerError}
}

// AddPartitionsToTxn adds partitions to the producer's transaction,
// opening it if none is open. A request naming a partition that does not
// exist adds none: those get UNKNOWN_TOPIC_OR_PARTITION, the others
// OPERATION_NOT_ATTEMPTED. Versions 4+ (KIP-890's batched requests
// between brokers) are not served: kzoo's brokers do not send them.
func (c *Coordinator) AddPartitionsToTxn(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) *kmsg.AddPartitionsToTxnResponse {
	resp := kmsg.NewPtrAddPartitionsToTxnResponse()
	resp.Version = req.Version
	if req.Version >= 4 {
		// Brokers' batched form (KIP-890): a verification of each
		// transaction's partitions before a leader lets a transactional
		// batch open a transaction, or adds as in v3.
		for _, t := range req.Transactions {
			resp.Transactions = append(resp.Transactions, c.addOrVerify(t))
		}
		return resp
	}
	var all []zkpaths.TopicPartition
	seen := make(map[zkpaths.TopicPartition]bool)
	missing := false
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := zkpaths.TopicPartition{Topic: t.Topic, Partition: p}
			if seen[tp] {
				continue
			}
			seen[tp] = true
			all = append(all, tp)
			if !c.topics.PartitionExists(tp) {
				missing = true
			}
		}
	}
	codeOf := func(zkpaths.TopicPartition) int16 { return 0 }
	if missing {
		codeOf = func(tp zkpaths.TopicPartition) int16 {
			if c.topics.PartitionExists(tp) {
				return errOperationNotAttempted
			}
			return errUnknownTopicOrPartition
		}
	} else {
		code := fencedCode(c.addPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, all), req.Version, 2)
		codeOf = func(zkpaths.TopicPartition) int16 { return code }
	}
	for _, t := range req.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition = p
			rp.ErrorCode = codeOf(zkpaths.TopicPartition{Topic: t.Topic, Partition: p})
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// AddOffsetsToTxn adds offsetsPartition, the __consumer_offsets partition
// of the request's group (the broker computes it), to the transaction, so
// that its marker makes the group's transactional offsets visible.
func (c *Coordinator) AddOffsetsToTxn(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest, offsetsPartition zkpaths.TopicPartition) *kmsg.AddOffsetsToTxnResponse {
	resp := kmsg.NewPtrAddOffsetsToTxnResponse()
	resp.Version = req.Version
	code := c.addPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, []zkpaths.TopicPartition{offsetsPartition})
	resp.ErrorCode = fencedCode(code, req.Version, 2)
	return resp
}

// acquireProducer returns the shard that holds id, locked, and the id's
// state, when producerID at epoch is the id's current producer; otherwise
// the error code a request of that producer gets (the shard unlocked):
// INVALID_REQUEST for a malformed id, NOT_COORDINATOR or
// COORDINATOR_LOAD_IN_PROGRESS, INVALID_PRODUCER_ID_MAPPING for an id
// unknown or of another producer, PRODUCER_FENCED for another epoch.
func (c *Coordinator) acquireProducer(id string, producerID int64, epoch int16) (*shard, *txnMeta, int16) {
	if id == "" || len(id) > maxTransactionalIDLength {
		return nil, nil, errInvalidRequest
	}
	s, code := c.acquire(id)
	if code != errNone {
		return nil, nil, code
	}
	m := s.txns[id]
	switch {
	case m == nil || m.producerID != producerID:
		code = errInvalidProducerIDMapping
	case m.producerEpoch != epoch:
		code = errProducerFenced
	default:
		return s, m, errNone
	}
	s.mu.Unlock()
	return nil, nil, code
}

// addPartitions is Kafka's handleAddPartitionsToTransaction.
func (c *Coordinator) addPartitions(id string, producerID int64, epoch int16, partitions []zkpaths.TopicPartition) int16 {
	s, m, code := c.acquireProducer(id, producerID, epoch)
	if code != errNone {
		return code
	}
	var t *transit
	switch {
	case m.pending != nil, m.state == statePrepareCommit, m.state == statePrepareAbort:
		code = errConcurrentTransactions
	case m.state == stateOngoing && m.hasAll(partitions):
		// Nothing to write: the transaction has them already.
	default:
		var err error
		if t, err = m.prepareAddPartitions(partitions, c.now()); err != nil {
			s.logger.WithField("transactional_id", id).WithError(err).Error("cannot add partitions to a transaction")
			code = errUnknownServerError
		}
	}
	s.mu.Unlock()
	if t == nil {
		return code
	}
	return s.write(m, t)
}

// addOrVerify answers one transaction of a v4+ AddPartitionsToTxn: with
// VerifyOnly, whether each partition is in the producer's transaction
// (INVALID_TXN_STATE for those that are not), as Kafka's
// handleVerifyPartitionsInTransaction; otherwise it adds them as v3 would.
func (c *Coordinator) addOrVerify(t kmsg.AddPartitionsToTxnRequestTransaction) kmsg.AddPartitionsToTxnResponseTransaction {
	var partitions []zkpaths.TopicPartition
	for _, rt := range t.Topics {
		for _, p := range rt.Partitions {
			partitions = append(partitions, zkpaths.TopicPartition{Topic: rt.Topic, Partition: p})
		}
	}
	var codeOf func(zkpaths.TopicPartition) int16
	if t.VerifyOnly {
		codeOf = c.verifyPartitions(t.TransactionalID, t.ProducerID, t.ProducerEpoch)
	} else {
		code := c.addPartitions(t.TransactionalID, t.ProducerID, t.ProducerEpoch, partitions)
		codeOf = func(zkpaths.TopicPartition) int16 { return code }
	}
	rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
	rt.TransactionalID = t.TransactionalID
	for _, topic := range t.Topics {
		out := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
		out.Topic = topic.Topic
		for _, p := range topic.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
			rp.Partition = p
			rp.ErrorCode = codeOf(zkpaths.TopicPartition{Topic: topic.Topic, Partition: p})
			out.Partitions = append(out.Partitions, rp)
		}
		rt.Topics = append(rt.Topics, out)
	}
	return rt
}

// verifyPartitions returns the verification answer for each partition of
// the producer's transaction: none for a partition it has, the same error
// for all when the producer or the transaction's state is not the one the
// leader asks about.
func (c *Coordinator) verifyPartitions(id string, producerID int64, epoch int16) func(zkpaths.TopicPartition) int16 {
	all := func(code int16) func(zkpaths.TopicPartition) int16 {
		return func(zkpaths.TopicPartition) int16 { return code }
	}
	s, m, code := c.acquireProducer(id, producerID, epoch)
	if code != errNone {
		return all(code)
	}
	defer s.mu.Unlock()
	switch {
	case m.state == statePrepareCommit, m.state == statePrepareAbort:
		return all(errConcurrentTransactions)
	case m.state != stateOngoing:
		return all(errInvalidTxnState)
	}
	in := make(map[zkpaths.TopicPartition]bool, len(m.partitions))
	for tp := range m.partitions {
		in[tp] = true
	}
	return func(tp zkpaths.TopicPartition) int16 {
		if in[tp] {
			return errNone
		}
		return errInvalidTxnState
	}
}

// hasAll reports whether the transaction has every one of partitions.
func (m *txnMeta) hasAll(partitions []zkpaths.TopicPartition) bool {
	for _, tp := range partitions {
		if _, ok := m.partitions[tp]; !ok {
			return false
		}
	}
	return true
}

// EndTxn commits or aborts the producer's transaction: PrepareCommit or
// PrepareAbort is written and answered, then the markers are written and
// the transaction completed in the background. As Kafka, a retry of an end
// already completed with the same result succeeds, one still in progress
// gets CONCURRENT_TRANSACTIONS, and the other result INVALID_TXN_STATE.
func (c *Coordinator) EndTxn(ctx context.Context, req *kmsg.EndTxnRequest) *kmsg.EndTxnResponse {
	resp := kmsg.NewPtrEndTxnResponse()
	resp.Version = req.Version
	resp.ProducerID, resp.ProducerEpoch = noProducerID, noProducerEpoch
	resp.ErrorCode = fencedCode(c.endTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit), req.Version, 2)
	return resp
}

// endTxn is Kafka's handleEndTransaction, from a client.
func (c *Coordinator) endTxn(id string, producerID int64, epoch int16, commit bool) int16 {
	s, m, code := c.acquireProducer(id, producerID, epoch)
	if code != errNone {
		return code
	}
	var t *transit
	switch {
	case m.pending != nil:
		code = errConcurrentTransactions
	default:
		switch st := m.state; {
		case st == stateOngoing:
			var err error
			if t, err = m.prepareEnd(commit, c.now()); err != nil {
				code = errUnknownServerError
			}
		case st == stateCompleteCommit && commit, st == stateCompleteAbort && !commit:
			code = errNone
		case st == statePrepareCommit && commit, st == statePrepareAbort && !commit:
			code = errConcurrentTransactions
		default:
			s.logger.WithFields(logrus.Fields{"transactional_id": id, "state": st, "commit": commit}).Debug("EndTxn in an invalid state")
			code = errInvalidTxnState
		}
	}
	s.mu.Unlock()
	if t == nil {
		return code
	}
	return s.write(m, t)
}

func msDuration(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }
