package storage

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The log start offset is the first offset a reader may ask for. It is the base offset of
// the first segment unless DeleteRecords moved it into that segment: the records below it
// then stay on disk, unreadable, until the segment goes as a whole. Truncation is the only
// thing that moves it back (a follower's log cut below it, or restarted elsewhere).

// AdvanceLogStartOffset moves the log start offset up to offset, as DeleteRecords does on a
// partition's leader and, after it, on its followers. Reads below the new start fail with
// OFFSET_OUT_OF_RANGE, and the segments wholly below it are deleted at once; the segment
// holding offset stays. An offset at or below the current start changes nothing. The start
// may not pass the high watermark (a leader cannot delete what the ISR may not have yet):
// such an offset gets an error wrapping kerr.OffsetOutOfRange. It returns the log start
// offset after the call.
//
// A log opened by a Manager returns only once the log-start-offset-checkpoint records a
// new start that lies inside the first segment, so that a restart does not bring the
// deleted records back. A start at the first segment's base (a follower following its
// leader's retention) needs no checkpoint: the segments tell it.
func (l *Log) AdvanceLogStartOffset(offset int64) (int64, error) {
	l.mu.Lock()
	start, advanced, err := l.advanceLogStartLocked(offset)
	inside := start > l.firstSegmentBase()
	l.mu.Unlock()
	if err != nil || !advanced || !inside || l.afterLogStartAdvance == nil {
		return start, err
	}
	if err := l.afterLogStartAdvance(); err != nil {
		return start, fmt.Errorf("checkpoint log start offset %d: %w", start, err)
	}
	return start, nil
}

// advanceLogStartLocked is AdvanceLogStartOffset under l.mu; advanced reports whether the
// start moved.
func (l *Log) advanceLogStartLocked(offset int64) (start int64, advanced bool, err error) {
	if err := l.writable(); err != nil {
		return 0, false, err
	}
	start = l.logStartOffset.Load()
	if hw := l.highWatermark.Load(); offset > hw {
		return start, false, fmt.Errorf("log start offset %d would pass the high watermark %d: %w", offset, hw, kerr.OffsetOutOfRange)
	}
	if offset <= start {
		return start, false, nil
	}
	l.logStartOffset.Store(offset)
	segs := l.loadSegments()
	err = l.dropLeadingSegments(segs, segmentsBelow(segs, offset), l.now())
	l.logger.WithFields(logrus.Fields{"log_start_offset": offset, "previous": start}).Info("advanced log start offset")
	return offset, true, err
}

// segmentsBelow returns how many of the oldest segments hold only offsets below offset:
// those followed by a segment starting at or below it. The active segment always stays.
func segmentsBelow(segs []*segment, offset int64) int {
	n := 0
	for n+1 < len(segs) && segs[n+1].baseOffset <= offset {
		n++
	}
	return n
}

// dropLeadingSegments deletes the n oldest segments (n < len(segs)), which moves the log
// start offset to the first one kept unless it is already past it, and forgets what lies
// below the log start: leader epochs, producers and their snapshots. Called with n == 0 it
// only does the latter, after the caller moved the start inside the first segment. l.mu
// must be held or the log not yet shared.
func (l *Log) dropLeadingSegments(segs []*segment, n int, now time.Time) error {
	if n > 0 {
		l.publish(slices.Clip(segs[n:]))
		l.dirDirty = true
	}
	start := l.LogStartOffset()
	l.clampHighWatermark()
	l.truncateEpochsFromStart(start)
	l.producers.removeBefore(start)
	if err := l.pruneSnapshots(start); err != nil {
		l.logger.WithError(err).Warn("deleting producer state snapshots below the log start")
	}
	var errs []error
	for _, s := range segs[:n] {
		errs = append(errs, l.retire(s, now))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete segments below log start offset %d: %w", start, err)
	}
	return nil
}

// restoreLogStart applies the log start offset of the previous run, from the
// log-start-offset-checkpoint, to a freshly loaded log: kept within the log (recovery may
// have cut it shorter), with the segments wholly below it deleted, which a crash after the
// checkpoint was written may have left. The log is not yet shared.
func (l *Log) restoreLogStart(checkpointed int64, now time.Time) error {
	segs := l.loadSegments()
	start := min(checkpointed, l.logEndOffset.Load())
	if start <= segs[0].baseOffset {
		return nil
	}
	l.logStartOffset.Store(start)
	return l.dropLeadingSegments(segs, segmentsBelow(segs, start), now)
}

// firstSegmentBase is the base offset of the oldest segment: the log start offset unless
// DeleteRecords moved it further.
func (l *Log) firstSegmentBase() int64 { return l.loadSegments()[0].baseOffset }
