package replica

import (
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/record"
)

// checkTopicTimestamps enforces message.timestamp.difference.max.ms on
// the v2 batches of a produce: a batch whose first or max timestamp lies more
// than maxDiff ms from now fails with INVALID_TIMESTAMP, as Kafka's validator
// does for CreateTime topics. It reads the header bounds only, decoding no
// record; malformed framing is left to the append's validation, which
// refuses it.
func checkTopicTimestamps(cfg config.Topic, records []byte) error {
	maxDiff, ok := cfg.TimestampDifferenceMax()
	if !ok {
		return nil
	}
	return checkTimestampDifference(records, time.Now().UnixMilli(), maxDiff)
}

func checkTimestampDifference(records []byte, now, maxDiff int64) error {
	for len(records) >= record.HeaderSize {
		h := record.ParseHeader(records)
		if h.CheckStructure(int64(len(records))) != nil {
			return nil
		}
		for _, ts := range []int64{h.BaseTimestamp, h.MaxTimestamp} {
			if distance(ts, now) > uint64(maxDiff) {
				return fmt.Errorf("%w: timestamp %d is more than message.timestamp.difference.max.ms (%d ms) from the broker's clock (%d)",
					kerr.InvalidTimestamp, ts, maxDiff, now)
			}
		}
		records = records[h.Size():]
	}
	return nil
}

// distance is |a-b|, which always fits in a uint64.
func distance(a, b int64) uint64 {
	if a >= b {
		return uint64(a) - uint64(b)
	}
	return uint64(b) - uint64(a)
}
