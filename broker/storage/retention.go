package storage

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// retentionCandidate is what retention looks at in a segment.
type retentionCandidate struct {
	size             int64
	largestTimestamp int64 // ms
}

// expiredSegmentCount returns how many of the oldest segments retention deletes: those
// whose newest record is older than retentionMs, then as many more as it takes to bring
// totalBytes within retentionBytes without going below it. candidates are the inactive
// segments, oldest first (the active one is never deleted); a negative setting disables
// its rule.
func expiredSegmentCount(candidates []retentionCandidate, totalBytes, nowMs, retentionMs, retentionBytes int64) int {
	n := 0
	if retentionMs >= 0 {
		for n < len(candidates) && nowMs-candidates[n].largestTimestamp > retentionMs {
			n++
		}
	}
	if retentionBytes >= 0 {
		excess := totalBytes - retentionBytes
		for _, c := range candidates[:n] {
			excess -= c.size
		}
		for n < len(candidates) && excess-candidates[n].size >= 0 {
			excess -= candidates[n].size
			n++
		}
	}
	return n
}

// DeleteExpiredSegments applies retention.ms and retention.bytes: deletes whole segments
// from the oldest, never the active segment nor one holding offsets at or above the high
// watermark (followers may not have them yet), and advances the log start offset. It
// returns how many were deleted. A log whose cleanup.policy lacks delete keeps every
// segment, as in Kafka: a compacted topic's records go only when the cleaner removes them.
func (l *Log) DeleteExpiredSegments() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Load() {
		return 0, ErrClosed
	}
	now := l.now()
	if l.ownsReaper {
		if err := l.reaper.closeDue(now); err != nil {
			l.logger.WithError(err).Warn("closing deleted segment files")
		}
	}
	if !l.cfg.Delete {
		return 0, nil
	}
	segs := l.loadSegments()
	candidates := make([]retentionCandidate, len(segs)-1)
	var total int64
	for i, s := range segs {
		total += s.size.Load()
		if i < len(candidates) {
			candidates[i] = retentionCandidate{size: s.size.Load(), largestTimestamp: s.largestTimestamp()}
		}
	}
	n := expiredSegmentCount(candidates, total, now.UnixMilli(), l.cfg.RetentionMs, l.cfg.RetentionBytes)
	for hw := l.highWatermark.Load(); n > 0 && segs[n].baseOffset > hw; {
		n--
	}
	if n == 0 {
		return 0, nil
	}
	err := l.dropLeadingSegments(segs, n, now)
	l.logger.WithFields(map[string]any{"segments": n, "log_start_offset": l.LogStartOffset()}).Info("deleted segments by retention")
	if err != nil {
		return n, fmt.Errorf("delete expired segments: %w", err)
	}
	return n, nil
}

// retire removes the files of a segment that is no longer published. Its log file goes
// after file.delete.delay.ms, when readers that found it are done (see moveAside). l.mu
// must be held.
func (l *Log) retire(s *segment, now time.Time) error {
	err := s.unlink(true)
	if merr := l.moveAside(s); merr != nil {
		// Not scheduled for removal: the file still has the segment's name.
		return errors.Join(err, merr, s.log.close())
	}
	return errors.Join(err, l.releaseFile(s, now))
}

// TruncateTo drops everything at and above offset. The log is cut at the start of the
// batch holding offset, so the log end offset becomes offset, or less if that batch
// started below it. An offset below the log start offset empties the log, which then
// starts at offset. Leader epochs starting at or after the new end are forgotten, also
// when no batch is dropped, and the high watermark is lowered to the new end if above it.
//
// A log opened by a Manager returns only once the recovery point checkpoint no longer
// vouches for the dropped bytes; if that write fails, TruncateTo returns its error and
// appends are refused until it succeeds.
func (l *Log) TruncateTo(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("truncate to negative offset %d", offset)
	}
	if offset >= l.logEndOffset.Load() {
		return l.truncateEpochsFromEnd(offset)
	}
	l.truncations++
	l.dirDirty = true
	if err := l.truncateLocked(offset); err != nil {
		// The log is half rewritten: its files no longer match its state.
		l.failed = err
		return fmt.Errorf("truncate log %s to %d: %w", l.dir, offset, err)
	}
	leo := l.logEndOffset.Load()
	l.clampHighWatermark()
	if err := l.truncateEpochsFromEnd(leo); err != nil {
		return err
	}
	if l.recoveryPoint.Load() > leo {
		l.recoveryPoint.Store(leo)
		l.checkpointStale = true
	}
	// The offsets from leo on will hold records no clean has seen; a checkpoint saying
	// otherwise would keep them out of every clean.
	l.cleanHistory.truncate(leo)
	if l.cleanerCheckpoint.Load() > leo {
		l.cleanerCheckpoint.Store(leo)
		l.checkpointStale = true
	}
	l.logger.WithField("log_end_offset", leo).Info("truncated log")
	return l.checkpointTruncation()
}

// TruncateFullyAndStartAt empties the log and restarts it, empty, at offset. A follower
// does this when its log ends below the leader's log start: the leader has deleted the
// records that would follow the follower's, so nothing the follower holds can stay, and
// the next record it copies is at offset. The high watermark, recovery point and cleaner
// checkpoint all move to offset.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if offset < 0 {
		return fmt.Errorf("restart log at negative offset %d", offset)
	}
	l.truncations++
	l.dirDirty = true
	if err := l.restartAt(offset, l.now()); err != nil {
		l.failed = err
		return fmt.Errorf("restart log %s at %d: %w", l.dir, offset, err)
	}
	l.highWatermark.Store(offset)
	l.updateLastStable()
	l.recoveryPoint.Store(offset)
	l.cleanHistory.steps = nil
	l.cleanerCheckpoint.Store(offset)
	l.checkpointStale = true
	l.logger.WithField("log_start_offset", offset).Info("emptied log to restart at the leader's log start")
	return l.checkpointTruncation()
}

func (l *Log) truncateLocked(offset int64) error {
	now := l.now()
	segs := l.loadSegments()
	if offset < segs[0].baseOffset {
		return l.restartAt(offset, now)
	}
	i := 0
	for i+1 < len(segs) && segs[i+1].baseOffset <= offset {
		i++
	}
	seg := segs[i]
	cut, err := seg.positionOf(offset, make([]byte, readWindowSize))
	if err != nil {
		return err
	}

	// Shrink what readers see before touching any file. A log start moved past offset
	// (DeleteRecords) comes back to it, as in Kafka: the log must hold its end.
	l.logEndOffset.Store(offset)
	l.logStartOffset.Store(min(l.logStartOffset.Load(), offset))
	l.publish(slices.Clip(segs[:i+1]))
	seg.size.Store(cut)

	var errs []error
	for _, s := range segs[i+1:] {
		errs = append(errs, l.retire(s, now))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := seg.log.Truncate(cut); err != nil {
		return fmt.Errorf("truncate %s: %w", seg.log.Name(), err)
	}

	// Reload the cut segment, which rebuilds its index.
	windowBuf := l.loadWindows.get()
	defer l.loadWindows.put(windowBuf)
	window := *windowBuf
	minOffset := int64(0)
	if i > 0 {
		minOffset = segs[i-1].nextOffset
	}
	res, err := seg.load(loadOptions{
		minOffset:     minOffset,
		limitOffset:   math.MaxInt64,
		indexInterval: int64(l.cfg.IndexIntervalBytes),
		now:           now,
	}, window)
	l.headersRead += int64(res.headers)
	if err != nil {
		return err
	}
	if res.invalid != nil {
		return res.invalid
	}
	if err := seg.activate(false); err != nil {
		return err
	}
	l.logEndOffset.Store(seg.nextOffset)
	if err := l.removeSnapshotsDurably(func(o int64) bool { return o > seg.nextOffset }); err != nil {
		return err
	}
	if err := seg.truncateAborted(seg.nextOffset); err != nil {
		return err
	}
	// The producer state cannot be unwound batch by batch: rebuild it from a snapshot
	// below the cut. The ended transactions whose markers remain and may be above the
	// high watermark stay tracked: the replay sees only those after the snapshot.
	l.txnMu.Lock()
	var ended []endedTxn
	for _, e := range l.txns.unreplicated {
		if e.markerOffset < seg.nextOffset {
			ended = append(ended, e)
		}
	}
	l.txnMu.Unlock()
	if err := l.loadProducerState(segs[:i+1], window, math.MaxInt64); err != nil {
		return err
	}
	l.txnMu.Lock()
	l.txns.unreplicated = mergeEnded(ended, l.txns.unreplicated)
	l.txnMu.Unlock()
	return nil
}

// removeSnapshotsDurably deletes the snapshots drop selects and, if there were any,
// syncs the directory: new batches are about to take the offsets they describe, and a
// crash must not bring them back. l.mu must be held.
func (l *Log) removeSnapshotsDurably(drop func(offset int64) bool) error {
	removed, err := l.removeSnapshots(drop)
	if err != nil {
		return err
	}
	if removed > 0 {
		return syncDir(l.dir)
	}
	return nil
}

// restartAt replaces every segment by an empty one starting at offset.
func (l *Log) restartAt(offset int64, now time.Time) error {
	seg, err := createSegment(l.files, l.dir, offset, now)
	if err != nil {
		return err
	}
	old := l.loadSegments()
	l.logEndOffset.Store(offset)
	l.logStartOffset.Store(offset)
	l.publish([]*segment{seg})
	l.producers = newProducerStates()
	l.txnMu.Lock()
	l.txns = newTxnTracker()
	l.txnMu.Unlock()
	// Nothing of the old history is left in the log.
	l.epochMu.Lock()
	l.epochs = epochCache{}
	l.epochMu.Unlock()
	if err := l.persistEpochs(); err != nil {
		return err
	}
	errs := []error{l.removeSnapshotsDurably(func(int64) bool { return true })}
	for _, s := range old {
		errs = append(errs, l.retire(s, now))
	}
	return errors.Join(errs...)
}
