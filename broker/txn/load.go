package txn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/shards"
)

// Load reads the shard's log, starts serving its ids, and resumes the
// ending of the transactions found in PrepareCommit or PrepareAbort (their
// markers are written again: a partition that has one already gets a
// duplicate, which is harmless). The table retries a failed read
// (shards.Shard).
func (s *shard) Load(ctx context.Context) error {
	start := time.Now()
	txns, err := readLog(ctx, s.log, s.logger)
	if err != nil {
		return err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.txns = txns
	s.loaded = true
	ending := 0
	for _, m := range txns {
		if m.state == statePrepareCommit || m.state == statePrepareAbort {
			s.startEnding(m)
			ending++
		}
	}
	s.logger.WithFields(logrus.Fields{"ids": len(txns), "ending": ending, "took": time.Since(start).Round(time.Millisecond)}).
		Info("loaded the transactional ids of a transaction state partition")
	return nil
}

// readLog reads log from its start to its end: a later record of an id
// wins, a tombstone removes it. Batches and records it cannot decode are
// logged and skipped.
func readLog(ctx context.Context, log Log, logger logrus.FieldLogger) (map[string]*txnMeta, error) {
	txns := make(map[string]*txnMeta)
	var reader record.Reader
	defer reader.Close()
	err := shards.ReadLog(ctx, log, logger, func(b record.Batch) { applyBatch(txns, &reader, b, logger) })
	if err != nil {
		return nil, fmt.Errorf("load the transaction state partition: %w", err)
	}
	return txns, nil
}

// decompressedLimit bounds what one compressed batch may decompress to.
var decompressedLimit = record.DecompressedLimit(0)

// applyBatch applies the records of one batch, reading them with r. The
// coordinator writes only plain batches: others are skipped.
func applyBatch(txns map[string]*txnMeta, r *record.Reader, b record.Batch, logger logrus.FieldLogger) {
	if h := b.Header; h.Magic != record.CurrentMagic || h.IsControl() || h.IsTransactional() {
		logger.WithField("offset", h.BaseOffset).Warn("skipping a batch the transaction coordinator does not write")
		return
	}
	r.Reset(b.Header, b.Bytes, record.Whole, decompressedLimit)
	for r.Next() {
		rec := r.Record()
		if err := apply(txns, rec.Key, rec.Value); err != nil {
			logger.WithError(err).WithField("batch_offset", b.Header.BaseOffset).Warn("skipping a record of the transaction state partition")
		}
	}
	if err := r.Err(); err != nil {
		logger.WithError(err).Warn("skipping undecodable records of the transaction state partition")
	}
}

// apply applies one record, whose key and value are valid during the call
// only (a nil value is a tombstone).
func apply(txns map[string]*txnMeta, key, value []byte) error {
	if key == nil {
		return errors.New("record without key")
	}
	id, err := decodeKey(key)
	if err != nil {
		return err
	}
	if value == nil {
		delete(txns, id)
		return nil
	}
	// The decoded strings alias the reader's buffer: decode a copy.
	m, err := decodeValue(id, bytes.Clone(value))
	if err != nil {
		return fmt.Errorf("transactional id %q: %w", id, err)
	}
	if m.state == stateDead || m.state == statePrepareEpochFence {
		// Never written by Kafka; an id in them has no usable state.
		return fmt.Errorf("transactional id %q: stored state %s", id, m.state)
	}
	txns[id] = m
	return nil
}
