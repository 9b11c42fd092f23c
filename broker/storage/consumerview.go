package storage

import (
	"encoding/binary"
	"fmt"

	"github.com/kzoo/kzoo/broker/record"
)

// The consumer's view of a transactional log.
//
// A log that has held transactions holds control batches (the commit and abort markers)
// and, perhaps, the batches of aborted transactions. A client with transaction support
// skips both itself, from the batch attributes and the aborted transactions of the
// Fetch response; a client without it (kafka-go) returns markers as messages and aborted
// records as committed ones. So kzoo shows consumers a view in which every client reads
// correctly: ConsumerView drops every control batch and, for read_committed, every batch
// of an aborted transaction from the range a fetch returns, and stands one synthetic
// empty batch (no records; see appendEmptyBatch) in for each maximal run of dropped
// batches. That is what Kafka's log cleaner leaves of a batch whose records it removed
// (KAFKA-5443), so every client already steps over it: Java, franz-go, librdkafka and
// sarama advance their position past it; kafka-go reads on to the next batch without
// returning it (but see ConsumerView for a view of empty batches alone). The aborted transactions of such a view are empty: the records they name are gone,
// and a Java client given them would, with the abort markers gone too, also skip the
// producer's next, committed, transaction.
//
// A batch without records that is neither (the cleaner leaves one for the last batch of
// a producer whose records it removed) joins a run of dropped batches, or stands for one
// alone: it carries no record either way, and two empty batches in a row would derail
// kafka-go, which steps over one at a time (segmentio/kafka-go#874).
//
// Everything kept is sent as it is in the segment file (sub-slices of the read's Slice);
// only the headers of the batches in the range are read, through a window as a segment
// read does. A log that never held a transactional or control batch (hadTxnData unset)
// is served the read's Slice as it is, with no header read.

// Chunk is one piece of a consumer's view: a run of batches kept as the segment file
// holds them (Slice, Size > 0), or one synthetic empty batch (Batch) standing for a run
// of batches dropped.
type Chunk struct {
	Slice Slice
	Batch []byte
}

// Size is the number of bytes the chunk sends.
func (c Chunk) Size() int64 {
	if c.Batch != nil {
		return int64(len(c.Batch))
	}
	return c.Slice.Size
}

// ChunksSize returns the bytes of chunks.
func ChunksSize(chunks []Chunk) int64 {
	var total int64
	for _, c := range chunks {
		total += c.Size()
	}
	return total
}

// HadTransactions reports whether the log has ever held a transactional or control
// batch, as far as this broker knows (see hadTxnData). It takes no lock.
func (l *Log) HadTransactions() bool { return l.hadTxnData.Load() }

// noteTxnBatches records that the log holds transactional or control batches if refs has
// one. It runs before the batches are published, so that a reader that sees them sees
// the flag too.
func (l *Log) noteTxnBatches(refs []record.Ref) {
	if l.hadTxnData.Load() {
		return
	}
	for _, r := range refs {
		if r.Hdr.IsTransactional() || r.Hdr.IsControl() {
			l.hadTxnData.Store(true)
			return
		}
	}
}

// noteTxnState sets hadTxnData from the producer state and transaction indexes a load
// rebuilt: a producer that wrote a marker (coordinator epoch set) or has a transaction
// open, or an aborted transaction indexed, means the log holds transactional batches.
// A producer is forgotten only once its last batch, and with it every earlier one, is
// below the log start, so nothing of the log is missed.
func (l *Log) noteTxnState(segs []*segment) {
	for _, e := range l.producers.entries {
		if e.coordinatorEpoch >= 0 || e.txnFirstOffset >= 0 {
			l.hadTxnData.Store(true)
			return
		}
	}
	for _, s := range segs {
		if s.txnCount.Load() > 0 {
			l.hadTxnData.Store(true)
			return
		}
	}
}

// ConsumerView returns what a consumer is shown of s, a range Read returned from the log
// for a fetch bounded by maxOffset and maxBytes: its kept batches as sub-slices of s and
// a synthetic empty batch for each run of dropped ones (see the top of this file).
// filtered is false, and chunks nil, when the log never held a transactional or control
// batch: s is then to be sent as it is.
//
// A view is never made of synthetic batches alone, which kafka-go mishandles: having read
// no message from a response, it takes an empty batch as the end of a compacted batch and
// moves its fetch position to offset 1 (its Batch.lastOffset starts at 0), reading the
// partition again from there. So when s holds dropped batches only, the view reads on
// from its end, within maxBytes less the synthetic batch, until a kept batch joins the
// run's synthetic batch; when the run reaches maxOffset first, the view is empty (non-nil,
// no chunks) and the consumer waits before the run, as at the end of a partition, until
// something follows it. Otherwise the view is no bigger than s, and covers its offsets.
func (l *Log) ConsumerView(s Slice, maxOffset int64, maxBytes int32, readCommitted bool) (chunks []Chunk, filtered bool, err error) {
	if s.Size <= 0 || !l.hadTxnData.Load() {
		return nil, false, nil
	}
	window := l.windows.Get().(*[]byte)
	defer l.windows.Put(window)
	v := viewBuilder{slice: s}
	for {
		if err := l.scanView(&v, s, readCommitted, *window); err != nil {
			return nil, false, err
		}
		if v.keptAny {
			return v.finish(), true, nil
		}
		if s.NextOffset >= maxOffset {
			return []Chunk{}, true, nil
		}
		next, err := l.Read(s.NextOffset, maxOffset, max(maxBytes-record.HeaderSize, 1))
		if err != nil {
			return nil, false, fmt.Errorf("consumer view: read on from offset %d past batches dropped: %w", s.NextOffset, err)
		}
		if next.Size <= 0 {
			return []Chunk{}, true, nil
		}
		s, v.slice = next, next
	}
}

// scanView adds the batches of s to v, reading their headers.
func (l *Log) scanView(v *viewBuilder, s Slice, readCommitted bool, window []byte) error {
	sc := newBatchScanner(s.File, s.File.Name(), s.Pos, s.Pos+s.Size, window)
	var aborted *abortedCursor
	for sc.next() {
		h := sc.cur
		drop := h.IsControl() || h.RecordCount == 0
		if !drop && readCommitted && h.IsTransactional() {
			if aborted == nil {
				// The transactions aborted with a batch at or after this one: their
				// markers lie above its base offset.
				entries, err := l.collectAborted(h.BaseOffset, s.NextOffset)
				if err != nil {
					return err
				}
				aborted = newAbortedCursor(entries)
			}
			drop = aborted.covers(h)
		}
		v.add(h, sc.curPos, drop)
	}
	l.viewHeadersRead.Add(int64(sc.headers))
	if sc.err != nil {
		// Read scanned these headers a moment ago; only a change under the read (the
		// segment truncated) gets here.
		return fmt.Errorf("consumer view of %s at %d: %w", s.File.Name(), s.Pos, sc.err)
	}
	return nil
}

// abortedCursor tells whether a transactional batch belongs to an aborted transaction,
// for batches met in offset order: per producer, its aborted transactions in marker
// order (they do not overlap), those ending below the batches met so far passed over.
type abortedCursor struct {
	byProducer map[int64][]abortedTxnEntry
}

func newAbortedCursor(entries []abortedTxnEntry) *abortedCursor {
	c := &abortedCursor{byProducer: make(map[int64][]abortedTxnEntry)}
	for _, e := range entries {
		c.byProducer[e.producerID] = append(c.byProducer[e.producerID], e)
	}
	return c
}

// covers reports whether the data batch h lies in one of its producer's aborted
// transactions: from the transaction's first offset up to its abort marker.
func (c *abortedCursor) covers(h record.Header) bool {
	entries := c.byProducer[h.ProducerID]
	for len(entries) > 0 && entries[0].lastOffset < h.BaseOffset {
		entries = entries[1:]
	}
	c.byProducer[h.ProducerID] = entries
	return len(entries) > 0 && entries[0].firstOffset <= h.BaseOffset
}

// viewBuilder gathers the chunks of a view as its batches are met in order.
type viewBuilder struct {
	slice  Slice
	chunks []Chunk
	// synthetic holds the synthetic batches, one after the other, for the chunks
	// syntheticAt: their Batch is set from it once it stops growing.
	synthetic   []byte
	syntheticAt []int
	// The run being gathered: kept batches from keptPos, or dropped ones.
	inRun, runDropped bool
	keptAny           bool // a batch was kept
	keptPos           int64
	run               emptyRun
}

// emptyRun is what the synthetic batch of a run of dropped batches is made of.
type emptyRun struct {
	firstOffset, lastOffset int64
	leaderEpoch             int32 // of the run's last batch
	baseTimestamp           int64 // of its first batch
	maxTimestamp            int64
}

func (v *viewBuilder) add(h record.Header, pos int64, drop bool) {
	if v.inRun && drop != v.runDropped {
		v.endRun(pos)
	}
	switch {
	case v.inRun && drop:
		v.run.lastOffset, v.run.leaderEpoch = h.LastOffset(), h.LeaderEpoch
		v.run.maxTimestamp = max(v.run.maxTimestamp, h.MaxTimestamp)
	case drop:
		v.run = emptyRun{firstOffset: h.BaseOffset, lastOffset: h.LastOffset(), leaderEpoch: h.LeaderEpoch,
			baseTimestamp: h.BaseTimestamp, maxTimestamp: h.MaxTimestamp}
	case !v.inRun:
		v.keptPos = pos
		v.keptAny = true
	}
	v.inRun, v.runDropped = true, drop
}

// endRun closes the current run; end is the file position after its last batch.
func (v *viewBuilder) endRun(end int64) {
	if v.runDropped {
		v.synthetic = appendEmptyBatch(v.synthetic, v.run)
		v.syntheticAt = append(v.syntheticAt, len(v.chunks))
		v.chunks = append(v.chunks, Chunk{})
	} else {
		v.chunks = append(v.chunks, Chunk{Slice: Slice{File: v.slice.File, Pos: v.keptPos, Size: end - v.keptPos}})
	}
	v.inRun = false
}

func (v *viewBuilder) finish() []Chunk {
	if v.inRun {
		v.endRun(v.slice.Pos + v.slice.Size)
	}
	for k, i := range v.syntheticAt {
		start, end := k*record.HeaderSize, (k+1)*record.HeaderSize
		v.chunks[i].Batch = v.synthetic[start:end:end]
	}
	return v.chunks
}

// Byte offsets of the fields of a magic-v2 batch header that an empty batch sets.
const (
	emptyBaseOffset      = 0
	emptyLength          = 8
	emptyLeaderEpoch     = 12
	emptyMagic           = 16
	emptyCRC             = 17
	emptyAttributes      = 21
	emptyLastOffsetDelta = 23
	emptyBaseTimestamp   = 27
	emptyMaxTimestamp    = 35
	emptyProducerID      = 43
	emptyProducerEpoch   = 51
	emptyBaseSequence    = 53
	emptyRecordCount     = 57
)

// appendEmptyBatch appends to b the synthetic batch of run: a magic-v2 batch with no
// records spanning the run's offsets, attributes 0 (no codec, CreateTime, neither
// transactional nor control), no producer, and a valid CRC-32C (Java checks it). Its
// last offset delta fits an int32: a run lies inside one segment.
func appendEmptyBatch(b []byte, run emptyRun) []byte {
	start := len(b)
	b = append(b, make([]byte, record.HeaderSize)...)
	h := b[start:]
	be := binary.BigEndian
	be.PutUint64(h[emptyBaseOffset:], uint64(run.firstOffset))
	be.PutUint32(h[emptyLength:], record.MinBatchLength)
	be.PutUint32(h[emptyLeaderEpoch:], uint32(run.leaderEpoch))
	h[emptyMagic] = record.CurrentMagic
	be.PutUint16(h[emptyAttributes:], 0)
	be.PutUint32(h[emptyLastOffsetDelta:], uint32(run.lastOffset-run.firstOffset))
	be.PutUint64(h[emptyBaseTimestamp:], uint64(run.baseTimestamp))
	be.PutUint64(h[emptyMaxTimestamp:], uint64(run.maxTimestamp))
	be.PutUint64(h[emptyProducerID:], ^uint64(0))    // -1
	be.PutUint16(h[emptyProducerEpoch:], ^uint16(0)) // -1
	be.PutUint32(h[emptyBaseSequence:], ^uint32(0))  // -1
	be.PutUint32(h[emptyRecordCount:], 0)
	be.PutUint32(h[emptyCRC:], record.ComputeCRC(h))
	return b
}
