package storage

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
	"github.com/sirupsen/logrus"
)

// SetCleaner changes the log cleaner's settings while it runs (dynamic broker configs):
// the thread count, key map memory and I/O limit apply from the cleaner's next pass, a new
// backoff at once. Zero values take the defaults.
func (m *Manager) SetCleaner(s CleanerSettings) {
	if s.Backoff <= 0 {
		s.Backoff = defaultCleanerBackoff
	}
	if s.DedupeBufferSize <= 0 {
		s.DedupeBufferSize = defaultCleanerDedupeBuffer
	}
	s.Threads = max(s.Threads, 1)
	old := m.cleaner.Load()
	if old != nil && *old == s {
		return
	}
	m.cleanerThrottle.setRate(s.IOMaxBytesPerSecond)
	m.cleaner.Store(&s)
	if old != nil {
		m.logger.WithFields(logrus.Fields{
			"threads": s.Threads, "io_max_bytes_per_second": s.IOMaxBytesPerSecond,
			"dedupe_buffer_size": s.DedupeBufferSize, "backoff": s.Backoff,
		}).Info("log cleaner settings changed")
	}
	select {
	case m.cleanerChanged <- struct{}{}:
	default:
	}
}

// Cleaner returns the log cleaner's current settings.
func (m *Manager) Cleaner() CleanerSettings { return *m.cleaner.Load() }

// runCleaner is the log cleaner: every backoff it cleans the compacted logs that are due,
// until ctx is done. Run owns it.
func (m *Manager) runCleaner(ctx context.Context) {
	backoff := m.cleaner.Load().Backoff
	ticker := time.NewTicker(backoff)
	defer ticker.Stop()
	// Logs a clean failed on (a corrupt batch, a failing disk) are left alone until the
	// broker restarts, as Kafka marks partitions uncleanable, rather than failing again
	// every pass.
	uncleanable := make(map[*Log]bool)
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.cleanerChanged:
			if b := m.cleaner.Load().Backoff; b != backoff {
				backoff = b
				ticker.Reset(backoff)
			}
		case <-ticker.C:
			m.cleanDueLogs(ctx, uncleanable)
		}
	}
}

// cleanDueLogs cleans, the dirtiest first, the open compacted logs that are due.
func (m *Manager) cleanDueLogs(ctx context.Context, uncleanable map[*Log]bool) {
	type candidate struct {
		tp    zkpaths.TopicPartition
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

	// The threads take the due logs, dirtiest first, each with its share of the key map
	// memory, as Kafka's cleaner threads do.
	settings := m.Cleaner()
	mapBytes := settings.DedupeBufferSize / int64(settings.Threads)
	var (
		mu      sync.Mutex // guards next, cleaned and uncleanable while the threads run
		next    int
		cleaned bool
		wg      sync.WaitGroup
	)
	for range min(settings.Threads, len(due)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next == len(due) || ctx.Err() != nil {
					mu.Unlock()
					return
				}
				c := due[next]
				next++
				mu.Unlock()
				ran, failed := m.cleanLog(ctx, c.tp, c.log, c.ratio, mapBytes)
				mu.Lock()
				cleaned = cleaned || ran
				if failed {
					uncleanable[c.log] = true
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if cleaned {
		// The cleaned segments are durable; the checkpoint may now say so.
		if err := m.writeCheckpoints(nil); err != nil {
			m.logger.WithError(err).Error("writing checkpoints after cleaning")
		}
	}
}

// cleanLog cleans one log, logging the outcome. It reports whether the log was cleaned,
// and whether it failed in a way that makes it uncleanable until restart.
func (m *Manager) cleanLog(ctx context.Context, tp zkpaths.TopicPartition, l *Log, ratio float64, mapBytes int64) (ran, failed bool) {
	log := m.logger.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition})
	res, err := l.clean(ctx, time.Now(), mapBytes, &m.cleanerThrottle, false)
	switch {
	case err == nil:
		if res.ran {
			log.WithFields(logrus.Fields{
				"dirty_ratio": ratio, "first_dirty": res.firstDirty, "end": res.end,
				"records_removed": res.recordsRemoved, "segments_before": res.segmentsBefore,
				"segments_after": res.segmentsAfter, "bytes_before": res.bytesBefore, "bytes_after": res.bytesAfter,
			}).Info("cleaned log")
		}
		return res.ran, false
	case errors.Is(err, errCleanAborted):
		log.WithError(err).Debug("clean aborted; the next pass retries")
	case errors.Is(err, ErrClosed) || ctx.Err() != nil:
		// Removed meanwhile, or the broker is stopping.
	default:
		log.WithError(err).Error("cleaning log failed; not cleaning it again until restart")
		return false, true
	}
	return false, false
}
