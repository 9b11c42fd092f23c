package storage

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// runCleaner is the log cleaner: every CleanerBackoff it cleans the compacted logs that
// are due, until ctx is done. Run owns it.
func (m *Manager) runCleaner(ctx context.Context) {
	ticker := time.NewTicker(m.cfg.CleanerBackoff)
	defer ticker.Stop()
	// Logs a clean failed on (a corrupt batch, a failing disk) are left alone until the
	// broker restarts, as Kafka marks partitions uncleanable, rather than failing again
	// every pass.
	uncleanable := make(map[*Log]bool)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			m.cleanDueLogs(ctx, uncleanable)
		}
	}
}

// cleanDueLogs cleans, the dirtiest first, the open compacted logs that are due.
func (m *Manager) cleanDueLogs(ctx context.Context, uncleanable map[*Log]bool) {
	type candidate struct {
		tp    TopicPartition
		log   *Log
		ratio float64
	}
	var due []candidate
	open := make(map[*Log]bool)
	now := time.Now()
	for tp, ml := range m.openLogs() {
		open[ml.log] = true
		if uncleanable[ml.log] {
			continue
		}
		plan, err := ml.log.planClean(now)
		if err == nil && plan.due() {
			due = append(due, candidate{tp: tp, log: ml.log, ratio: plan.dirtyRatio()})
		}
	}
	for l := range uncleanable {
		if !open[l] {
			delete(uncleanable, l)
		}
	}
	slices.SortFunc(due, func(a, b candidate) int { return cmp.Compare(b.ratio, a.ratio) })

	cleaned := false
	for _, c := range due {
		if ctx.Err() != nil {
			return
		}
		log := m.logger.WithFields(logrus.Fields{"topic": c.tp.Topic, "partition": c.tp.Partition})
		res, err := c.log.clean(ctx, time.Now(), m.cfg.CleanerDedupeBufferSize, false)
		switch {
		case err == nil:
			if res.ran {
				cleaned = true
				log.WithFields(logrus.Fields{
					"dirty_ratio": c.ratio, "first_dirty": res.firstDirty, "end": res.end,
					"records_removed": res.recordsRemoved, "segments_before": res.segmentsBefore,
					"segments_after": res.segmentsAfter, "bytes_before": res.bytesBefore, "bytes_after": res.bytesAfter,
				}).Info("cleaned log")
			}
		case errors.Is(err, errCleanAborted):
			log.WithError(err).Debug("clean aborted; the next pass retries")
		case errors.Is(err, ErrClosed) || ctx.Err() != nil:
			// Removed meanwhile, or the broker is stopping.
		default:
			uncleanable[c.log] = true
			log.WithError(err).Error("cleaning log failed; not cleaning it again until restart")
		}
	}
	if cleaned {
		// The cleaned segments are durable; the checkpoint may now say so.
		if err := m.writeCheckpoints(nil); err != nil {
			m.logger.WithError(err).Error("writing checkpoints after cleaning")
		}
	}
}
