package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/record/recordtest"
	"github.com/twmb/franz-go/pkg/kerr"
)

// appendBatches appends n uncompressed batches of 1 to 4 records and returns the bytes
// written, stamped, in log order.
func appendBatches(t testing.TB, l *Log, n int) [][]byte {
	t.Helper()
	var written [][]byte
	for i := range n {
		b := makeBatch(t, plain(1+i%4, int64(1_000+10*i)))
		appendT(t, l, b)
		written = append(written, b)
	}
	return written
}

// batchHolding returns the written batch holding offset.
func batchHolding(t testing.TB, written [][]byte, offset int64) []byte {
	t.Helper()
	for _, b := range written {
		h := decodeTestHeader(t, b)
		if h.baseOffset <= offset && offset <= h.lastOffset {
			return b
		}
	}
	t.Fatalf("no written batch holds offset %d", offset)
	return nil
}

func TestReadEveryOffsetReturnsTheBatchHoldingIt(t *testing.T) {
	dir := t.TempDir()
	l := openLogT(t, dir, smallConfig(), OpenOptions{})
	written := appendBatches(t, l, 60)
	if n := len(segmentFiles(t, dir)); n < 4 {
		t.Fatalf("%d segments, want several: roll by size did not happen", n)
	}
	leo := l.LogEndOffset()
	for off := int64(0); off < leo; off++ {
		s, err := l.Read(off, leo, 1)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		got := splitTestBatches(t, readSlice(t, s))
		if len(got) != 1 {
			t.Fatalf("read %d with maxBytes 1: %d batches, want exactly 1", off, len(got))
		}
		if want := batchHolding(t, written, off); !bytes.Equal(got[0], want) {
			t.Fatalf("read %d: got batch %+v, want %+v", off, decodeTestHeader(t, got[0]), decodeTestHeader(t, want))
		}
	}
}

func TestReadSlicesCoverTheLogOneSegmentAtATime(t *testing.T) {
	dir := t.TempDir()
	l := openLogT(t, dir, smallConfig(), OpenOptions{})
	written := appendBatches(t, l, 60)
	var all, want []byte
	for _, b := range written {
		want = append(want, b...)
	}
	reads := 0
	for off := int64(0); off < l.LogEndOffset(); reads++ {
		s, err := l.Read(off, math.MaxInt64, math.MaxInt32)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		got := readSlice(t, s)
		batches := splitTestBatches(t, got)
		if len(batches) == 0 {
			t.Fatalf("read %d returned nothing before the log end", off)
		}
		all = append(all, got...)
		off = decodeTestHeader(t, batches[len(batches)-1]).lastOffset + 1
	}
	if !bytes.Equal(all, want) {
		t.Fatalf("reading the log back gave %d bytes differing from the %d written", len(all), len(want))
	}
	if segs := len(segmentFiles(t, dir)); reads != segs {
		t.Fatalf("unbounded reads took %d calls for %d segments: each read must return one whole segment", reads, segs)
	}
}

func TestReadLimits(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{})
	var sizes []int64
	for range 5 {
		b := makeBatch(t, plain(2, 1_000)) // offsets 0-1, 2-3, 4-5, 6-7, 8-9
		appendT(t, l, b)
		sizes = append(sizes, int64(len(b)))
	}
	batchSize := sizes[0]
	tests := []struct {
		name              string
		offset, maxOffset int64
		maxBytes          int32
		wantFirst         int64 // base offset of the first batch, -1 for an empty slice
		wantBatches       int
	}{
		{"at least one batch even if larger than maxBytes", 0, 10, 1, 0, 1},
		{"zero maxBytes still gives one batch", 0, 10, 0, 0, 1},
		{"maxBytes stops before a batch that does not fit", 0, 10, int32(2*batchSize + batchSize/2), 0, 2},
		{"maxBytes exactly fits", 0, 10, int32(3 * batchSize), 0, 3},
		{"offset inside a batch starts with that batch", 3, 10, math.MaxInt32, 2, 4},
		{"stops before the batch reaching maxOffset", 0, 5, math.MaxInt32, 0, 2},
		{"maxOffset on a batch boundary", 0, 6, math.MaxInt32, 0, 3},
		{"first batch reaching maxOffset gives nothing", 4, 5, math.MaxInt32, -1, 0},
		{"offset at maxOffset gives nothing", 6, 6, math.MaxInt32, -1, 0},
		{"offset at the log end gives nothing", 10, 20, math.MaxInt32, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := l.Read(tt.offset, tt.maxOffset, tt.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			batches := splitTestBatches(t, readSlice(t, s))
			if len(batches) != tt.wantBatches {
				t.Fatalf("got %d batches, want %d", len(batches), tt.wantBatches)
			}
			if tt.wantFirst >= 0 {
				if got := decodeTestHeader(t, batches[0]).baseOffset; got != tt.wantFirst {
					t.Fatalf("first batch at %d, want %d", got, tt.wantFirst)
				}
			}
		})
	}
}

func TestReadOutOfRange(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionBytes = 0
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
	appendBatches(t, l, 30)
	if _, err := l.DeleteExpiredSegments(); err != nil {
		t.Fatal(err)
	}
	start, end := l.LogStartOffset(), l.LogEndOffset()
	if start == 0 {
		t.Fatal("retention deleted nothing")
	}
	for _, off := range []int64{-1, 0, start - 1, end + 1, math.MaxInt64} {
		if _, err := l.Read(off, math.MaxInt64, 1000); !errors.Is(err, kerr.OffsetOutOfRange) {
			t.Errorf("read %d of [%d, %d]: got %v, want OFFSET_OUT_OF_RANGE", off, start, end, err)
		}
	}
	if _, err := l.Read(start, math.MaxInt64, 1000); err != nil {
		t.Errorf("read at log start: %v", err)
	}
}

func TestAppendChangesOnlyBaseOffsetAndLeaderEpoch(t *testing.T) {
	l := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})
	appendBatches(t, l, 3) // so that the batch below does not start at 0
	for _, codec := range []int{record.CodecNone, record.CodecGzip, record.CodecZstd} {
		spec := plain(5, 2_000)
		spec.codec = codec
		original := makeBatch(t, spec)
		records := bytes.Clone(original)
		first := l.LogEndOffset()
		res, err := l.AppendAsLeader(records, 42, OriginClient)
		if err != nil {
			t.Fatal(err)
		}
		if res.FirstOffset != first || res.LastOffset != first+4 || res.RecordCount != 5 || res.LogAppendTime != -1 {
			t.Fatalf("codec %d: result %+v, want offsets %d-%d, 5 records, no append time", codec, res, first, first+4)
		}
		s, err := l.Read(first, math.MaxInt64, 1)
		must(t, err)
		stored := readSlice(t, s)
		if !bytes.Equal(stored, records) {
			t.Fatalf("codec %d: stored bytes differ from the stamped request", codec)
		}
		if got := int64(binary.BigEndian.Uint64(stored[0:])); got != first {
			t.Fatalf("codec %d: base offset %d, want %d", codec, got, first)
		}
		if got := int32(binary.BigEndian.Uint32(stored[12:])); got != 42 {
			t.Fatalf("codec %d: leader epoch %d, want 42", codec, got)
		}
		if !bytes.Equal(stored[8:12], original[8:12]) || !bytes.Equal(stored[16:], original[16:]) {
			t.Fatalf("codec %d: bytes other than base offset and leader epoch changed", codec)
		}
		if !crcValid(stored) {
			t.Fatalf("codec %d: stored batch fails its CRC", codec)
		}
	}
}

func TestAppendWithLogAppendTime(t *testing.T) {
	cfg := smallConfig()
	cfg.LogAppendTime = true
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
	original := makeBatch(t, plain(3, 5))
	records := bytes.Clone(original)
	res, err := l.AppendAsLeader(records, 1, OriginClient)
	must(t, err)
	now := clock.Now().UnixMilli()
	if res.LogAppendTime != now {
		t.Fatalf("log append time %d, want %d", res.LogAppendTime, now)
	}
	stored := readSlice(t, must2(l.Read(0, math.MaxInt64, 1)))
	if got := int64(binary.BigEndian.Uint64(stored[35:])); got != now {
		t.Fatalf("max timestamp %d, want the append time %d", got, now)
	}
	if attrs := binary.BigEndian.Uint16(stored[21:]); attrs&0x08 == 0 {
		t.Fatalf("attributes %#x lack the log append time bit", attrs)
	}
	if !crcValid(stored) {
		t.Fatal("CRC not recomputed after setting the append time")
	}
	if !bytes.Equal(stored[23:35], original[23:35]) || !bytes.Equal(stored[43:], original[43:]) {
		t.Fatal("bytes other than offset, epoch, attributes, max timestamp and CRC changed")
	}
	off, ts, ok, err := l.OffsetForTimestamp(now)
	if err != nil || !ok || off != 0 || ts != now {
		t.Fatalf("OffsetForTimestamp(%d) = %d, %d, %v, %v; want 0, %d, true", now, off, ts, ok, err, now)
	}
}

func must2[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestAppendRejectsBadBatches(t *testing.T) {
	good := func() []byte { return makeBatch(t, plain(3, 1_000)) }
	recrc := func(b []byte) []byte {
		binary.BigEndian.PutUint32(b[17:], crc32Of(b))
		return b
	}
	tests := []struct {
		name    string
		records func() []byte
		want    error
	}{
		{"flipped payload byte", func() []byte { b := good(); b[len(b)-3] ^= 0xff; return b }, kerr.CorruptMessage},
		{"flipped crc", func() []byte { b := good(); b[18] ^= 0x01; return b }, kerr.CorruptMessage},
		{"torn batch", func() []byte { b := good(); return b[:len(b)-1] }, kerr.CorruptMessage},
		{"torn header", func() []byte { return good()[:40] }, kerr.CorruptMessage},
		{"trailing garbage", func() []byte { return append(good(), 1, 2, 3) }, kerr.CorruptMessage},
		{"length below a header", func() []byte { b := good(); binary.BigEndian.PutUint32(b[8:], 10); return b }, kerr.CorruptMessage},
		{"length past the end", func() []byte { b := good(); binary.BigEndian.PutUint32(b[8:], 1<<30); return b }, kerr.CorruptMessage},
		{"magic 1", func() []byte { b := good(); b[16] = 1; return b }, kerr.CorruptMessage},
		{"record count disagrees with last offset delta", func() []byte {
			b := good()
			binary.BigEndian.PutUint32(b[57:], 7)
			return recrc(b)
		}, kerr.CorruptMessage},
		{"no records", func() []byte {
			b := good()
			binary.BigEndian.PutUint32(b[57:], 0)
			binary.BigEndian.PutUint32(b[23:], 0xffffffff)
			return recrc(b)
		}, kerr.CorruptMessage},
		{"control batch from a client", func() []byte {
			b := good()
			binary.BigEndian.PutUint16(b[21:], 0x20)
			return recrc(b)
		}, kerr.InvalidRecord},
		{"unknown codec", func() []byte {
			b := good()
			binary.BigEndian.PutUint16(b[21:], 6)
			return recrc(b)
		}, kerr.CorruptMessage},
		{"too large", func() []byte { spec := plain(3, 0); spec.valueSize = 400; return makeBatch(t, spec) }, kerr.MessageTooLarge},
		{"declares 3 records, holds 1", func() []byte {
			return recordtest.Frame(record.CodecNone, 3, recordtest.Records(recordtest.Record{Key: []byte("k")}))
		}, kerr.CorruptMessage},
		{"declares 3 compressed records, holds 1", func() []byte {
			b, err := recordtest.Batch(recordtest.Codecs()[5], 3, recordtest.Records(recordtest.Record{Key: []byte("k")}))
			must(t, err)
			return b
		}, kerr.CorruptMessage},
		{"record longer than its fields", func() []byte {
			records := recordtest.Records(recordtest.Record{Key: []byte("k")})
			records[0] += 2 // the zigzag length prefix, one more than the fields
			return recordtest.Frame(record.CodecNone, 1, append(records, 0))
		}, kerr.CorruptMessage},
		{"good batch then a bad one", func() []byte { b := good(); bad := good(); bad[70] ^= 1; return append(b, bad...) }, kerr.CorruptMessage},
	}
	cfg := smallConfig()
	cfg.MaxMessageBytes = 1000
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{})
	appendBatches(t, l, 2)
	leo, size := l.LogEndOffset(), l.Size()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := l.AppendAsLeader(tt.records(), testEpoch, OriginClient)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if l.LogEndOffset() != leo || l.Size() != size {
				t.Fatalf("rejected append changed the log: end %d size %d, was %d and %d", l.LogEndOffset(), l.Size(), leo, size)
			}
		})
	}
	appendT(t, l, good()) // the log is still usable
}

func crc32Of(b []byte) uint32 {
	return crcChecksum(b[21:])
}

func TestAppendSeveralBatchesInOneRequest(t *testing.T) {
	l := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})
	appendBatches(t, l, 1) // offset 0
	var records []byte
	for i := range 3 {
		records = append(records, makeBatch(t, plain(i+1, 100))...)
	}
	res, err := l.AppendAsLeader(records, 9, OriginClient)
	must(t, err)
	if res.FirstOffset != 1 || res.LastOffset != 6 || res.RecordCount != 6 {
		t.Fatalf("result %+v, want offsets 1-6 and 6 records", res)
	}
	wantBases := []int64{1, 2, 4}
	for i, b := range splitTestBatches(t, records) {
		if h := decodeTestHeader(t, b); h.baseOffset != wantBases[i] || h.leaderEpoch != 9 {
			t.Fatalf("batch %d stamped %+v, want base %d epoch 9", i, h, wantBases[i])
		}
	}
	if l.LogEndOffset() != 7 {
		t.Fatalf("log end %d, want 7", l.LogEndOffset())
	}
}

func TestIndexWrittenByAppendsIsTheOneRebuiltFromTheLog(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 4096
	dir := t.TempDir()
	l, err := Open(dir, cfg, OpenOptions{})
	must(t, err)
	var written [][]byte
	for i := range 30 {
		var records []byte
		for j := range 1 + i%3 {
			records = append(records, makeBatch(t, plain(1+j, int64(100*i+j)))...)
		}
		appendT(t, l, records)
		written = append(written, splitTestBatches(t, records)...)
	}
	for off := int64(0); off < l.LogEndOffset(); off++ {
		if got := readSlice(t, must2(l.Read(off, math.MaxInt64, 1))); !bytes.Equal(got, batchHolding(t, written, off)) {
			t.Fatalf("read %d: wrong batch", off)
		}
	}
	closeLog(t, l)
	want := indexFiles(t, dir)
	dropped := t.TempDir()
	copyDir(t, dir, dropped)
	for name := range want {
		must(t, os.Remove(filepath.Join(dropped, name)))
	}
	openLogT(t, dropped, cfg, OpenOptions{CleanShutdown: true})
	got := indexFiles(t, dropped)
	for name, data := range want {
		if !bytes.Equal(got[name], data) {
			t.Fatalf("%s written by appends differs from the one rebuilt from the log", name)
		}
	}
}

func TestRollBySize(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l := openLogT(t, dir, cfg, OpenOptions{})
	appendBatches(t, l, 40)
	segs := l.loadSegments()
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	for i, s := range segs {
		if s.size.Load() > cfg.SegmentBytes {
			t.Errorf("segment %d holds %d bytes, over segment.bytes %d", s.baseOffset, s.size.Load(), cfg.SegmentBytes)
		}
		if i > 0 && s.baseOffset != segs[i-1].nextOffset {
			t.Errorf("segment %d does not start where segment %d ends (%d)", s.baseOffset, segs[i-1].baseOffset, segs[i-1].nextOffset)
		}
		first := readSlice(t, must2(l.Read(s.baseOffset, math.MaxInt64, 1)))
		if s.size.Load() > 0 && decodeTestHeader(t, first).baseOffset != s.baseOffset {
			t.Errorf("segment %d does not start with the batch at its base offset", s.baseOffset)
		}
	}
	// A batch larger than segment.bytes goes alone into a segment of its own.
	spec := plain(2, 0)
	spec.valueSize = 2_000
	res := appendT(t, l, makeBatch(t, spec))
	last := l.loadSegments()[len(l.loadSegments())-1]
	if last.baseOffset != res.FirstOffset {
		t.Fatalf("oversized batch at %d written to segment %d", res.FirstOffset, last.baseOffset)
	}
}

func TestRollByTime(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.SegmentMs = 60_000
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
	appendT(t, l, makeBatch(t, plain(1, clock.Now().UnixMilli())))
	clock.Advance(time.Minute)
	appendT(t, l, makeBatch(t, plain(1, clock.Now().UnixMilli())))
	if n := len(l.loadSegments()); n != 1 {
		t.Fatalf("rolled after exactly segment.ms: %d segments", n)
	}
	clock.Advance(time.Millisecond)
	res := appendT(t, l, makeBatch(t, plain(1, clock.Now().UnixMilli())))
	segs := l.loadSegments()
	if len(segs) != 2 || segs[1].baseOffset != res.FirstOffset {
		t.Fatalf("%d segments (last at %d) after segment.ms passed, want a new one at %d", len(segs), segs[len(segs)-1].baseOffset, res.FirstOffset)
	}
	// Old CreateTime timestamps (a producer replaying history) do not roll every append.
	for range 3 {
		appendT(t, l, makeBatch(t, plain(1, 1)))
	}
	if n := len(l.loadSegments()); n != 2 {
		t.Fatalf("old record timestamps rolled segments: %d segments", n)
	}
}

func TestRollByTimeWithJitter(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.SegmentMs = 60_000
	cfg.SegmentJitterMs = 60_000
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
	appendT(t, l, makeBatch(t, plain(1, clock.Now().UnixMilli())))
	appendT(t, l, makeBatch(t, plain(1, clock.Now().UnixMilli()))) // the first roll check draws the jitter
	jitter := l.loadSegments()[0].rollJitterMs
	if jitter < 0 || jitter >= cfg.SegmentMs {
		t.Fatalf("segment jitter %d ms, want one in [0, %d)", jitter, cfg.SegmentMs)
	}
	clock.Advance(time.Duration(cfg.SegmentMs-jitter) * time.Millisecond)
	appendT(t, l, makeBatch(t, plain(1, clock.Now().UnixMilli())))
	if n := len(l.loadSegments()); n != 1 {
		t.Fatalf("rolled after exactly segment.ms minus its jitter (%d ms): %d segments", jitter, n)
	}
	clock.Advance(time.Millisecond)
	appendT(t, l, makeBatch(t, plain(1, clock.Now().UnixMilli())))
	if n := len(l.loadSegments()); n != 2 {
		t.Fatalf("%d segments once segment.ms minus its jitter (%d ms) passed, want 2", n, jitter)
	}
}

func TestRollJitterStaysBelowTheRollTime(t *testing.T) {
	cfg := DefaultConfig()
	if j := cfg.rollJitterMs(); j != 0 {
		t.Fatalf("jitter %d ms without segment.jitter.ms", j)
	}
	cfg.SegmentMs, cfg.SegmentJitterMs = 5, 1_000
	for range 100 {
		if j := cfg.rollJitterMs(); j < 0 || j >= cfg.SegmentMs {
			t.Fatalf("jitter %d ms, want one in [0, segment.ms=%d)", j, cfg.SegmentMs)
		}
	}
}

func TestRollWhenIndexIsFull(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 0 // an entry for every batch but the first
	cfg.MaxIndexBytes = 40     // 5 offset entries, 3 time entries
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{})
	appendBatches(t, l, 12)
	segs := l.loadSegments()
	if len(segs) < 3 {
		t.Fatalf("%d segments: segment.index.bytes did not roll", len(segs))
	}
	for _, s := range segs {
		offsets, times := s.index.counts()
		if offsets > cfg.maxOffsetIndexEntries() || times > cfg.maxTimeIndexEntries() {
			t.Errorf("segment %d has %d offset and %d time entries, over %d bytes", s.baseOffset, offsets, times, cfg.MaxIndexBytes)
		}
	}
}

func TestAppendAsFollower(t *testing.T) {
	leader := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})
	written := appendBatches(t, leader, 20)
	follower := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})

	other := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})
	must2(other.AppendAsFollower(bytes.Clone(written[0])))
	if _, err := other.AppendAsFollower(bytes.Clone(written[0])); !errors.Is(err, ErrUnexpectedOffset) {
		t.Fatalf("append below the log end: got %v", err)
	}
	bad := bytes.Clone(written[0])
	bad[len(bad)-1] ^= 1
	if _, err := follower.AppendAsFollower(bad); !errors.Is(err, kerr.CorruptMessage) {
		t.Fatalf("append with a bad CRC: got %v", err)
	}
	for i := 0; i < len(written); i += 3 {
		var records []byte
		for _, b := range written[i:min(i+3, len(written))] {
			records = append(records, b...)
		}
		res, err := follower.AppendAsFollower(bytes.Clone(records))
		must(t, err)
		if want := decodeTestHeader(t, written[i]).baseOffset; res.FirstOffset != want {
			t.Fatalf("follower append at %d, want %d", res.FirstOffset, want)
		}
	}
	if follower.LogEndOffset() != leader.LogEndOffset() {
		t.Fatalf("follower ends at %d, leader at %d", follower.LogEndOffset(), leader.LogEndOffset())
	}
	for off := int64(0); off < leader.LogEndOffset(); off++ {
		got := readSlice(t, must2(follower.Read(off, math.MaxInt64, 1)))
		if !bytes.Equal(got, batchHolding(t, written, off)) {
			t.Fatalf("follower batch at %d differs from the leader's", off)
		}
	}
}

func TestFlushAdvancesRecoveryPoint(t *testing.T) {
	l := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})
	appendBatches(t, l, 10)
	if l.RecoveryPoint() != 0 {
		t.Fatalf("recovery point %d before any flush", l.RecoveryPoint())
	}
	must(t, l.Flush())
	if l.RecoveryPoint() != l.LogEndOffset() {
		t.Fatalf("recovery point %d after flush, want %d", l.RecoveryPoint(), l.LogEndOffset())
	}

	cfg := smallConfig()
	cfg.FlushMessages = 5
	l = openLogT(t, t.TempDir(), cfg, OpenOptions{})
	appendT(t, l, makeBatch(t, plain(4, 0)))
	if l.RecoveryPoint() != 0 {
		t.Fatalf("flushed after 4 of flush.messages=5")
	}
	appendT(t, l, makeBatch(t, plain(1, 0)))
	if l.RecoveryPoint() != 5 {
		t.Fatalf("recovery point %d after 5 messages with flush.messages=5, want 5", l.RecoveryPoint())
	}
}

func TestFlushIfDue(t *testing.T) {
	cfg := smallConfig()
	cfg.FlushMs = 1_000
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
	appendBatches(t, l, 3)
	must(t, l.flushIfDue(clock.Now().Add(999*time.Millisecond)))
	if l.RecoveryPoint() != 0 {
		t.Fatal("flushed before flush.ms passed")
	}
	must(t, l.flushIfDue(clock.Now().Add(time.Second)))
	if l.RecoveryPoint() != l.LogEndOffset() {
		t.Fatal("not flushed once flush.ms passed")
	}
}

func TestConcurrentReadsDuringAppends(t *testing.T) {
	l := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})
	const batches = 300
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for {
				select {
				case <-done:
					return
				default:
				}
				end := l.LogEndOffset()
				if end == 0 {
					continue
				}
				off := rng.Int64N(end)
				s, err := l.Read(off, end, 512)
				if err != nil {
					errs <- err
					return
				}
				b := make([]byte, s.Size)
				if _, err := s.File.ReadAt(b, s.Pos); err != nil {
					errs <- err
					return
				}
				first := record.ParseHeader(b)
				if first.BaseOffset > off || first.LastOffset() < off || !crcValid(b[:first.Size()]) {
					errs <- errors.New("read returned a batch not holding the offset or failing its CRC")
					return
				}
			}
		}()
	}
	for i := range batches {
		appendT(t, l, makeBatch(t, plain(1+i%3, int64(i))))
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestAppendNeverPanicsOnGarbage(t *testing.T) {
	l := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})
	rng := rand.New(rand.NewPCG(3, 4))
	valid := makeBatch(t, idempotent(3, 1, 0, 0))
	known := []error{kerr.CorruptMessage, kerr.InvalidRecord, kerr.MessageTooLarge, kerr.OutOfOrderSequenceNumber, kerr.InvalidProducerEpoch}
	for i := range 3000 {
		var records []byte
		switch i % 3 {
		case 0: // random bytes
			records = make([]byte, rng.IntN(200))
			for j := range records {
				records[j] = byte(rng.UintN(256))
			}
		case 1: // a valid batch with a few bytes changed
			records = bytes.Clone(valid)
			for range 1 + rng.IntN(3) {
				records[rng.IntN(len(records))] = byte(rng.UintN(256))
			}
		case 2: // a valid batch cut anywhere
			records = bytes.Clone(valid[:rng.IntN(len(valid))])
		}
		end := l.LogEndOffset()
		_, err := l.AppendAsLeader(records, testEpoch, OriginClient)
		if err == nil {
			continue
		}
		if !slices.ContainsFunc(known, func(k error) bool { return errors.Is(err, k) }) {
			t.Fatalf("input %x: error %v is not a Kafka error", records, err)
		}
		if l.LogEndOffset() != end {
			t.Fatal("rejected input changed the log")
		}
	}
}
