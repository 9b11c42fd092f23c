package storage

import (
	"bufio"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Suffixes added to a segment's log file name while the cleaner replaces it, as in Kafka:
// .cleaned while its cleaned copy is written, .swap once that copy is complete and
// commits the replacement.
const (
	cleanedFileSuffix = ".cleaned"
	swapFileSuffix    = ".swap"
)

// cleanedSegmentWriter writes the cleaned copy of a group of segments beside them, as
// <base>.log.cleaned, and builds its index as it goes, by the rules appends and open
// follow, so that an open finds the index files it would have built itself.
type cleanedSegmentWriter struct {
	dir      string
	base     int64
	path     string
	file     *os.File
	buf      *bufio.Writer
	interval int64

	size    int64
	next    int64 // the offset after the last batch written
	tracker indexTracker
	offsets []offsetIndexEntry
	times   []timeIndexEntry
}

func createCleanedSegment(dir string, base, indexInterval int64) (*cleanedSegmentWriter, error) {
	path := segmentPath(dir, base, logFileSuffix+cleanedFileSuffix)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create cleaned segment: %w", err)
	}
	return &cleanedSegmentWriter{
		dir: dir, base: base, path: path, file: f, buf: bufio.NewWriterSize(f, 256<<10),
		interval: indexInterval, next: base, tracker: newIndexTracker(base),
	}, nil
}

// append writes one whole batch.
func (w *cleanedSegmentWriter) append(batch []byte) error {
	h := record.ParseHeader(batch)
	if w.size+h.Size() > math.MaxInt32 {
		// Index positions are 32-bit. Only recompression can make a group outgrow the
		// limit its sources fitted in.
		return fmt.Errorf("cleaned segment %d would exceed %d bytes", w.base, math.MaxInt32)
	}
	off, tim := w.tracker.observe(h, w.size, w.interval)
	if off != nil {
		w.offsets = append(w.offsets, *off)
	}
	if tim != nil {
		w.times = append(w.times, *tim)
	}
	if _, err := w.buf.Write(batch); err != nil {
		return fmt.Errorf("write cleaned segment: %w", err)
	}
	w.size += h.Size()
	w.next = h.NextOffset()
	return nil
}

// finish makes the file durable, dates it lastModified (the newest of the segments it
// replaces: retention falls back on it) and returns the segment it holds.
func (w *cleanedSegmentWriter) finish(lastModified time.Time) (*segment, error) {
	if err := w.buf.Flush(); err != nil {
		return nil, fmt.Errorf("write cleaned segment: %w", err)
	}
	if err := w.file.Sync(); err != nil {
		return nil, fmt.Errorf("sync cleaned segment: %w", err)
	}
	if err := os.Chtimes(w.path, lastModified, lastModified); err != nil {
		return nil, fmt.Errorf("date cleaned segment: %w", err)
	}
	// As load does for a segment that is not the active one.
	if tim := w.tracker.maybeTimeEntry(); tim != nil {
		w.times = append(w.times, *tim)
	}
	// The log file until the swap, which gives the segment its handle (replaceWithCleaned).
	s := newSegment(nil, w.dir, w.base, FixedFile(w.file))
	s.tracker = w.tracker
	s.index.replace(w.offsets, w.times)
	s.maxTimestamp.Store(w.tracker.maxTimestamp)
	s.size.Store(w.size)
	s.nextOffset = w.next
	s.lastModified = lastModified
	return s, nil
}

// discard closes and removes the file.
func (w *cleanedSegmentWriter) discard() error {
	return errors.Join(w.file.Close(), removeIfExists(w.path))
}

// writeIndexFiles writes the index files of the finished segment. They are advisory: if
// they cannot be written whole, none is left, and the next open rebuilds them.
func (w *cleanedSegmentWriter) writeIndexFiles() error {
	offsetsPath := segmentPath(w.dir, w.base, indexFileSuffix)
	timesPath := segmentPath(w.dir, w.base, timeIndexFileSuffix)
	err := errors.Join(
		os.WriteFile(offsetsPath, appendOffsetIndexEntries(nil, w.offsets), 0o644),
		os.WriteFile(timesPath, appendTimeIndexEntries(nil, w.times), 0o644),
	)
	if err != nil {
		return errors.Join(err, removeIfExists(offsetsPath), removeIfExists(timesPath))
	}
	return nil
}

// replaceWithCleaned swaps the cleaned copy of group, written by w and held by cleaned,
// in for the group's segments, provided they are still the log's and no truncation
// happened since the clean started (else errCleanAborted). It takes over w: the file is
// removed if the swap does not happen.
//
// Once the copy is renamed to .swap the replacement is committed: the next open finishes
// it should anything fail from there on, and the log refuses appends until then, as after
// any write that leaves it in an unknown state.
func (l *Log) replaceWithCleaned(group []segmentInfo, w *cleanedSegmentWriter, cleaned *segment, aborted []abortedTxnEntry, truncations uint64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	abandon := func(err error) error {
		if derr := errors.Join(w.discard(), removeIfExists(txnIndexPath(l.dir, w.base)+cleanedFileSuffix)); derr != nil {
			l.logger.WithError(derr).Warn("removing a cleaned segment not swapped in")
		}
		return err
	}
	if err := l.writable(); err != nil {
		return abandon(err)
	}
	if !l.segmentsLive(group, truncations) {
		return abandon(errCleanAborted)
	}
	// The cleaned segment's transaction index is written beside it before the swap
	// commits, and takes the first segment's index's name before the log file does (see
	// installSwap): a crash at any point leaves either the old index with the old
	// segment or the new one with the new.
	if err := writeFileSynced(txnIndexPath(l.dir, w.base)+cleanedFileSuffix, appendTxnIndexEntries(nil, aborted)); err != nil {
		return abandon(errors.Join(fmt.Errorf("write transaction index of cleaned segment: %w", err), removeIfExists(txnIndexPath(l.dir, w.base)+cleanedFileSuffix)))
	}
	swapPath := segmentPath(l.dir, w.base, logFileSuffix+swapFileSuffix)
	if err := os.Rename(w.path, swapPath); err != nil {
		return abandon(fmt.Errorf("rename cleaned segment: %w", err))
	}

	final, err := l.installSwap(group, swapPath)
	if err != nil {
		l.failed = fmt.Errorf("replace segments by their cleaned copy: %w", err)
		l.logger.WithError(err).Error("log failed: segments half replaced by their cleaned copy; the next open completes the replacement")
		return errors.Join(l.failed, w.file.Close())
	}
	// The descriptor w wrote through is named after the .cleaned file; readers and errors
	// should see the segment's own name, which the handle opens when first used.
	if err := w.file.Close(); err != nil {
		l.logger.WithError(err).Warn("closing the written cleaned segment")
	}
	cleaned.files, cleaned.log = l.files, l.files.handle(final, os.O_RDWR)
	cleaned.setAborted(aborted)
	if err := w.writeIndexFiles(); err != nil {
		l.logger.WithError(err).WithField("segment", w.base).Warn("index files of the cleaned segment not written; they will be rebuilt at the next open")
	}

	segs := l.loadSegments()
	i := slices.Index(segs, group[0].seg)
	replaced := make([]*segment, 0, len(segs)-len(group)+1)
	replaced = append(append(append(replaced, segs[:i]...), cleaned), segs[i+len(group):]...)
	l.publish(replaced)
	l.dirDirty = true // the last rename
	now := l.now()
	var errs []error
	for _, g := range group {
		errs = append(errs, l.releaseFile(g.seg, now))
	}
	if err := errors.Join(errs...); err != nil {
		l.logger.WithError(err).Warn("closing files of segments replaced by their cleaned copy")
	}
	return nil
}

// installSwap does the file operations that a committed replacement still needs, in an
// order that lets completeSwaps finish it after a crash at any point: the files of the
// replaced segments go (their log files aside, see moveAside), durably, and only then
// does the .swap file take the first segment's name, the first segment's log file having
// moved aside just before. It returns the path of the cleaned segment's log file. l.mu
// must be held.
func (l *Log) installSwap(group []segmentInfo, swapPath string) (string, error) {
	if err := syncDir(l.dir); err != nil {
		return "", err
	}
	var errs []error
	for j, g := range group {
		suffixes := []string{indexFileSuffix, timeIndexFileSuffix}
		if j > 0 {
			suffixes = append(suffixes, txnIndexFileSuffix)
			if err := l.moveAside(g.seg); err != nil {
				errs = append(errs, fmt.Errorf("remove replaced segment file: %w", err))
			}
		}
		for _, suffix := range suffixes {
			if err := removeIfExists(segmentPath(l.dir, g.seg.baseOffset, suffix)); err != nil {
				errs = append(errs, fmt.Errorf("remove replaced segment file: %w", err))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return "", err
	}
	if err := syncDir(l.dir); err != nil {
		return "", err
	}
	base := group[0].seg.baseOffset
	if err := os.Rename(txnIndexPath(l.dir, base)+cleanedFileSuffix, txnIndexPath(l.dir, base)); err != nil {
		return "", fmt.Errorf("rename transaction index of cleaned segment: %w", err)
	}
	// The replaced first segment's handle must not reopen the cleaned file in its place.
	if err := l.moveAside(group[0].seg); err != nil {
		return "", fmt.Errorf("move replaced segment aside: %w", err)
	}
	final := segmentPath(l.dir, base, logFileSuffix)
	if err := os.Rename(swapPath, final); err != nil {
		return "", fmt.Errorf("rename swap segment: %w", err)
	}
	return final, nil
}

// moveAside takes the log file of a segment no longer published out of the log's files:
// when readers get file.delete.delay.ms to finish with it, it is renamed to a unique
// .deleted name (its handle follows, so that a reader can reopen it there) for
// releaseFile to schedule its removal; otherwise it is removed. l.mu must be held.
func (l *Log) moveAside(s *segment) error {
	if l.cfg.FileDeleteDelayMs <= 0 {
		return removeIfExists(s.log.Name())
	}
	return s.log.rename(l.files.deletedName(s.log.Name()))
}

// releaseFile disposes of the log file of a segment no longer published, which moveAside
// moved: its file is closed and removed after file.delete.delay.ms, when readers that
// found the segment are done with it. l.mu must be held.
func (l *Log) releaseFile(s *segment, now time.Time) error {
	if l.cfg.FileDeleteDelayMs <= 0 {
		return s.log.close()
	}
	l.reaper.add(pendingClose{file: s.log, remove: s.log.Name(), due: now.Add(time.Duration(l.cfg.FileDeleteDelayMs) * time.Millisecond)})
	return nil
}

// completeSwaps finishes the replacements of segments by their cleaned copy that a crash
// interrupted, as found in entries (the log directory's listing), and reports whether
// there were any. A <base>.log.swap file is complete, since it was fsynced before it got
// that name, and it commits the replacement: the segments it replaces are those whose
// base offsets lie in its range of offsets, from base up to its last batch; their
// remaining files go and the .swap file becomes <base>.log, whose index files load
// rebuilds. A replaced segment whose records the clean removed entirely may lie beyond
// that range and stay: it holds only records the log has later versions of, which
// readers see in offset order before the later ones, so the log is merely less compacted
// until the next clean.
func (l *Log) completeSwaps(entries []os.DirEntry) (bool, error) {
	var swaps, bases []int64
	for _, e := range entries {
		stem, suffix, ok := strings.Cut(e.Name(), ".")
		base, err := strconv.ParseInt(stem, 10, 64)
		if !ok || err != nil || base < 0 || e.IsDir() {
			continue
		}
		switch "." + suffix {
		case logFileSuffix + swapFileSuffix:
			swaps = append(swaps, base)
		case logFileSuffix:
			bases = append(bases, base)
		}
	}
	slices.Sort(swaps)
	for _, base := range swaps {
		swapPath := segmentPath(l.dir, base, logFileSuffix+swapFileSuffix)
		end, err := swapEndOffset(swapPath, base)
		if err != nil {
			return false, err
		}
		var replaced []int64
		for _, other := range bases {
			if other > base && other < end {
				replaced = append(replaced, other)
			}
		}
		for _, other := range replaced {
			for _, suffix := range []string{logFileSuffix, indexFileSuffix, timeIndexFileSuffix, txnIndexFileSuffix} {
				if err := removeIfExists(segmentPath(l.dir, other, suffix)); err != nil {
					return false, fmt.Errorf("remove segment replaced by %s: %w", swapPath, err)
				}
			}
		}
		for _, suffix := range []string{indexFileSuffix, timeIndexFileSuffix} {
			if err := removeIfExists(segmentPath(l.dir, base, suffix)); err != nil {
				return false, fmt.Errorf("remove index of segment replaced by %s: %w", swapPath, err)
			}
		}
		// The cleaned transaction index, if it has not taken its name yet.
		cleanedTxnIndex := txnIndexPath(l.dir, base) + cleanedFileSuffix
		if _, err := os.Stat(cleanedTxnIndex); err == nil {
			if err := os.Rename(cleanedTxnIndex, txnIndexPath(l.dir, base)); err != nil {
				return false, fmt.Errorf("complete segment swap: %w", err)
			}
		}
		if err := os.Rename(swapPath, segmentPath(l.dir, base, logFileSuffix)); err != nil {
			return false, fmt.Errorf("complete segment swap: %w", err)
		}
		l.logger.WithFields(logrus.Fields{"segment": base, "replaced": replaced}).
			Info("completed replacing segments by their cleaned copy")
		l.dirDirty = true
	}
	return len(swaps) > 0, nil
}

// swapEndOffset returns the offset after the last whole batch of a .swap file.
func swapEndOffset(path string, base int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open swap segment: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat swap segment: %w", err)
	}
	end := base
	sc := newBatchScanner(f, path, 0, fi.Size(), make([]byte, loadWindowSize))
	for sc.next() {
		end = max(end, sc.cur.NextOffset())
	}
	if sc.err != nil && !errors.Is(sc.err, kerr.CorruptMessage) {
		return 0, sc.err
	}
	return end, nil
}
