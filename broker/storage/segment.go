package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Suffixes of the files of a segment, after its 20-digit base offset.
const (
	logFileSuffix       = ".log"
	indexFileSuffix     = ".index"
	timeIndexFileSuffix = ".timeindex"
)

func segmentPath(dir string, baseOffset int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", baseOffset, suffix))
}

// segment is one .log file of a partition with its indexes.
type segment struct {
	dir        string
	baseOffset int64
	files      *fileCache  // through which its files open (nil for a cleaned copy until swapped in)
	log        *FileHandle // positioned reads and writes only: readers share it

	// Published for lock-free readers.
	size         atomic.Int64 // bytes of whole batches that readers may read
	maxTimestamp atomic.Int64 // largest batch max timestamp, -1 when none
	index        segmentIndex
	// txnCount is the number of entries of the transaction index file, published after
	// they are written; txnCache holds them when they are few (see txnindex.go).
	txnCount atomic.Int64
	txnCache atomic.Pointer[[]abortedTxnEntry]

	// Owned by the Log's mutex.
	nextOffset int64 // offset after the last batch; baseOffset while empty
	tracker    indexTracker
	rollBase   time.Time // segment.ms counts from here; zero while empty
	// rollJitterMs is taken off the roll time (segment.jitter.ms); drawn
	// once per segment, when it first may roll by time, -1 until then.
	rollJitterMs int64
	lastModified time.Time
	indexFiles   *indexWriter // only while the segment is active
}

func newSegment(files *fileCache, dir string, baseOffset int64, log *FileHandle) *segment {
	s := &segment{
		dir:        dir,
		baseOffset: baseOffset,
		files:      files,
		log:        log,
		index:      segmentIndex{baseOffset: baseOffset},
		nextOffset: baseOffset,
		tracker:    newIndexTracker(baseOffset),

		rollJitterMs: -1,
	}
	s.maxTimestamp.Store(-1)
	return s
}

// createSegment creates the files of a new, empty segment, ready to be appended to.
func createSegment(files *fileCache, dir string, baseOffset int64, now time.Time) (*segment, error) {
	path := segmentPath(dir, baseOffset, logFileSuffix)
	h, err := files.create(path)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	s := newSegment(files, dir, baseOffset, h)
	s.lastModified = now
	// No transaction index yet: an empty cache, which appends extend, so that reads of
	// the segment's aborted transactions need not open its file.
	s.setAborted(nil)
	if err := s.activate(true); err != nil {
		return nil, errors.Join(err, s.log.close(), os.Remove(path))
	}
	return s, nil
}

// openSegment returns an existing segment, whose log file opens when first used. Its
// state comes from load.
func openSegment(files *fileCache, dir string, baseOffset int64) *segment {
	return newSegment(files, dir, baseOffset, files.handle(segmentPath(dir, baseOffset, logFileSuffix), os.O_RDWR))
}

// activate opens the index files for appending, emptying them first if truncate is set.
func (s *segment) activate(truncate bool) error {
	if s.indexFiles != nil {
		return nil
	}
	w, err := openIndexWriter(s.files, s.dir, s.baseOffset, truncate)
	if err != nil {
		return err
	}
	s.indexFiles = w
	return nil
}

// seal records the segment's max timestamp in its time index and closes the index files:
// the segment stops being the active one.
func (s *segment) seal() error {
	var errs []error
	if e := s.tracker.maybeTimeEntry(); e != nil {
		s.index.add(nil, []timeIndexEntry{*e})
		if s.indexFiles != nil {
			errs = append(errs, s.indexFiles.write(nil, []timeIndexEntry{*e}))
		}
	}
	if s.indexFiles != nil {
		failed := s.indexFiles.failed
		errs = append(errs, s.indexFiles.close())
		s.indexFiles = nil
		if failed || errors.Join(errs...) != nil {
			// Open trusts the index files of inactive segments after a cheap check, which a
			// file missing entries from its middle could pass: make the next open rebuild them.
			for _, suffix := range []string{indexFileSuffix, timeIndexFileSuffix} {
				errs = append(errs, removeIfExists(segmentPath(s.dir, s.baseOffset, suffix)))
			}
		}
	}
	return errors.Join(errs...)
}

// writeAt writes records at the end of the segment, without publishing them.
func (s *segment) writeAt(records []byte) (pos int64, err error) {
	pos = s.size.Load()
	if _, err := s.log.WriteAt(records, pos); err != nil {
		return pos, fmt.Errorf("write %s at %d: %w", s.log.Name(), pos, err)
	}
	return pos, nil
}

// commit indexes and publishes records just written at pos by writeAt; refs locate its
// batches, which carry their final offsets. The error concerns only the index files.
func (s *segment) commit(pos int64, records []byte, refs []record.Ref, interval int64, now time.Time) error {
	var offsets []offsetIndexEntry
	var times []timeIndexEntry
	for _, r := range refs {
		off, tim := s.tracker.observe(r.Hdr, pos+int64(r.Pos), interval)
		if off != nil {
			offsets = append(offsets, *off)
		}
		if tim != nil {
			times = append(times, *tim)
		}
	}
	s.index.add(offsets, times)
	var indexErr error
	if s.indexFiles != nil {
		indexErr = s.indexFiles.write(offsets, times)
	}
	if s.rollBase.IsZero() {
		s.rollBase = now
	}
	s.lastModified = now
	s.nextOffset = refs[len(refs)-1].Hdr.NextOffset()
	s.maxTimestamp.Store(s.tracker.maxTimestamp)
	s.size.Store(pos + int64(len(records)))
	return indexErr
}

// largestTimestamp is what retention.ms compares with: the largest record timestamp, or
// when no record has one, the time the segment was last written.
func (s *segment) largestTimestamp() int64 {
	if ts := s.maxTimestamp.Load(); ts >= 0 {
		return ts
	}
	return s.lastModified.UnixMilli()
}

// read locates the batches of a fetch at offset: from the batch holding offset, stopping
// before a batch reaching maxOffset and once more would exceed maxBytes, but including at
// least one batch. next is the offset after the last batch included. found is false when
// no batch of the segment reaches offset.
func (s *segment) read(offset, maxOffset, maxBytes int64, window []byte) (pos, size, next int64, found bool, err error) {
	f, err := s.log.acquire()
	if err != nil {
		return 0, 0, 0, false, err
	}
	defer s.log.release()
	sc := newBatchScanner(f, f.Name(), s.index.positionFor(offset), s.size.Load(), window)
	for sc.next() {
		if sc.cur.LastOffset() < offset {
			continue
		}
		pos = sc.curPos
		for {
			if sc.cur.LastOffset() >= maxOffset || (size > 0 && size+sc.cur.Size() > maxBytes) {
				return pos, size, next, true, nil
			}
			size += sc.cur.Size()
			next = sc.cur.NextOffset()
			if !sc.next() {
				// A bad batch further on is the next fetch's problem: what is gathered is sound.
				return pos, size, next, true, nil
			}
		}
	}
	return 0, 0, 0, false, sc.err
}

// findTimestamp returns the first record of the segment whose timestamp is >= ts.
func (s *segment) findTimestamp(ts int64, window []byte) (offset, timestamp int64, found bool, err error) {
	start := int64(0)
	if off, ok := s.index.offsetBeforeTimestamp(ts); ok {
		start = s.index.positionFor(off)
	}
	f, err := s.log.acquire()
	if err != nil {
		return 0, 0, false, err
	}
	defer s.log.release()
	sc := newBatchScanner(f, f.Name(), start, s.size.Load(), window)
	for sc.next() {
		if sc.cur.MaxTimestamp < ts || sc.cur.RecordCount == 0 {
			continue
		}
		batch, err := sc.batch()
		if err != nil {
			return 0, 0, false, err
		}
		offset, timestamp, found, err := findRecordAtOrAfter(sc.cur, batch, ts)
		if err != nil || found {
			return offset, timestamp, found, err
		}
	}
	return 0, 0, false, sc.err
}

// loadOptions configure how load checks a segment found on disk.
type loadOptions struct {
	verifyCRC     bool  // read whole batches and check their checksums, not just headers
	minOffset     int64 // no batch may start below this: the previous segment's end
	limitOffset   int64 // no batch may reach this: the next segment's base offset
	indexInterval int64
	now           time.Time
}

// loadResult tells what load found.
type loadResult struct {
	fileBytes  int64
	validBytes int64
	invalid    error // why the bytes from validBytes on were rejected
	headers    int   // batch headers read
	// Why an index file was rewritten; empty when it was kept.
	indexRewritten, timeIndexRewritten string
}

// load scans the batches of the segment, sets its state from them and rebuilds the index
// files if they are not exactly what the batches call for. It stops at the first invalid
// or torn batch, reporting it in loadResult.invalid; the caller truncates the file.
func (s *segment) load(o loadOptions, window []byte) (loadResult, error) {
	f, err := s.log.acquire()
	if err != nil {
		return loadResult{}, err
	}
	defer s.log.release()
	fi, err := f.Stat()
	if err != nil {
		return loadResult{}, fmt.Errorf("stat segment: %w", err)
	}
	res := loadResult{fileBytes: fi.Size()}
	s.lastModified = fi.ModTime()

	tracker := newIndexTracker(s.baseOffset)
	var offsets []offsetIndexEntry
	var times []timeIndexEntry
	next := max(s.baseOffset, o.minOffset)
	firstTimestamp := int64(-1)
	sc := newBatchScanner(f, f.Name(), 0, res.fileBytes, window)
	for sc.next() {
		h := sc.cur
		if err := s.checkPlacement(h, next, o.limitOffset); err != nil {
			res.invalid = fmt.Errorf("%s: batch at position %d: %w", f.Name(), sc.curPos, err)
			break
		}
		if o.verifyCRC {
			b, err := sc.batch()
			if err != nil {
				return loadResult{}, err
			}
			if err := h.CheckCRC(b); err != nil {
				res.invalid = fmt.Errorf("%s: batch at position %d: %w", f.Name(), sc.curPos, err)
				break
			}
		}
		if res.validBytes == 0 {
			firstTimestamp = h.MaxTimestamp
		}
		off, tim := tracker.observe(h, sc.curPos, o.indexInterval)
		if off != nil {
			offsets = append(offsets, *off)
		}
		if tim != nil {
			times = append(times, *tim)
		}
		next = h.NextOffset()
		res.validBytes = sc.pos
	}
	if res.invalid == nil && sc.err != nil {
		if !errors.Is(sc.err, kerr.CorruptMessage) {
			return loadResult{}, sc.err
		}
		res.invalid = sc.err
	}
	res.headers = sc.headers
	// The index of a segment that stopped being active ends with its max timestamp; write
	// that entry now too, so a restart yields the same index whether or not it was clean.
	if tim := tracker.maybeTimeEntry(); tim != nil {
		times = append(times, *tim)
	}

	s.tracker = tracker
	s.nextOffset = max(s.baseOffset, next)
	s.index.replace(offsets, times)
	s.maxTimestamp.Store(tracker.maxTimestamp)
	s.size.Store(res.validBytes)
	if res.validBytes > 0 {
		// A CreateTime may be arbitrarily old (a producer replaying history); rolling on it
		// alone would roll on every append, so the clock bounds it.
		if firstTimestamp >= 0 {
			s.rollBase = time.UnixMilli(min(firstTimestamp, o.now.UnixMilli()))
		} else {
			s.rollBase = s.lastModified
		}
	}

	res.indexRewritten, err = syncIndexFile(s.files, segmentPath(s.dir, s.baseOffset, indexFileSuffix),
		appendOffsetIndexEntries(nil, offsets), offsetIndexEntrySize)
	if err != nil {
		return loadResult{}, err
	}
	res.timeIndexRewritten, err = syncIndexFile(s.files, segmentPath(s.dir, s.baseOffset, timeIndexFileSuffix),
		appendTimeIndexEntries(nil, times), timeIndexEntrySize)
	if err != nil {
		return loadResult{}, err
	}
	return res, nil
}

// checkPlacement validates the offsets of a batch against its neighbours in the log.
func (s *segment) checkPlacement(h record.Header, next, limit int64) error {
	switch {
	case h.BaseOffset < next:
		return fmt.Errorf("base offset %d, expected at least %d: %w", h.BaseOffset, next, kerr.CorruptMessage)
	case h.LastOffset() >= limit:
		return fmt.Errorf("last offset %d reaches the next segment at %d: %w", h.LastOffset(), limit, kerr.CorruptMessage)
	case h.LastOffset()-s.baseOffset > math.MaxInt32:
		return fmt.Errorf("last offset %d too far from segment base %d: %w", h.LastOffset(), s.baseOffset, kerr.CorruptMessage)
	}
	return nil
}

// syncIndexFile makes the index file at path hold want, and says why it had to be rewritten.
func syncIndexFile(files *fileCache, path string, want []byte, entrySize int) (reason string, err error) {
	var got []byte
	err = files.transient(func() (err error) {
		got, err = os.ReadFile(path)
		return err
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		reason = "missing"
	case err != nil:
		return "", fmt.Errorf("read index: %w", err)
	case bytes.Equal(got, want):
		return "", nil
	case len(got)%entrySize != 0:
		reason = fmt.Sprintf("%d bytes is not a whole number of entries", len(got))
	default:
		reason = "inconsistent with the log"
	}
	if err := files.transient(func() error { return os.WriteFile(path, want, 0o644) }); err != nil {
		return "", fmt.Errorf("rewrite index: %w", err)
	}
	return reason, nil
}

// loadTrusted sets the state of a segment that is not the active one from its index
// files, reading only a few of its batches where load reads them all. It checks the
// files first: their structure, then against the batches they let it read cheaply,
// which are those from the last offset index entry to the end of the file and the one
// the last time index entry names. The files must be exactly as complete at their end
// as load would rebuild them, and the last time entry gives the segment's max timestamp.
//
// distrust says why the files failed the check and is empty when the segment was
// loaded; after a failure the caller loads the segment in full, which rebuilds them.
func (s *segment) loadTrusted(o loadOptions, window []byte) (distrust string, headers int, err error) {
	f, err := s.log.acquire()
	if err != nil {
		return "", 0, err
	}
	defer s.log.release()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, fmt.Errorf("stat segment: %w", err)
	}
	fileBytes := fi.Size()
	if fileBytes > math.MaxInt32 {
		return fmt.Sprintf("a log file of %d bytes cannot be indexed", fileBytes), 0, nil
	}
	offsetData, missing, err := readIndexFile(s.files, segmentPath(s.dir, s.baseOffset, indexFileSuffix))
	if err != nil || missing {
		return "offset index missing", 0, err
	}
	timeData, missing, err := readIndexFile(s.files, segmentPath(s.dir, s.baseOffset, timeIndexFileSuffix))
	if err != nil || missing {
		return "time index missing", 0, err
	}
	offsets, err := decodeOffsetIndex(offsetData)
	if err == nil {
		err = checkOffsetIndex(offsets, fileBytes)
	}
	if err != nil {
		return "offset index: " + err.Error(), 0, nil
	}
	times, err := decodeTimeIndex(timeData)
	if err == nil {
		err = checkTimeIndex(times)
	}
	if err != nil {
		return "time index: " + err.Error(), 0, nil
	}
	if fileBytes == 0 && len(offsets)+len(times) > 0 {
		return "index entries for an empty segment", 0, nil
	}
	if fileBytes > 0 && len(times) == 0 {
		// A sealed segment's time index ends with its max timestamp, so it is empty only
		// when no batch has a timestamp, which only reading them all can tell from a lost
		// file.
		return "time index empty", 0, nil
	}
	// positionFor below searches the candidate entries; load replaces them if they fail.
	s.index.replace(offsets, times)

	tail, lastIndexed := int64(0), int64(-1) // lastIndexed: where the batch at tail must end
	if n := len(offsets); n > 0 {
		tail, lastIndexed = int64(offsets[n-1].position), s.baseOffset+int64(offsets[n-1].relOffset)
	}
	maxTimestamp, maxTimestampOffset := int64(-1), int64(-1)
	if n := len(times); n > 0 {
		maxTimestamp, maxTimestampOffset = times[n-1].timestamp, s.baseOffset+int64(times[n-1].relOffset)
	}

	next, maxTimestampSeen := s.baseOffset, false
	if tail == 0 {
		next = max(s.baseOffset, o.minOffset)
	}
	var sinceEntry int64 // replays indexTracker.observe: no batch of the tail but the first earns an entry
	sc := newBatchScanner(f, f.Name(), tail, fileBytes, window)
	for sc.next() {
		h := sc.cur
		if err := s.checkPlacement(h, next, o.limitOffset); err != nil {
			return fmt.Sprintf("batch at position %d: %v", sc.curPos, err), sc.headers, nil
		}
		switch {
		case sc.curPos == tail && lastIndexed >= 0 && h.LastOffset() != lastIndexed:
			return fmt.Sprintf("last offset index entry names offset %d, the batch at its position ends at %d", lastIndexed, h.LastOffset()), sc.headers, nil
		case sinceEntry > o.indexInterval:
			return fmt.Sprintf("offset index has no entry for the batch at position %d", sc.curPos), sc.headers, nil
		case h.MaxTimestamp > maxTimestamp:
			return fmt.Sprintf("time index ends at timestamp %d, the batch at position %d has %d", maxTimestamp, sc.curPos, h.MaxTimestamp), sc.headers, nil
		case h.LastOffset() == maxTimestampOffset:
			if h.MaxTimestamp != maxTimestamp {
				return fmt.Sprintf("last time index entry says timestamp %d, the batch ending at %d has %d", maxTimestamp, maxTimestampOffset, h.MaxTimestamp), sc.headers, nil
			}
			maxTimestampSeen = true
		}
		sinceEntry += h.Size()
		next = h.NextOffset()
	}
	headers = sc.headers
	if sc.err != nil {
		if !errors.Is(sc.err, kerr.CorruptMessage) {
			return "", headers, sc.err
		}
		return sc.err.Error(), headers, nil
	}

	if maxTimestampOffset >= 0 && !maxTimestampSeen {
		if maxTimestampOffset > lastIndexed {
			return fmt.Sprintf("last time index entry names offset %d, where no batch ends", maxTimestampOffset), headers, nil
		}
		// The batch lies before the tail: find it from the offset index entry before it.
		sc := newBatchScanner(f, f.Name(), s.index.positionFor(maxTimestampOffset), tail, window)
		found := false
		for sc.next() {
			if sc.cur.LastOffset() >= maxTimestampOffset {
				found = sc.cur.LastOffset() == maxTimestampOffset && sc.cur.MaxTimestamp == maxTimestamp
				break
			}
		}
		headers += sc.headers
		if sc.err != nil && !errors.Is(sc.err, kerr.CorruptMessage) {
			return "", headers, sc.err
		}
		if !found {
			return fmt.Sprintf("no batch ends at offset %d with timestamp %d, as the last time index entry says", maxTimestampOffset, maxTimestamp), headers, nil
		}
	}

	s.lastModified = fi.ModTime()
	s.nextOffset = next
	s.maxTimestamp.Store(maxTimestamp)
	s.size.Store(fileBytes)
	return "", headers, nil
}

// readIndexFile returns the contents of an index file, or missing if there is none.
func readIndexFile(files *fileCache, path string) (data []byte, missing bool, err error) {
	err = files.transient(func() (err error) {
		data, err = os.ReadFile(path)
		return err
	})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, true, nil
	case err != nil:
		return nil, false, fmt.Errorf("read index: %w", err)
	}
	return data, false, nil
}

// unlink removes the segment's files from its directory, but for the log file if
// keepLog is set: the caller then disposes of it (see Log.releaseFile).
func (s *segment) unlink(keepLog bool) error {
	var errs []error
	if s.indexFiles != nil {
		errs = append(errs, s.indexFiles.close())
		s.indexFiles = nil
	}
	suffixes := []string{indexFileSuffix, timeIndexFileSuffix, txnIndexFileSuffix}
	if !keepLog {
		suffixes = append(suffixes, logFileSuffix)
	}
	for _, suffix := range suffixes {
		if err := os.Remove(segmentPath(s.dir, s.baseOffset, suffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("delete segment file: %w", err))
		}
	}
	return errors.Join(errs...)
}

// close closes every file of the segment.
func (s *segment) close() error {
	var errs []error
	if s.indexFiles != nil {
		errs = append(errs, s.indexFiles.close())
		s.indexFiles = nil
	}
	if err := s.log.close(); err != nil {
		errs = append(errs, fmt.Errorf("close segment: %w", err))
	}
	return errors.Join(errs...)
}

// indexWriter appends entries to the index files of the active segment, through the
// descriptor cache: they are open while written, and evictable in between. The files are
// advisory (open rebuilds them when they disagree with the log), so after a failed write
// it stops writing rather than failing appends.
type indexWriter struct {
	offsets, times *FileHandle
	failed         bool
	buf            []byte
}

// openIndexWriter returns the writer of a segment's index files. With truncate they are
// created empty now; otherwise they exist (load wrote them) and open when first written.
func openIndexWriter(files *fileCache, dir string, baseOffset int64, truncate bool) (*indexWriter, error) {
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if truncate {
		flags |= os.O_TRUNC
	}
	w := &indexWriter{
		offsets: files.handle(segmentPath(dir, baseOffset, indexFileSuffix), flags),
		times:   files.handle(segmentPath(dir, baseOffset, timeIndexFileSuffix), flags),
	}
	if truncate {
		for _, h := range []*FileHandle{w.offsets, w.times} {
			if _, err := h.acquire(); err != nil {
				return nil, errors.Join(fmt.Errorf("create index: %w", err), w.close())
			}
			h.release()
		}
	}
	return w, nil
}

func (w *indexWriter) write(offsets []offsetIndexEntry, times []timeIndexEntry) error {
	if w.failed {
		return nil
	}
	var errs []error
	if len(offsets) > 0 {
		w.buf = appendOffsetIndexEntries(w.buf[:0], offsets)
		if _, err := w.offsets.Write(w.buf); err != nil {
			errs = append(errs, fmt.Errorf("append to index: %w", err))
		}
	}
	if len(times) > 0 {
		w.buf = appendTimeIndexEntries(w.buf[:0], times)
		if _, err := w.times.Write(w.buf); err != nil {
			errs = append(errs, fmt.Errorf("append to time index: %w", err))
		}
	}
	if len(errs) > 0 {
		w.failed = true
	}
	return errors.Join(errs...)
}

func (w *indexWriter) close() error {
	var errs []error
	if err := w.offsets.close(); err != nil {
		errs = append(errs, fmt.Errorf("close index: %w", err))
	}
	if err := w.times.close(); err != nil {
		errs = append(errs, fmt.Errorf("close time index: %w", err))
	}
	return errors.Join(errs...)
}

// positionOf returns the position of the first batch whose last offset is >= offset, or
// the segment's size if there is none.
func (s *segment) positionOf(offset int64, window []byte) (int64, error) {
	end := s.size.Load()
	f, err := s.log.acquire()
	if err != nil {
		return 0, err
	}
	defer s.log.release()
	sc := newBatchScanner(f, f.Name(), s.index.positionFor(offset), end, window)
	for sc.next() {
		if sc.cur.LastOffset() >= offset {
			return sc.curPos, nil
		}
	}
	if sc.err != nil {
		return 0, sc.err
	}
	return end, nil
}
