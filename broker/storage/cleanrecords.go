package storage

import (
	"encoding/binary"
	"fmt"

	"github.com/kzoo/kzoo/broker/record"
)

// This file rebuilds the batches the cleaner rewrites; it reads their records with a
// record.Reader in Whole mode.

// batchBuilder writes the batches the cleaner rewrites.
type batchBuilder struct {
	records    []byte // the kept records, uncompressed, each with its length prefix
	count      int32
	maxRecordT int64 // the largest timestamp of the kept records
	compressor record.Compressor
	out        []byte
}

func (b *batchBuilder) reset() {
	b.records, b.count, b.maxRecordT = b.records[:0], 0, -1
}

// keep adds a record of the batch with header h.
func (b *batchBuilder) keep(h record.Header, rec *record.Record) {
	b.records = binary.AppendVarint(b.records, int64(len(rec.Body)))
	b.records = append(b.records, rec.Body...)
	b.count++
	b.maxRecordT = max(b.maxRecordT, h.BaseTimestamp+rec.TimestampDelta)
}

// build returns the original batch (header h, bytes batch) holding only the kept
// records, recompressed with its codec. Every header field but the length, record count,
// CRC and, for CreateTime batches, the max timestamp stays as it was: the base offset and
// last offset delta, so that offsets and producer sequence numbers do not move; the base
// timestamp, so that the kept records need no rewriting. The result is valid until the
// next call.
func (b *batchBuilder) build(h record.Header, batch []byte) ([]byte, error) {
	payload := b.records
	if codec := h.Codec(); codec != record.CodecNone {
		var err error
		framing := record.FramingOf(batch[record.HeaderSize:])
		if payload, err = b.compressor.Compress(codec, framing, b.records); err != nil {
			return nil, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
	}
	b.out = append(append(b.out[:0], batch[:record.HeaderSize]...), payload...)
	maxTimestamp := h.MaxTimestamp
	if !h.UsesLogAppendTime() {
		maxTimestamp = b.maxRecordT
	}
	record.Finish(b.out, b.count, maxTimestamp)
	return b.out, nil
}

// buildEmpty returns the header of the batch h with its records removed. Kafka keeps such
// batches for the last batch of each producer, so that its sequence numbers survive; the
// codec bits are cleared, since there is nothing to decompress.
func (b *batchBuilder) buildEmpty(h record.Header, batch []byte) []byte {
	b.out = append(b.out[:0], batch[:record.HeaderSize]...)
	record.StripCompression(b.out)
	record.Finish(b.out, 0, h.MaxTimestamp)
	return b.out
}
