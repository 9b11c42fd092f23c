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
	// compressed tells which of buf and stream holds the records.
	compressed bool
	buf        []byte // uncompressed: the records not read yet
	read       int32  // records read so far
	rec        Record
	err        error
	done       bool
}

// Reset starts reading the records of batch, a whole batch whose header is h, in mode.
// limit bounds what a compressed batch may decompress to (see [DecompressedLimit]).
func (r *Reader) Reset(h Header, batch []byte, mode Mode, limit int64) {
	r.h, r.mode, r.read, r.err, r.done = h, mode, 0, nil, false
	r.rec = Record{}
	if cap(r.scratch) > retainedScratch {
		r.scratch = nil
	}
	if cap(r.dec.snappy) > retainedScratch {
		r.dec.snappy = nil
	}
	payload := batch[HeaderSize:]
	r.compressed = h.Codec() != CodecNone
	if !r.compressed {
		r.buf = payload
		return
	}
	r.buf = nil
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
	if r.compressed {
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

func (r *Reader) fail(err error) {
	r.done = true
	r.err = fmt.Errorf("batch at offset %d: %w", r.h.BaseOffset, err)
}

// checkEnd checks that the records the header counts fill the batch: Kafka refuses a
// batch with bytes after its last record.
func (r *Reader) checkEnd() {
	if !r.compressed {
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

// nextInPlace decodes the next record of an uncompressed batch where it lies.
func (r *Reader) nextInPlace() error {
	length, n := binary.Varint(r.buf)
	if n <= 0 {
		return r.missing(n)
	}
	if length < 0 || length > int64(len(r.buf)-n) {
		return fmt.Errorf("record length %d with %d bytes left: %w", length, len(r.buf)-n, kerr.CorruptMessage)
	}
	body := r.buf[n : n+int(length) : n+int(length)]
	r.buf = r.buf[n+int(length):]
	return parseBody(body, &r.rec, r.mode)
}

// missing explains a record length that binary.Varint could not read (n <= 0).
func (r *Reader) missing(n int) error {
	if n == 0 && len(r.buf) == 0 {
		return fmt.Errorf("the batch ends, but the header declares %d records: %w", r.h.RecordCount, kerr.CorruptMessage)
	}
	return fmt.Errorf("bad record length varint: %w", kerr.CorruptMessage)
}

// nextStreamed decodes the next record of a compressed batch from the stream.
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
func parseBody(body []byte, rec *Record, mode Mode) error {
	c := sliceCursor{b: body}
	rec.Attributes = int8(c.byte())
	rec.TimestampDelta = c.varint()
	rec.OffsetDelta = c.varint32()
	rec.KeyLength = c.length()
	key := c.take(rec.KeyLength)
	rec.ValueLength = c.length()
	value := c.take(rec.ValueLength)
	headers := c.varint32()
	if headers < 0 && c.err == nil {
		c.err = fmt.Errorf("%d headers", headers)
	}
	for i := int32(0); i < headers && c.err == nil; i++ {
		keyLen := c.varint32()
		if keyLen < 0 && c.err == nil {
			c.err = fmt.Errorf("header %d: key length %d", i, keyLen)
		}
		c.take(keyLen)
		c.take(c.length())
	}
	if c.err == nil && len(c.b) > 0 {
		c.err = fmt.Errorf("%d bytes follow the record's fields", len(c.b))
	}
	if c.err != nil {
		return fmt.Errorf("record of %d bytes: %v: %w", len(body), c.err, kerr.CorruptMessage)
	}
	rec.Key, rec.Value, rec.Body = nil, nil, nil
	switch mode {
	case Keys:
		rec.Key = key
	case Whole:
		rec.Key, rec.Value, rec.Body = key, value, body
	}
	return nil
}

// sliceCursor reads the fields of a record in memory, remembering the first problem;
// after one every read yields zero values.
type sliceCursor struct {
	b   []byte
	err error
}

func (c *sliceCursor) byte() byte {
	if c.err != nil {
		return 0
	}
	if len(c.b) == 0 {
		c.err = io.ErrUnexpectedEOF
		return 0
	}
	v := c.b[0]
	c.b = c.b[1:]
	return v
}

func (c *sliceCursor) varint() int64 {
	if c.err != nil {
		return 0
	}
	v, n := binary.Varint(c.b)
	if n <= 0 {
		c.err = errors.New("bad varint")
		return 0
	}
	c.b = c.b[n:]
	return v
}

func (c *sliceCursor) varint32() int32 {
	v := c.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		c.err = fmt.Errorf("varint %d overflows 32 bits", v)
		return 0
	}
	return int32(v)
}

// length reads the length of a nullable field: -1 for null, else at least 0.
func (c *sliceCursor) length() int32 {
	n := c.varint32()
	if n < -1 && c.err == nil {
		c.err = fmt.Errorf("length %d", n)
	}
	return n
}

// take returns the next n bytes, nil for n < 0.
func (c *sliceCursor) take(n int32) []byte {
	if c.err != nil || n < 0 {
		return nil
	}
	if int64(n) > int64(len(c.b)) {
		c.err = fmt.Errorf("field of %d bytes with %d left", n, len(c.b))
		return nil
	}
	v := c.b[:n:n]
	c.b = c.b[n:]
	return v
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
