package shards

import (
	"context"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/record"
)

// loadBufferSize is how much one read of a load asks for (Kafka's
// offsets.load.buffer.size and transaction.state.log.load.buffer.size).
const loadBufferSize = 5 << 20

// LogReader is a coordinator partition as its load reads it: the reading
// half of group.Log and txn.Log.
type LogReader interface {
	// Read returns whole record batches, starting with the one that holds
	// offset, up to about maxBytes (always at least one whole batch) and
	// never past the log end offset.
	Read(offset int64, maxBytes int) ([]byte, error)
	LogStartOffset() int64
	LogEndOffset() int64
}

// ReadLog reads log from its start to its end offset and hands apply each
// well-formed batch, in order. A batch whose checksum or framing is wrong is
// logged and skipped; the read stops early, keeping what it read, only where
// the log cannot be split into batches any more. It fails only when a read
// fails or ctx ends.
func ReadLog(ctx context.Context, log LogReader, logger logrus.FieldLogger, apply func(record.Batch)) error {
	offset := log.LogStartOffset()
	for offset < log.LogEndOffset() {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := log.Read(offset, loadBufferSize)
		if err != nil {
			return fmt.Errorf("read at offset %d: %w", offset, err)
		}
		if len(data) == 0 {
			return nil
		}
		next := offset
		for b, err := range record.Batches(data) {
			if b.Bytes == nil {
				logger.WithError(err).WithField("offset", next).Error("a coordinator partition holds data that is not a record batch; skipping the rest of the read")
				break
			}
			next = max(next, b.Header.NextOffset())
			if err != nil {
				logger.WithError(err).Warn("skipping a corrupt batch of a coordinator partition")
				continue
			}
			apply(b)
		}
		if next <= offset {
			logger.WithField("offset", offset).Error("cannot read a coordinator partition past this offset; serving what was read")
			return nil
		}
		offset = next
	}
	return nil
}
