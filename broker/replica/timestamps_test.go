package replica

import (
	"errors"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
)

// timestampedBatch encodes a v2 batch header whose first and max
// timestamps are given (the records themselves are not looked at).
func timestampedBatch(first, maxTS int64) []byte {
	b := kmsg.RecordBatch{Magic: 2, FirstTimestamp: first, MaxTimestamp: maxTS, NumRecords: 1, Records: make([]byte, 8)}
	b.Length = int32(49 + len(b.Records))
	return b.AppendTo(nil)
}

func TestCheckTimestampDifference(t *testing.T) {
	const now, maxDiff = 1_000_000, 1_000
	cases := map[string]struct {
		records []byte
		refused bool
	}{
		"within":           {timestampedBatch(now-maxDiff, now+maxDiff), false},
		"first too old":    {timestampedBatch(now-maxDiff-1, now), true},
		"max too far out":  {timestampedBatch(now, now+maxDiff+1), true},
		"second batch bad": {append(timestampedBatch(now, now), timestampedBatch(math.MinInt64, now)...), true},
		"truncated header": {timestampedBatch(0, 0)[:40], false}, // left to the append's validation
		"empty":            {nil, false},
	}
	for name, tc := range cases {
		err := checkTimestampDifference(tc.records, now, maxDiff)
		if tc.refused != (err != nil) {
			t.Errorf("%s: error %v, want refused %v", name, err, tc.refused)
		}
		if err != nil && !errors.Is(err, kerr.InvalidTimestamp) {
			t.Errorf("%s: error %v, want INVALID_TIMESTAMP", name, err)
		}
	}
}

func TestCheckTopicTimestampsFollowsTheTopicConfig(t *testing.T) {
	old := timestampedBatch(0, 0) // 1970: far from the clock
	for _, tc := range []struct {
		cfg     config.Topic
		refused bool
	}{
		{config.Topic{"message.timestamp.difference.max.ms": "9223372036854775807"}, false},
		{config.Topic{"message.timestamp.difference.max.ms": "60000"}, true},
		{config.Topic{"message.timestamp.difference.max.ms": "60000", "message.timestamp.type": "LogAppendTime"}, false},
	} {
		if err := checkTopicTimestamps(tc.cfg, old); tc.refused != (err != nil) {
			t.Errorf("%v: error %v, want refused %v", tc.cfg, err, tc.refused)
		}
	}
}
