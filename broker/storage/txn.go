package storage

import (
	"github.com/kzoo/kzoo/broker/record"
)

// This file holds what a Log tracks of transactions: which are open, which have ended
// but whose marker the ISR may not have yet, and from those the last stable offset, as
// Kafka's ProducerStateManager does.
//
// The last stable offset (LSO) is the offset below which every transaction is decided
// and replicated: min(high watermark, first offset of every open transaction, first
// offset of every ended transaction whose marker is not below the high watermark), and
// never below the log start offset. A read_committed consumer reads up to it.
//
// An append never moves the LSO: a transaction it opens starts at or above the log end
// offset, so at or above the high watermark, and one it ends stays unstable until the
// high watermark passes its marker. Only high watermark moves, truncations, log start
// moves and opening the log recompute it.

// AppendOrigin says who writes an append, which decides what is checked.
type AppendOrigin int8

const (
	// OriginClient is a producer: its batches' sequences are checked, control batches
	// are refused.
	OriginClient AppendOrigin = iota
	// OriginCoordinator is the broker's own coordinators and WriteTxnMarkers: the
	// producer epoch is checked but sequences are not, and control batches are accepted
	// when they are valid transaction markers.
	OriginCoordinator
)

// AbortedTxn is an aborted transaction as Fetch reports it: a read_committed consumer
// skips the producer's records from FirstOffset up to its abort marker.
type AbortedTxn struct {
	ProducerID, FirstOffset int64
}

// ProducerState is what DescribeProducers reports of one producer of a partition.
type ProducerState struct {
	ProducerID    int64
	ProducerEpoch int16
	// LastSequence is the sequence of the producer's last batch, -1 when none is known.
	LastSequence  int32
	LastTimestamp int64
	// CoordinatorEpoch is that of the last marker written for the producer, -1 before any.
	CoordinatorEpoch int32
	// CurrentTxnStartOffset is the first offset of the producer's open transaction, -1
	// when none is open.
	CurrentTxnStartOffset int64
}

// endedTxn is a transaction whose marker the log holds.
type endedTxn struct {
	producerID, firstOffset, markerOffset int64
	// unindexed is set for an abort whose transaction index entry is not written yet:
	// until it is, the transaction holds the LSO back whatever the high watermark, or a
	// read_committed consumer could read its records without learning of the abort.
	unindexed bool
}

// txnTracker is the transactions a log must keep the LSO below. It is guarded by the
// Log's txnMu.
type txnTracker struct {
	// open maps each producer with an open transaction to the transaction's first offset.
	open map[int64]int64
	// unreplicated are the ended transactions whose marker is not below the high
	// watermark, in marker order.
	unreplicated []endedTxn
}

func newTxnTracker() txnTracker { return txnTracker{open: make(map[int64]int64)} }

// trackerFrom builds the tracker of the open transactions of s.
func trackerFrom(s *producerStates) txnTracker {
	t := newTxnTracker()
	for id, e := range s.entries {
		if e.txnFirstOffset >= 0 {
			t.open[id] = e.txnFirstOffset
		}
	}
	return t
}

// apply records ev. For the end of an aborted transaction it returns the transaction
// index entry the marker's segment gets, with the offset below which every transaction is
// decided once it ends (Kafka's "last stable offset" of the entry): the first offset of
// the oldest transaction still open, or the offset after the marker.
func (t *txnTracker) apply(ev txnEvent) (entry abortedTxnEntry, aborted bool) {
	if !ev.ends() {
		t.open[ev.producerID] = ev.firstOffset
		return abortedTxnEntry{}, false
	}
	delete(t.open, ev.producerID)
	t.unreplicated = append(t.unreplicated, endedTxn{producerID: ev.producerID, firstOffset: ev.firstOffset, markerOffset: ev.markerOffset})
	if ev.commit {
		return abortedTxnEntry{}, false
	}
	lso := ev.markerOffset + 1
	for _, first := range t.open {
		lso = min(lso, first)
	}
	return abortedTxnEntry{producerID: ev.producerID, firstOffset: ev.firstOffset, lastOffset: ev.markerOffset, lastStableOffset: lso}, true
}

// firstUnstable drops the ended transactions whose marker lies below hw and returns the
// smallest first offset of the transactions left, open or ended; ok is false when none is.
func (t *txnTracker) firstUnstable(hw int64) (offset int64, ok bool) {
	kept := t.unreplicated[:0]
	for _, e := range t.unreplicated {
		if e.markerOffset >= hw || e.unindexed {
			kept = append(kept, e)
		}
	}
	clear(t.unreplicated[len(kept):])
	t.unreplicated = kept
	for _, first := range t.open {
		if !ok || first < offset {
			offset, ok = first, true
		}
	}
	for _, e := range t.unreplicated {
		if !ok || e.firstOffset < offset {
			offset, ok = e.firstOffset, true
		}
	}
	return offset, ok
}

// mergeEnded merges two lists of ended transactions in marker order, each transaction
// once.
func mergeEnded(a, b []endedTxn) []endedTxn {
	out := make([]endedTxn, 0, len(a)+len(b))
	for len(a) > 0 || len(b) > 0 {
		switch {
		case len(b) == 0 || (len(a) > 0 && a[0].markerOffset < b[0].markerOffset):
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0 || b[0].markerOffset < a[0].markerOffset:
			out, b = append(out, b[0]), b[1:]
		default: // the same marker
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	return out
}

// empty reports whether no transaction holds the LSO back.
func (t *txnTracker) empty() bool { return len(t.open) == 0 && len(t.unreplicated) == 0 }

// LastStableOffset returns the last stable offset: what a read_committed consumer may
// read up to (see txn.go). It takes no lock.
func (l *Log) LastStableOffset() int64 { return l.lastStable.Load() }

// updateLastStable recomputes the LSO from the high watermark and the transactions.
func (l *Log) updateLastStable() {
	l.txnMu.Lock()
	defer l.txnMu.Unlock()
	hw := l.highWatermark.Load()
	lso := hw
	if !l.txns.empty() {
		if first, ok := l.txns.firstUnstable(hw); ok && first < hw {
			lso = max(first, l.logStartOffset.Load())
		}
	}
	l.lastStable.Store(lso)
}

// trackTxnEvents records the transaction changes of an append about to be written, and
// returns the transaction index entries its abort markers call for. It runs before the
// batches are published: a high watermark move racing with the append must find the
// transactions it opens, or it could set the LSO past them. Applying them early is
// harmless: a transaction opened at or above the log end offset, or ended there, does
// not hold the LSO below the high watermark. l.mu must be held.
func (l *Log) trackTxnEvents(events []txnEvent) []abortedTxnEntry {
	if len(events) == 0 {
		return nil
	}
	var aborted []abortedTxnEntry
	l.txnMu.Lock()
	for _, ev := range events {
		if e, ok := l.txns.apply(ev); ok {
			aborted = append(aborted, e)
			l.txns.unreplicated[len(l.txns.unreplicated)-1].unindexed = true
		}
	}
	l.txnMu.Unlock()
	return aborted
}

// untrackTxnEvents undoes trackTxnEvents for an append that was not written. l.mu must be
// held.
func (l *Log) untrackTxnEvents(events []txnEvent) {
	if len(events) == 0 {
		return
	}
	l.txnMu.Lock()
	defer l.txnMu.Unlock()
	for i := len(events) - 1; i >= 0; i-- {
		ev := events[i]
		if !ev.ends() {
			delete(l.txns.open, ev.producerID)
			continue
		}
		// The transaction's end is the last one tracked: nothing else ran under l.mu.
		if n := len(l.txns.unreplicated); n > 0 && l.txns.unreplicated[n-1].markerOffset == ev.markerOffset {
			l.txns.unreplicated = l.txns.unreplicated[:n-1]
		}
		l.txns.open[ev.producerID] = ev.firstOffset
	}
}

// indexAborted appends the entries of abort markers just written to seg, the segment
// holding them. l.mu must be held. A transaction index that cannot be written fails the
// log: a read_committed consumer would otherwise take the aborted records for committed.
func (l *Log) indexAborted(aborted []abortedTxnEntry, seg *segment) error {
	if len(aborted) == 0 {
		return nil
	}
	for _, e := range aborted {
		if err := seg.appendAborted(e); err != nil {
			// The transactions stay unindexed, holding the LSO back: the log is failed.
			l.failed = err
			l.logger.WithError(err).Error("log failed: transaction index not written")
			return err
		}
	}
	l.txnMu.Lock()
	for i := range l.txns.unreplicated {
		l.txns.unreplicated[i].unindexed = false
	}
	l.txnMu.Unlock()
	// The high watermark may have passed the markers meanwhile.
	l.updateLastStable()
	return nil
}

// Producers returns the state of every producer the log knows, for DescribeProducers.
func (l *Log) Producers() []ProducerState {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]ProducerState, 0, len(l.producers.entries))
	for id, e := range l.producers.entries {
		ps := ProducerState{
			ProducerID: id, ProducerEpoch: e.epoch, LastSequence: -1, LastTimestamp: e.lastTimestamp,
			CoordinatorEpoch: e.coordinatorEpoch, CurrentTxnStartOffset: e.txnFirstOffset,
		}
		if b, ok := e.last(); ok {
			ps.LastSequence = b.lastSeq
		}
		out = append(out, ps)
	}
	return out
}

// TransactionOpen reports whether producerID has a transaction open in the log at epoch:
// what a leader checks before a transactional batch may open one (KIP-890).
func (l *Log) TransactionOpen(producerID int64, epoch int16) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.producers.entries[producerID]
	return ok && e.epoch == epoch && e.txnFirstOffset >= 0
}

// AbortedTransactions returns the aborted transactions a read_committed fetch from
// fetchOffset that returns records below upperBoundOffset must know of: those whose
// marker is at or above fetchOffset and whose first offset is below upperBoundOffset, as
// Kafka's collectAbortedTransactions. It reads the transaction indexes of the segment
// holding fetchOffset and of the later ones, until an entry shows every transaction
// starting below the bound decided.
func (l *Log) AbortedTransactions(fetchOffset, upperBoundOffset int64) ([]AbortedTxn, error) {
	entries, err := l.collectAborted(fetchOffset, upperBoundOffset)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	out := make([]AbortedTxn, len(entries))
	for i, e := range entries {
		out[i] = AbortedTxn{ProducerID: e.producerID, FirstOffset: e.firstOffset}
	}
	return out, nil
}

// collectAborted is AbortedTransactions with the whole index entries.
func (l *Log) collectAborted(fetchOffset, upperBoundOffset int64) ([]abortedTxnEntry, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	segs := l.loadSegments()
	i := 0
	for i+1 < len(segs) && segs[i+1].baseOffset <= fetchOffset {
		i++
	}
	var out []abortedTxnEntry
	for _, s := range segs[i:] {
		entries, err := s.abortedEntries()
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.lastOffset >= fetchOffset && e.firstOffset < upperBoundOffset {
				out = append(out, e)
			}
			if e.lastStableOffset >= upperBoundOffset {
				return out, nil
			}
		}
	}
	return out, nil
}

// abortedRanges tells which batches of a range of the log belong to aborted
// transactions: for each producer, the offsets from its aborted transactions' first
// offsets to their abort markers.
type abortedRanges map[int64][]abortedTxnEntry

func (l *Log) abortedRangesIn(from, to int64) (abortedRanges, error) {
	entries, err := l.collectAborted(from, to)
	if err != nil || len(entries) == 0 {
		return nil, err
	}
	r := make(abortedRanges)
	for _, e := range entries {
		r[e.producerID] = append(r[e.producerID], e)
	}
	return r, nil
}

// find returns the aborted transaction the data batch h is part of, if any.
func (r abortedRanges) find(h record.Header) (abortedTxnEntry, bool) {
	if len(r) == 0 || !h.IsTransactional() || h.IsControl() {
		return abortedTxnEntry{}, false
	}
	for _, e := range r[h.ProducerID] {
		if e.firstOffset <= h.BaseOffset && h.BaseOffset < e.lastOffset {
			return e, true
		}
	}
	return abortedTxnEntry{}, false
}

// parseMarkerIfControl returns the marker of batch (header h) if it is a control batch.
func parseMarkerIfControl(h record.Header, batch []byte) (*record.Marker, error) {
	if !h.IsControl() || !h.HasProducerID() {
		return nil, nil
	}
	m, err := record.ParseMarker(h, batch)
	if err != nil {
		return nil, err
	}
	return &m, nil
}
