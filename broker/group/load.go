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
	"github.com/kzoo/kzoo/zkpaths"
)

// loadBufferSize is how much one read of a load asks for (Kafka's
// offsets.load.buffer.size).
const loadBufferSize = 5 << 20

// Retries of a load whose read failed back off from loadRetryMin to
// loadRetryMax.
const (
	loadRetryMin = 100 * time.Millisecond
	loadRetryMax = 5 * time.Second
)

// load reads the shard's log and starts serving its groups. A failed read
// is retried (the partition answers COORDINATOR_LOAD_IN_PROGRESS meanwhile)
// until it succeeds or the partition is taken back.
func (s *shard) load() {
	start := time.Now()
	backoff := loadRetryMin
	var state *logState
	for {
		var err error
		state, err = readLog(s.ctx, s.log, s.logger)
		if err == nil {
			break
		}
		if s.ctx.Err() != nil {
			return
		}
		s.logger.WithError(err).Error("loading the offsets partition failed; retrying")
		t := time.NewTimer(backoff)
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, loadRetryMax)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.install(state, s.c.now())
	s.loaded = true
	s.logger.WithFields(logrus.Fields{"groups": len(s.groups), "took": time.Since(start).Round(time.Millisecond)}).
		Info("loaded the groups and offsets of an offsets partition")
}

// logState is what a partition's log says once every record is applied in
// order (a later record for a key wins, a tombstone deletes it).
type logState struct {
	groups  map[string]*kmsg.GroupMetadataValue
	offsets map[string]map[zkpaths.TopicPartition]committedOffset
}

// readLog reads log from its start to its end and applies its records.
// Batches and records it cannot decode are logged and skipped; it stops
// early only where the log cannot be split into batches any more.
func readLog(ctx context.Context, log Log, logger logrus.FieldLogger) (*logState, error) {
	st := &logState{
		groups:  make(map[string]*kmsg.GroupMetadataValue),
		offsets: make(map[string]map[zkpaths.TopicPartition]committedOffset),
	}
	var reader record.Reader
	defer reader.Close()
	offset := log.LogStartOffset()
	for offset < log.LogEndOffset() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := log.Read(offset, loadBufferSize)
		if err != nil {
			return nil, fmt.Errorf("read the offsets partition at offset %d: %w", offset, err)
		}
		if len(data) == 0 {
			break
		}
		next := offset
		for b, err := range record.Batches(data) {
			if b.Bytes == nil {
				logger.WithError(err).WithField("offset", next).Error("the offsets partition holds data that is not a record batch; skipping the rest of the read")
				break
			}
			next = max(next, b.Header.NextOffset())
			if err != nil {
				logger.WithError(err).Warn("skipping a corrupt batch of the offsets partition")
				continue
			}
			st.applyBatch(&reader, b, logger)
		}
		if next <= offset {
			logger.WithField("offset", offset).Error("cannot read the offsets partition past this offset; serving what was read")
			break
		}
		offset = next
	}
	return st, nil
}

// decompressedLimit bounds what one compressed batch of an offsets
// partition may decompress to: the least any log allows, as the coordinator
// writes only small, uncompressed batches.
var decompressedLimit = record.DecompressedLimit(0)

// applyBatch applies the records of one batch, reading them with r.
// Messages of the old formats, which the coordinator never wrote, are
// skipped, and so are control batches and transactional batches
// (transactional offset commits): kzoo has no transactions yet.
func (st *logState) applyBatch(r *record.Reader, b record.Batch, logger logrus.FieldLogger) {
	switch h := b.Header; {
	case h.Magic != record.CurrentMagic:
		logger.WithField("offset", h.BaseOffset).Warn("skipping a message of an old format in the offsets partition")
		return
	case h.IsControl() || h.IsTransactional():
		logger.WithField("offset", h.BaseOffset).Debug("skipping a transactional batch in the offsets partition")
		return
	}
	// A record the reader cannot decode ends the batch, after the records
	// before it were applied.
	r.Reset(b.Header, b.Bytes, record.Whole, decompressedLimit)
	for r.Next() {
		rec := r.Record()
		if err := st.apply(rec.Key, rec.Value); err != nil {
			logger.WithError(err).WithField("batch_offset", b.Header.BaseOffset).Warn("skipping a record of the offsets partition")
		}
	}
	if err := r.Err(); err != nil {
		logger.WithError(err).Warn("skipping undecodable records of the offsets partition")
	}
}

// apply applies one record, whose key and value are valid during the call
// only (a nil value is a tombstone).
func (st *logState) apply(key, value []byte) error {
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
		delete(st.offsets[k.groupID], k.tp)
		return nil
	}
	o, err := decodeOffsetValue(value)
	if err != nil {
		return fmt.Errorf("offset of group %q, %s-%d: %w", k.groupID, k.tp.Topic, k.tp.Partition, err)
	}
	if st.offsets[k.groupID] == nil {
		st.offsets[k.groupID] = make(map[zkpaths.TopicPartition]committedOffset)
	}
	st.offsets[k.groupID][k.tp] = o
	return nil
}

// install makes the loaded groups the shard's, as Kafka's loadGroup and
// onGroupLoaded: groups with members come back Stable with their session
// timers started, groups that only have offsets come back Empty, and a
// group over group.max.size rebalances.
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
	for _, g := range s.groups {
		g.eachMember(func(m *member) { m.heartbeatDeadline = now.Add(m.sessionTimeout) })
		if g.size() > s.c.cfg.MaxGroupSize {
			s.prepareRebalance(g, now, "loaded group is over group.max.size")
		}
	}
}
