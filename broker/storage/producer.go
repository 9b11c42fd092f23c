package storage

import (
	"fmt"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// producerBatchCacheSize is how many recent batches of each producer are remembered for
// duplicate detection; it matches max.in.flight.requests.per.connection's idempotence limit.
const producerBatchCacheSize = 5

// producerBatch is what is remembered of one batch of an idempotent producer.
type producerBatch struct {
	firstSeq, lastSeq       int32
	firstOffset, lastOffset int64
	maxTimestamp            int64
}

// producerEntry is the state of one producer id. It is a value: copying it is how an
// append stages changes it may still abandon. Make one with newProducerEntry: the zero
// value would claim a transaction open at offset 0.
type producerEntry struct {
	epoch int16
	// coordinatorEpoch is that of the last marker written for the producer, -1 before
	// any: markers of an older coordinator are fenced.
	coordinatorEpoch int32
	lastOffset       int64 // of the producer's last batch, data or control
	lastTimestamp    int64 // max timestamp of that batch
	// txnFirstOffset is the first offset of the producer's open transaction on this
	// partition, -1 when none is open. A transactional batch opens one; a marker ends it.
	txnFirstOffset int64
	batches        [producerBatchCacheSize]producerBatch
	n              int // batches[:n] are valid, oldest first
}

func newProducerEntry(epoch int16) producerEntry {
	return producerEntry{epoch: epoch, coordinatorEpoch: -1, lastOffset: -1, lastTimestamp: -1, txnFirstOffset: -1}
}

// setEpoch moves the producer to epoch. A new epoch restarts the sequences; the open
// transaction and the coordinator epoch stay (KIP-360: the coordinator bumps the epoch
// and then aborts the transaction with it).
func (e *producerEntry) setEpoch(epoch int16) {
	if epoch != e.epoch {
		e.epoch, e.n, e.batches = epoch, 0, [producerBatchCacheSize]producerBatch{}
	}
}

func (e *producerEntry) push(b producerBatch) {
	if e.n == len(e.batches) {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = b
	e.n++
	e.lastOffset = b.lastOffset
	e.lastTimestamp = b.maxTimestamp
}

func (e *producerEntry) last() (producerBatch, bool) {
	if e.n == 0 {
		return producerBatch{}, false
	}
	return e.batches[e.n-1], true
}

func (e *producerEntry) find(firstSeq, lastSeq int32) (producerBatch, bool) {
	for _, b := range e.batches[:e.n] {
		if b.firstSeq == firstSeq && b.lastSeq == lastSeq {
			return b, true
		}
	}
	return producerBatch{}, false
}

// txnEvent is a change of a producer's transaction on this partition, as an append or a
// replay makes it: a transaction starts at firstOffset (markerOffset -1), or ends with the
// marker at markerOffset.
type txnEvent struct {
	producerID   int64
	firstOffset  int64
	markerOffset int64
	commit       bool
}

func (ev txnEvent) ends() bool { return ev.markerOffset >= 0 }

// dataBatch records the data batch h of the entry's producer, at firstOffset: it opens a
// transaction if h is transactional and none is open. A non-transactional batch while a
// transaction is open is refused with INVALID_TXN_STATE when strict (a leader's append),
// let through otherwise (replication copies what a leader accepted).
func (e *producerEntry) dataBatch(id int64, h record.Header, firstOffset int64, strict bool, events *[]txnEvent) error {
	switch {
	case h.IsTransactional() && e.txnFirstOffset < 0:
		e.txnFirstOffset = firstOffset
		*events = append(*events, txnEvent{producerID: id, firstOffset: firstOffset, markerOffset: -1})
	case !h.IsTransactional() && e.txnFirstOffset >= 0 && strict:
		return fmt.Errorf("producer %d wrote a non-transactional batch inside its transaction open since offset %d: %w", id, e.txnFirstOffset, kerr.InvalidTxnState)
	}
	return nil
}

// endTxn records the marker m at offset: it ends the producer's open transaction, if
// there is one. A marker without one is written all the same, as in Kafka (a coordinator
// retrying a marker that already landed, or aborting a transaction that never wrote here).
func (e *producerEntry) endTxn(id int64, m record.Marker, offset, timestamp int64, events *[]txnEvent) {
	e.setEpoch(m.ProducerEpoch)
	e.coordinatorEpoch = m.CoordinatorEpoch
	if e.txnFirstOffset >= 0 {
		*events = append(*events, txnEvent{producerID: id, firstOffset: e.txnFirstOffset, markerOffset: offset, commit: m.Commit})
		e.txnFirstOffset = -1
	}
	e.lastOffset, e.lastTimestamp = offset, timestamp
}

// withReplicated returns the entry after the batch h (already assigned firstOffset) was
// appended without validation, as on a follower or when replaying the log. m is h's
// marker when h is a control batch, nil otherwise (or when it could not be parsed: the
// transaction is then taken as ended, to keep the log readable).
func (e producerEntry) withReplicated(id int64, h record.Header, firstOffset int64, m *record.Marker, events *[]txnEvent) producerEntry {
	lastOffset := firstOffset + int64(h.LastOffsetDelta)
	if h.IsControl() {
		marker := record.Marker{ProducerID: id, ProducerEpoch: h.ProducerEpoch, CoordinatorEpoch: e.coordinatorEpoch, Commit: true}
		if m != nil {
			marker = *m
		}
		e.endTxn(id, marker, lastOffset, h.MaxTimestamp, events)
		return e
	}
	e.setEpoch(h.ProducerEpoch)
	_ = e.dataBatch(id, h, firstOffset, false, events)
	if h.BaseSequence < 0 {
		// A coordinator's batch: an epoch, no sequences.
		e.lastOffset, e.lastTimestamp = lastOffset, h.MaxTimestamp
		return e
	}
	e.push(producerBatch{
		firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
		firstOffset: firstOffset, lastOffset: lastOffset,
		maxTimestamp: h.MaxTimestamp,
	})
	return e
}

// producerStates is the idempotence and transaction state of every producer id seen in a
// log.
type producerStates struct {
	entries map[int64]producerEntry
}

func newProducerStates() producerStates {
	return producerStates{entries: make(map[int64]producerEntry)}
}

// replay applies a batch read back from the log, m being its marker if it is one, and
// adds the transaction changes it makes to events.
func (s *producerStates) replay(h record.Header, m *record.Marker, events *[]txnEvent) {
	if !h.HasProducerID() {
		return
	}
	e, ok := s.entries[h.ProducerID]
	if !ok {
		e = newProducerEntry(h.ProducerEpoch)
	}
	s.entries[h.ProducerID] = e.withReplicated(h.ProducerID, h, h.BaseOffset, m, events)
}

// removeBefore forgets producers whose last batch lies below offset: retention deleted it.
// A producer with an open transaction stays, whatever its age: forgetting it would forget
// the transaction, which a marker has yet to end.
func (s *producerStates) removeBefore(offset int64) {
	for id, e := range s.entries {
		if e.lastOffset < offset && e.txnFirstOffset < 0 {
			delete(s.entries, id)
		}
	}
}

// apply commits the changes staged by an append that was written.
func (s *producerStates) apply(a *producerAppend) {
	for id, e := range a.staged {
		s.entries[id] = e
	}
}

// producerAppend stages the producer state changes of one append request, so that a
// request whose later batch fails validation leaves the state untouched.
type producerAppend struct {
	committed *producerStates
	staged    map[int64]producerEntry
	// events are the transaction changes of the append, in offset order.
	events []txnEvent
}

func (s *producerStates) begin() *producerAppend {
	return &producerAppend{committed: s}
}

func (a *producerAppend) entry(id int64) (producerEntry, bool) {
	if e, ok := a.staged[id]; ok {
		return e, true
	}
	e, ok := a.committed.entries[id]
	return e, ok
}

func (a *producerAppend) stage(id int64, e producerEntry) {
	if a.staged == nil {
		a.staged = make(map[int64]producerEntry)
	}
	a.staged[id] = e
}

// addFromClient validates the sequence and epoch of a producer's batch h, to be written at
// firstOffset, and its place in the producer's transaction, and stages it. If the batch
// was already written, it returns what was remembered of it and stages nothing.
func (a *producerAppend) addFromClient(h record.Header, firstOffset int64) (duplicate *producerBatch, err error) {
	if !h.HasProducerID() {
		return nil, nil
	}
	e, known := a.entry(h.ProducerID)
	switch {
	case !known:
		// A producer whose state retention removed may carry on from any sequence.
		e = newProducerEntry(h.ProducerEpoch)
	case h.ProducerEpoch < e.epoch:
		return nil, fmt.Errorf("producer %d epoch %d is older than the current epoch %d: %w", h.ProducerID, h.ProducerEpoch, e.epoch, kerr.InvalidProducerEpoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("producer %d starts new epoch %d at sequence %d, not 0: %w", h.ProducerID, h.ProducerEpoch, h.BaseSequence, kerr.OutOfOrderSequenceNumber)
		}
		e.setEpoch(h.ProducerEpoch)
	default:
		if dup, ok := e.find(h.BaseSequence, h.LastSequence()); ok {
			return &dup, nil
		}
		if last, ok := e.last(); ok {
			if want := record.IncrementSequence(last.lastSeq, 1); h.BaseSequence != want {
				return nil, fmt.Errorf("producer %d epoch %d sent sequence %d, expected %d: %w", h.ProducerID, h.ProducerEpoch, h.BaseSequence, want, kerr.OutOfOrderSequenceNumber)
			}
		}
	}
	if err := e.dataBatch(h.ProducerID, h, firstOffset, true, &a.events); err != nil {
		return nil, err
	}
	e.push(producerBatch{
		firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
		firstOffset: firstOffset, lastOffset: firstOffset + int64(h.LastOffsetDelta),
		maxTimestamp: h.MaxTimestamp,
	})
	a.stage(h.ProducerID, e)
	return nil, nil
}

// addFromCoordinator validates and stages a batch a coordinator writes at firstOffset:
// the producer's epoch is checked, its sequences are not (the coordinator's batches have
// none). m is the batch's marker when it is a control batch, nil otherwise. A marker of
// an epoch older than the producer's is PRODUCER_FENCED, one of an older coordinator
// TRANSACTION_COORDINATOR_FENCED, as in Kafka.
func (a *producerAppend) addFromCoordinator(h record.Header, firstOffset int64, m *record.Marker) error {
	if !h.HasProducerID() {
		return nil
	}
	e, known := a.entry(h.ProducerID)
	if !known {
		e = newProducerEntry(h.ProducerEpoch)
	}
	lastOffset := firstOffset + int64(h.LastOffsetDelta)
	if m != nil {
		switch {
		case m.ProducerEpoch < e.epoch:
			return fmt.Errorf("marker of producer %d epoch %d, older than its epoch %d: %w", m.ProducerID, m.ProducerEpoch, e.epoch, kerr.ProducerFenced)
		case m.CoordinatorEpoch < e.coordinatorEpoch:
			return fmt.Errorf("marker of producer %d from coordinator epoch %d, older than %d: %w", m.ProducerID, m.CoordinatorEpoch, e.coordinatorEpoch, kerr.TransactionCoordinatorFenced)
		}
		e.endTxn(h.ProducerID, *m, lastOffset, h.MaxTimestamp, &a.events)
		a.stage(h.ProducerID, e)
		return nil
	}
	if h.ProducerEpoch < e.epoch {
		return fmt.Errorf("producer %d epoch %d is older than the current epoch %d: %w", h.ProducerID, h.ProducerEpoch, e.epoch, kerr.InvalidProducerEpoch)
	}
	e.setEpoch(h.ProducerEpoch)
	if err := e.dataBatch(h.ProducerID, h, firstOffset, true, &a.events); err != nil {
		return err
	}
	e.lastOffset, e.lastTimestamp = lastOffset, h.MaxTimestamp
	a.stage(h.ProducerID, e)
	return nil
}

// addReplicated stages a batch appended without validation (follower appends); m is its
// marker when it is a control batch.
func (a *producerAppend) addReplicated(h record.Header, m *record.Marker) {
	if !h.HasProducerID() {
		return
	}
	e, ok := a.entry(h.ProducerID)
	if !ok {
		e = newProducerEntry(h.ProducerEpoch)
	}
	a.stage(h.ProducerID, e.withReplicated(h.ProducerID, h, h.BaseOffset, m, &a.events))
}
