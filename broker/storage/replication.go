package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
)

// This file holds what a Log keeps for replication: the leader epoch cache and the high
// watermark.
//
// Ordering on disk: the epoch cache is persisted before the batches of a new epoch are
// written, and after the batches it no longer describes are truncated away. A crash
// between the two thus leaves at worst entries starting at or beyond the log end offset,
// which describe no data and are dropped at open, never data without its epoch.

// AssignEpochStartOffset records that the leader of epoch starts writing at offset, which
// must be the log end offset: a new leader calls it before accepting appends, so that its
// epoch's history starts where its log ends even before it writes anything (KAFKA-7415).
// It is a no-op if epoch is already the latest. Epochs only grow: an epoch older than the
// latest is refused with an error wrapping kerr.FencedLeaderEpoch.
func (l *Log) AssignEpochStartOffset(epoch int32, offset int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	if leo := l.logEndOffset.Load(); offset != leo {
		return fmt.Errorf("assign leader epoch %d at offset %d: the log ends at %d", epoch, offset, leo)
	}
	return l.assignLeaderEpoch(epoch, offset)
}

// assignLeaderEpoch records epoch as starting at start, the log end offset, if it is new,
// and persists the cache. l.mu must be held.
func (l *Log) assignLeaderEpoch(epoch int32, start int64) error {
	l.epochMu.Lock()
	changed, err := l.epochs.assignLeader(epoch, start)
	l.epochMu.Unlock()
	if err != nil {
		if epoch >= 0 {
			err = fmt.Errorf("%w: %w", err, kerr.FencedLeaderEpoch)
		}
		return fmt.Errorf("assign leader epoch: %w", err)
	}
	if !changed {
		return nil
	}
	l.logger.WithFields(logrus.Fields{"epoch": epoch, "start_offset": start}).Debug("new leader epoch")
	return l.persistNewEpochs()
}

// checkLeaderEpoch refuses appends by a leader of an epoch older than the latest: the
// partition has had a newer leader since. l.mu must be held.
func (l *Log) checkLeaderEpoch(epoch int32) error {
	l.epochMu.Lock()
	latest := l.epochs.latestEpoch()
	l.epochMu.Unlock()
	if epoch < 0 {
		return fmt.Errorf("append with negative leader epoch %d: %w", epoch, kerr.InvalidRecord)
	}
	if epoch < latest {
		return fmt.Errorf("append in leader epoch %d, the log has seen epoch %d: %w", epoch, latest, kerr.FencedLeaderEpoch)
	}
	return nil
}

// assignReplicatedEpochs adds cache entries for the batches of a follower append whose
// epochs are new, and persists the cache if it changed. l.mu must be held.
func (l *Log) assignReplicatedEpochs(refs []record.Ref) error {
	changed := false
	l.epochMu.Lock()
	for _, r := range refs {
		c, conflict := l.epochs.assignReplicated(r.Hdr.LeaderEpoch, r.Hdr.BaseOffset)
		if conflict {
			l.logger.WithFields(logrus.Fields{"epoch": r.Hdr.LeaderEpoch, "offset": r.Hdr.BaseOffset}).
				Warn("replicated batch contradicts the leader epoch cache: the log was not truncated where it diverges from the leader's")
		}
		changed = changed || c
	}
	l.epochMu.Unlock()
	if !changed {
		return nil
	}
	return l.persistNewEpochs()
}

// LatestEpoch returns the newest leader epoch in the log's history, -1 when none is known.
func (l *Log) LatestEpoch() int32 {
	l.epochMu.Lock()
	defer l.epochMu.Unlock()
	return l.epochs.latestEpoch()
}

// EpochForOffset returns the leader epoch that wrote offset, -1 when the log's epoch
// history does not reach back to it. ListOffsets answers it with the offsets it finds, as
// Kafka does, so that a client can check them against OffsetsForLeaderEpoch later.
func (l *Log) EpochForOffset(offset int64) int32 {
	l.epochMu.Lock()
	defer l.epochMu.Unlock()
	return l.epochs.epochFor(offset)
}

// EndOffsetForEpoch answers OffsetsForLeaderEpoch (KIP-101, KIP-279): the largest epoch
// <= epoch known here and its end offset (the start offset of the next larger epoch, or
// the log end offset if it is the latest). ok is false, with epoch and offset -1, when
// epoch is below every known epoch.
func (l *Log) EndOffsetForEpoch(epoch int32) (foundEpoch int32, endOffset int64, ok bool) {
	l.epochMu.Lock()
	defer l.epochMu.Unlock()
	return l.epochs.endOffsetFor(epoch, l.logEndOffset.Load())
}

// persistEpochs rewrites the leader-epoch-checkpoint. A cache that cannot be persisted
// would let a restart misjudge where this log diverges from a leader's, so a failure
// stops appends. l.mu must be held.
func (l *Log) persistEpochs() error {
	return l.writeEpochs(true)
}

// persistNewEpochs rewrites the leader-epoch-checkpoint after entries were added at the
// log end, without waiting for the disk: the next Flush syncs it before the recovery
// point passes the batches of those epochs (Kafka's KAFKA-15046). A broker that becomes
// leader of tens of thousands of partitions would otherwise wait for two fsyncs each.
//
// Why a crash loses nothing: the file is replaced by a rename, so a crash leaves the old
// contents, the new, or (without the data synced) an empty or torn file. A torn or empty
// one is rebuilt from the batches at open. An old one lacks only entries that start at
// or above the recovery point, since Flush syncs the file before it advances the
// recovery point; open rescans the batches above the recovery point and adds the epochs
// they carry (loadEpochCache). What can still be lost is an epoch that wrote no batch:
// harmless, as the epoch before it then ends at the same offset, the log end.
// l.mu must be held.
func (l *Log) persistNewEpochs() error {
	return l.writeEpochs(false)
}

func (l *Log) writeEpochs(durable bool) error {
	l.epochMu.Lock()
	data := formatEpochCheckpoint(l.epochs.entries)
	l.epochMu.Unlock()
	path := filepath.Join(l.dir, leaderEpochCheckpointFile)
	var err error
	if durable {
		err = writeFileAtomic(path, data)
	} else {
		err = writeFileReplacing(path, data)
	}
	if err != nil {
		l.failed = fmt.Errorf("write leader epoch checkpoint: %w", err)
		l.logger.WithError(err).Error("log failed: leader epoch checkpoint not written")
		return l.failed
	}
	// A durable write covers whatever earlier writes left unsynced.
	l.epochsUnsynced = !durable
	if !durable {
		l.dirDirty = true
	}
	return nil
}

// truncateEpochsFromEnd drops the epochs starting at or after offset and persists the
// cache if it changed. l.mu must be held.
func (l *Log) truncateEpochsFromEnd(offset int64) error {
	l.epochMu.Lock()
	changed := l.epochs.truncateFromEnd(offset)
	l.epochMu.Unlock()
	if !changed {
		return nil
	}
	return l.persistEpochs()
}

// truncateEpochsFromStart drops the epochs wholly below the log start offset and persists
// the cache if it changed. Stale entries below the log start only cost a little space, so
// a failure is logged, not fatal. l.mu must be held.
func (l *Log) truncateEpochsFromStart(logStartOffset int64) {
	l.epochMu.Lock()
	changed := l.epochs.truncateFromStart(logStartOffset)
	data := formatEpochCheckpoint(l.epochs.entries)
	l.epochMu.Unlock()
	if !changed {
		return
	}
	if err := writeFileAtomic(filepath.Join(l.dir, leaderEpochCheckpointFile), data); err != nil {
		l.logger.WithError(err).Warn("leader epoch checkpoint not rewritten after the log start moved")
	}
}

// loadEpochCache reads the leader-epoch-checkpoint of a log made of segs, all known good.
// A missing checkpoint of a non-empty log, or a malformed one, is rebuilt from the
// partition leader epochs of the batches. l.mu must be held or the log not yet shared.
func (l *Log) loadEpochCache(segs []*segment, window []byte, opts OpenOptions) error {
	start, end := segs[0].baseOffset, segs[len(segs)-1].nextOffset
	path := filepath.Join(l.dir, leaderEpochCheckpointFile)
	if err := removeIfExists(path + tempFileSuffix); err != nil {
		return fmt.Errorf("remove leftover epoch checkpoint: %w", err)
	}
	data, err := os.ReadFile(path)
	var entries []epochEntry
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if start == end {
			return nil
		}
		err = errors.New("missing")
	case err != nil:
		return fmt.Errorf("read leader epoch checkpoint: %w", err)
	default:
		entries, err = parseEpochCheckpoint(data)
	}
	if err == nil {
		l.epochs = epochCache{entries: entries}
		// Entries beyond the log's end describe batches lost in a crash.
		changed := l.epochs.truncateFromEnd(end + 1)
		changed = l.epochs.truncateFromStart(start) || changed
		if !opts.CleanShutdown {
			// The file may predate the epochs of batches above the recovery point (see
			// persistNewEpochs).
			added, err := l.addEpochsOfUnflushedBatches(segs, opts.RecoveryPoint, window)
			if err != nil {
				return err
			}
			changed = changed || added
		}
		if !changed {
			return nil
		}
		return l.persistEpochs()
	}

	l.logger.WithError(err).Warn("rebuilding the leader epoch cache from the log's batches")
	l.epochs = epochCache{}
	headers, err := replayBatches(segs, start, window, func(_ *segment, h record.Header, _ func() ([]byte, error)) {
		if h.LeaderEpoch > l.epochs.latestEpoch() {
			l.epochs.entries = append(l.epochs.entries, epochEntry{epoch: h.LeaderEpoch, startOffset: h.BaseOffset})
		}
	})
	l.headersRead += int64(headers)
	if err != nil {
		return fmt.Errorf("rebuild leader epoch cache: %w", err)
	}
	return l.persistEpochs()
}

// addEpochsOfUnflushedBatches adds to the cache the epochs that batches from recoveryPoint
// on carry beyond its latest epoch. l.mu must be held or the log
// not yet shared.
func (l *Log) addEpochsOfUnflushedBatches(segs []*segment, recoveryPoint int64, window []byte) (added bool, err error) {
	from := max(recoveryPoint, segs[0].baseOffset)
	headers, err := replayBatches(segs, from, window, func(_ *segment, h record.Header, _ func() ([]byte, error)) {
		if h.LeaderEpoch > l.epochs.latestEpoch() {
			l.epochs.entries = append(l.epochs.entries, epochEntry{epoch: h.LeaderEpoch, startOffset: h.BaseOffset})
			added = true
		}
	})
	l.headersRead += int64(headers)
	if err != nil {
		return false, fmt.Errorf("read the epochs of unflushed batches: %w", err)
	}
	if added {
		l.logger.WithField("from_offset", from).Warn("leader epoch checkpoint lacked epochs of unflushed batches: added them")
	}
	return added, nil
}

// HighWatermark returns the offset below which every in-sync replica has the log: what
// consumers may read. The broker maintains it; the log stores it to restore it at open.
func (l *Log) HighWatermark() int64 { return l.highWatermark.Load() }

// SetHighWatermark sets the high watermark, clamped to [log start offset, log end offset].
// Callers keep it monotonic while leading; a follower may set it lower only after a
// truncation.
func (l *Log) SetHighWatermark(hw int64) {
	l.highWatermark.Store(min(max(hw, l.logStartOffset.Load()), l.logEndOffset.Load()))
	l.updateLastStable()
}

// clampHighWatermark keeps the high watermark within the log after its ends moved.
// l.mu must be held.
func (l *Log) clampHighWatermark() {
	l.SetHighWatermark(l.highWatermark.Load())
}
