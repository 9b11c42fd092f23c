package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"slices"
	"sort"

	"github.com/kzoo/kzoo/broker/record"
)

// Producer state snapshots.
//
// Rebuilding the idempotence state of producers from the log means reading every batch
// header of it. A snapshot, <20-digit offset>.snapshot in the partition directory as in
// Kafka, records the state as of an offset, so that Open and TruncateTo replay only the
// batches after it. One is written at each roll, as of the new segment's base offset, and
// by Close, as of the log end offset; the newest few are kept.
//
// Snapshots are not fsynced: one that a crash left torn or empty fails its checksum and
// is passed over for an older one, or for a replay of the whole log. A snapshot above
// the end of the log describes batches that are gone and is deleted, durably, before new
// batches can take their offsets.
//
// The format is kzoo's own, big-endian:
//
//	version      uint16   snapshotVersion (2; version 1 files still load)
//	crc          uint32   CRC-32C (Castagnoli) of everything after this field
//	offset       int64    the state covers the batches below it; equals the file name's
//	producers    uint32   then per producer, in increasing id order:
//	  id         int64
//	  epoch      int16
//	  lastOffset int64    of the producer's last batch, data or control
//	  coordinatorEpoch int32   of its last marker, -1 if none    (version 2 on)
//	  txnFirstOffset   int64   of its open transaction, -1 if none (version 2 on)
//	  lastTimestamp    int64   of its last batch, -1 if unknown (version 2 on)
//	  batches    uint8    at most producerBatchCacheSize, then per batch, oldest first:
//	    firstSeq, lastSeq                      int32
//	    firstOffset, lastOffset, maxTimestamp  int64
//
// Version 2 carries the transaction state, so that a transaction open at a restart stays
// open, with its first offset holding the last stable offset back.
const (
	snapshotFileSuffix = ".snapshot"
	tempFileSuffix     = ".tmp" // a snapshot being written; a crash may leave one behind
	snapshotVersion    = 2
	snapshotVersion1   = 1
	// snapshotsKept is how many snapshots survive a new one: more than one, so that a
	// torn newest snapshot still leaves a recent one.
	snapshotsKept = 3

	snapshotHeaderSize     = 2 + 4 + 8 + 4
	snapshotProducerSizeV1 = 8 + 2 + 8 + 1
	snapshotProducerSize   = snapshotProducerSizeV1 + 4 + 8 + 8
	snapshotBatchSize      = 4 + 4 + 8 + 8 + 8
	snapshotCRCEnd         = 2 + 4 // the checksum covers the bytes from here on
)

// errCorruptSnapshot marks a snapshot file whose contents cannot be used.
var errCorruptSnapshot = errors.New("corrupt producer state snapshot")

func snapshotPath(dir string, offset int64) string {
	return segmentPath(dir, offset, snapshotFileSuffix)
}

// encodeProducerSnapshot renders the producer state as of offset.
func encodeProducerSnapshot(s *producerStates, offset int64) []byte {
	ids := make([]int64, 0, len(s.entries))
	size := snapshotHeaderSize
	for id, e := range s.entries {
		ids = append(ids, id)
		size += snapshotProducerSize + e.n*snapshotBatchSize
	}
	slices.Sort(ids)
	be := binary.BigEndian
	b := make([]byte, snapshotCRCEnd, size)
	be.PutUint16(b, snapshotVersion)
	b = be.AppendUint64(b, uint64(offset))
	b = be.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		e := s.entries[id]
		b = be.AppendUint64(b, uint64(id))
		b = be.AppendUint16(b, uint16(e.epoch))
		b = be.AppendUint64(b, uint64(e.lastOffset))
		b = be.AppendUint32(b, uint32(e.coordinatorEpoch))
		b = be.AppendUint64(b, uint64(e.txnFirstOffset))
		b = be.AppendUint64(b, uint64(e.lastTimestamp))
		b = append(b, byte(e.n))
		for _, pb := range e.batches[:e.n] {
			b = be.AppendUint32(b, uint32(pb.firstSeq))
			b = be.AppendUint32(b, uint32(pb.lastSeq))
			b = be.AppendUint64(b, uint64(pb.firstOffset))
			b = be.AppendUint64(b, uint64(pb.lastOffset))
			b = be.AppendUint64(b, uint64(pb.maxTimestamp))
		}
	}
	be.PutUint32(b[2:], crc32.Checksum(b[snapshotCRCEnd:], snapshotCRCTable))
	return b
}

// snapshotCRCTable is CRC-32C, as Kafka's producer snapshots use.
var snapshotCRCTable = crc32.MakeTable(crc32.Castagnoli)

// decodeProducerSnapshot parses a snapshot that should hold the state as of offset. Any
// problem with the contents is an error wrapping errCorruptSnapshot.
func decodeProducerSnapshot(b []byte, offset int64) (producerStates, error) {
	corrupt := func(format string, args ...any) (producerStates, error) {
		return producerStates{}, fmt.Errorf("%w: %s", errCorruptSnapshot, fmt.Sprintf(format, args...))
	}
	if len(b) < snapshotHeaderSize {
		return corrupt("%d bytes, a header needs %d", len(b), snapshotHeaderSize)
	}
	be := binary.BigEndian
	version := be.Uint16(b)
	producerSize := snapshotProducerSize
	switch version {
	case snapshotVersion:
	case snapshotVersion1:
		producerSize = snapshotProducerSizeV1
	default:
		return corrupt("version %d, only %d and %d are supported", version, snapshotVersion1, snapshotVersion)
	}
	if got, want := crc32.Checksum(b[snapshotCRCEnd:], snapshotCRCTable), be.Uint32(b[2:]); got != want {
		return corrupt("crc %#08x, header says %#08x", got, want)
	}
	if got := int64(be.Uint64(b[6:])); got != offset {
		return corrupt("holds the state as of offset %d, its name says %d", got, offset)
	}
	count := be.Uint32(b[14:])
	if uint64(count)*uint64(producerSize) > uint64(len(b)-snapshotHeaderSize) {
		return corrupt("%d producers cannot fit in %d bytes", count, len(b))
	}
	states := producerStates{entries: make(map[int64]producerEntry, count)}
	rest := b[snapshotHeaderSize:]
	prevID := int64(-1)
	for range count {
		if len(rest) < producerSize {
			return corrupt("truncated producer entry")
		}
		id := int64(be.Uint64(rest))
		e := newProducerEntry(int16(be.Uint16(rest[8:])))
		e.lastOffset = int64(be.Uint64(rest[10:]))
		if version >= snapshotVersion {
			e.coordinatorEpoch = int32(be.Uint32(rest[18:]))
			e.txnFirstOffset = int64(be.Uint64(rest[22:]))
			e.lastTimestamp = int64(be.Uint64(rest[30:]))
		}
		e.n = int(rest[producerSize-1])
		rest = rest[producerSize:]
		if id <= prevID {
			return corrupt("producer id %d after %d: ids must increase", id, prevID)
		}
		prevID = id
		if e.n > producerBatchCacheSize || len(rest) < e.n*snapshotBatchSize {
			return corrupt("producer %d has %d batches", id, e.n)
		}
		for i := range e.n {
			e.batches[i] = producerBatch{
				firstSeq:     int32(be.Uint32(rest)),
				lastSeq:      int32(be.Uint32(rest[4:])),
				firstOffset:  int64(be.Uint64(rest[8:])),
				lastOffset:   int64(be.Uint64(rest[16:])),
				maxTimestamp: int64(be.Uint64(rest[24:])),
			}
			rest = rest[snapshotBatchSize:]
		}
		if version == snapshotVersion1 && e.n > 0 {
			e.lastTimestamp = e.batches[e.n-1].maxTimestamp
		}
		if e.lastOffset >= offset {
			return corrupt("producer %d has its last batch at %d, not below the snapshot", id, e.lastOffset)
		}
		if e.txnFirstOffset < -1 || e.txnFirstOffset >= offset {
			return corrupt("producer %d has a transaction open at %d, not below the snapshot", id, e.txnFirstOffset)
		}
		states.entries[id] = e
	}
	if len(rest) != 0 {
		return corrupt("%d bytes after the last producer", len(rest))
	}
	return states, nil
}

// readProducerSnapshot reads the snapshot as of offset in dir.
func readProducerSnapshot(dir string, offset int64) (producerStates, error) {
	b, err := os.ReadFile(snapshotPath(dir, offset))
	if err != nil {
		return producerStates{}, fmt.Errorf("read producer snapshot: %w", err)
	}
	return decodeProducerSnapshot(b, offset)
}

// writeProducerSnapshot writes a snapshot file through a temporary one, so that the name
// never holds a partial snapshot while the process runs. It does not fsync (see above).
func writeProducerSnapshot(dir string, offset int64, data []byte) error {
	path := snapshotPath(dir, offset)
	tmp := path + tempFileSuffix
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return errors.Join(fmt.Errorf("write producer snapshot: %w", err), removeIfExists(tmp))
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("write producer snapshot: %w", err), removeIfExists(tmp))
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// takeSnapshot writes the producer state, which must be the state as of offset, and
// deletes the snapshots no longer needed. A failure only makes the next open replay more
// of the log, so it is logged rather than returned. l.mu must be held.
func (l *Log) takeSnapshot(offset int64) {
	log := l.logger.WithField("snapshot", offset)
	if err := writeProducerSnapshot(l.dir, offset, encodeProducerSnapshot(&l.producers, offset)); err != nil {
		log.WithError(err).Warn("producer state snapshot not written; the next open replays more of the log")
		return
	}
	l.dirDirty = true
	if i, found := slices.BinarySearch(l.snapshots, offset); !found {
		l.snapshots = slices.Insert(l.snapshots, i, offset)
	}
	if err := l.pruneSnapshots(l.LogStartOffset()); err != nil {
		log.WithError(err).Warn("deleting old producer state snapshots")
	}
}

// pruneSnapshots deletes the snapshots below the log start offset and all but the
// newest snapshotsKept. l.mu must be held or the log not yet shared.
func (l *Log) pruneSnapshots(logStartOffset int64) error {
	floor := logStartOffset
	if n := len(l.snapshots); n > snapshotsKept {
		floor = max(floor, l.snapshots[n-snapshotsKept])
	}
	_, err := l.removeSnapshots(func(offset int64) bool { return offset < floor })
	return err
}

// removeSnapshots deletes the snapshots whose offsets drop selects and reports how many
// it deleted. l.mu must be held or the log not yet shared.
func (l *Log) removeSnapshots(drop func(offset int64) bool) (int, error) {
	kept := l.snapshots[:0]
	removed := 0
	var errs []error
	for _, offset := range l.snapshots {
		if !drop(offset) {
			kept = append(kept, offset)
			continue
		}
		if err := removeIfExists(snapshotPath(l.dir, offset)); err != nil {
			errs = append(errs, fmt.Errorf("delete producer snapshot: %w", err))
			kept = append(kept, offset)
			continue
		}
		removed++
	}
	l.snapshots = kept
	if removed > 0 {
		l.dirDirty = true
	}
	return removed, errors.Join(errs...)
}

// loadProducerState rebuilds the producer and transaction state of a log made of segs,
// whose batches are all known good: from the newest readable snapshot within the log's
// range, replaying the batches after it. The transaction indexes of the segments from
// rebuildTxnFrom on (a segment's base offset, math.MaxInt64 for none) are rebuilt from
// the replay, which then starts from a snapshot at or below it. l.mu must be held or the
// log not yet shared.
func (l *Log) loadProducerState(segs []*segment, window []byte, rebuildTxnFrom int64) error {
	start, end := segs[0].baseOffset, segs[len(segs)-1].nextOffset
	if _, err := l.removeSnapshots(func(offset int64) bool { return offset > end }); err != nil {
		return err
	}
	l.producers = newProducerStates()
	from := start
	for i := len(l.snapshots) - 1; i >= 0 && l.snapshots[i] >= start; i-- {
		offset := l.snapshots[i]
		if offset > rebuildTxnFrom {
			continue
		}
		states, err := readProducerSnapshot(l.dir, offset)
		if err != nil {
			l.logger.WithError(err).WithField("snapshot", offset).Warn("ignoring producer state snapshot")
			if errors.Is(err, errCorruptSnapshot) {
				if _, err := l.removeSnapshots(func(o int64) bool { return o == offset }); err != nil {
					return err
				}
			}
			continue
		}
		l.producers, from = states, offset
		break
	}
	// As retention does at run time: producers with no batch left in the log are forgotten.
	l.producers.removeBefore(start)
	txns := trackerFrom(&l.producers)
	rebuilt := make(map[*segment][]abortedTxnEntry)
	var events []txnEvent
	headers, err := replayBatches(segs, from, window, func(s *segment, h record.Header, body func() ([]byte, error)) {
		var m *record.Marker
		if h.IsControl() && h.HasProducerID() {
			// A marker that cannot be read is taken as a commit: the log stays readable.
			if b, err := body(); err == nil {
				m, _ = parseMarkerIfControl(h, b)
			}
		}
		if h.IsTransactional() || h.IsControl() {
			l.hadTxnData.Store(true)
		}
		events = events[:0]
		l.producers.replay(h, m, &events)
		for _, ev := range events {
			if e, aborted := txns.apply(ev); aborted && s.baseOffset >= rebuildTxnFrom {
				rebuilt[s] = append(rebuilt[s], e)
			}
		}
	})
	l.headersRead += int64(headers)
	if err != nil {
		return fmt.Errorf("rebuild producer state from offset %d: %w", from, err)
	}
	for _, s := range segs {
		if s.baseOffset >= rebuildTxnFrom {
			if err := s.writeAborted(rebuilt[s]); err != nil {
				return err
			}
		}
	}
	l.txnMu.Lock()
	l.txns = txns
	l.txnMu.Unlock()
	l.noteTxnState(segs)
	if err := l.pruneSnapshots(start); err != nil {
		l.logger.WithError(err).Warn("deleting old producer state snapshots")
	}
	return nil
}

// replayBatches calls fn with the segment and header of every batch of segs whose base
// offset is at or above from, in order, and a function reading the whole batch; it
// returns how many headers it read.
func replayBatches(segs []*segment, from int64, window []byte, fn func(s *segment, h record.Header, body func() ([]byte, error))) (headers int, err error) {
	if from >= segs[len(segs)-1].nextOffset {
		return 0, nil // the usual case after a clean shutdown: nothing to replay
	}
	i := max(0, sort.Search(len(segs), func(i int) bool { return segs[i].baseOffset > from })-1)
	for _, s := range segs[i:] {
		sc := newBatchScanner(s.log, s.log.Name(), s.index.positionFor(from), s.size.Load(), window)
		for sc.next() {
			if sc.cur.BaseOffset >= from {
				fn(s, sc.cur, sc.batch)
			}
		}
		headers += sc.headers
		if sc.err != nil {
			return headers, sc.err
		}
	}
	return headers, nil
}
