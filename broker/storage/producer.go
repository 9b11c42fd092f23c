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
// append stages changes it may still abandon.
type producerEntry struct {
	epoch      int16
	lastOffset int64 // of the producer's last batch, data or control
	batches    [producerBatchCacheSize]producerBatch
	n          int // batches[:n] are valid, oldest first
}

func (e *producerEntry) push(b producerBatch) {
	if e.n == len(e.batches) {
		copy(e.batches[:], e.batches[1:])
		e.n--
	}
	e.batches[e.n] = b
	e.n++
	e.lastOffset = b.lastOffset
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

// withReplicated returns the entry after the batch h (already assigned firstOffset) was
// appended without validation, as on a follower or when replaying the log.
func (e producerEntry) withReplicated(h record.Header, firstOffset int64) producerEntry {
	if h.ProducerEpoch != e.epoch {
		e = producerEntry{epoch: h.ProducerEpoch}
	}
	lastOffset := firstOffset + int64(h.LastOffsetDelta)
	if h.IsControl() || h.BaseSequence < 0 {
		// Transaction markers carry the epoch but no sequence numbers.
		e.lastOffset = lastOffset
		return e
	}
	e.push(producerBatch{
		firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
		firstOffset: firstOffset, lastOffset: lastOffset,
		maxTimestamp: h.MaxTimestamp,
	})
	return e
}

// producerStates is the idempotence state of every producer id seen in a log.
type producerStates struct {
	entries map[int64]producerEntry
}

func newProducerStates() producerStates {
	return producerStates{entries: make(map[int64]producerEntry)}
}

// replay applies a batch read back from the log.
func (s *producerStates) replay(h record.Header) {
	if !h.HasProducerID() {
		return
	}
	s.entries[h.ProducerID] = s.entries[h.ProducerID].withReplicated(h, h.BaseOffset)
}

// removeBefore forgets producers whose last batch lies below offset: retention deleted it.
func (s *producerStates) removeBefore(offset int64) {
	for id, e := range s.entries {
		if e.lastOffset < offset {
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
// firstOffset, and stages it. If the batch was already written, it returns what was
// remembered of it and stages nothing.
func (a *producerAppend) addFromClient(h record.Header, firstOffset int64) (duplicate *producerBatch, err error) {
	if !h.HasProducerID() {
		return nil, nil
	}
	e, known := a.entry(h.ProducerID)
	switch {
	case !known:
		// A producer whose state retention removed may carry on from any sequence.
		e = producerEntry{epoch: h.ProducerEpoch}
	case h.ProducerEpoch < e.epoch:
		return nil, fmt.Errorf("producer %d epoch %d is older than the current epoch %d: %w", h.ProducerID, h.ProducerEpoch, e.epoch, kerr.InvalidProducerEpoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return nil, fmt.Errorf("producer %d starts new epoch %d at sequence %d, not 0: %w", h.ProducerID, h.ProducerEpoch, h.BaseSequence, kerr.OutOfOrderSequenceNumber)
		}
		e = producerEntry{epoch: h.ProducerEpoch, lastOffset: e.lastOffset}
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
	e.push(producerBatch{
		firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
		firstOffset: firstOffset, lastOffset: firstOffset + int64(h.LastOffsetDelta),
		maxTimestamp: h.MaxTimestamp,
	})
	a.stage(h.ProducerID, e)
	return nil, nil
}

// addReplicated stages a batch appended without validation (follower appends).
func (a *producerAppend) addReplicated(h record.Header) {
	if !h.HasProducerID() {
		return
	}
	e, _ := a.entry(h.ProducerID)
	a.stage(h.ProducerID, e.withReplicated(h, h.BaseOffset))
}
