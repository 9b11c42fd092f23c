package storage

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Config holds the per-log settings (broker defaults merged with topic overrides by the caller).
type Config struct {
	SegmentBytes       int64 // segment.bytes: roll when the active segment would exceed it
	SegmentMs          int64 // segment.ms: roll when the active segment's first batch is older than this (0 or negative: never)
	SegmentJitterMs    int64 // segment.jitter.ms: each segment rolls up to this much (drawn at random) before segment.ms
	RetentionMs        int64 // retention.ms, -1 = keep forever
	RetentionBytes     int64 // retention.bytes, -1 = unlimited
	IndexIntervalBytes int32 // index.interval.bytes: bytes of log between two sparse index entries
	MaxIndexBytes      int32 // segment.index.bytes: roll when the offset index would exceed it
	FlushMessages      int64 // flush.messages: fsync after this many messages (<=0 or MaxInt64: never)
	FlushMs            int64 // flush.ms: fsync when the last flush is older than this (done by Manager's loop)
	FileDeleteDelayMs  int64 // file.delete.delay.ms: how long deleted segment files stay open for readers
	MaxMessageBytes    int32 // max.message.bytes: largest record batch accepted
	LogAppendTime      bool  // message.timestamp.type=LogAppendTime: broker sets batch timestamps

	// cleanup.policy. Delete lets retention.ms and retention.bytes delete old segments;
	// Compact has the cleaner keep only the latest record of each key. A log may have
	// both, or neither (then it keeps everything).
	Delete  bool
	Compact bool

	DeleteRetentionMs      int64   // delete.retention.ms: how long the cleaner keeps a tombstone after it first cleaned it
	MinCleanableDirtyRatio float64 // min.cleanable.dirty.ratio: share of the cleanable bytes that must be dirty before a clean
	MinCompactionLagMs     int64   // min.compaction.lag.ms: records younger than this are not compacted
	MaxCompactionLagMs     int64   // max.compaction.lag.ms: records older than this are compacted whatever the dirty ratio
}

// DefaultConfig returns Kafka's defaults for the per-topic log settings.
func DefaultConfig() Config {
	const day = 24 * 60 * 60 * 1000
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * day,
		RetentionMs:        7 * day,
		RetentionBytes:     -1,
		IndexIntervalBytes: 4096,
		MaxIndexBytes:      10 << 20,
		FlushMessages:      math.MaxInt64,
		FlushMs:            math.MaxInt64,
		FileDeleteDelayMs:  60_000,
		MaxMessageBytes:    1_048_588,
		LogAppendTime:      false,

		Delete:                 true,
		Compact:                false,
		DeleteRetentionMs:      day,
		MinCleanableDirtyRatio: 0.5,
		MinCompactionLagMs:     0,
		MaxCompactionLagMs:     math.MaxInt64,
	}
}

// Validate reports settings no log can work with.
func (c Config) Validate() error {
	var errs []error
	if c.SegmentBytes <= 0 {
		errs = append(errs, fmt.Errorf("segment.bytes %d must be positive", c.SegmentBytes))
	}
	if c.IndexIntervalBytes < 0 {
		errs = append(errs, fmt.Errorf("index.interval.bytes %d must not be negative", c.IndexIntervalBytes))
	}
	if c.MaxIndexBytes < timeIndexEntrySize {
		errs = append(errs, fmt.Errorf("segment.index.bytes %d must be at least %d", c.MaxIndexBytes, timeIndexEntrySize))
	}
	if c.MaxMessageBytes < 0 {
		errs = append(errs, fmt.Errorf("max.message.bytes %d must not be negative", c.MaxMessageBytes))
	}
	if c.DeleteRetentionMs < 0 {
		errs = append(errs, fmt.Errorf("delete.retention.ms %d must not be negative", c.DeleteRetentionMs))
	}
	if !(c.MinCleanableDirtyRatio >= 0 && c.MinCleanableDirtyRatio <= 1) { // also rejects NaN
		errs = append(errs, fmt.Errorf("min.cleanable.dirty.ratio %v must lie between 0 and 1", c.MinCleanableDirtyRatio))
	}
	if c.MinCompactionLagMs < 0 {
		errs = append(errs, fmt.Errorf("min.compaction.lag.ms %d must not be negative", c.MinCompactionLagMs))
	}
	if c.MaxCompactionLagMs <= 0 {
		errs = append(errs, fmt.Errorf("max.compaction.lag.ms %d must be positive", c.MaxCompactionLagMs))
	}
	return errors.Join(errs...)
}

// segmentByteLimit is the size a segment may grow to. Index entries hold 32-bit positions, so
// a segment can never be larger than math.MaxInt32 bytes, whatever segment.bytes says.
func (c Config) segmentByteLimit() int64 {
	return min(c.SegmentBytes, math.MaxInt32)
}

// rollMs is how old the active segment's first batch may grow before the segment rolls
// (0: never). A compacted log rolls by max.compaction.lag.ms as well, as in Kafka: the
// cleaner never touches the active segment, so its records could not be compacted in time.
func (c Config) rollMs() int64 {
	if c.Compact && (c.SegmentMs <= 0 || c.MaxCompactionLagMs < c.SegmentMs) {
		return c.MaxCompactionLagMs
	}
	return max(c.SegmentMs, 0)
}

// rollJitterMs draws how much earlier than rollMs a new segment rolls, as Kafka does: a
// random amount below segment.jitter.ms and below the roll time, so that partitions
// created together do not all roll at once.
func (c Config) rollJitterMs() int64 {
	if c.SegmentJitterMs <= 0 || c.rollMs() <= 0 {
		return 0
	}
	return rand.Int64N(min(c.SegmentJitterMs, c.rollMs()))
}

// maxOffsetIndexEntries and maxTimeIndexEntries are the entry counts segment.index.bytes allows.
func (c Config) maxOffsetIndexEntries() int { return int(c.MaxIndexBytes) / offsetIndexEntrySize }
func (c Config) maxTimeIndexEntries() int   { return int(c.MaxIndexBytes) / timeIndexEntrySize }

// flushesByMessages reports whether flush.messages asks for fsyncs at all.
func (c Config) flushesByMessages() bool {
	return c.FlushMessages > 0 && c.FlushMessages != math.MaxInt64
}

// flushesByTime reports whether flush.ms asks for fsyncs at all.
func (c Config) flushesByTime() bool {
	return c.FlushMs >= 0 && c.FlushMs != math.MaxInt64
}
