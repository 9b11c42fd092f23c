package storage

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// cleanerHistoryFile holds a compacted partition's cleanHistory. It is kzoo's own file
// (Kafka 3.1+ stamps the same information into the rewritten batches instead, KIP-534),
// in the text format of Kafka's other checkpoints: the version, the number of entries,
// then one "endOffset cleanedAtMs" line per entry.
const cleanerHistoryFile = "cleaner-history"

// maxCleanSteps bounds the history kept per log; older steps are merged (see record).
const maxCleanSteps = 256

// cleanStep says that the cleaner first cleaned the offsets below end that no earlier step
// covers at cleanedAtMs (milliseconds since the epoch).
type cleanStep struct {
	end         int64
	cleanedAtMs int64
}

// cleanHistory remembers when the cleaner first went over each part of a log, which is
// what delete.retention.ms counts from: a tombstone stays in the log for at least
// delete.retention.ms after the clean that first kept it, so that a consumer reading the
// log from its start within that time sees the deletion of any value it saw before.
//
// Steps have strictly increasing ends and non-decreasing times. Every change moves times
// later, never earlier, so a merged or rebuilt history keeps tombstones longer, never
// shorter. It is pure bookkeeping: the Log persists it.
type cleanHistory struct {
	steps []cleanStep
}

// record notes a clean at nowMs that went up to end. Offsets already covered keep their
// earlier time. The steps that retentionMs has expired are merged into the newest of them,
// since only their end matters any more; and when the history is still too long, the two
// steps closest in time are merged, taking the later time for both: the same effect as if
// the older step had never been written, at the least cost in precision.
func (h *cleanHistory) record(end, nowMs, retentionMs int64) {
	if end <= 0 {
		return
	}
	if n := len(h.steps); n > 0 {
		last := h.steps[n-1]
		if end <= last.end {
			return
		}
		nowMs = max(nowMs, last.cleanedAtMs) // the clock may step back; the history may not
	}
	h.steps = append(h.steps, cleanStep{end: end, cleanedAtMs: nowMs})
	expired := -1
	for i, s := range h.steps {
		if nowMs-s.cleanedAtMs < retentionMs {
			break
		}
		expired = i
	}
	if expired > 0 {
		h.steps = h.steps[expired:]
	}
	for len(h.steps) > maxCleanSteps {
		closest := 0
		for i := 1; i+1 < len(h.steps); i++ {
			if h.steps[i+1].cleanedAtMs-h.steps[i].cleanedAtMs < h.steps[closest+1].cleanedAtMs-h.steps[closest].cleanedAtMs {
				closest = i
			}
		}
		h.steps = slices.Delete(h.steps, closest, closest+1)
	}
}

// expiredBelow returns the offset below which every record was first cleaned at least
// retentionMs before nowMs: the tombstones a clean at nowMs may remove.
func (h *cleanHistory) expiredBelow(nowMs, retentionMs int64) int64 {
	var below int64
	for _, s := range h.steps {
		if nowMs-s.cleanedAtMs < retentionMs {
			break // times never decrease: no later step is old enough either
		}
		below = s.end
	}
	return below
}

// truncate forgets what lies at or above offset: truncated away, those offsets will hold
// new records that no clean has seen.
func (h *cleanHistory) truncate(offset int64) {
	for i, s := range h.steps {
		if s.end >= offset {
			h.steps[i].end = offset
			h.steps = h.steps[:i+1]
			if i > 0 && h.steps[i-1].end == offset {
				h.steps = h.steps[:i]
			}
			return
		}
	}
}

// coverUpTo makes sure the history reaches end, dating what it did not know of at nowMs.
// A log whose history file was lost thus keeps its tombstones for another
// delete.retention.ms, rather than losing them early.
func (h *cleanHistory) coverUpTo(end, nowMs int64) {
	if n := len(h.steps); n > 0 && h.steps[n-1].end >= end {
		return
	}
	h.record(end, nowMs, math.MaxInt64)
}

func formatCleanHistory(h cleanHistory) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", offsetCheckpointVersion, len(h.steps))
	for _, s := range h.steps {
		fmt.Fprintf(&b, "%d %d\n", s.end, s.cleanedAtMs)
	}
	return b.Bytes()
}

// parseCleanHistory parses what formatCleanHistory wrote and checks that the steps form a
// history: ends strictly increasing, times not decreasing.
func parseCleanHistory(data []byte) (cleanHistory, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	var lines []string
	for sc.Scan() {
		if text := strings.TrimSpace(sc.Text()); text != "" {
			lines = append(lines, text)
		}
	}
	if err := sc.Err(); err != nil {
		return cleanHistory{}, fmt.Errorf("read cleaner history: %w", err)
	}
	if len(lines) < 2 {
		return cleanHistory{}, errors.New("cleaner history has no version or entry count")
	}
	if lines[0] != strconv.Itoa(offsetCheckpointVersion) {
		return cleanHistory{}, fmt.Errorf("unsupported cleaner history version %q", lines[0])
	}
	count, err := strconv.Atoi(lines[1])
	if err != nil || count != len(lines)-2 {
		return cleanHistory{}, fmt.Errorf("cleaner history announces %q entries, holds %d", lines[1], len(lines)-2)
	}
	var h cleanHistory
	for i, text := range lines[2:] {
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return cleanHistory{}, fmt.Errorf("cleaner history entry %d: want \"offset timestamp\", got %q", i, text)
		}
		end, eerr := strconv.ParseInt(fields[0], 10, 64)
		at, terr := strconv.ParseInt(fields[1], 10, 64)
		if eerr != nil || terr != nil || end <= 0 {
			return cleanHistory{}, fmt.Errorf("cleaner history entry %d: bad entry %q", i, text)
		}
		if n := len(h.steps); n > 0 && (end <= h.steps[n-1].end || at < h.steps[n-1].cleanedAtMs) {
			return cleanHistory{}, fmt.Errorf("cleaner history entry %d (%q) does not follow the one before", i, text)
		}
		h.steps = append(h.steps, cleanStep{end: end, cleanedAtMs: at})
	}
	return h, nil
}

// loadCleanerState sets the cleaner checkpoint and the clean history of a log being
// opened. Losing the history only keeps tombstones longer, so a missing or unreadable
// file is not an error. l.mu must be held or the log not yet shared.
func (l *Log) loadCleanerState(checkpoint int64, now time.Time) {
	leo := l.logEndOffset.Load()
	l.cleanerCheckpoint.Store(min(max(checkpoint, 0), leo))
	path := filepath.Join(l.dir, cleanerHistoryFile)
	if err := removeIfExists(path + tempFileSuffix); err != nil {
		l.logger.WithError(err).Warn("removing a leftover cleaner history")
	}
	data, err := os.ReadFile(path)
	if err == nil {
		l.cleanHistory, err = parseCleanHistory(data)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.logger.WithError(err).Warn("ignoring the cleaner history: tombstones stay another delete.retention.ms")
	}
	l.cleanHistory.truncate(leo)
	l.cleanHistory.coverUpTo(l.cleanerCheckpoint.Load(), now.UnixMilli())
}
