package record

import (
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

// xerialMagic starts snappy data framed the way the Java client writes it (snappy-java's
// stream format): this 8-byte magic, two int32 versions, then blocks each preceded by an
// int32 length.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// maxSnappyExpansion bounds how much one byte of snappy data can decode to: the densest
// element, a 3-byte copy, yields 64 bytes. A raw snappy block must be decoded whole, so
// its declared length is checked against this before anything is allocated: a block can
// cost memory in proportion to its own size, never to a length it merely claims.
const maxSnappyExpansion = 22

// maxSnappyBlock bounds what one raw snappy block, decoded whole, may decode to, whatever
// the batch may decompress to: a larger block is refused as too large.
const maxSnappyBlock = 64 << 20

// maxZstdWindow bounds the history a zstd frame may ask the decoder to keep. It is the
// window every decoder must support per RFC 8878, and more than the 2 MiB clients'
// default levels use; a frame asking for more is refused rather than allowed to make the
// broker hold its window.
const maxZstdWindow = 8 << 20

// decompressors holds one reusable decoder per codec, so that a [Reader] going over many
// batches allocates its decoder state once.
type decompressors struct {
	src    bytes.Reader
	gzip   *gzip.Reader
	lz4    *lz4.Reader
	zstd   *zstd.Decoder
	xerial xerialReader
	snappy []byte // the decoded raw snappy block, or the current xerial block
}

// open returns a reader of the decompressed records section payload, compressed with
// codec (neither CodecNone nor raw snappy). The reader stays valid until the next open.
func (d *decompressors) open(codec int, payload []byte, limit int64) (io.Reader, error) {
	d.src.Reset(payload)
	switch codec {
	case CodecGzip:
		if d.gzip == nil {
			r, err := gzip.NewReader(&d.src)
			if err != nil {
				return nil, fmt.Errorf("gzip: %v: %w", err, kerr.CorruptMessage)
			}
			d.gzip = r
		} else if err := d.gzip.Reset(&d.src); err != nil {
			return nil, fmt.Errorf("gzip: %v: %w", err, kerr.CorruptMessage)
		}
		return d.gzip, nil
	case CodecSnappy:
		if !bytes.HasPrefix(payload, xerialMagic) {
			return nil, errors.New("raw snappy is decoded whole, by rawSnappy")
		}
		d.xerial.reset(payload[min(len(payload), xerialHeaderSize):], &d.snappy, limit)
		return &d.xerial, nil
	case CodecLz4:
		if d.lz4 == nil {
			d.lz4 = lz4.NewReader(&d.src)
		} else {
			d.lz4.Reset(&d.src)
		}
		return d.lz4, nil
	case CodecZstd:
		if d.zstd == nil {
			// One decoder without goroutines (concurrency 1 decodes synchronously), whose
			// buffers grow with what a frame actually holds.
			dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
			if err != nil {
				return nil, fmt.Errorf("zstd: %w", err)
			}
			d.zstd = dec
		}
		if err := d.zstd.Reset(&d.src); err != nil {
			return nil, fmt.Errorf("zstd: %v: %w", err, kerr.CorruptMessage)
		}
		return d.zstd, nil
	default:
		return nil, fmt.Errorf("unknown compression codec %d: %w", codec, kerr.CorruptMessage)
	}
}

// rawSnappy decodes a records section compressed as one raw snappy block, which cannot
// be streamed. The result is valid until the next call.
func (d *decompressors) rawSnappy(payload []byte, limit int64) ([]byte, error) {
	decoded, err := decodeSnappyBlock(d.snappy[:0], payload, limit)
	if err != nil {
		return nil, err
	}
	d.snappy = decoded
	return decoded, nil
}

// close releases the decoders' resources.
func (d *decompressors) close() {
	if d.zstd != nil {
		d.zstd.Close()
		d.zstd = nil
	}
}

// decodeSnappyBlock decodes one raw snappy block into dst, reusing its memory.
func decodeSnappyBlock(dst, block []byte, limit int64) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, fmt.Errorf("snappy: %v: %w", err, kerr.CorruptMessage)
	}
	if int64(n) > int64(len(block))*maxSnappyExpansion {
		return nil, fmt.Errorf("snappy block of %d bytes claims to decode to %d: %w", len(block), n, kerr.CorruptMessage)
	}
	if bound := min(limit, maxSnappyBlock); int64(n) > bound {
		return nil, fmt.Errorf("snappy block decodes to %d bytes, more than the %d a block may: %w", n, bound, errTooLarge)
	}
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	out, err := snappy.Decode(dst[:n], block)
	if err != nil {
		return nil, fmt.Errorf("snappy: %v: %w", err, kerr.CorruptMessage)
	}
	return out, nil
}

// xerialReader decodes xerial-framed snappy one block at a time into a buffer it shares
// with the raw snappy decoding.
type xerialReader struct {
	src     []byte  // blocks not decoded yet
	buf     *[]byte // holds the current block
	decoded []byte  // the unread rest of the current block
	limit   int64
}

func (x *xerialReader) reset(src []byte, buf *[]byte, limit int64) {
	*x = xerialReader{src: src, buf: buf, limit: limit}
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
		decoded, err := decodeSnappyBlock((*x.buf)[:0], block, x.limit)
		if err != nil {
			return 0, fmt.Errorf("xerial %w", err)
		}
		*x.buf, x.decoded = decoded, decoded
	}
	n := copy(p, x.decoded)
	x.decoded = x.decoded[n:]
	return n, nil
}

// limitedReader passes on what r yields and fails once that exceeds n bytes in all.
type limitedReader struct {
	r     io.Reader
	n     int64 // what may still be read
	limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Whether the stream has more is all that is left to learn.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("records decompress to more than %d bytes: %w", l.limit, errTooLarge)
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// errTooLarge marks a batch whose records decompress to more than the bound a batch may
// cost; it is refused as too large, which lets a producer split it and retry.
var errTooLarge = kerr.MessageTooLarge

// asCorrupt wraps a decompressor's error as a corrupt batch unless it already carries a
// Kafka error code.
func asCorrupt(err error) error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return err
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %w", err, kerr.CorruptMessage)
}
