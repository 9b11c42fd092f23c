package storage

import (
	"encoding/binary"
	"fmt"
	"sort"
	"sync"

	"github.com/kzoo/kzoo/broker/record"
)

// Sizes of one entry of the on-disk index files.
const (
	offsetIndexEntrySize = 8  // int32 offset relative to the segment base, int32 byte position
	timeIndexEntrySize   = 12 // int64 timestamp, int32 offset relative to the segment base
)

// offsetIndexEntry says that the batch starting at position ends at base+relOffset.
type offsetIndexEntry struct {
	relOffset int32
	position  int32
}

// timeIndexEntry says that no record at or below base+relOffset has a timestamp above
// timestamp, and the batch ending at base+relOffset has timestamp as its max.
type timeIndexEntry struct {
	timestamp int64
	relOffset int32
}

func appendOffsetIndexEntries(dst []byte, entries []offsetIndexEntry) []byte {
	for _, e := range entries {
		dst = binary.BigEndian.AppendUint32(dst, uint32(e.relOffset))
		dst = binary.BigEndian.AppendUint32(dst, uint32(e.position))
	}
	return dst
}

func appendTimeIndexEntries(dst []byte, entries []timeIndexEntry) []byte {
	for _, e := range entries {
		dst = binary.BigEndian.AppendUint64(dst, uint64(e.timestamp))
		dst = binary.BigEndian.AppendUint32(dst, uint32(e.relOffset))
	}
	return dst
}

// decodeOffsetIndex parses the contents of an .index file.
func decodeOffsetIndex(b []byte) ([]offsetIndexEntry, error) {
	if len(b)%offsetIndexEntrySize != 0 {
		return nil, fmt.Errorf("offset index of %d bytes is not a whole number of %d-byte entries", len(b), offsetIndexEntrySize)
	}
	entries := make([]offsetIndexEntry, 0, len(b)/offsetIndexEntrySize)
	for ; len(b) > 0; b = b[offsetIndexEntrySize:] {
		entries = append(entries, offsetIndexEntry{
			relOffset: int32(binary.BigEndian.Uint32(b)),
			position:  int32(binary.BigEndian.Uint32(b[4:])),
		})
	}
	return entries, nil
}

// decodeTimeIndex parses the contents of a .timeindex file.
func decodeTimeIndex(b []byte) ([]timeIndexEntry, error) {
	if len(b)%timeIndexEntrySize != 0 {
		return nil, fmt.Errorf("time index of %d bytes is not a whole number of %d-byte entries", len(b), timeIndexEntrySize)
	}
	entries := make([]timeIndexEntry, 0, len(b)/timeIndexEntrySize)
	for ; len(b) > 0; b = b[timeIndexEntrySize:] {
		entries = append(entries, timeIndexEntry{
			timestamp: int64(binary.BigEndian.Uint64(b)),
			relOffset: int32(binary.BigEndian.Uint32(b[8:])),
		})
	}
	return entries, nil
}

// segmentIndex is the in-memory copy of a segment's offset and time indexes. Readers
// search it concurrently with the appender that extends it.
type segmentIndex struct {
	baseOffset int64

	mu      sync.RWMutex
	offsets []offsetIndexEntry // strictly increasing offsets and positions
	times   []timeIndexEntry   // strictly increasing timestamps and offsets
}

// positionFor returns where to start scanning for the batch holding offset: the position
// of the last indexed batch that ends at or before offset, or 0.
func (x *segmentIndex) positionFor(offset int64) int64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i := sort.Search(len(x.offsets), func(i int) bool {
		return x.baseOffset+int64(x.offsets[i].relOffset) > offset
	})
	if i == 0 {
		return 0
	}
	return int64(x.offsets[i-1].position)
}

// offsetBeforeTimestamp returns an offset below which every record's timestamp is
// smaller than ts, from the last time index entry whose timestamp is below ts. ok is
// false when there is no such entry.
func (x *segmentIndex) offsetBeforeTimestamp(ts int64) (offset int64, ok bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i := sort.Search(len(x.times), func(i int) bool { return x.times[i].timestamp >= ts })
	if i == 0 {
		return 0, false
	}
	return x.baseOffset + int64(x.times[i-1].relOffset), true
}

func (x *segmentIndex) add(offsets []offsetIndexEntry, times []timeIndexEntry) {
	if len(offsets) == 0 && len(times) == 0 {
		return
	}
	x.mu.Lock()
	x.offsets = append(x.offsets, offsets...)
	x.times = append(x.times, times...)
	x.mu.Unlock()
}

func (x *segmentIndex) replace(offsets []offsetIndexEntry, times []timeIndexEntry) {
	x.mu.Lock()
	x.offsets, x.times = offsets, times
	x.mu.Unlock()
}

func (x *segmentIndex) counts() (offsets, times int) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.offsets), len(x.times)
}

// indexTracker decides, batch by batch, which index entries a segment gets. The same
// rules run when appending and when rebuilding an index from the log, so a rebuilt index
// is byte-for-byte the one the appends wrote (for the same index.interval.bytes).
type indexTracker struct {
	baseOffset           int64
	bytesSinceLastEntry  int64
	maxTimestamp         int64 // largest batch max timestamp in the segment, -1 when none
	offsetOfMaxTimestamp int64
	lastTimeEntry        int64 // timestamp of the last time index entry, -1 when none
}

func newIndexTracker(baseOffset int64) indexTracker {
	return indexTracker{baseOffset: baseOffset, maxTimestamp: -1, offsetOfMaxTimestamp: baseOffset, lastTimeEntry: -1}
}

// observe accounts for the batch h written at pos and returns the entries it earns: an
// offset entry once more than interval bytes were written since the previous one, and
// with it a time entry if the segment's max timestamp grew since the previous time entry.
func (t *indexTracker) observe(h record.Header, pos, interval int64) (off *offsetIndexEntry, tim *timeIndexEntry) {
	if h.MaxTimestamp > t.maxTimestamp {
		t.maxTimestamp, t.offsetOfMaxTimestamp = h.MaxTimestamp, h.LastOffset()
	}
	if t.bytesSinceLastEntry > interval {
		off = &offsetIndexEntry{relOffset: int32(h.LastOffset() - t.baseOffset), position: int32(pos)}
		tim = t.maybeTimeEntry()
		t.bytesSinceLastEntry = 0
	}
	t.bytesSinceLastEntry += h.Size()
	return off, tim
}

// maybeTimeEntry returns the time entry recording the current max timestamp, unless the
// last entry already does.
func (t *indexTracker) maybeTimeEntry() *timeIndexEntry {
	if t.maxTimestamp <= t.lastTimeEntry {
		return nil
	}
	t.lastTimeEntry = t.maxTimestamp
	return &timeIndexEntry{timestamp: t.maxTimestamp, relOffset: int32(t.offsetOfMaxTimestamp - t.baseOffset)}
}

// checkOffsetIndex validates what can be checked of an offset index without reading its
// segment: offsets and positions strictly increase, and every position lies inside a
// log file of fileBytes bytes.
func checkOffsetIndex(entries []offsetIndexEntry, fileBytes int64) error {
	for i, e := range entries {
		switch {
		case e.relOffset < 0 || e.position < 0:
			return fmt.Errorf("entry %d is negative (offset %d, position %d)", i, e.relOffset, e.position)
		case int64(e.position) >= fileBytes:
			return fmt.Errorf("entry %d points at position %d of a %d-byte log", i, e.position, fileBytes)
		case i > 0 && (e.relOffset <= entries[i-1].relOffset || e.position <= entries[i-1].position):
			return fmt.Errorf("entry %d does not follow the previous one", i)
		}
	}
	return nil
}

// checkTimeIndex validates what can be checked of a time index without reading its
// segment: timestamps and offsets strictly increase.
func checkTimeIndex(entries []timeIndexEntry) error {
	for i, e := range entries {
		switch {
		case e.relOffset < 0:
			return fmt.Errorf("entry %d has negative offset %d", i, e.relOffset)
		case i > 0 && (e.timestamp <= entries[i-1].timestamp || e.relOffset <= entries[i-1].relOffset):
			return fmt.Errorf("entry %d does not follow the previous one", i)
		}
	}
	return nil
}
