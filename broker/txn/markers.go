package txn

import (
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/zkpaths"
)

// Retries of the ending of a transaction (its markers or its Complete
// record) back off from endRetryMin to endRetryMax.
const (
	endRetryMin = 100 * time.Millisecond
	endRetryMax = 5 * time.Second
)

// startEnding starts the goroutine that ends m's transaction, which is in
// PrepareCommit or PrepareAbort with its record written: it has the
// markers written to the transaction's partitions, then writes
// CompleteCommit or CompleteAbort. The caller holds s.mu.
//
// Invariant: every id in PrepareCommit or PrepareAbort in a loaded shard
// has one such goroutine; it stops when the shard is unloaded (the next
// coordinator of the partition ends the transaction) or the coordinator
// closes.
func (s *shard) startEnding(m *txnMeta) {
	marker := Marker{
		ProducerID:       m.producerID,
		ProducerEpoch:    m.producerEpoch,
		CoordinatorEpoch: s.epoch,
		Commit:           m.state == statePrepareCommit,
	}
	partitions := sortedPartitions(m.partitions)
	started := m.startTime
	s.c.shards.Go(func() { s.end(m, marker, partitions, started) })
}

func (s *shard) end(m *txnMeta, marker Marker, partitions []zkpaths.TopicPartition, started time.Time) {
	logger := s.logger.WithFields(logrus.Fields{"transactional_id": m.id, "producer_id": marker.ProducerID, "epoch": marker.ProducerEpoch, "commit": marker.Commit})
	backoff := endRetryMin
	wait := func() bool {
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(2*backoff, endRetryMax)
		select {
		case <-s.ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	for {
		err := s.c.markers.WriteMarkers(s.ctx, marker, partitions)
		if err == nil {
			break
		}
		if s.ctx.Err() != nil {
			return
		}
		logger.WithError(err).Warn("writing transaction markers failed; retrying")
		if !wait() {
			return
		}
	}
	s.c.stats.markers.Add(uint64(len(partitions)))

	backoff = endRetryMin
	for {
		s.mu.Lock()
		if s.closed || s.txns[m.id] != m || m.producerEpoch != marker.ProducerEpoch ||
			(m.state != statePrepareCommit && m.state != statePrepareAbort) {
			s.mu.Unlock()
			return
		}
		t, err := m.prepareComplete(s.c.now())
		s.mu.Unlock()
		if err != nil {
			logger.WithError(err).Error("cannot complete a transaction")
			return
		}
		switch code := s.write(m, t); code {
		case errNone:
			s.c.stats.completed(marker.Commit, s.c.now().Sub(started))
			logger.Debug("completed a transaction")
			return
		case errNotCoordinator:
			return
		default:
			logger.WithField("error_code", code).Warn("writing the end of a transaction failed; retrying")
		}
		if !wait() {
			return
		}
	}
}
