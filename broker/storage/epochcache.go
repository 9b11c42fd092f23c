package storage

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// leaderEpochCheckpointFile holds a partition's leader epoch cache, in Kafka's format.
const leaderEpochCheckpointFile = "leader-epoch-checkpoint"

// epochEntry records that the leader of epoch began writing at startOffset.
type epochEntry struct {
	epoch       int32
	startOffset int64
}

// epochCache is the leader epoch history of a log: which epoch wrote which range of
// offsets. Epochs strictly increase and start offsets never decrease along the entries;
// entry i covers [entries[i].startOffset, entries[i+1].startOffset), the last one up to
// the log end offset. It is pure bookkeeping: the Log persists it.
type epochCache struct {
	entries []epochEntry
}

// latest returns the newest entry.
func (c *epochCache) latest() (epochEntry, bool) {
	if len(c.entries) == 0 {
		return epochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

// latestEpoch returns the newest epoch, -1 when there is none.
func (c *epochCache) latestEpoch() int32 {
	if e, ok := c.latest(); ok {
		return e.epoch
	}
	return -1
}

// epochFor returns the epoch that wrote offset: that of the last entry starting at or
// below it, -1 when offset precedes every entry.
func (c *epochCache) epochFor(offset int64) int32 {
	i, _ := slices.BinarySearchFunc(c.entries, offset+1, func(e epochEntry, target int64) int {
		return cmp.Compare(e.startOffset, target)
	})
	if i == 0 {
		return -1
	}
	return c.entries[i-1].epoch
}

// assignLeader records that a leader of epoch starts writing at start, the log end offset.
// It reports whether the cache changed. An epoch older than the latest is refused: the
// log has already seen a newer leader.
func (c *epochCache) assignLeader(epoch int32, start int64) (bool, error) {
	if epoch < 0 {
		return false, fmt.Errorf("negative leader epoch %d", epoch)
	}
	latest, ok := c.latest()
	switch {
	case !ok || epoch > latest.epoch:
		if ok && start < latest.startOffset {
			return false, fmt.Errorf("epoch %d cannot start at %d, before epoch %d (at %d)", epoch, start, latest.epoch, latest.startOffset)
		}
		c.entries = append(c.entries, epochEntry{epoch: epoch, startOffset: start})
		return true, nil
	case epoch == latest.epoch:
		// The epoch began earlier; later appends in it change nothing.
		return false, nil
	default:
		return false, fmt.Errorf("leader epoch %d is older than the log's latest epoch %d", epoch, latest.epoch)
	}
}

// assignReplicated records the epoch of a replicated batch starting at start, the log end
// offset. A follower copies the leader's log as it is, so where the leader's history
// contradicts the cache the leader wins: entries for the same or newer epochs, or starting
// at or after start, are replaced. It reports whether the cache changed, and whether
// entries covering data (starting before start) had to be dropped, which means the log
// was not truncated to where it agrees with the leader.
func (c *epochCache) assignReplicated(epoch int32, start int64) (changed, conflict bool) {
	if epoch < 0 {
		return false, false // written without an epoch (old message formats)
	}
	latest, ok := c.latest()
	if ok && latest.epoch == epoch && latest.startOffset <= start {
		return false, false
	}
	if ok && latest.epoch < epoch && latest.startOffset <= start {
		c.entries = append(c.entries, epochEntry{epoch: epoch, startOffset: start})
		return true, false
	}
	kept := c.entries[:0]
	for _, e := range c.entries {
		if e.epoch >= epoch || e.startOffset >= start {
			if e.startOffset < start {
				conflict = true
			}
			continue
		}
		kept = append(kept, e)
	}
	c.entries = append(kept, epochEntry{epoch: epoch, startOffset: start})
	return true, conflict
}

// endOffsetFor answers OffsetsForLeaderEpoch: the largest known epoch <= epoch and the
// offset where it ended (the start of the next known epoch, or logEndOffset for the
// latest). ok is false when epoch is below every known epoch.
func (c *epochCache) endOffsetFor(epoch int32, logEndOffset int64) (foundEpoch int32, endOffset int64, ok bool) {
	// The first entry with a larger epoch.
	i, found := slices.BinarySearchFunc(c.entries, epoch, func(e epochEntry, target int32) int {
		switch {
		case e.epoch < target:
			return -1
		case e.epoch > target:
			return 1
		}
		return 0
	})
	if found {
		i++
	}
	if i == 0 {
		return -1, -1, false
	}
	floor := c.entries[i-1]
	if i == len(c.entries) {
		return floor.epoch, logEndOffset, true
	}
	return floor.epoch, c.entries[i].startOffset, true
}

// truncateFromEnd drops the entries starting at or after offset, when the log is
// truncated there. It reports whether the cache changed.
func (c *epochCache) truncateFromEnd(offset int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].startOffset >= offset {
		n--
	}
	changed := n < len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops the entries whose range lies wholly below the log start
// offset and moves the start of the one covering it up to it. The latest entry is always
// kept. It reports whether the cache changed.
func (c *epochCache) truncateFromStart(logStartOffset int64) bool {
	drop := 0
	for drop+1 < len(c.entries) && c.entries[drop+1].startOffset <= logStartOffset {
		drop++
	}
	changed := drop > 0
	c.entries = slices.Delete(c.entries, 0, drop)
	if len(c.entries) > 0 && c.entries[0].startOffset < logStartOffset {
		c.entries[0].startOffset = logStartOffset
		changed = true
	}
	return changed
}

// formatEpochCheckpoint renders the cache in Kafka's leader-epoch-checkpoint format: the
// version, the number of entries, then one "epoch startOffset" line per entry.
func formatEpochCheckpoint(entries []epochEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n%d\n", offsetCheckpointVersion, len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%d %d\n", e.epoch, e.startOffset)
	}
	return b.Bytes()
}

// parseEpochCheckpoint parses Kafka's leader-epoch-checkpoint format and checks that the
// entries form a history: epochs strictly increasing, start offsets not decreasing.
func parseEpochCheckpoint(data []byte) ([]epochEntry, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	var lines []string
	for sc.Scan() {
		if text := strings.TrimSpace(sc.Text()); text != "" {
			lines = append(lines, text)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read epoch checkpoint: %w", err)
	}
	if len(lines) < 2 {
		return nil, errors.New("epoch checkpoint has no version or entry count")
	}
	if lines[0] != strconv.Itoa(offsetCheckpointVersion) {
		return nil, fmt.Errorf("unsupported epoch checkpoint version %q", lines[0])
	}
	count, err := strconv.Atoi(lines[1])
	if err != nil || count != len(lines)-2 {
		return nil, fmt.Errorf("epoch checkpoint announces %q entries, holds %d", lines[1], len(lines)-2)
	}
	entries := make([]epochEntry, 0, count)
	for i, text := range lines[2:] {
		fields := strings.Fields(text)
		if len(fields) != 2 {
			return nil, fmt.Errorf("epoch checkpoint entry %d: want \"epoch offset\", got %q", i, text)
		}
		epoch, eerr := strconv.ParseInt(fields[0], 10, 32)
		start, serr := strconv.ParseInt(fields[1], 10, 64)
		if eerr != nil || serr != nil || epoch < 0 || start < 0 {
			return nil, fmt.Errorf("epoch checkpoint entry %d: bad entry %q", i, text)
		}
		e := epochEntry{epoch: int32(epoch), startOffset: start}
		if n := len(entries); n > 0 && (e.epoch <= entries[n-1].epoch || e.startOffset < entries[n-1].startOffset) {
			return nil, fmt.Errorf("epoch checkpoint entry %d (%q) does not follow the one before", i, text)
		}
		entries = append(entries, e)
	}
	return entries, nil
}
