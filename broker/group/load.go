package group

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/shards"
	"github.com/kzoo/kzoo/zkpaths"
)

// Load reads the shard's log and starts serving its groups (shards.Shard);
// the table retries a failed read, the partition answering
// COORDINATOR_LOAD_IN_PROGRESS meanwhile.
func (s *shard) Load(ctx context.Context) error {
	start := time.Now()
	state, err := readLog(ctx, s.log, s.logger)
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.install(state, s.c.now())
	s.loaded = true
	// Transactions that ended while the log was read: their markers may
	// have come after the read, so end them here (bounded by the log end
	// when each came, which keeps later transactions pending).
	for _, tc := range s.loadCompletions {
		s.completeTxn(tc.producerID, tc.commit, tc.logEnd)
	}
	s.loadCompletions = nil
	s.logger.WithFields(logrus.Fields{"groups": len(s.groups), "took": time.Since(start).Round(time.Millisecond)}).
		Info("loaded the groups and offsets of an offsets partition")
	return nil
}

// logState is what a partition's log says once every record is applied in
// order (a later record for a key wins, a tombstone deletes it).
type logState struct {
	groups  map[string]*kmsg.GroupMetadataValue
	offsets map[string]map[zkpaths.TopicPartition]committedOffset
	// pending holds, per producer id and then group, the offsets of
	// transactional batches whose transaction has no marker yet. A commit
	// marker moves them into offsets (where no later commit is), an abort
	// drops them, as Kafka's doLoadGroupsAndOffsets.
	pending map[int64]map[string]map[zkpaths.TopicPartition]committedOffset
}

// readLog reads log from its start to its end and applies its records.
// Batches and records it cannot decode are logged and skipped; it stops
// early only where the log cannot be split into batches any more.
func readLog(ctx context.Context, log Log, logger logrus.FieldLogger) (*logState, error) {
	st := &logState{
		groups:  make(map[string]*kmsg.GroupMetadataValue),
		offsets: make(map[string]map[zkpaths.TopicPartition]committedOffset),
		pending: make(map[int64]map[string]map[zkpaths.TopicPartition]committedOffset),
	}
	var reader record.Reader
	defer reader.Close()
	err := shards.ReadLog(ctx, log, logger, func(b record.Batch) { st.applyBatch(&reader, b, logger) })
	if err != nil {
		return nil, fmt.Errorf("load the offsets partition: %w", err)
	}
	return st, nil
}

// decompressedLimit bounds what one compressed batch of an offsets
// partition may decompress to: the least any log allows, as the coordinator
// writes only small, uncompressed batches.
var decompressedLimit = record.DecompressedLimit(0)

// applyBatch applies the records of one batch, reading them with r.
// Messages of the old formats, which the coordinator never wrote, are
// skipped. The offsets of a transactional batch (TxnOffsetCommit) wait
// for their producer's marker, a control batch.
func (st *logState) applyBatch(r *record.Reader, b record.Batch, logger logrus.FieldLogger) {
	h := b.Header
	switch {
	case h.Magic != record.CurrentMagic:
		logger.WithField("offset", h.BaseOffset).Warn("skipping a message of an old format in the offsets partition")
		return
	case h.IsControl():
		st.applyMarker(b, logger)
		return
	case h.IsTransactional() && !h.HasProducerID():
		logger.WithField("offset", h.BaseOffset).Warn("skipping a transactional batch without a producer in the offsets partition")
		return
	}
	txnProducer := int64(-1)
	if h.IsTransactional() {
		txnProducer = h.ProducerID
	}
	// A record the reader cannot decode ends the batch, after the records
	// before it were applied.
	r.Reset(b.Header, b.Bytes, record.Whole, decompressedLimit)
	for r.Next() {
		rec := r.Record()
		if err := st.apply(rec.Key, rec.Value, h.BaseOffset, txnProducer); err != nil {
			logger.WithError(err).WithField("batch_offset", b.Header.BaseOffset).Warn("skipping a record of the offsets partition")
		}
	}
	if err := r.Err(); err != nil {
		logger.WithError(err).Warn("skipping undecodable records of the offsets partition")
	}
}

// applyMarker ends the transaction of the control batch's producer: a
// commit makes its pending offsets committed where no commit later in the
// log is; an abort, or any other control record, drops them (as Kafka). A
// control batch that cannot be read is skipped, leaving them pending.
func (st *logState) applyMarker(b record.Batch, logger logrus.FieldLogger) {
	if b.Header.RecordCount == 0 {
		return // a control batch emptied by the cleaner
	}
	m, err := record.ParseMarker(b.Header, b.Bytes)
	if err != nil {
		logger.WithError(err).WithField("offset", b.Header.BaseOffset).Warn("skipping an unreadable control batch of the offsets partition")
		return
	}
	commit := m.Commit
	pending := st.pending[b.Header.ProducerID]
	delete(st.pending, b.Header.ProducerID)
	if !commit {
		return
	}
	for groupID, offsets := range pending {
		for tp, o := range offsets {
			if cur, ok := st.offsets[groupID][tp]; !ok || o.supersedes(cur) {
				st.offsetsOf(groupID)[tp] = o
			}
		}
	}
}

// offsetsOf returns the committed offsets of groupID, made when missing.
func (st *logState) offsetsOf(groupID string) map[zkpaths.TopicPartition]committedOffset {
	m := st.offsets[groupID]
	if m == nil {
		m = make(map[zkpaths.TopicPartition]committedOffset)
		st.offsets[groupID] = m
	}
	return m
}

// pendingOf returns the offsets of groupID pending in the producer's
// transaction, made when missing.
func (st *logState) pendingOf(producerID int64, groupID string) map[zkpaths.TopicPartition]committedOffset {
	byGroup := st.pending[producerID]
	if byGroup == nil {
		byGroup = make(map[string]map[zkpaths.TopicPartition]committedOffset)
		st.pending[producerID] = byGroup
	}
	m := byGroup[groupID]
	if m == nil {
		m = make(map[zkpaths.TopicPartition]committedOffset)
		byGroup[groupID] = m
	}
	return m
}

// apply applies one record of the batch at batchOffset, whose key and
// value are valid during the call only (a nil value is a tombstone). The
// offsets of a transactional batch of txnProducer (-1: not transactional)
// go pending in its transaction; a group's metadata never is
// transactional.
func (st *logState) apply(key, value []byte, batchOffset, txnProducer int64) error {
	if key == nil {
		return errors.New("record without key")
	}
	k, err := decodeKey(key)
	if err != nil {
		return err
	}
	if !k.isOffset {
		if value == nil {
			delete(st.groups, k.groupID)
			return nil
		}
		// The decoded value aliases what it was decoded from, which the
		// record reader reuses for the next record: decode a copy.
		v, err := decodeGroupValue(bytes.Clone(value))
		if err != nil {
			return fmt.Errorf("group %q: %w", k.groupID, err)
		}
		st.groups[k.groupID] = v
		return nil
	}
	if value == nil {
		if txnProducer >= 0 {
			delete(st.pending[txnProducer][k.groupID], k.tp)
		} else {
			delete(st.offsets[k.groupID], k.tp)
		}
		return nil
	}
	o, err := decodeOffsetValue(value)
	if err != nil {
		return fmt.Errorf("offset of group %q, %s-%d: %w", k.groupID, k.tp.Topic, k.tp.Partition, err)
	}
	o.batchOffset = batchOffset
	if txnProducer >= 0 {
		st.pendingOf(txnProducer, k.groupID)[k.tp] = o
	} else {
		st.offsetsOf(k.groupID)[k.tp] = o
	}
	return nil
}

// install makes the loaded groups the shard's, as Kafka's loadGroup and
// onGroupLoaded: groups with members come back Stable with their session
// timers started, groups that only have offsets (committed, or pending in
// a transaction) come back Empty, and a group over group.max.size
// rebalances.
func (s *shard) install(st *logState, now time.Time) {
	for id, v := range st.groups {
		g, skipped := groupFromValue(id, v, now)
		if len(skipped) > 0 {
			s.logger.WithFields(logrus.Fields{"group": id, "members": skipped}).Warn("dropped invalid members of a loaded group")
		}
		s.groups[id] = g
	}
	for id, offsets := range st.offsets {
		if len(offsets) == 0 {
			continue
		}
		g := s.groups[id]
		if g == nil {
			g = newGroup(id, now)
			s.groups[id] = g
		}
		g.offsets = offsets
	}
	for producerID, byGroup := range st.pending {
		for id, offsets := range byGroup {
			if len(offsets) == 0 {
				continue
			}
			g := s.groups[id]
			if g == nil {
				g = newGroup(id, now)
				s.groups[id] = g
			}
			pending := make(map[zkpaths.TopicPartition]pendingTxnOffset, len(offsets))
			for tp, o := range offsets {
				pending[tp] = pendingTxnOffset{offset: o}
			}
			g.pendingTxnOffsets[producerID] = pending
			s.indexTxn(producerID, id)
		}
	}
	for _, g := range s.groups {
		g.eachMember(func(m *member) { m.heartbeatDeadline = now.Add(m.sessionTimeout) })
		if g.size() > s.c.cfg.MaxGroupSize {
			s.prepareRebalance(g, now, "loaded group is over group.max.size")
		}
	}
}
