package record_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/record/recordtest"
	"github.com/twmb/franz-go/pkg/kerr"
)

const testLimit = 64 << 20

func mustBatch(t testing.TB, codec recordtest.Codec, count int32, records []byte) []byte {
	t.Helper()
	b, err := recordtest.Batch(codec, count, records)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sample holds a record of every shape: with headers, null key, tombstone, and one longer
// than a decompressing stream's read-ahead.
func sample() []recordtest.Record {
	return []recordtest.Record{
		{TimestampDelta: 5, Key: []byte("k1"), Value: []byte("v1"), Headers: []recordtest.Header{{Key: []byte("h"), Value: []byte("hv")}, {Key: []byte("n")}}},
		{Value: []byte("keyless")},
		{Key: []byte("gone"), TimestampDelta: -3},
		{Key: bytes.Repeat([]byte("K"), 40<<10), Value: bytes.Repeat([]byte("big"), 50<<10)},
	}
}

func TestReaderDecodesEveryCodec(t *testing.T) {
	want := sample()
	for _, codec := range recordtest.Codecs() {
		batch := mustBatch(t, codec, int32(len(want)), recordtest.Records(want...))
		h := record.ParseHeader(batch)
		for _, mode := range []record.Mode{record.Skim, record.Keys, record.Whole} {
			t.Run(fmt.Sprintf("%s/mode%d", codec.Name, mode), func(t *testing.T) {
				var r record.Reader
				defer r.Close()
				r.Reset(h, batch, mode, testLimit)
				i := 0
				for ; r.Next(); i++ {
					rec, w := r.Record(), want[i]
					if rec.OffsetDelta != int32(i) || rec.TimestampDelta != w.TimestampDelta {
						t.Fatalf("record %d: offset delta %d, timestamp delta %d", i, rec.OffsetDelta, rec.TimestampDelta)
					}
					if rec.KeyLength != nullableLen(w.Key) || rec.ValueLength != nullableLen(w.Value) {
						t.Fatalf("record %d: key length %d, value length %d", i, rec.KeyLength, rec.ValueLength)
					}
					switch mode {
					case record.Skim:
						if rec.Key != nil || rec.Value != nil || rec.Body != nil {
							t.Fatalf("record %d: skim materialised the record", i)
						}
					case record.Keys:
						if !bytes.Equal(rec.Key, w.Key) || (rec.Key == nil) != (w.Key == nil) || rec.Value != nil {
							t.Fatalf("record %d: key %q", i, rec.Key)
						}
					case record.Whole:
						if !bytes.Equal(rec.Key, w.Key) || (rec.Key == nil) != (w.Key == nil) ||
							!bytes.Equal(rec.Value, w.Value) || (rec.Value == nil) != (w.Value == nil) {
							t.Fatalf("record %d: key %.20q value %.20q", i, rec.Key, rec.Value)
						}
						// The body is the record after its length prefix.
						encoded := recordtest.AppendRecord(nil, i, w)
						_, n := binary.Varint(encoded)
						if !bytes.Equal(rec.Body, encoded[n:]) {
							t.Fatalf("record %d: body differs", i)
						}
					}
				}
				if err := r.Err(); err != nil || i != len(want) {
					t.Fatalf("read %d records, err %v", i, err)
				}
			})
		}
		t.Run(codec.Name+"/validate", func(t *testing.T) {
			var r record.Reader
			defer r.Close()
			if err := r.Validate(h, batch, testLimit, false); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			err := r.Validate(h, batch, testLimit, true)
			if !errors.Is(err, kerr.InvalidRecord) || !errors.Is(err, record.ErrKeylessRecord) {
				t.Fatalf("Validate with keys required: %v, want INVALID_RECORD", err)
			}
		})
	}
}

func nullableLen(b []byte) int32 {
	if b == nil {
		return -1
	}
	return int32(len(b))
}

// body encodes a record body (no length prefix) field by field, for framing tests.
type body []byte

func (b body) byte(v byte) body          { return append(b, v) }
func (b body) varint(v int64) body       { return binary.AppendVarint(b, v) }
func (b body) raw(v ...byte) body        { return append(b, v...) }
func (b body) prefixed() []byte          { return append(binary.AppendVarint(nil, int64(len(b))), b...) }
func (b body) withLength(n int64) []byte { return append(binary.AppendVarint(nil, n), b...) }

// head is a record's attributes and deltas.
func head() body { return body{}.byte(0).varint(0).varint(0) }

func TestReaderRefusesBadFraming(t *testing.T) {
	good := recordtest.Records(recordtest.Record{Key: []byte("k"), Value: []byte("v")})
	tests := []struct {
		name    string
		count   int32
		records []byte
	}{
		{"declares 3 holds 1", 3, good},
		{"declares 1 holds 2", 1, recordtest.Records(recordtest.Record{Key: []byte("a")}, recordtest.Record{Key: []byte("b")})},
		{"declares 1 holds none", 1, nil},
		{"trailing bytes", 1, append(bytes.Clone(good), 7)},
		{"truncated length varint", 1, []byte{0x80, 0x80}},
		{"oversized length varint", 1, bytes.Repeat([]byte{0xff}, 11)},
		{"negative length", 1, head().varint(-1).varint(-1).varint(0).withLength(-4)},
		{"length past the batch", 1, head().varint(-1).varint(-1).varint(0).withLength(100)},
		{"fields shorter than length", 1, head().varint(-1).varint(-1).varint(0).raw(9).prefixed()},
		{"fields longer than length", 1, head().varint(3).raw('a').prefixed()},
		{"key length below -1", 1, head().varint(-2).varint(-1).varint(0).prefixed()},
		{"value length below -1", 1, head().varint(-1).varint(-7).varint(0).prefixed()},
		{"negative header count", 1, head().varint(-1).varint(-1).varint(-1).prefixed()},
		{"negative header key length", 1, head().varint(-1).varint(-1).varint(1).varint(-1).varint(-1).prefixed()},
		{"offset delta beyond 32 bits", 1, body{}.byte(0).varint(0).varint(1 << 40).varint(-1).varint(-1).varint(0).prefixed()},
		{"truncated field varint", 1, body{}.byte(0).raw(0x80).prefixed()},
		{"empty record", 1, body{}.prefixed()},
		{"huge header count", 1, head().varint(-1).varint(-1).varint(1 << 30).prefixed()},
	}
	codecs := []recordtest.Codec{recordtest.Codecs()[0], recordtest.Codecs()[1], recordtest.Codecs()[5]}
	for _, codec := range codecs {
		for _, tt := range tests {
			t.Run(codec.Name+"/"+tt.name, func(t *testing.T) {
				batch := mustBatch(t, codec, tt.count, tt.records)
				var r record.Reader
				defer r.Close()
				err := r.Validate(record.ParseHeader(batch), batch, testLimit, false)
				if !errors.Is(err, kerr.CorruptMessage) {
					t.Fatalf("Validate: %v, want CORRUPT_MESSAGE", err)
				}
				r.Reset(record.ParseHeader(batch), batch, record.Whole, testLimit)
				for r.Next() {
				}
				if !errors.Is(r.Err(), kerr.CorruptMessage) {
					t.Fatalf("Whole: %v, want CORRUPT_MESSAGE", r.Err())
				}
			})
		}
	}
}

// TestReaderRefusesBadFramingOfLongRecords covers records longer than a stream's
// read-ahead, which are stepped through rather than decoded in place.
func TestReaderRefusesBadFramingOfLongRecords(t *testing.T) {
	value := make([]byte, 100<<10)
	long := head().varint(1).raw('k').varint(int64(len(value))).raw(value...)
	tests := []struct {
		name    string
		records []byte
	}{
		{"fields shorter than length", long.varint(0).raw(1, 2).prefixed()},
		{"fields longer than length", long.varint(2).varint(1).raw('h').varint(-1).withLength(int64(len(long)) + 2)},
		{"length past the stream", long.varint(0).withLength(int64(len(long)) + 50)},
		{"negative header count", long.varint(-3).prefixed()},
	}
	for _, codec := range recordtest.Codecs()[1:] {
		for _, tt := range tests {
			t.Run(codec.Name+"/"+tt.name, func(t *testing.T) {
				batch := mustBatch(t, codec, 1, tt.records)
				for _, mode := range []record.Mode{record.Skim, record.Keys, record.Whole} {
					var r record.Reader
					r.Reset(record.ParseHeader(batch), batch, mode, testLimit)
					for r.Next() {
					}
					r.Close()
					if !errors.Is(r.Err(), kerr.CorruptMessage) {
						t.Fatalf("mode %d: %v, want CORRUPT_MESSAGE", mode, r.Err())
					}
				}
			})
		}
	}
}

func TestReaderRefusesBadCompression(t *testing.T) {
	for _, codec := range recordtest.Codecs()[1:] {
		t.Run(codec.Name, func(t *testing.T) {
			good := mustBatch(t, codec, 1, recordtest.Records(recordtest.Record{Key: []byte("k"), Value: bytes.Repeat([]byte("v"), 1000)}))
			payload := good[record.HeaderSize:]
			for name, bad := range map[string][]byte{
				"truncated": payload[:len(payload)/2],
				"garbage":   bytes.Repeat([]byte{0x5a}, 64),
				"empty":     nil,
			} {
				batch := recordtest.Frame(codec.ID, 1, bad)
				var r record.Reader
				err := r.Validate(record.ParseHeader(batch), batch, testLimit, false)
				r.Close()
				if !errors.Is(err, kerr.CorruptMessage) {
					t.Errorf("%s: %v, want CORRUPT_MESSAGE", name, err)
				}
			}
		})
	}
}

// allocated runs fn and returns how many bytes it allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestReaderBombs reads batches whose one record holds a value far larger than the batch,
// with every codec: skimming one costs the reader's fixed buffers, whatever it inflates
// to, and one that inflates past the limit is refused as too large.
func TestReaderBombs(t *testing.T) {
	const valueSize = 48 << 20
	for _, codec := range recordtest.Codecs()[1:] {
		t.Run(codec.Name, func(t *testing.T) {
			batch, err := recordtest.Bomb(codec, []byte("key"), valueSize)
			if err != nil {
				t.Fatal(err)
			}
			h := record.ParseHeader(batch)
			var r record.Reader
			defer r.Close()
			// Within the limit, valid: accepted, without allocating the value. A raw snappy
			// block is decoded whole, which costs up to 22 times its own size.
			budget := uint64(16 << 20)
			if codec.Framing == record.SnappyRaw && codec.ID == record.CodecSnappy {
				budget += valueSize
			}
			var verr error
			if got := allocated(func() { verr = r.Validate(h, batch, 1<<30, true) }); got > budget {
				t.Errorf("validating a %d-byte batch that inflates to %d allocated %d bytes", len(batch), valueSize, got)
			}
			if verr != nil {
				t.Fatalf("Validate: %v", verr)
			}
			// Beyond the limit: refused, in every mode, within the limit's memory.
			for _, mode := range []record.Mode{record.Skim, record.Keys, record.Whole} {
				got := allocated(func() {
					r.Reset(h, batch, mode, 4<<20)
					for r.Next() {
					}
				})
				if !errors.Is(r.Err(), kerr.MessageTooLarge) {
					t.Fatalf("mode %d: %v, want MESSAGE_TOO_LARGE", mode, r.Err())
				}
				if got > 16<<20 {
					t.Errorf("mode %d: refusing allocated %d bytes", mode, got)
				}
			}
		})
	}
}

// TestReaderGigabyteBomb reads a 33 KB zstd batch that inflates to 1 GiB, the size seen
// to grow a broker by 2.5 GiB.
func TestReaderGigabyteBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 1 GiB")
	}
	codec := recordtest.Codecs()[5]
	batch, err := recordtest.Bomb(codec, []byte("key"), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	var r record.Reader
	defer r.Close()
	var verr error
	got := allocated(func() { verr = r.Validate(record.ParseHeader(batch), batch, record.DecompressedLimit(1<<20), true) })
	if !errors.Is(verr, kerr.MessageTooLarge) {
		t.Fatalf("Validate: %v, want MESSAGE_TOO_LARGE", verr)
	}
	if got > 16<<20 {
		t.Errorf("refusing a %d-byte bomb allocated %d bytes", len(batch), got)
	}
}

func TestRawSnappyClaimingMoreThanItCanHold(t *testing.T) {
	// A block whose length preamble says 1 GiB, followed by one literal byte.
	payload := binary.AppendUvarint(nil, 1<<30)
	payload = append(payload, 0, 'x')
	batch := recordtest.Frame(record.CodecSnappy, 1, payload)
	var r record.Reader
	var err error
	if got := allocated(func() { err = r.Validate(record.ParseHeader(batch), batch, 1<<40, false) }); got > 1<<20 {
		t.Errorf("allocated %d bytes", got)
	}
	if !errors.Is(err, kerr.CorruptMessage) {
		t.Fatalf("Validate: %v, want CORRUPT_MESSAGE", err)
	}
}

func TestZstdWindowIsBounded(t *testing.T) {
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithWindowSize(64<<20), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	// More than a block, so that the frame declares its window rather than its size.
	if _, err := w.Write(recordtest.Records(recordtest.Record{Key: []byte("k"), Value: make([]byte, 1<<20)})); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	batch := recordtest.Frame(record.CodecZstd, 1, buf.Bytes())
	var r record.Reader
	defer r.Close()
	err = r.Validate(record.ParseHeader(batch), batch, testLimit, false)
	if !errors.Is(err, kerr.CorruptMessage) || !errors.Is(err, zstd.ErrWindowSizeExceeded) {
		t.Fatalf("Validate: %v, want CORRUPT_MESSAGE for a 64 MiB window", err)
	}
}

func TestReaderIsReusable(t *testing.T) {
	var r record.Reader
	defer r.Close()
	for range 3 {
		for _, codec := range recordtest.Codecs() {
			batch := mustBatch(t, codec, 4, recordtest.Records(sample()...))
			if err := r.Validate(record.ParseHeader(batch), batch, testLimit, false); err != nil {
				t.Fatalf("%s: %v", codec.Name, err)
			}
			bad := mustBatch(t, codec, 5, recordtest.Records(sample()...))
			if err := r.Validate(record.ParseHeader(bad), bad, testLimit, false); !errors.Is(err, kerr.CorruptMessage) {
				t.Fatalf("%s: count mismatch: %v", codec.Name, err)
			}
		}
	}
}

func TestCheckFromClient(t *testing.T) {
	batch := mustBatch(t, recordtest.Codecs()[0], 1, recordtest.Records(recordtest.Record{Key: []byte("k")}))
	tests := []struct {
		name string
		edit func(*record.Header)
		want error
	}{
		{"valid", func(*record.Header) {}, nil},
		{"transactional", func(h *record.Header) {
			h.Attributes |= record.TransactionalBit
			h.ProducerID, h.ProducerEpoch, h.BaseSequence = 7, 0, 0
		}, nil},
		{"transactional without producer", func(h *record.Header) { h.Attributes |= record.TransactionalBit }, kerr.InvalidRecord},
		{"control", func(h *record.Header) { h.Attributes |= record.ControlBit }, kerr.InvalidRecord},
		{"last offset delta", func(h *record.Header) { h.LastOffsetDelta = 2 }, kerr.CorruptMessage},
		{"no records", func(h *record.Header) { h.RecordCount, h.LastOffsetDelta = 0, -1 }, kerr.CorruptMessage},
	}
	for _, tt := range tests {
		h := record.ParseHeader(batch)
		tt.edit(&h)
		if err := h.CheckFromClient(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

// FuzzReader feeds the reader arbitrary records sections under every codec and count:
// it must never panic, and every mode must agree on whether the batch is valid.
func FuzzReader(f *testing.F) {
	f.Add(0, int32(4), recordtest.Records(sample()...))
	f.Add(1, int32(1), []byte{0x80, 0x80})
	f.Add(2, int32(3), recordtest.Records(recordtest.Record{Key: []byte("k")}))
	f.Add(3, int32(1), head().varint(-1).varint(-1).varint(1<<30).prefixed())
	f.Add(4, int32(1), bytes.Repeat([]byte{0xff}, 11))
	f.Add(5, int32(2), recordtest.Records(recordtest.Record{}, recordtest.Record{Value: []byte("v")}))
	f.Fuzz(func(t *testing.T, codecIndex int, count int32, records []byte) {
		codecs := recordtest.Codecs()
		codec := codecs[uint(codecIndex)%uint(len(codecs))]
		if count < 0 {
			count = -count
		}
		count %= 1000
		batch, err := recordtest.Batch(codec, count, records)
		if err != nil {
			t.Skip(err)
		}
		h := record.ParseHeader(batch)
		var r record.Reader
		defer r.Close()
		valid := r.Validate(h, batch, 1<<20, false) == nil
		for _, mode := range []record.Mode{record.Skim, record.Keys, record.Whole} {
			r.Reset(h, batch, mode, 1<<20)
			n := int32(0)
			for r.Next() {
				n++
			}
			if (r.Err() == nil) != valid {
				t.Fatalf("mode %d: err %v, Validate said valid=%v", mode, r.Err(), valid)
			}
			if r.Err() == nil && n != count {
				t.Fatalf("mode %d: %d records, header says %d", mode, n, count)
			}
		}
	})
}

// BenchmarkValidate measures what an append spends validating a batch of 10 records of
// 100 bytes, per codec.
func BenchmarkValidate(b *testing.B) {
	var records []recordtest.Record
	for i := range 10 {
		records = append(records, recordtest.Record{Key: []byte(fmt.Sprint("key-", i)), Value: bytes.Repeat([]byte{byte('a' + i)}, 100)})
	}
	for _, codec := range recordtest.Codecs() {
		b.Run(codec.Name, func(b *testing.B) {
			batch := mustBatch(b, codec, int32(len(records)), recordtest.Records(records...))
			h := record.ParseHeader(batch)
			var r record.Reader
			defer r.Close()
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Validate(h, batch, testLimit, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
