package storage

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/kzoo/kzoo/broker/record"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testCRCTable is built here rather than shared with the code under test.
var testCRCTable = crc32.MakeTable(crc32.Castagnoli)

// xerialCodec asks batchSpec for snappy in the Java client's xerial framing.
const xerialCodec = 100

// batchSpec describes a record batch for a test.
type batchSpec struct {
	timestamps []int64 // one per record
	valueSize  int
	codec      int // record.CodecNone..codecZstd, or xerialCodec

	producerID    int64 // -1: not idempotent
	producerEpoch int16
	baseSequence  int32
}

// plain describes an uncompressed, non-idempotent batch of n records stamped from ts on.
func plain(n int, ts int64) batchSpec {
	spec := batchSpec{producerID: -1, baseSequence: -1, producerEpoch: -1, valueSize: 20}
	for i := range n {
		spec.timestamps = append(spec.timestamps, ts+int64(i))
	}
	return spec
}

// idempotent describes a batch of n records from a producer.
func idempotent(n int, producerID int64, epoch int16, seq int32) batchSpec {
	spec := plain(n, 1_000)
	spec.producerID, spec.producerEpoch, spec.baseSequence = producerID, epoch, seq
	return spec
}

// makeBatch encodes a magic-v2 batch with kmsg and a CRC-32C from hash/crc32.
func makeBatch(t testing.TB, spec batchSpec) []byte {
	t.Helper()
	n := len(spec.timestamps)
	if n == 0 {
		t.Fatal("batch without records")
	}
	base, maxTs := spec.timestamps[0], int64(math.MinInt64)
	for _, ts := range spec.timestamps {
		base = min(base, ts)
		maxTs = max(maxTs, ts)
	}
	var records []byte
	for i, ts := range spec.timestamps {
		rec := kmsg.Record{
			TimestampDelta64: ts - base,
			OffsetDelta:      int32(i),
			Key:              []byte{byte(i)},
			Value:            bytes.Repeat([]byte{byte('a' + i%26)}, spec.valueSize),
			Headers:          []kmsg.Header{{Key: "h", Value: []byte("v")}},
		}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1) // the zero length is one varint byte
		records = rec.AppendTo(records)
	}
	codec := spec.codec
	payload := compress(t, codec, records)
	if codec == xerialCodec {
		codec = record.CodecSnappy
	}
	b := kmsg.RecordBatch{
		FirstOffset:          0,
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           int16(codec),
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       base,
		MaxTimestamp:         maxTs,
		ProducerID:           spec.producerID,
		ProducerEpoch:        spec.producerEpoch,
		FirstSequence:        spec.baseSequence,
		NumRecords:           int32(n),
		Records:              payload,
	}
	b.Length = int32(49 + len(payload))
	raw := b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], testCRCTable))
	return b.AppendTo(nil)
}

func compress(t testing.TB, codec int, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch codec {
	case record.CodecNone:
		return data
	case record.CodecGzip:
		w := gzip.NewWriter(&buf)
		mustWrite(t, w.Write, data)
		must(t, w.Close())
	case record.CodecSnappy:
		return snappy.Encode(nil, data)
	case xerialCodec:
		buf.Write([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1})
		for chunk := range slices.Chunk(data, 64) { // small blocks, to cross block boundaries
			block := snappy.Encode(nil, chunk)
			buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(block))))
			buf.Write(block)
		}
	case record.CodecLz4:
		w := lz4.NewWriter(&buf)
		must(t, w.Apply(lz4.BlockSizeOption(lz4.Block64Kb))) // as the Java client and librdkafka frame it
		mustWrite(t, w.Write, data)
		must(t, w.Close())
	case record.CodecZstd:
		enc, err := zstd.NewWriter(nil)
		must(t, err)
		defer enc.Close()
		return enc.EncodeAll(data, nil)
	default:
		t.Fatalf("unknown codec %d", codec)
	}
	return buf.Bytes()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t testing.TB, write func([]byte) (int, error), b []byte) {
	t.Helper()
	if _, err := write(b); err != nil {
		t.Fatal(err)
	}
}

// header decodes the fields of a batch a test checks, independently of record.ParseHeader.
type testHeader struct {
	baseOffset, lastOffset int64
	leaderEpoch            int32
	size                   int
}

func decodeTestHeader(t testing.TB, b []byte) testHeader {
	t.Helper()
	if len(b) < 61 {
		t.Fatalf("%d bytes cannot hold a batch header", len(b))
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatalf("decode batch: %v", err)
	}
	return testHeader{
		baseOffset:  rb.FirstOffset,
		lastOffset:  rb.FirstOffset + int64(rb.LastOffsetDelta),
		leaderEpoch: rb.PartitionLeaderEpoch,
		size:        12 + int(rb.Length),
	}
}

// splitTestBatches splits a run of batches with the framing alone.
func splitTestBatches(t testing.TB, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 12 {
			t.Fatalf("%d trailing bytes", len(b))
		}
		size := 12 + int(binary.BigEndian.Uint32(b[8:]))
		if size > len(b) {
			t.Fatalf("batch of %d bytes, %d left", size, len(b))
		}
		out = append(out, b[:size])
		b = b[size:]
	}
	return out
}

func crcValid(b []byte) bool {
	return crc32.Checksum(b[21:], testCRCTable) == binary.BigEndian.Uint32(b[17:])
}

// readSlice returns the bytes of a Slice.
func readSlice(t testing.TB, s Slice) []byte {
	t.Helper()
	if s.Size == 0 {
		return nil
	}
	b := make([]byte, s.Size)
	if _, err := s.File.ReadAt(b, s.Pos); err != nil {
		t.Fatalf("read slice: %v", err)
	}
	return b
}

// fakeClock is a settable clock for OpenOptions.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.UnixMilli(1_700_000_000_000)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// smallConfig makes logs with several segments out of a few kilobytes.
func smallConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1024
	cfg.IndexIntervalBytes = 100
	cfg.FileDeleteDelayMs = 0
	return cfg
}

// openLogT opens a log that is closed when the test ends.
func openLogT(t testing.TB, dir string, cfg Config, opts OpenOptions) *Log {
	t.Helper()
	l, err := Open(dir, cfg, opts)
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
	})
	return l
}

func closeLog(t testing.TB, l *Log) {
	t.Helper()
	if err := l.Close(); err != nil {
		t.Fatalf("close log: %v", err)
	}
}

// appendT appends one batch as a leader without followers does: the high watermark
// follows the log end.
func appendT(t testing.TB, l *Log, batch []byte) AppendResult {
	t.Helper()
	res, err := l.AppendAsLeader(batch, testEpoch, OriginClient)
	if err != nil {
		t.Fatalf("append at %d: %v", l.LogEndOffset(), err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	return res
}

// segmentFiles lists the base offsets of the .log files in dir.
func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*.log"))
	must(t, err)
	for i, m := range matches {
		matches[i] = filepath.Base(m)
	}
	return matches
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}

func crcChecksum(b []byte) uint32 { return crc32.Checksum(b, testCRCTable) }

// testEpoch is the leader epoch the tests append in unless they test epochs.
const testEpoch = 3
