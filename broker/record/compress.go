package record

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// SnappyFraming says how snappy data is laid out in a batch: Kafka's Java client frames
// it as snappy-java streams do (xerial), other clients write one raw block. The cleaner
// writes what the producer wrote, which every client that produced it can read.
type SnappyFraming int

const (
	SnappyRaw SnappyFraming = iota
	SnappyXerial
)

// xerialBlockSize is the uncompressed size of each block of xerial-framed output, that of
// snappy-java's default.
const xerialBlockSize = 32 << 10

// xerialVersion is the version and minimum compatible version written after the magic.
const xerialVersion = 1

// FramingOf reports how the snappy payload of a batch (its bytes after the header) is framed.
func FramingOf(payload []byte) SnappyFraming {
	if bytes.HasPrefix(payload, xerialMagic) {
		return SnappyXerial
	}
	return SnappyRaw
}

// Compressor compresses records sections: those of the batches the cleaner rewrites, with
// the codec of the original batch. It keeps its encoders from batch to batch; its owner
// closes it.
type Compressor struct {
	gzip *gzip.Writer
	zstd *zstd.Encoder
	buf  bytes.Buffer
}

// Compress returns records compressed with codec. The result is valid until the next call.
func (c *Compressor) Compress(codec int, framing SnappyFraming, records []byte) ([]byte, error) {
	c.buf.Reset()
	switch codec {
	case CodecGzip:
		if c.gzip == nil {
			c.gzip = gzip.NewWriter(&c.buf)
		} else {
			c.gzip.Reset(&c.buf)
		}
		if _, err := c.gzip.Write(records); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		if err := c.gzip.Close(); err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
	case CodecSnappy:
		if framing == SnappyRaw {
			return snappy.Encode(c.buf.Bytes()[:0], records), nil
		}
		c.buf.Write(xerialMagic)
		c.buf.Write(binary.BigEndian.AppendUint32(nil, xerialVersion))
		c.buf.Write(binary.BigEndian.AppendUint32(nil, xerialVersion))
		for rest := records; len(rest) > 0; {
			chunk := rest[:min(len(rest), xerialBlockSize)]
			rest = rest[len(chunk):]
			block := snappy.Encode(nil, chunk)
			c.buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(block))))
			c.buf.Write(block)
		}
	case CodecLz4:
		// 64 KiB blocks, as the Java client and librdkafka frame their batches.
		w := lz4.NewWriter(&c.buf)
		if err := w.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if _, err := w.Write(records); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("lz4: %w", err)
		}
	case CodecZstd:
		if c.zstd == nil {
			enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
			if err != nil {
				return nil, fmt.Errorf("zstd: %w", err)
			}
			c.zstd = enc
		}
		return c.zstd.EncodeAll(records, c.buf.Bytes()[:0]), nil
	default:
		return nil, fmt.Errorf("cannot compress with codec %d", codec)
	}
	return c.buf.Bytes(), nil
}

// Close releases the encoders.
func (c *Compressor) Close() {
	if c.zstd != nil {
		_ = c.zstd.Close() // only reports that it was closed before
		c.zstd = nil
	}
}
