package storage

// Log compaction (cleanup.policy=compact), after Kafka's LogCleaner.
//
// A compacted log keeps, for every key, at least its latest record. The part of the log
// the cleaner has gone over is clean; the part after it, from the log's cleaner
// checkpoint (its first dirty offset) on, is dirty. A clean:
//
//  1. fixes its range under the log's mutex: the whole segments from the log start up to
//     the first segment it may not touch, which is the active segment, the segment
//     holding the high watermark (followers may not have what lies above it, and it may
//     be truncated), or the first dirty segment whose newest record is younger than
//     min.compaction.lag.ms;
//  2. maps every key of the dirty records to the offset of its latest record, reading
//     the segments without any lock (appends only touch the active segment); when the
//     map outgrows its memory budget the dirty range ends at the batch where it did, and
//     the next clean goes on from there;
//  3. rewrites the segments of its range from the log start, in groups of adjacent
//     segments merged into one as long as the result fits segment.bytes and the index
//     limits. A record stays when no later record of its key is in the map, except
//     records without a key (Kafka refuses them at produce time for compacted topics, and
//     its cleaner drops them too) and tombstones whose delete.retention.ms has run out
//     (see cleanHistory). Batches keep their base offset, and kept records their bytes
//     and offsets; a batch with no record left goes, unless it is the last batch of an
//     idempotent producer, whose header stays (without records) so that the producer's
//     sequence numbers survive, as in Kafka. The batches of aborted transactions (known
//     from the .txnindex files) go whole and never supersede other records; a
//     transaction marker stays while a batch of its transaction does, and goes once none
//     is left and delete.retention.ms has passed, like a tombstone (see cleanMarker). The
//     range never reaches the first unstable offset: open transactions are not cleaned;
//  4. swaps each group's cleaned copy in under the log's mutex, after checking that the
//     segments it cleaned are still the log's (retention or a truncation may have
//     removed or changed them meanwhile: the clean then stops, without harm). Readers
//     that found the old segments go on reading their files, which the reaper closes
//     after file.delete.delay.ms like those of deleted segments;
//  5. moves the cleaner checkpoint to the end of its range and notes the time in the
//     log's clean history.
//
// Crash safety follows Kafka: a group's copy is written to <base>.log.cleaned, fsynced,
// and renamed to <base>.log.swap, which commits the replacement; then the other old
// segments of the group are removed and the .swap file renamed over <base>.log. Open
// deletes .cleaned files and finishes what a .swap file commits (see completeSwaps).

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// errCleanAborted reports that a clean stopped because the log changed underneath it.
var errCleanAborted = errors.New("clean aborted: the log changed while it ran")

// offsetMapEntryOverhead is what the offset map costs per key besides the key's bytes.
const offsetMapEntryOverhead = 48

// segmentInfo is what a clean knows of one of its segments, read under the log's mutex
// when it starts: inactive segments do not change unless a truncation or retention
// takes them away, which the clean checks before every swap.
type segmentInfo struct {
	seg                        *segment
	size                       int64
	nextOffset                 int64
	lastModified               time.Time
	offsetEntries, timeEntries int
}

// cleanPlan is what a clean of a log would cover.
type cleanPlan struct {
	cfg Config
	// segs are the segments from the log start up to the first one the clean may not
	// touch; segs[dirtyFrom:] hold the dirty records, those at or above firstDirty.
	segs       []segmentInfo
	dirtyFrom  int
	firstDirty int64
	end        int64 // the base offset of the first segment the clean may not touch
	// cleanBytes and dirtyBytes measure segs[:dirtyFrom] and segs[dirtyFrom:].
	cleanBytes, dirtyBytes int64
	overdue                bool // max.compaction.lag.ms has passed for the first dirty batch

	producerLastOffsets   map[int64]int64 // the last offset of each producer's last batch below end
	tombstonesExpireBelow int64           // tombstones below this may be removed
	truncations           uint64          // the log's truncation count: a truncation aborts the clean
}

// dirtyRatio is the share of the cleanable bytes that are dirty.
func (p cleanPlan) dirtyRatio() float64 {
	if total := p.cleanBytes + p.dirtyBytes; total > 0 {
		return float64(p.dirtyBytes) / float64(total)
	}
	return 0
}

// due reports whether the log should be cleaned now: enough of it is dirty, or its oldest
// dirty record waited max.compaction.lag.ms.
func (p cleanPlan) due() bool {
	return p.dirtyBytes > 0 && (p.overdue || p.dirtyRatio() >= p.cfg.MinCleanableDirtyRatio)
}

// segmentsBelow returns the segments of the plan that start below offset.
func (p cleanPlan) segmentsBelow(offset int64) []segmentInfo {
	n := 0
	for n < len(p.segs) && p.segs[n].seg.baseOffset < offset {
		n++
	}
	return p.segs[:n]
}

// planClean works out what a clean at now would cover. A log that is not compacted has
// nothing to clean.
func (l *Log) planClean(now time.Time) (cleanPlan, error) {
	l.mu.Lock()
	if err := l.writable(); err != nil {
		l.mu.Unlock()
		return cleanPlan{}, err
	}
	plan := cleanPlan{cfg: l.cfg, truncations: l.truncations}
	if !plan.cfg.Compact {
		l.mu.Unlock()
		return plan, nil
	}
	nowMs := now.UnixMilli()
	segs := l.loadSegments()
	plan.firstDirty = max(l.cleanerCheckpoint.Load(), l.LogStartOffset())
	// Never at or past the first unstable offset, as in Kafka: an undecided
	// transaction's records must not supersede (nor be superseded by) others yet.
	uncleanable := min(l.LastStableOffset(), segs[len(segs)-1].baseOffset)
	n := 0
	for _, s := range segs[:len(segs)-1] {
		dirty := s.nextOffset > plan.firstDirty
		if s.nextOffset > uncleanable ||
			(dirty && plan.cfg.MinCompactionLagMs > 0 && nowMs-s.largestTimestamp() < plan.cfg.MinCompactionLagMs) {
			break
		}
		offsets, times := s.index.counts()
		plan.segs = append(plan.segs, segmentInfo{
			seg: s, size: s.size.Load(), nextOffset: s.nextOffset, lastModified: s.lastModified,
			offsetEntries: offsets, timeEntries: times,
		})
		if dirty {
			plan.dirtyBytes += s.size.Load()
		} else {
			plan.cleanBytes += s.size.Load()
			plan.dirtyFrom = n + 1
		}
		n++
	}
	plan.end = segs[n].baseOffset
	plan.producerLastOffsets = make(map[int64]int64)
	for id, e := range l.producers.entries {
		if e.lastOffset < plan.end {
			plan.producerLastOffsets[id] = e.lastOffset
		}
	}
	// Only tombstones an earlier clean kept can have waited long enough.
	plan.tombstonesExpireBelow = min(l.cleanHistory.expiredBelow(nowMs, plan.cfg.DeleteRetentionMs), plan.firstDirty)
	l.mu.Unlock()

	if plan.dirtyBytes > 0 && plan.cfg.MaxCompactionLagMs != math.MaxInt64 {
		first := plan.segs[plan.dirtyFrom]
		ts, err := firstBatchTimestamp(first.seg, plan.firstDirty, first.size)
		if err != nil || ts < 0 {
			ts = first.lastModified.UnixMilli() // a segment removed meanwhile fails the clean later anyway
		}
		plan.overdue = nowMs-ts > plan.cfg.MaxCompactionLagMs
	}
	return plan, nil
}

// firstBatchTimestamp returns the max timestamp of the first batch of s holding offsets
// at or above from, -1 when there is none.
func firstBatchTimestamp(s *segment, from, size int64) (int64, error) {
	sc := newBatchScanner(s.log, s.log.Name(), s.index.positionFor(from), size, make([]byte, record.HeaderSize))
	for sc.next() {
		if sc.cur.LastOffset() >= from {
			return sc.cur.MaxTimestamp, nil
		}
	}
	return -1, sc.err
}

// cleanResult tells what a clean did.
type cleanResult struct {
	ran                           bool  // false when the log was not due (or not compacted)
	firstDirty, end               int64 // the dirty range it went over
	segmentsBefore, segmentsAfter int   // in the cleaned range
	bytesBefore, bytesAfter       int64
	recordsRemoved                int
}

// clean compacts the log if it is due at now, or whenever force is set (also with
// nothing dirty: tombstones may have expired). mapBytes bounds the memory of the key map
// (log.cleaner.dedupe.buffer.size) and throttle its reads (nil: unlimited). The clean stops early, without harm, when ctx is done
// (returning its error) or when the log changes underneath it (returning
// errCleanAborted). Appends, reads and retention go on while it runs. Cleans of one log
// are serialised.
func (l *Log) clean(ctx context.Context, now time.Time, mapBytes int64, throttle *ioThrottle, force bool) (cleanResult, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	plan, err := l.planClean(now)
	if err != nil {
		return cleanResult{}, err
	}
	if !plan.cfg.Compact || !(force || plan.due()) {
		return cleanResult{}, nil
	}
	p := newCleanPass(l, plan, mapBytes)
	p.throttle = throttle
	defer p.close()
	// The plan ends at or below the last stable offset, so every transaction with records
	// in it is decided; the aborted ones are known from the transaction indexes.
	if len(plan.segs) > 0 {
		if p.aborted, err = l.abortedRangesIn(plan.segs[0].seg.baseOffset, plan.end); err != nil {
			return cleanResult{}, l.explainCleanError(err, plan.segs, plan.truncations)
		}
	}

	end, err := p.buildOffsetMap(ctx)
	if err != nil {
		return cleanResult{}, l.explainCleanError(err, plan.segs[plan.dirtyFrom:], plan.truncations)
	}
	res := cleanResult{ran: true, firstDirty: plan.firstDirty, end: end}
	for _, group := range groupSegments(plan.segmentsBelow(end), plan.cfg) {
		after, err := p.cleanGroup(ctx, group)
		if err != nil {
			return res, l.explainCleanError(err, group, plan.truncations)
		}
		res.segmentsBefore += len(group)
		res.segmentsAfter++
		for _, g := range group {
			res.bytesBefore += g.size
		}
		res.bytesAfter += after
	}
	res.recordsRemoved = p.recordsRemoved
	return res, l.finishClean(plan, end, now)
}

// explainCleanError turns an error met while reading segs into errCleanAborted when the
// log changed meanwhile (a segment deleted by retention may even have its file closed
// already), or ErrClosed when it was closed.
func (l *Log) explainCleanError(err error, segs []segmentInfo, truncations uint64) error {
	if errors.Is(err, errCleanAborted) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return ErrClosed
	}
	if !l.segmentsLive(segs, truncations) {
		return errCleanAborted
	}
	return err
}

// segmentsLive reports whether segs are still adjacent inactive segments of the log and
// no truncation happened since the count truncations. l.mu must be held.
func (l *Log) segmentsLive(segs []segmentInfo, truncations uint64) bool {
	if l.truncations != truncations {
		return false
	}
	if len(segs) == 0 {
		return true
	}
	current := l.loadSegments()
	i := 0
	for i < len(current) && current[i] != segs[0].seg {
		i++
	}
	if i+len(segs) >= len(current) { // absent, or reaching the active segment
		return false
	}
	for j, s := range segs {
		if current[i+j] != s.seg {
			return false
		}
	}
	return true
}

// finishClean records that the log is clean up to end: the cleaner checkpoint moves
// there, and the clean history notes when. The history is written before the Manager
// writes the checkpoint, so the checkpoint never covers offsets the history lacks.
func (l *Log) finishClean(plan cleanPlan, end int64, now time.Time) error {
	l.mu.Lock()
	if l.closed.Load() {
		l.mu.Unlock()
		return ErrClosed
	}
	if l.truncations != plan.truncations {
		l.mu.Unlock()
		return errCleanAborted
	}
	if end > l.cleanerCheckpoint.Load() {
		l.cleanerCheckpoint.Store(end)
	}
	l.cleanHistory.record(end, now.UnixMilli(), plan.cfg.DeleteRetentionMs)
	data := formatCleanHistory(l.cleanHistory)
	l.mu.Unlock()
	if err := writeFileAtomic(filepath.Join(l.dir, cleanerHistoryFile), data); err != nil {
		if l.closed.Load() {
			return ErrClosed
		}
		return fmt.Errorf("write cleaner history: %w", err)
	}
	return nil
}

// groupSegments splits segs into runs of adjacent segments that one cleaned segment can
// replace: their bytes fit segment.bytes, their index entries the index limits, and their
// offsets the 32-bit offsets relative to the first base offset. Cleaning only removes
// records, so the cleaned segment is no larger than the sum of its sources (recompression
// aside, which the writer checks against the hard limits).
func groupSegments(segs []segmentInfo, cfg Config) [][]segmentInfo {
	var groups [][]segmentInfo
	for len(segs) > 0 {
		first := segs[0]
		size, offsets, times := first.size, first.offsetEntries, first.timeEntries
		n := 1
		for ; n < len(segs); n++ {
			s := segs[n]
			if size+s.size > cfg.segmentByteLimit() ||
				offsets+s.offsetEntries > cfg.maxOffsetIndexEntries() ||
				times+s.timeEntries > cfg.maxTimeIndexEntries() ||
				s.nextOffset-1-first.seg.baseOffset > math.MaxInt32 {
				break
			}
			size, offsets, times = size+s.size, offsets+s.offsetEntries, times+s.timeEntries
		}
		groups = append(groups, segs[:n])
		segs = segs[n:]
	}
	return groups
}

// offsetMap maps keys to the offset of their latest record in the dirty range.
type offsetMap struct {
	latest map[string]int64
	bytes  int64 // what the entries cost, roughly
	limit  int64
}

func (m *offsetMap) put(key []byte, offset int64) {
	if _, ok := m.latest[string(key)]; !ok {
		m.bytes += int64(len(key)) + offsetMapEntryOverhead
	}
	m.latest[string(key)] = offset
}

func (m *offsetMap) full() bool { return m.bytes >= m.limit }

// cleanPass is the state of one clean of a log.
type cleanPass struct {
	log            *Log
	plan           cleanPlan
	offsets        offsetMap
	reader         record.Reader
	readLimit      int64 // what a batch may decompress to: the log's bound on append
	builder        batchBuilder
	window         []byte
	recordsRemoved int
	throttle       *ioThrottle // of the reads; nil: unlimited
	// aborted are the aborted transactions of the plan's range: their records are
	// removed, and never supersede another's, as in Kafka.
	aborted abortedRanges
	// What the pass has seen of transactions, in offset order from the log start:
	// abortsSeen are the aborted transactions with a batch seen, by marker offset;
	// committedSeen the producers with a batch of a committed transaction seen since
	// their last marker. A marker whose transaction has no batch left may go (see
	// cleanMarker). groupAborted are the index entries of the group being cleaned.
	abortsSeen    map[int64]abortedTxnEntry
	committedSeen map[int64]bool
	groupAborted  []abortedTxnEntry
}

func newCleanPass(l *Log, plan cleanPlan, mapBytes int64) *cleanPass {
	return &cleanPass{
		log:     l,
		plan:    plan,
		offsets: offsetMap{latest: make(map[string]int64), limit: mapBytes},

		abortsSeen:    make(map[int64]abortedTxnEntry),
		committedSeen: make(map[int64]bool),
		window:        make([]byte, loadWindowSize),
		// The log's bound on append, so that whatever it took can be cleaned; plan.cfg
		// is the configuration the plan was made with.
		readLimit: record.DecompressedLimit(plan.cfg.MaxMessageBytes),
	}
}

func (p *cleanPass) close() {
	p.builder.compressor.Close()
	p.reader.Close()
}

// throttleRead accounts n bytes read from the log, sleeping while the cleaner reads faster
// than log.cleaner.io.max.bytes.per.second.
func (p *cleanPass) throttleRead(ctx context.Context, n int) error {
	if p.throttle == nil {
		return nil
	}
	return p.throttle.wait(ctx, n)
}

// buildOffsetMap maps the keys of the dirty records, and returns where the dirty range it
// mapped ends: the plan's end, or earlier when the map filled up.
func (p *cleanPass) buildOffsetMap(ctx context.Context) (end int64, err error) {
	from := p.plan.firstDirty
	for _, info := range p.plan.segs[p.plan.dirtyFrom:] {
		s := info.seg
		sc := newBatchScanner(s.log, s.log.Name(), s.index.positionFor(from), info.size, p.window)
		for sc.next() {
			h := sc.cur
			if h.LastOffset() < from || h.IsControl() {
				continue
			}
			if _, aborted := p.aborted.find(h); aborted {
				continue // its records never supersede another's
			}
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			batch, err := sc.batch()
			if err != nil {
				return 0, err
			}
			if err := p.throttleRead(ctx, len(batch)); err != nil {
				return 0, err
			}
			if err := h.CheckCRC(batch); err != nil {
				return 0, err
			}
			p.reader.Reset(h, batch, record.Keys, p.readLimit)
			for p.reader.Next() {
				rec := p.reader.Record()
				if offset := h.BaseOffset + int64(rec.OffsetDelta); offset >= from && rec.Key != nil {
					p.offsets.put(rec.Key, offset)
				}
			}
			if err := p.reader.Err(); err != nil {
				return 0, err
			}
			if p.offsets.full() {
				p.log.logger.WithFields(logrus.Fields{"keys": len(p.offsets.latest), "end": h.NextOffset()}).
					Info("cleaner key map full: cleaning part of the dirty range now, the rest later")
				return min(h.NextOffset(), p.plan.end), nil
			}
		}
		if sc.err != nil {
			return 0, sc.err
		}
	}
	return p.plan.end, nil
}

// cleanGroup writes the cleaned copy of a group of segments and swaps it in. It returns
// the size of the segment now holding the group's records.
func (p *cleanPass) cleanGroup(ctx context.Context, group []segmentInfo) (int64, error) {
	l := p.log
	w, err := createCleanedSegment(l.dir, group[0].seg.baseOffset, int64(p.plan.cfg.IndexIntervalBytes))
	if err != nil {
		return 0, err
	}
	handedOver := false
	defer func() {
		if !handedOver {
			if err := w.discard(); err != nil {
				l.logger.WithError(err).Warn("removing an unfinished cleaned segment")
			}
		}
	}()

	changed := len(group) > 1 // merging segments is itself worth a swap
	p.groupAborted = nil
	var lastModified time.Time
	for _, info := range group {
		if info.lastModified.After(lastModified) {
			lastModified = info.lastModified
		}
		s := info.seg
		sc := newBatchScanner(s.log, s.log.Name(), 0, info.size, p.window)
		for sc.next() {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			batch, err := sc.batch()
			if err != nil {
				return 0, err
			}
			if err := p.throttleRead(ctx, len(batch)); err != nil {
				return 0, err
			}
			out, err := p.cleanBatch(sc.cur, batch)
			if err != nil {
				return 0, err
			}
			changed = changed || out.changed
			p.recordsRemoved += out.removedRecords
			if out.bytes != nil {
				if err := w.append(out.bytes); err != nil {
					return 0, err
				}
			}
		}
		if sc.err != nil {
			return 0, sc.err
		}
	}
	if !changed {
		// An abort whose batches are all gone loses its index entry, which is worth a swap.
		var indexed []abortedTxnEntry
		for _, info := range group {
			entries, err := info.seg.abortedEntries()
			if err != nil {
				return 0, err
			}
			indexed = append(indexed, entries...)
		}
		changed = !slices.Equal(indexed, p.groupAborted)
	}
	if !changed {
		return group[0].size, nil // leave the segment as it is
	}
	cleaned, err := w.finish(lastModified)
	if err != nil {
		return 0, err
	}
	handedOver = true
	if err := l.replaceWithCleaned(group, w, cleaned, p.groupAborted, p.plan.truncations); err != nil {
		return 0, err
	}
	return cleaned.size.Load(), nil
}

// cleanedBatch is what becomes of one batch.
type cleanedBatch struct {
	bytes          []byte // nil when the batch goes
	removedRecords int
	changed        bool
}

// cleanBatch filters the records of the batch h (bytes batch). The result is valid until
// the next call.
func (p *cleanPass) cleanBatch(h record.Header, batch []byte) (cleanedBatch, error) {
	if h.IsControl() {
		return p.cleanMarker(h, batch), nil
	}
	if e, aborted := p.aborted.find(h); aborted {
		// An aborted transaction's records go whole; its marker follows it, so the batch is
		// never its producer's last.
		p.abortsSeen[e.lastOffset] = e
		return cleanedBatch{removedRecords: int(h.RecordCount), changed: true}, nil
	}
	if h.IsTransactional() && h.HasProducerID() {
		p.committedSeen[h.ProducerID] = true
	}
	if h.RecordCount == 0 { // an emptied batch, kept while it was its producer's last
		if p.isProducersLastBatch(h) {
			return cleanedBatch{bytes: batch}, nil
		}
		return cleanedBatch{changed: true}, nil
	}
	if err := h.CheckCRC(batch); err != nil {
		return cleanedBatch{}, err
	}
	// Decide from the keys alone first: most batches stay whole or go whole, and those
	// need no record copied.
	removed := 0
	p.reader.Reset(h, batch, record.Keys, p.readLimit)
	for p.reader.Next() {
		if !p.retain(h.BaseOffset+int64(p.reader.Record().OffsetDelta), p.reader.Record()) {
			removed++
		}
	}
	switch err := p.reader.Err(); {
	case err != nil:
		return cleanedBatch{}, err
	case removed == 0:
		return cleanedBatch{bytes: batch}, nil
	case removed < int(h.RecordCount):
		return p.rebuild(h, batch, removed)
	case p.isProducersLastBatch(h):
		return cleanedBatch{bytes: p.builder.buildEmpty(h, batch), removedRecords: removed, changed: true}, nil
	default:
		return cleanedBatch{removedRecords: removed, changed: true}, nil
	}
}

// cleanMarker decides the fate of a transaction marker, as Kafka does. A marker stays
// while a batch of its transaction does: a read_committed reader needs an abort marker
// to stop skipping the producer's records, and the producer state rebuilt from the log
// needs a commit marker to end the transaction. Once no batch of it is left (the cleaner
// removed them in an earlier pass), the marker goes when tombstones of its offset would:
// delete.retention.ms after a clean first passed it. An abort's index entry stays in the
// cleaned segment only while its marker must: without batches, the abort means nothing
// to a reader. A producer's last batch always stays, as for data batches.
func (p *cleanPass) cleanMarker(h record.Header, batch []byte) cleanedBatch {
	keep := cleanedBatch{bytes: batch}
	m, err := record.ParseMarker(h, batch)
	if err != nil {
		return keep // not a marker this cleaner understands: kept as it is
	}
	if !m.Commit {
		if e, seen := p.abortsSeen[h.BaseOffset]; seen {
			delete(p.abortsSeen, h.BaseOffset)
			p.groupAborted = append(p.groupAborted, e)
			return keep
		}
	} else {
		seen := p.committedSeen[h.ProducerID]
		delete(p.committedSeen, h.ProducerID)
		if seen {
			return keep
		}
	}
	if h.BaseOffset >= p.plan.tombstonesExpireBelow || p.isProducersLastBatch(h) {
		return keep
	}
	return cleanedBatch{removedRecords: 1, changed: true}
}

// rebuildLimit bounds the records a rebuilt batch may decompress to, since the cleaner
// holds the kept ones uncompressed: a larger batch is kept as it is, which compaction
// allows (it promises to keep each key's latest record, not to remove every older one).
const rebuildLimit = 64 << 20

// rebuild writes the batch h (bytes batch) without the removed records that retain
// refuses.
func (p *cleanPass) rebuild(h record.Header, batch []byte, removed int) (cleanedBatch, error) {
	b := &p.builder
	b.reset()
	p.reader.Reset(h, batch, record.Whole, min(p.readLimit, rebuildLimit))
	for p.reader.Next() {
		if rec := p.reader.Record(); p.retain(h.BaseOffset+int64(rec.OffsetDelta), rec) {
			b.keep(h, rec)
		}
	}
	if err := p.reader.Err(); err != nil {
		if errors.Is(err, kerr.MessageTooLarge) {
			p.log.logger.WithError(err).WithField("offset", h.BaseOffset).Warn("cleaner keeps a batch too large to rebuild as it is")
			return cleanedBatch{bytes: batch}, nil
		}
		return cleanedBatch{}, err
	}
	out, err := b.build(h, batch)
	return cleanedBatch{bytes: out, removedRecords: removed, changed: true}, err
}

// retain decides whether the record at offset stays in the log.
func (p *cleanPass) retain(offset int64, rec *record.Record) bool {
	if rec.Key == nil {
		return false
	}
	if latest, ok := p.offsets.latest[string(rec.Key)]; ok && latest > offset {
		return false
	}
	tombstone := rec.ValueLength < 0
	return !tombstone || offset >= p.plan.tombstonesExpireBelow
}

func (p *cleanPass) isProducersLastBatch(h record.Header) bool {
	if !h.HasProducerID() {
		return false
	}
	last, ok := p.plan.producerLastOffsets[h.ProducerID]
	return ok && last == h.LastOffset()
}
