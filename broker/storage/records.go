package storage

import (
	"fmt"
	"math"

	"github.com/kzoo/kzoo/broker/record"
)

// logReadLimit bounds what a batch already in a log may decompress to when a timestamp
// lookup reads it. Its records were bounded on append (by the leader that took them from
// a producer), and the lookup skims them, holding no more than the reader's buffers, so
// the bound only stops a damaged batch from keeping the lookup busy for long.
var logReadLimit = record.DecompressedLimit(math.MaxInt32)

// findRecordAtOrAfter skims the records of batch (a whole batch whose header is h) and
// returns the offset and timestamp of the first record whose timestamp is >= ts.
func findRecordAtOrAfter(h record.Header, batch []byte, ts int64) (offset, timestamp int64, found bool, err error) {
	var r record.Reader
	defer r.Close()
	r.Reset(h, batch, record.Skim, logReadLimit)
	for r.Next() {
		rec := r.Record()
		recTimestamp := h.BaseTimestamp + rec.TimestampDelta
		if h.UsesLogAppendTime() {
			recTimestamp = h.MaxTimestamp
		}
		if recTimestamp >= ts {
			return h.BaseOffset + int64(rec.OffsetDelta), recTimestamp, true, nil
		}
	}
	if err := r.Err(); err != nil {
		return 0, 0, false, fmt.Errorf("find timestamp %d: %w", ts, err)
	}
	return 0, 0, false, nil
}
