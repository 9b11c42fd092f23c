package storage

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kerr"
)

// maxSnappyBlockSize bounds the decoded size of one raw snappy block, which must be
// decoded whole. Streamed codecs need no bound: records are read and skipped as they are
// decoded, so memory stays small whatever the batch inflates to.
const maxSnappyBlockSize = 64 << 20

// xerialMagic starts snappy data framed the way the Java client writes it (snappy-java's
// stream format): this 8-byte magic, two int32 versions, then blocks each preceded by an
// int32 length.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// findRecordAtOrAfter decodes the records of batch (a whole batch whose header is h) and
// returns the offset and timestamp of the first record whose timestamp is >= ts.
func findRecordAtOrAfter(h batchHeader, batch []byte, ts int64) (offset, timestamp int64, found bool, err error) {
	payload := batch[batchHeaderSize:]
	body, closeBody, err := decompressedRecords(h.codec(), payload)
	if err != nil {
		return 0, 0, false, fmt.Errorf("batch at offset %d: %w", h.baseOffset, err)
	}
	defer closeBody()

	r := &countingByteReader{r: bufio.NewReaderSize(body, 4096)}
	for i := int32(0); i < h.recordCount; i++ {
		rec, err := r.nextRecordHead()
		if err != nil {
			return 0, 0, false, fmt.Errorf("batch at offset %d, record %d: %w", h.baseOffset, i, err)
		}
		recTimestamp := h.baseTimestamp + rec.timestampDelta
		if h.usesLogAppendTime() {
			recTimestamp = h.maxTimestamp
		}
		if recTimestamp >= ts {
			return h.baseOffset + int64(rec.offsetDelta), recTimestamp, true, nil
		}
	}
	return 0, 0, false, nil
}

// decompressedRecords returns a reader of the uncompressed records section of a batch.
func decompressedRecords(codec int, payload []byte) (io.Reader, func(), error) {
	noop := func() {}
	switch codec {
	case codecNone:
		return bytes.NewReader(payload), noop, nil
	case codecGzip:
		r, err := gzip.NewReader(bytes.NewReader(payload))
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %v: %w", err, kerr.CorruptMessage)
		}
		return r, func() { _ = r.Close() }, nil
	case codecSnappy:
		if bytes.HasPrefix(payload, xerialMagic) {
			return &xerialReader{src: payload[min(len(payload), xerialHeaderSize):]}, noop, nil
		}
		decoded, err := decodeSnappyBlock(payload)
		if err != nil {
			return nil, nil, err
		}
		return bytes.NewReader(decoded), noop, nil
	case codecLz4:
		return lz4.NewReader(bytes.NewReader(payload)), noop, nil
	case codecZstd:
		d, err := zstd.NewReader(bytes.NewReader(payload), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, fmt.Errorf("zstd: %w", err)
		}
		return d, d.Close, nil
	default:
		return nil, nil, fmt.Errorf("unknown compression codec %d: %w", codec, kerr.CorruptMessage)
	}
}

func decodeSnappyBlock(block []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, fmt.Errorf("snappy: %v: %w", err, kerr.CorruptMessage)
	}
	if n > maxSnappyBlockSize {
		return nil, fmt.Errorf("snappy block decodes to %d bytes, more than %d: %w", n, maxSnappyBlockSize, kerr.CorruptMessage)
	}
	out, err := snappy.Decode(nil, block)
	if err != nil {
		return nil, fmt.Errorf("snappy: %v: %w", err, kerr.CorruptMessage)
	}
	return out, nil
}

// xerialReader decodes xerial-framed snappy one block at a time.
type xerialReader struct {
	src     []byte // blocks not decoded yet
	decoded []byte // the unread rest of the current block
}

func (x *xerialReader) Read(p []byte) (int, error) {
	for len(x.decoded) == 0 {
		if len(x.src) == 0 {
			return 0, io.EOF
		}
		if len(x.src) < 4 {
			return 0, fmt.Errorf("xerial snappy: %d trailing bytes: %w", len(x.src), kerr.CorruptMessage)
		}
		n := binary.BigEndian.Uint32(x.src)
		if uint64(n) > uint64(len(x.src)-4) {
			return 0, fmt.Errorf("xerial snappy: block of %d bytes, %d left: %w", n, len(x.src)-4, kerr.CorruptMessage)
		}
		block := x.src[4 : 4+n]
		x.src = x.src[4+n:]
		decoded, err := decodeSnappyBlock(block)
		if err != nil {
			return 0, fmt.Errorf("xerial %w", err)
		}
		x.decoded = decoded
	}
	n := copy(p, x.decoded)
	x.decoded = x.decoded[n:]
	return n, nil
}

// recordHead is the start of a v2 record: what a timestamp search needs.
type recordHead struct {
	timestampDelta int64
	offsetDelta    int32
}

// countingByteReader reads records field by field, counting bytes so that the rest of
// each record (key, value, headers) can be skipped without decoding it.
type countingByteReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingByteReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

func (c *countingByteReader) varint() (int64, error) {
	v, err := binary.ReadVarint(c)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, fmt.Errorf("bad varint: %v: %w", err, kerr.CorruptMessage)
	}
	return v, nil
}

// nextRecordHead decodes the head of the next record and skips the rest of it.
func (c *countingByteReader) nextRecordHead() (recordHead, error) {
	length, err := c.varint()
	if err != nil {
		return recordHead{}, err
	}
	start := c.n
	if _, err := c.ReadByte(); err != nil { // attributes, unused
		return recordHead{}, fmt.Errorf("record attributes: %v: %w", err, kerr.CorruptMessage)
	}
	tsDelta, err := c.varint()
	if err != nil {
		return recordHead{}, err
	}
	offDelta, err := c.varint()
	if err != nil {
		return recordHead{}, err
	}
	rest := length - (c.n - start)
	if rest < 0 || offDelta < 0 || offDelta > 1<<31-1 {
		return recordHead{}, fmt.Errorf("record length %d, offset delta %d: %w", length, offDelta, kerr.CorruptMessage)
	}
	for rest > 0 {
		// Discard takes an int; skip in chunks so a huge bogus length cannot overflow it.
		step := int(min(rest, 1<<30))
		skipped, err := c.r.Discard(step)
		c.n += int64(skipped)
		rest -= int64(skipped)
		if err != nil {
			return recordHead{}, fmt.Errorf("record body: %v: %w", err, kerr.CorruptMessage)
		}
	}
	return recordHead{timestampDelta: tsDelta, offsetDelta: int32(offDelta)}, nil
}
