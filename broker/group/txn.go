package group

import (
	"context"
	"math"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/zkpaths"
)

// Transactional offset commits (KIP-98, KIP-447), as Kafka's
// GroupCoordinator and GroupMetadataManager keep them.
//
// A TxnOffsetCommit writes a producer's offsets as one transactional batch
// (the producer's id and epoch, the transactional bit) to the group's
// __consumer_offsets partition; the partition is part of the producer's
// transaction (AddOffsetsToTxn). The offsets stay pending, per producer, and
// invisible to OffsetFetch until the transaction coordinator's marker in the
// same partition ends the transaction: the broker calls CompleteTxn once the
// marker is replicated, and a load meets the marker as a control batch. A
// commit makes the pending offsets the group's committed ones, unless a
// plain commit of the same partition was written after them in the log (of
// two commits the later in the log wins, committedOffset.batchOffset); an
// abort drops them.
//
// Invariants, under the shard's lock:
//   - g.pendingTxnOffsets[pid] exists only while pid's transaction is open
//     in g; its entries have write != nil until their batch is in the log.
//   - s.txnGroups[pid] names every group of the shard holding pending offsets
//     of pid (it may name more: entries go when the transaction ends).

// pendingTxnOffset is one transactional offset commit waiting for its
// transaction to end.
type pendingTxnOffset struct {
	// offset has batchOffset -1 while its write is in flight.
	offset committedOffset
	// write is the write in flight that holds the offset, nil once the
	// offset is in the log. A later commit of the same partition in the same
	// transaction replaces the entry, so an earlier write finishing does not
	// touch it.
	write *pendingCommit
}

// txnCompletion is a CompleteTxn that came while its shard was loading; it
// is applied once the load is done.
type txnCompletion struct {
	producerID int64
	commit     bool
	// logEnd is the log end offset when it came. Its marker lies below
	// logEnd, and so do the offsets of the transaction it ends; the
	// producer's next transaction can write only after CompleteTxn returned
	// (the transaction coordinator waits for the broker's acknowledgement of
	// the marker), so at or above logEnd.
	logEnd int64
}

// TxnOffsetCommit stores a transactional producer's offsets as pending in its
// transaction (v0-v3; v3 adds the generation, member id and instance id of
// KIP-447, which are checked like OffsetCommit's). The group is created when
// it does not exist, as Kafka does. It returns once the write is done.
func (c *Coordinator) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	codes := c.txnCommit(req)
	resp := kmsg.NewPtrTxnOffsetCommitResponse()
	resp.Version = req.Version
	for _, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rp.ErrorCode = codes(zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition})
			// Producers from 0.11 to 2.0 (before KAFKA-7296) fail on
			// COORDINATOR_LOAD_IN_PROGRESS; Kafka answers them with the
			// retriable COORDINATOR_NOT_AVAILABLE instead.
			if req.Version < 2 && rp.ErrorCode == errCoordinatorLoadInProgress {
				rp.ErrorCode = errCoordinatorNotAvailable
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// txnCommit stores the offsets of a TxnOffsetCommit as pending in the
// producer's transaction and returns the error code of each partition, once
// the write is done.
func (c *Coordinator) txnCommit(req *kmsg.TxnOffsetCommitRequest) func(zkpaths.TopicPartition) int16 {
	all := func(code int16) func(zkpaths.TopicPartition) int16 {
		return func(zkpaths.TopicPartition) int16 { return code }
	}
	if req.Group == "" {
		return all(errInvalidGroupID)
	}
	if req.ProducerID < 0 {
		// A transactional batch needs a producer; the log would refuse it.
		return all(errInvalidProducerIDMapping)
	}
	generation, memberID := int32(-1), ""
	var instanceID *string
	if req.Version >= 3 {
		generation, memberID, instanceID = req.Generation, req.MemberID, req.InstanceID
	}

	s, code := c.acquire(req.Group)
	if code != errNone {
		return all(code)
	}
	now := c.now()
	g := s.groups[req.Group]
	if g == nil {
		// Kafka creates the group for any transactional commit, even one
		// that fails the checks below; an Empty group without offsets goes
		// at the next expiry.
		g = newGroup(req.Group, now)
		s.groups[req.Group] = g
	}
	// Unlike OffsetCommit, any state takes the commit (Kafka checks none):
	// the transaction, not the rebalance, decides whether it counts.
	if code := g.validateCommit(generation, memberID, instanceID, true); code != errNone {
		s.mu.Unlock()
		return all(code)
	}

	offsets, tooLarge := c.txnCommitValues(req, now)
	if len(offsets) == 0 {
		s.mu.Unlock()
		return all(errOffsetMetadataTooLarge)
	}
	writeCode := s.storeTxnOffsets(g, req.ProducerID, req.ProducerEpoch, offsets, now)
	return func(tp zkpaths.TopicPartition) int16 {
		if tooLarge[tp] {
			return errOffsetMetadataTooLarge
		}
		return writeCode
	}
}

// txnCommitValues reads the offsets of a TxnOffsetCommit: commit timestamp
// now, no expire timestamp, the leader epoch from v2 on. Partitions whose
// metadata is over offset.metadata.max.bytes are left out and reported in
// tooLarge.
func (c *Coordinator) txnCommitValues(req *kmsg.TxnOffsetCommitRequest, now time.Time) (offsets map[zkpaths.TopicPartition]committedOffset, tooLarge map[zkpaths.TopicPartition]bool) {
	offsets = make(map[zkpaths.TopicPartition]committedOffset)
	tooLarge = make(map[zkpaths.TopicPartition]bool)
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tp := zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			o := committedOffset{offset: p.Offset, leaderEpoch: -1, commitTimestamp: now.UnixMilli(), expireTimestamp: -1, batchOffset: -1}
			if p.Metadata != nil {
				o.metadata = *p.Metadata
			}
			if req.Version >= 2 {
				o.leaderEpoch = p.LeaderEpoch
			}
			if javaLength(o.metadata) > c.cfg.OffsetMetadataMaxBytes {
				tooLarge[tp] = true
				delete(offsets, tp)
				continue
			}
			delete(tooLarge, tp)
			offsets[tp] = o
		}
	}
	return offsets, tooLarge
}

// storeTxnOffsets writes offsets of g as one transactional batch of the
// producer and keeps them pending in its transaction, as Kafka's
// storeOffsets with a producer id. It unlocks s.mu, waits for the write and
// returns its error code; a failed write drops the offsets again (the
// client retries).
func (s *shard) storeTxnOffsets(g *group, producerID int64, producerEpoch int16, offsets map[zkpaths.TopicPartition]committedOffset, now time.Time) int16 {
	token := new(pendingCommit)
	g.prepareTxnCommit(producerID, offsets, token)
	s.indexTxn(producerID, g.id)
	batch := record.NewBuilder(now.UnixMilli())
	for tp, o := range offsets {
		batch.Append(offsetCommitKey(g.id, tp), offsetCommitValue(o))
	}
	var code int16
	done := s.write(g.id, batch.BuildTransactional(producerID, producerEpoch), func(baseOffset int64, err error) {
		code = offsetWriteError(err)
		if err != nil {
			s.logger.WithError(err).WithFields(logrus.Fields{"group": g.id, "producer_id": producerID, "partitions": len(offsets)}).
				Warn("writing transactional offsets failed")
		}
		g.txnCommitWritten(producerID, offsets, token, baseOffset, err)
	})
	s.mu.Unlock()
	<-done
	return code
}

// CompleteTxn makes the producer's pending transactional offsets in the
// given __consumer_offsets partitions visible (commit) or drops them
// (abort); the broker calls it once a marker it appended to such a
// partition is replicated. Partitions this coordinator does not hold are
// skipped: whoever loads them reads the marker from the log. A partition
// still loading applies it when loaded.
func (c *Coordinator) CompleteTxn(producerID int64, offsetsPartitions []int32, commit bool) {
	for _, p := range offsetsPartitions {
		if s, ok := c.shards.Get(p); ok {
			s.onTxnMarker(producerID, commit)
		}
	}
}

// onTxnMarker applies the end of the producer's transaction to the shard's
// groups, or keeps it for the end of the load.
func (s *shard) onTxnMarker(producerID int64, commit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
	case !s.loaded:
		// The load may have read past the marker or not: applied after it,
		// bounded by the log end now, the completion is right either way.
		s.loadCompletions = append(s.loadCompletions, txnCompletion{producerID: producerID, commit: commit, logEnd: s.log.LogEndOffset()})
	default:
		s.completeTxn(producerID, commit, math.MaxInt64)
	}
}

// completeTxn ends the producer's transaction in the shard's groups, for
// its pending offsets written below before (see group.completeTxn).
func (s *shard) completeTxn(producerID int64, commit bool, before int64) {
	for id := range s.txnGroups[producerID] {
		g := s.groups[id]
		if g == nil || g.is(stateDead) {
			delete(s.txnGroups[producerID], id)
			continue
		}
		unwritten, open := g.completeTxn(producerID, commit, before)
		if unwritten > 0 {
			// Only a client that ended its transaction without waiting for
			// its TxnOffsetCommit gets here; Kafka fails likewise.
			s.logger.WithFields(logrus.Fields{"group": id, "producer_id": producerID, "partitions": unwritten}).
				Warn("transaction committed before its offsets were written; dropping them")
		}
		if !open {
			delete(s.txnGroups[producerID], id)
		}
	}
	if len(s.txnGroups[producerID]) == 0 {
		delete(s.txnGroups, producerID)
	}
}

// indexTxn records that group id may hold pending offsets of producerID.
func (s *shard) indexTxn(producerID int64, id string) {
	groups := s.txnGroups[producerID]
	if groups == nil {
		groups = make(map[string]struct{})
		s.txnGroups[producerID] = groups
	}
	groups[id] = struct{}{}
}

// prepareTxnCommit makes offsets pending in the producer's transaction,
// written by the write in flight identified by write.
func (g *group) prepareTxnCommit(producerID int64, offsets map[zkpaths.TopicPartition]committedOffset, write *pendingCommit) {
	pending := g.pendingTxnOffsets[producerID]
	if pending == nil {
		pending = make(map[zkpaths.TopicPartition]pendingTxnOffset, len(offsets))
		g.pendingTxnOffsets[producerID] = pending
	}
	for tp, o := range offsets {
		pending[tp] = pendingTxnOffset{offset: o, write: write}
	}
}

// txnCommitWritten applies the result of write: the offsets still pending
// from it learn the batch's position in the log or, when the write failed,
// are dropped, as Kafka's onTxnOffsetCommitAppend and
// failPendingTxnOffsetCommit.
func (g *group) txnCommitWritten(producerID int64, offsets map[zkpaths.TopicPartition]committedOffset, write *pendingCommit, baseOffset int64, err error) {
	pending := g.pendingTxnOffsets[producerID]
	for tp := range offsets {
		e, ok := pending[tp]
		if !ok || e.write != write {
			continue // ended, removed or replaced meanwhile
		}
		if err != nil {
			delete(pending, tp)
			continue
		}
		e.offset.batchOffset, e.write = baseOffset, nil
		pending[tp] = e
	}
	if err != nil && pending != nil && len(pending) == 0 {
		delete(g.pendingTxnOffsets, producerID)
	}
}

// completeTxn ends the producer's transaction in g for its offsets written
// below before: on commit each becomes the committed offset unless one
// later in the log is there already; on abort they are dropped. Offsets at
// or above before (of the producer's next transaction) stay pending; it
// reports whether any do. Offsets whose write is still in flight cannot be
// placed in the log: they are dropped and counted in unwritten on commit.
func (g *group) completeTxn(producerID int64, commit bool, before int64) (unwritten int, open bool) {
	pending, ok := g.pendingTxnOffsets[producerID]
	if !ok {
		return 0, false
	}
	for tp, e := range pending {
		if e.write == nil && e.offset.batchOffset >= before {
			continue
		}
		delete(pending, tp)
		switch cur, ok := g.offsets[tp]; {
		case !commit:
		case e.write != nil:
			unwritten++
		case !ok || e.offset.supersedes(cur):
			g.offsets[tp] = e.offset
		}
	}
	if len(pending) == 0 {
		delete(g.pendingTxnOffsets, producerID)
		return unwritten, false
	}
	return unwritten, true
}

// hasPendingCommit reports whether tp has a commit in flight or pending in
// an open transaction: OffsetFetch with require_stable answers
// UNSTABLE_OFFSET_COMMIT for it.
func (g *group) hasPendingCommit(tp zkpaths.TopicPartition) bool {
	if g.pendingCommits[tp] != nil {
		return true
	}
	for _, pending := range g.pendingTxnOffsets {
		if _, ok := pending[tp]; ok {
			return true
		}
	}
	return false
}
