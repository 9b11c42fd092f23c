package txn

import (
	"context"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/record"
)

// shard is one __transaction_state partition the coordinator holds: its
// log and the transactional ids that live in it. mu guards everything
// below it and is never held while a write waits in Log.Append.
type shard struct {
	c         *Coordinator
	partition int32
	// epoch is the partition's leader epoch: the coordinator epoch of the
	// markers written for its transactions.
	epoch  int32
	log    Log
	logger logrus.FieldLogger
	// ctx, the shard's context (shards.Table), is canceled before the shard
	// is unloaded; the load, the writes and the ending of transactions run
	// under it.
	ctx context.Context

	mu sync.Mutex
	// loaded is set once the log is read; closed once the partition is
	// taken back. Requests are served only while loaded and not closed.
	loaded, closed bool
	txns           map[string]*txnMeta
}

func newShard(c *Coordinator, ctx context.Context, partition, epoch int32, log Log) *shard {
	return &shard{
		c:         c,
		partition: partition,
		epoch:     epoch,
		log:       log,
		logger:    c.log.WithFields(logrus.Fields{"partition": partition, "epoch": epoch}),
		ctx:       ctx,
		txns:      make(map[string]*txnMeta),
	}
}

// Unload gives the partition up (shards.Shard; its context, and so its
// writes and marker work, are canceled already): its ids are dropped.
func (s *shard) Unload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	clear(s.txns)
}

// write appends the record of m's pending transition t and, once it is in
// the log, applies it to m; on failure m stays as it was (a never written
// id is forgotten). It returns the code the client gets. The caller
// prepared t under s.mu and released it: no lock is held while Append
// waits. A transition into PrepareCommit or PrepareAbort starts the ending
// of the transaction.
func (s *shard) write(m *txnMeta, t *transit) int16 {
	_, err := s.log.Append(s.ctx, buildRecord(m.id, t))

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errNotCoordinator
	}
	if err != nil {
		s.logger.WithFields(logrus.Fields{"transactional_id": m.id, "state": t.state}).WithError(err).
			Warn("writing a transaction state failed")
		m.abandon(t)
		if m.producerEpoch == noProducerEpoch && s.txns[m.id] == m {
			delete(s.txns, m.id)
		}
		return writeErrorCode(err)
	}
	if err := m.complete(t); err != nil {
		s.logger.WithField("transactional_id", m.id).WithError(err).Error("completing a transaction state transition")
		return errUnknownServerError
	}
	if m.state == statePrepareCommit || m.state == statePrepareAbort {
		s.startEnding(m)
	}
	return errNone
}

// abortTimedOut fences and aborts the transactions of the shard open
// longer than their timeout at now, as Kafka's abortTimedOutTransactions.
func (s *shard) abortTimedOut(now time.Time) {
	type fence struct {
		m *txnMeta
		t *transit
	}
	var fences []fence
	s.mu.Lock()
	if s.loaded && !s.closed {
		for _, m := range s.txns {
			if m.pending != nil || m.state != stateOngoing || !now.After(m.startTime.Add(m.timeout)) {
				continue
			}
			t, err := m.prepareFenceAbort(now)
			if err != nil {
				s.logger.WithField("transactional_id", m.id).WithError(err).Error("cannot abort a timed out transaction")
				continue
			}
			fences = append(fences, fence{m, t})
		}
	}
	s.mu.Unlock()
	for _, f := range fences {
		s.logger.WithFields(logrus.Fields{"transactional_id": f.m.id, "producer_id": f.t.producerID, "epoch": f.t.producerEpoch}).
			Info("aborting a transaction past its timeout")
		s.write(f.m, f.t)
	}
}

// expireIDs removes the ids idle for IDExpiration at now, with one batch
// of tombstones, as Kafka's transactional id expiration. An id used while
// its tombstone is written stays (its pending transition blocks that).
func (s *shard) expireIDs(now time.Time) {
	type dying struct {
		m *txnMeta
		t *transit
	}
	var dead []dying
	s.mu.Lock()
	if s.loaded && !s.closed {
		for _, m := range s.txns {
			if m.pending != nil || !m.state.expirable() || now.Sub(m.lastUpdate) < s.c.cfg.IDExpiration {
				continue
			}
			t, err := m.prepareDead(now)
			if err != nil {
				continue
			}
			dead = append(dead, dying{m, t})
		}
	}
	s.mu.Unlock()
	if len(dead) == 0 {
		return
	}
	b := record.NewBuilder(now.UnixMilli())
	for _, d := range dead {
		b.Append(txnKey(d.m.id), nil)
	}
	_, err := s.log.Append(s.ctx, b.Build())

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if err != nil {
		s.logger.WithError(err).WithField("ids", len(dead)).Warn("writing the tombstones of expired transactional ids failed")
	}
	for _, d := range dead {
		if err != nil {
			d.m.abandon(d.t)
			continue
		}
		d.m.pending = nil
		d.m.state = stateDead
		if s.txns[d.m.id] == d.m {
			delete(s.txns, d.m.id)
		}
	}
	if err == nil {
		s.logger.WithField("ids", len(dead)).Info("removed expired transactional ids")
	}
}

// buildRecord is the batch of one record: t's state of id, stamped with
// the time of the transition.
func buildRecord(id string, t *transit) []byte {
	b := record.NewBuilder(t.lastUpdate.UnixMilli())
	b.Append(txnKey(id), txnValue(t))
	return b.Build()
}
