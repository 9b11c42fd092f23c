// Package recordtest builds magic-v2 record batches for tests, hostile ones included:
// batches whose records decompress to far more than they weigh ("decompression bombs"),
// built as streams so that a test never holds what they expand to.
package recordtest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/kzoo/kzoo/broker/record"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Codec is a compression of a batch's records, snappy's two framings told apart.
type Codec struct {
	Name    string
	ID      int // as numbered in the attributes
	Framing record.SnappyFraming
}

// Codecs returns every codec a producer may use: none, gzip, snappy raw, snappy xerial,
// lz4, zstd.
func Codecs() []Codec {
	return []Codec{
		{Name: "none", ID: record.CodecNone},
		{Name: "gzip", ID: record.CodecGzip},
		{Name: "snappy-raw", ID: record.CodecSnappy, Framing: record.SnappyRaw},
		{Name: "snappy-xerial", ID: record.CodecSnappy, Framing: record.SnappyXerial},
		{Name: "lz4", ID: record.CodecLz4},
		{Name: "zstd", ID: record.CodecZstd},
	}
}

// Header is one record header.
type Header struct{ Key, Value []byte }

// Record is one record to encode; a nil Key or Value is null.
type Record struct {
	TimestampDelta int64
	Key, Value     []byte
	Headers        []Header
}

// AppendRecord appends r, with its length prefix and offset delta, to dst.
func AppendRecord(dst []byte, offsetDelta int, r Record) []byte {
	var body []byte
	body = append(body, 0) // attributes
	body = binary.AppendVarint(body, r.TimestampDelta)
	body = binary.AppendVarint(body, int64(offsetDelta))
	body = appendNullable(body, r.Key)
	body = appendNullable(body, r.Value)
	body = binary.AppendVarint(body, int64(len(r.Headers)))
	for _, h := range r.Headers {
		body = binary.AppendVarint(body, int64(len(h.Key)))
		body = append(body, h.Key...)
		body = appendNullable(body, h.Value)
	}
	dst = binary.AppendVarint(dst, int64(len(body)))
	return append(dst, body...)
}

func appendNullable(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// Records encodes records as a batch's records section, uncompressed.
func Records(records ...Record) []byte {
	var out []byte
	for i, r := range records {
		out = AppendRecord(out, i, r)
	}
	return out
}

// Batch builds a batch from an uncompressed records section, compressed with codec, whose
// header declares count records (whatever records holds) and last offset delta count-1.
func Batch(codec Codec, count int32, records []byte) ([]byte, error) {
	payload := records
	if codec.ID != record.CodecNone {
		var c record.Compressor
		defer c.Close()
		var err error
		if payload, err = c.Compress(codec.ID, codec.Framing, records); err != nil {
			return nil, err
		}
	}
	return Frame(codec.ID, count, payload), nil
}

// Frame builds a batch around a records section already compressed with codec (an
// attributes codec number), declaring count records, with a valid CRC.
func Frame(codec int, count int32, payload []byte) []byte {
	return FrameAttributes(int16(codec), count, payload)
}

// FrameAttributes is Frame for a batch whose attributes are given whole, such as a
// transactional or a control batch.
func FrameAttributes(attributes int16, count int32, payload []byte) []byte {
	rb := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                record.CurrentMagic,
		Attributes:           attributes,
		LastOffsetDelta:      max(count-1, 0),
		FirstTimestamp:       1_000,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		Records:              payload,
	}
	out := rb.AppendTo(make([]byte, 0, record.HeaderSize+len(payload)))
	record.Finish(out, count, 1_000)
	return out
}

// Bomb builds a batch of one record whose key is key and whose value is valueSize zero
// bytes, compressed with codec as a stream: the records section is never held
// uncompressed. Uncompressed, the batch is as large as it claims.
func Bomb(codec Codec, key []byte, valueSize int64) ([]byte, error) {
	// The record: its length, attributes, timestamp and offset deltas, key, value length;
	// then the value's zeros and a zero header count, which is one more zero.
	var head []byte
	head = append(head, 0)
	head = binary.AppendVarint(head, 0)
	head = binary.AppendVarint(head, 0)
	head = appendNullable(head, key)
	head = binary.AppendVarint(head, valueSize)
	zeros := valueSize + 1
	prefix := binary.AppendVarint(nil, int64(len(head))+zeros)
	prefix = append(prefix, head...)

	var buf bytes.Buffer
	var err error
	switch {
	case codec.ID == record.CodecNone:
		err = writeZeros(&buf, prefix, zeros)
	case codec.ID == record.CodecSnappy && codec.Framing == record.SnappyRaw:
		rawSnappyZeros(&buf, prefix, zeros)
	case codec.ID == record.CodecSnappy:
		x := &xerialWriter{w: &buf}
		if err = writeZeros(x, prefix, zeros); err == nil {
			x.Close()
		}
	default:
		var w io.WriteCloser
		if w, err = streamCompressor(codec.ID, &buf); err == nil {
			if err = writeZeros(w, prefix, zeros); err == nil {
				err = w.Close()
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s bomb: %w", codec.Name, err)
	}
	return Frame(codec.ID, 1, buf.Bytes()), nil
}

func streamCompressor(codec int, w io.Writer) (io.WriteCloser, error) {
	switch codec {
	case record.CodecGzip:
		return gzip.NewWriterLevel(w, gzip.BestCompression)
	case record.CodecLz4:
		return lz4.NewWriter(w), nil
	case record.CodecZstd:
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
	}
	return nil, fmt.Errorf("no stream compressor for codec %d", codec)
}

// writeZeros writes prefix and then n zero bytes to w.
func writeZeros(w io.Writer, prefix []byte, n int64) error {
	if _, err := w.Write(prefix); err != nil {
		return err
	}
	chunk := make([]byte, 1<<20)
	for n > 0 {
		step := min(n, int64(len(chunk)))
		if _, err := w.Write(chunk[:step]); err != nil {
			return err
		}
		n -= step
	}
	return nil
}

// rawSnappyZeros writes one raw snappy block holding prefix and n zero bytes: a literal,
// then copies of the previous byte 64 bytes at a time, snappy's densest element.
func rawSnappyZeros(w *bytes.Buffer, prefix []byte, n int64) {
	var b []byte
	b = binary.AppendUvarint(b, uint64(int64(len(prefix))+n))
	lit := append(append([]byte(nil), prefix...), 0) // at most 60 bytes: one tag byte
	b = append(b, byte(len(lit)-1)<<2)
	b = append(b, lit...)
	w.Write(b)
	copy64 := []byte{63<<2 | 2, 1, 0} // copy 64 bytes from offset 1
	for n--; n >= 64; n -= 64 {
		w.Write(copy64)
	}
	if n > 0 {
		w.Write([]byte{byte(n-1)<<2 | 2, 1, 0})
	}
}

// xerialWriter writes snappy in the xerial framing as a stream of 32 KiB blocks.
type xerialWriter struct {
	w       *bytes.Buffer
	pending []byte
	started bool
}

func (x *xerialWriter) Write(p []byte) (int, error) {
	if !x.started {
		x.w.Write([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1})
		x.started = true
	}
	n := len(p)
	for len(p) > 0 {
		take := min(len(p), 32<<10-len(x.pending))
		x.pending = append(x.pending, p[:take]...)
		p = p[take:]
		if len(x.pending) == 32<<10 {
			x.flush()
		}
	}
	return n, nil
}

func (x *xerialWriter) flush() {
	block := snappy.Encode(nil, x.pending)
	x.w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(block))))
	x.w.Write(block)
	x.pending = x.pending[:0]
}

// Close writes the last, partial block.
func (x *xerialWriter) Close() {
	if len(x.pending) > 0 {
		x.flush()
	}
}
