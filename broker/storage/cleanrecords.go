package storage

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// This file decodes and rebuilds the records of a batch for the cleaner: the only place
// besides timestamp lookups where the broker looks inside batches.

// cleanerRecord is what the cleaner needs of one v2 record.
type cleanerRecord struct {
	offsetDelta    int32
	timestampDelta int64
	key            []byte // nil when the record has no key
	tombstone      bool   // the value is null
	body           []byte // the whole record after its length prefix, to copy when kept
}

// parseCleanerRecord decodes body, one record without its length prefix. The slices of
// the result alias body.
func parseCleanerRecord(body []byte) (cleanerRecord, error) {
	rec := cleanerRecord{body: body}
	rest := body
	if len(rest) < 1 {
		return cleanerRecord{}, fmt.Errorf("empty record: %w", kerr.CorruptMessage)
	}
	rest = rest[1:] // attributes, unused
	var ok bool
	if rec.timestampDelta, rest, ok = readVarint(rest); !ok {
		return cleanerRecord{}, fmt.Errorf("record timestamp delta: %w", kerr.CorruptMessage)
	}
	offsetDelta, rest, ok := readVarint(rest)
	if !ok || offsetDelta < 0 || offsetDelta > 1<<31-1 {
		return cleanerRecord{}, fmt.Errorf("record offset delta: %w", kerr.CorruptMessage)
	}
	rec.offsetDelta = int32(offsetDelta)
	keyLen, rest, ok := readVarint(rest)
	if !ok || keyLen < -1 || keyLen > int64(len(rest)) {
		return cleanerRecord{}, fmt.Errorf("record key length: %w", kerr.CorruptMessage)
	}
	if keyLen >= 0 {
		rec.key, rest = rest[:keyLen:keyLen], rest[keyLen:]
	}
	valueLen, rest, ok := readVarint(rest)
	if !ok || valueLen < -1 || valueLen > int64(len(rest)) {
		return cleanerRecord{}, fmt.Errorf("record value length: %w", kerr.CorruptMessage)
	}
	rec.tombstone = valueLen < 0
	// The value and headers are copied as they are, never interpreted.
	return rec, nil
}

func readVarint(b []byte) (v int64, rest []byte, ok bool) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, b, false
	}
	return v, b[n:], true
}

// recordDecoder walks the records of batches. It reuses its buffers from batch to batch,
// so the records it yields are valid only during the callback.
type recordDecoder struct {
	stream *bufio.Reader
	buf    []byte
}

// maxRecordChunk is how much of a record is read at a time from a decompressing stream:
// a record's length prefix is not trusted with a larger allocation than the data behind it.
const maxRecordChunk = 1 << 20

// forEach calls fn with each record of batch, a whole batch whose header is h.
func (d *recordDecoder) forEach(h batchHeader, batch []byte, fn func(cleanerRecord)) error {
	payload := batch[batchHeaderSize:]
	if h.codec() == codecNone {
		return d.forEachIn(h, payload, fn)
	}
	body, closeBody, err := decompressedRecords(h.codec(), payload)
	if err != nil {
		return fmt.Errorf("batch at offset %d: %w", h.baseOffset, err)
	}
	defer closeBody()
	if d.stream == nil {
		d.stream = bufio.NewReaderSize(body, 32<<10)
	} else {
		d.stream.Reset(body)
	}
	for i := int32(0); i < h.recordCount; i++ {
		length, err := binary.ReadVarint(d.stream)
		if err == nil && (length < 0 || length > 1<<31-1) {
			err = fmt.Errorf("length %d", length)
		}
		if err == nil {
			d.buf, err = readGrowing(d.stream, d.buf[:0], int(length))
		}
		if err != nil {
			return fmt.Errorf("batch at offset %d, record %d: %v: %w", h.baseOffset, i, err, kerr.CorruptMessage)
		}
		rec, err := parseCleanerRecord(d.buf)
		if err != nil {
			return fmt.Errorf("batch at offset %d, record %d: %w", h.baseOffset, i, err)
		}
		fn(rec)
	}
	return nil
}

// forEachIn walks the records of an uncompressed records section in place.
func (d *recordDecoder) forEachIn(h batchHeader, records []byte, fn func(cleanerRecord)) error {
	for i := int32(0); i < h.recordCount; i++ {
		length, rest, ok := readVarint(records)
		if !ok || length < 0 || length > int64(len(rest)) {
			return fmt.Errorf("batch at offset %d, record %d: bad length: %w", h.baseOffset, i, kerr.CorruptMessage)
		}
		rec, err := parseCleanerRecord(rest[:length:length])
		if err != nil {
			return fmt.Errorf("batch at offset %d, record %d: %w", h.baseOffset, i, err)
		}
		fn(rec)
		records = rest[length:]
	}
	return nil
}

// readGrowing appends n bytes from r to buf, growing it as the data arrives.
func readGrowing(r io.Reader, buf []byte, n int) ([]byte, error) {
	for n > 0 {
		chunk := min(n, maxRecordChunk)
		start := len(buf)
		buf = slices.Grow(buf, chunk)
		if _, err := io.ReadFull(r, buf[start:start+chunk]); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
		buf = buf[:start+chunk]
		n -= chunk
	}
	return buf, nil
}

// batchBuilder writes the batches the cleaner rewrites.
type batchBuilder struct {
	records    []byte // the kept records, uncompressed, each with its length prefix
	count      int32
	maxRecordT int64 // the largest timestamp of the kept records
	compressor recompressor
	out        []byte
}

func (b *batchBuilder) reset() {
	b.records, b.count, b.maxRecordT = b.records[:0], 0, -1
}

// keep adds a record of the batch with header h.
func (b *batchBuilder) keep(h batchHeader, rec cleanerRecord) {
	b.records = binary.AppendVarint(b.records, int64(len(rec.body)))
	b.records = append(b.records, rec.body...)
	b.count++
	b.maxRecordT = max(b.maxRecordT, h.baseTimestamp+rec.timestampDelta)
}

// build returns the original batch (header h, bytes batch) holding only the kept
// records, recompressed with its codec. Every header field but the length, record count,
// CRC and, for CreateTime batches, the max timestamp stays as it was: the base offset and
// last offset delta, so that offsets and producer sequence numbers do not move; the base
// timestamp, so that the kept records need no rewriting. The result is valid until the
// next call.
func (b *batchBuilder) build(h batchHeader, batch []byte) ([]byte, error) {
	payload := b.records
	if codec := h.codec(); codec != codecNone {
		framing := snappyRaw
		if codec == codecSnappy && hasXerialFraming(batch[batchHeaderSize:]) {
			framing = snappyXerial
		}
		var err error
		if payload, err = b.compressor.compress(codec, framing, b.records); err != nil {
			return nil, fmt.Errorf("batch at offset %d: %w", h.baseOffset, err)
		}
	}
	b.out = append(append(b.out[:0], batch[:batchHeaderSize]...), payload...)
	maxTimestamp := h.maxTimestamp
	if !h.usesLogAppendTime() {
		maxTimestamp = b.maxRecordT
	}
	finishBatch(b.out, b.count, maxTimestamp)
	return b.out, nil
}

// buildEmpty returns the header of the batch h with its records removed. Kafka keeps such
// batches for the last batch of each producer, so that its sequence numbers survive; the
// codec bits are cleared, since there is nothing to decompress.
func (b *batchBuilder) buildEmpty(h batchHeader, batch []byte) []byte {
	b.out = append(b.out[:0], batch[:batchHeaderSize]...)
	attrs := binary.BigEndian.Uint16(b.out[attributesField:]) &^ compressionCodecMask
	binary.BigEndian.PutUint16(b.out[attributesField:], attrs)
	finishBatch(b.out, 0, h.maxTimestamp)
	return b.out
}

// finishBatch sets the length, record count and max timestamp of a batch whose header and
// records are in place, and its CRC.
func finishBatch(batch []byte, count int32, maxTimestamp int64) {
	be := binary.BigEndian
	be.PutUint32(batch[lengthField:], uint32(len(batch)-logOverhead))
	be.PutUint32(batch[recordCountField:], uint32(count))
	be.PutUint64(batch[maxTimestampField:], uint64(maxTimestamp))
	be.PutUint32(batch[crcField:], batchCRC(batch))
}

// errKeylessRecord is why a compacted log refuses a batch: the cleaner keeps one record
// per key, so a record without one could never be compacted (Kafka refuses it likewise).
var errKeylessRecord = fmt.Errorf("compacted topic cannot accept a record without a key: %w", kerr.InvalidRecord)

// requireKeys checks that every record of the batches refs in records has a key. It is the
// one place where a compacted log looks inside batches on the produce path, as Kafka does.
func requireKeys(records []byte, refs []batchRef) error {
	var d recordDecoder
	for _, r := range refs {
		if r.hdr.isControl() {
			continue
		}
		keyless := false
		if err := d.forEach(r.hdr, r.bytes(records), func(rec cleanerRecord) {
			keyless = keyless || rec.key == nil
		}); err != nil {
			return err
		}
		if keyless {
			return fmt.Errorf("batch at byte %d: %w", r.pos, errKeylessRecord)
		}
	}
	return nil
}
