package record

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Mode says how much of each record a [Reader] materialises.
type Mode int

const (
	// Skim decodes each record's head and the lengths of its key and value, and steps over
	// the rest without copying it: what validation and timestamp lookups need. Memory stays
	// within the Reader's fixed buffers whatever the records hold.
	Skim Mode = iota
	// Keys is Skim that also yields each record's key: what the cleaner needs to decide
	// which records stay. A key is copied from a compressed batch, so memory grows with
	// the largest key, within the Reader's limit.
	Keys
	// Whole also yields each record's bytes, key and value. A record of a compressed batch
	// is copied into the Reader's buffer, so memory grows with the largest record, within
	// the Reader's limit.
	Whole
)

// Record is one record of a batch as a [Reader] yields it. It is valid until the next
// call of Next.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	// KeyLength and ValueLength are -1 for a null key or value (a null value is a tombstone).
	KeyLength, ValueLength int32

	// Key is set in Keys and Whole mode, nil when the key is null.
	Key []byte
	// Value (nil when null) and Body, the whole record after its length prefix, are set
	// in Whole mode only.
	Value, Body []byte
}

// minDecompressedLimit is the least a batch may decompress to, whatever the configured
// message size: the 64 MiB that kzoo's coordinators have always accepted.
const minDecompressedLimit = 64 << 20

// DecompressedLimit is how many bytes the records of one compressed batch may decompress
// to in a log whose batches may be maxMessageBytes long: 32 times that, and no less than
// 64 MiB. Legitimate batches compress far less than 32:1 on average over a 1 MiB batch; a
// batch that inflates beyond the bound is refused with MESSAGE_TOO_LARGE (so a producer
// that can split it does) instead of costing the broker work in proportion to a size it
// was never sent.
func DecompressedLimit(maxMessageBytes int32) int64 {
	return max(minDecompressedLimit, 32*int64(maxMessageBytes))
}

// streamBufferSize is the read-ahead of a decompressing stream. Records no longer than it
// are decoded in place from the read-ahead; longer ones are stepped through.
const streamBufferSize = 32 << 10

// retainedScratch bounds the record buffer a Reader keeps from one batch to the next; a
// larger one, grown for an exceptional record, is dropped at the next Reset.
const retainedScratch = 1 << 20

// retainedSnappy is retainedScratch for the decoded raw snappy block, which holds a whole
// batch's records: enough for the batches of producers' default sizes.
const retainedSnappy = 8 << 20

// Reader iterates the records of one batch at a time, decompressing a compressed batch as
// a stream. It checks the framing Kafka checks: each record's fields fill exactly the
// length its prefix declares, the records fill the batch exactly, and there are as many as
// the header says. Every failure wraps a Kafka error: CORRUPT_MESSAGE for a malformed
// batch, MESSAGE_TOO_LARGE for one that decompresses past the limit.
//
// The zero Reader is ready; it keeps its decoders and buffers from batch to batch. It is
// not safe for concurrent use. Typical use:
//
//	r.Reset(h, batch, record.Skim, limit)
//	for r.Next() {
//		rec := r.Record()
//		...
//	}
//	if err := r.Err(); err != nil { ... }
type Reader struct {
	dec     decompressors
	limited limitedReader
	stream  *bufio.Reader
	scratch []byte

	h    Header
	mode Mode
	// streamed tells which of buf and stream holds the records.
	streamed bool
	buf      []byte // not streamed: the records not read yet
	read     int32  // records read so far
	rec      Record
	err      error
	done     bool
}

// Reset starts reading the records of batch, a whole batch whose header is h, in mode.
// limit bounds what a compressed batch may decompress to (see [DecompressedLimit]).
func (r *Reader) Reset(h Header, batch []byte, mode Mode, limit int64) {
	r.h, r.mode, r.read, r.err, r.done = h, mode, 0, nil, false
	r.rec = Record{}
	if cap(r.scratch) > retainedScratch {
		r.scratch = nil
	}
	if cap(r.dec.snappy) > retainedSnappy {
		r.dec.snappy = nil
	}
	payload := batch[HeaderSize:]
	r.buf, r.streamed = nil, false
	switch {
	case h.Codec() == CodecNone:
		r.buf = payload
		return
	case h.Codec() == CodecSnappy && FramingOf(payload) == SnappyRaw:
		// A raw snappy block is decoded whole, within the limit and 22 times its own
		// size; its records are then read in place.
		decoded, err := r.dec.rawSnappy(payload, limit)
		if err != nil {
			r.fail(err)
		}
		r.buf = decoded
		return
	}
	r.streamed = true
	body, err := r.dec.open(h.Codec(), payload, limit)
	if err != nil {
		r.fail(err)
		return
	}
	r.limited = limitedReader{r: body, n: limit, limit: limit}
	if r.stream == nil {
		r.stream = bufio.NewReaderSize(&r.limited, streamBufferSize)
	} else {
		r.stream.Reset(&r.limited)
	}
}

// Next decodes the next record, reporting false at the end of the batch or on an error.
func (r *Reader) Next() bool {
	if r.done {
		return false
	}
	if r.read == r.h.RecordCount {
		r.done = true
		r.checkEnd()
		return false
	}
	var err error
	if r.streamed {
		err = r.nextStreamed()
	} else {
		err = r.nextInPlace()
	}
	if err != nil {
		r.fail(fmt.Errorf("record %d: %w", r.read, err))
		return false
	}
	r.read++
	return true
}

// Record is the record Next decoded.
func (r *Reader) Record() *Record { return &r.rec }

// Err is why the iteration stopped early or found the batch malformed, if it did.
func (r *Reader) Err() error { return r.err }

// Close releases the Reader's decoders. The Reader may be used again afterwards.
func (r *Reader) Close() { r.dec.close() }

// Validate reads every record of batch (header h) in Skim mode and reports the first
// problem: framing, count, size, and, when requireKeys is set, a record without a key
// (INVALID_RECORD, as a compacted topic cannot keep one).
func (r *Reader) Validate(h Header, batch []byte, limit int64, requireKeys bool) error {
	defer r.release()
	r.Reset(h, batch, Skim, limit)
	for r.Next() {
		if requireKeys && r.rec.KeyLength < 0 {
			return fmt.Errorf("batch at offset %d, record %d: %w", h.BaseOffset, r.read-1, ErrKeylessRecord)
		}
	}
	return r.err
}

// ErrKeylessRecord is why a compacted log refuses a batch: the cleaner keeps one record
// per key, so a record without one could never be compacted (Kafka refuses it likewise).
var ErrKeylessRecord = fmt.Errorf("compacted topic cannot accept a record without a key: %w", kerr.InvalidRecord)

// release drops the Reader's references to the batch it read, so that a Reader kept
// for reuse does not keep a request's bytes alive.
func (r *Reader) release() {
	r.buf, r.rec = nil, Record{}
	r.dec.src.Reset(nil)
}

func (r *Reader) fail(err error) {
	r.done = true
	r.err = fmt.Errorf("batch at offset %d: %w", r.h.BaseOffset, err)
}

// checkEnd checks that the records the header counts fill the batch: Kafka refuses a
// batch with bytes after its last record.
func (r *Reader) checkEnd() {
	if !r.streamed {
		if len(r.buf) > 0 {
			r.fail(fmt.Errorf("%d bytes follow the %d records the header declares: %w", len(r.buf), r.h.RecordCount, kerr.CorruptMessage))
		}
		return
	}
	switch _, err := r.stream.ReadByte(); {
	case err == nil:
		r.fail(fmt.Errorf("data follows the %d records the header declares: %w", r.h.RecordCount, kerr.CorruptMessage))
	case !errors.Is(err, io.EOF):
		r.fail(asCorrupt(err))
	}
}

// nextInPlace decodes the next record of an uncompressed (or decoded) batch where it lies.
func (r *Reader) nextInPlace() error {
	if len(r.buf) == 0 {
		return fmt.Errorf("the batch ends, but the header declares %d records: %w", r.h.RecordCount, kerr.CorruptMessage)
	}
	length, n := varintAt(r.buf, 0)
	if n < 0 {
		return fmt.Errorf("bad record length varint: %w", kerr.CorruptMessage)
	}
	if length < 0 || length > int64(len(r.buf)-n) {
		return fmt.Errorf("record length %d with %d bytes left: %w", length, len(r.buf)-n, kerr.CorruptMessage)
	}
	body := r.buf[n : n+int(length) : n+int(length)]
	r.buf = r.buf[n+int(length):]
	return parseBody(body, &r.rec, r.mode)
}

// nextStreamed decodes the next record of a streamed batch.
func (r *Reader) nextStreamed() error {
	length, err := binary.ReadVarint(r.stream)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("the batch ends, but the header declares %d records: %w", r.h.RecordCount, kerr.CorruptMessage)
		}
		return asCorrupt(fmt.Errorf("record length: %w", err))
	}
	if length < 0 || length > math.MaxInt32 {
		return fmt.Errorf("record length %d: %w", length, kerr.CorruptMessage)
	}
	switch {
	case r.mode == Whole:
		// The copy grows with the data actually there, so a length that lies costs no
		// more than the bytes behind it, and the limited stream bounds those.
		r.scratch, err = readGrowing(r.stream, r.scratch[:0], int(length))
		if err != nil {
			return asCorrupt(fmt.Errorf("record of %d bytes: %w", length, err))
		}
		return parseBody(r.scratch, &r.rec, Whole)
	case length <= streamBufferSize:
		body, err := r.stream.Peek(int(length))
		if err != nil {
			return asCorrupt(fmt.Errorf("record of %d bytes: %w", length, err))
		}
		if err := parseBody(body, &r.rec, r.mode); err != nil {
			return err
		}
		// The record's slices stay valid in the read-ahead until the next read, which
		// the next call of Next makes.
		_, _ = r.stream.Discard(len(body)) // cannot fail: the bytes are buffered
		return nil
	default:
		return skimStream(r.stream, length, &r.rec, r.mode == Keys, &r.scratch)
	}
}

// maxReadChunk is how much of a record is read at a time into the Reader's buffer.
const maxReadChunk = 1 << 20

// readGrowing appends n bytes from r to buf, growing it as the data arrives.
func readGrowing(r io.Reader, buf []byte, n int) ([]byte, error) {
	for n > 0 {
		chunk := min(n, maxReadChunk)
		start := len(buf)
		buf = slices.Grow(buf, chunk)[:start+chunk]
		if _, err := io.ReadFull(r, buf[start:]); err != nil {
			return buf[:start], err
		}
		n -= chunk
	}
	return buf, nil
}

// parseBody decodes body, one record without its length prefix, into rec, checking that
// its fields fill it exactly. It sets the slices of rec that mode asks for, aliasing body.
// It is the produce path's per-record cost, so it works on indexes into body, one index
// of -1 standing for any malformation.
func parseBody(body []byte, rec *Record, mode Mode) error {
	if len(body) == 0 {
		return fmt.Errorf("empty record: %w", kerr.CorruptMessage)
	}
	rec.Attributes = int8(body[0])
	// Each field tries the inlined one-byte case first: this is the produce path's cost
	// per record.
	timestampDelta, i, ok := varint1(body, 1)
	if !ok {
		timestampDelta, i = longVarintAt(body, i)
	}
	offsetDelta, i, ok := varint1(body, i)
	if !ok {
		offsetDelta, i = longVarintAt(body, i)
	}
	if i >= 0 && offsetDelta != int64(int32(offsetDelta)) {
		i = -1
	}
	keyLength, keyAt, i, ok := field1(body, i)
	if !ok {
		keyLength, keyAt, i = fieldAt(body, i)
	}
	valueLength, valueAt, i, ok := field1(body, i)
	if !ok {
		valueLength, valueAt, i = fieldAt(body, i)
	}
	headers, i, ok := varint1(body, i)
	if !ok {
		headers, i = longVarintAt(body, i)
	}
	if headers < 0 || headers > int64(len(body)) {
		i = -1 // each header takes two bytes at least
	}
	for h := int64(0); h < headers && i >= 0; h++ {
		var keyLen int32
		if keyLen, _, i = fieldAt(body, i); keyLen < 0 {
			i = -1 // a header key is not nullable
		}
		_, _, i = fieldAt(body, i)
	}
	switch {
	case i < 0:
		return fmt.Errorf("record of %d bytes: a field is malformed or runs past the record's end: %w", len(body), kerr.CorruptMessage)
	case i < len(body):
		return fmt.Errorf("record of %d bytes: %d bytes follow its fields: %w", len(body), len(body)-i, kerr.CorruptMessage)
	}
	rec.TimestampDelta, rec.OffsetDelta = timestampDelta, int32(offsetDelta)
	rec.KeyLength, rec.ValueLength = keyLength, valueLength
	rec.Key, rec.Value, rec.Body = nil, nil, nil
	if mode == Skim {
		return nil
	}
	if keyLength >= 0 {
		rec.Key = body[keyAt : keyAt+int(keyLength) : keyAt+int(keyLength)]
	}
	if mode == Whole {
		if valueLength >= 0 {
			rec.Value = body[valueAt : valueAt+int(valueLength) : valueAt+int(valueLength)]
		}
		rec.Body = body
	}
	return nil
}

// varintAt decodes the zigzag varint at b[i:] and returns it with the index after it; the
// index is -1 if the varint is malformed, truncated, or i already was -1.
func varintAt(b []byte, i int) (int64, int) {
	// Most fields of most records are one-byte varints; this path inlines.
	if uint(i) < uint(len(b)) && b[i] < 0x80 {
		u := int64(b[i])
		return u>>1 ^ -(u & 1), i + 1
	}
	return longVarintAt(b, i)
}

// varint1 is the case of varintAt small enough to inline: a one-byte varint. It reports
// false, leaving i as it was, for any other.
func varint1(b []byte, i int) (v int64, next int, ok bool) {
	if uint(i) < uint(len(b)) && b[i] < 0x80 {
		u := int64(b[i])
		return u>>1 ^ -(u & 1), i + 1, true
	}
	return 0, i, false
}

// field1 is the case of fieldAt small enough to inline: a one-byte length. It reports
// false, leaving i as it was, for any other.
func field1(b []byte, i int) (length int32, at, next int, ok bool) {
	if uint(i) < uint(len(b)) && b[i] < 0x80 {
		u := int32(b[i])
		n := u>>1 ^ -(u & 1)
		if rest := len(b) - i - 1; n <= int32(rest) && n >= -1 {
			return n, i + 1, i + 1 + int(max(n, 0)), true
		}
	}
	return 0, 0, i, false
}

func longVarintAt(b []byte, i int) (int64, int) {
	if i < 0 || i > len(b) {
		return 0, -1
	}
	if i+1 < len(b) && b[i+1] < 0x80 && b[i] >= 0x80 {
		// Two bytes, as lengths from 64 to 8191 take.
		u := int64(b[i]&0x7f) | int64(b[i+1])<<7
		return u>>1 ^ -(u & 1), i + 2
	}
	v, n := binary.Varint(b[i:])
	if n <= 0 {
		return 0, -1
	}
	return v, i + n
}

// fieldAt decodes a nullable field at b[i:]: its length (-1 for null), where its bytes
// start, and the index after them; that index is -1 if the field is malformed or runs
// past b.
func fieldAt(b []byte, i int) (length int32, at, next int) {
	var n int64
	if uint(i) < uint(len(b)) && b[i] < 0x80 { // varintAt's fast path, which does not inline
		u := int64(b[i])
		n, i = u>>1^-(u&1), i+1
	} else {
		n, i = longVarintAt(b, i)
	}
	if i < 0 || n < -1 || n > int64(len(b)-i) {
		return 0, 0, -1
	}
	if n < 0 {
		return -1, i, i
	}
	return int32(n), i, i + int(n)
}

// skimStream decodes the head of a record of length bytes from s and steps over the rest,
// checking its framing as parseBody does, without holding more than s's buffer and, with
// wantKey, the key, which it copies into *scratch.
func skimStream(s *bufio.Reader, length int64, rec *Record, wantKey bool, scratch *[]byte) error {
	c := streamCursor{r: s, left: length}
	rec.Attributes = int8(c.byte())
	rec.TimestampDelta = c.varint()
	rec.OffsetDelta = c.varint32()
	rec.KeyLength = c.length()
	rec.Key, rec.Value, rec.Body = nil, nil, nil
	if wantKey && rec.KeyLength >= 0 && c.err == nil {
		if int64(rec.KeyLength) > c.left {
			c.err = errPastRecord
		} else {
			*scratch, c.err = readGrowing(s, (*scratch)[:0], int(rec.KeyLength))
			c.left -= int64(len(*scratch))
			rec.Key = *scratch
		}
	} else {
		c.skip(rec.KeyLength)
	}
	rec.ValueLength = c.length()
	c.skip(rec.ValueLength)
	headers := c.varint32()
	if headers < 0 && c.err == nil {
		c.err = fmt.Errorf("%d headers", headers)
	}
	for i := int32(0); i < headers && c.err == nil; i++ {
		keyLen := c.varint32()
		if keyLen < 0 && c.err == nil {
			c.err = fmt.Errorf("header %d: key length %d", i, keyLen)
		}
		c.skip(keyLen)
		c.skip(c.length())
	}
	if c.err == nil && c.left > 0 {
		c.err = fmt.Errorf("%d bytes follow the record's fields", c.left)
	}
	if c.err != nil {
		return asCorrupt(fmt.Errorf("record of %d bytes: %w", length, c.err))
	}
	return nil
}

// streamCursor reads the fields of a record of known length from a stream, remembering
// the first problem; left is what remains of the record.
type streamCursor struct {
	r    *bufio.Reader
	left int64
	err  error
}

// errPastRecord marks a field that runs past the end of its record.
var errPastRecord = errors.New("field runs past the end of the record")

func (c *streamCursor) ReadByte() (byte, error) {
	if c.left <= 0 {
		return 0, errPastRecord
	}
	b, err := c.r.ReadByte()
	if err == nil {
		c.left--
	}
	return b, err
}

func (c *streamCursor) byte() byte {
	if c.err != nil {
		return 0
	}
	b, err := c.ReadByte()
	c.err = err
	return b
}

func (c *streamCursor) varint() int64 {
	if c.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(c)
	c.err = err
	return v
}

func (c *streamCursor) varint32() int32 {
	v := c.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		c.err = fmt.Errorf("varint %d overflows 32 bits", v)
		return 0
	}
	return int32(v)
}

func (c *streamCursor) length() int32 {
	n := c.varint32()
	if n < -1 && c.err == nil {
		c.err = fmt.Errorf("length %d", n)
	}
	return n
}

// skip steps over n bytes (none for n < 0).
func (c *streamCursor) skip(n int32) {
	if c.err != nil || n <= 0 {
		return
	}
	if int64(n) > c.left {
		c.err = errPastRecord
		return
	}
	skipped, err := c.r.Discard(int(n))
	c.left -= int64(skipped)
	c.err = err
}
