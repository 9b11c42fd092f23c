package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testRecord is one record of a keyed test batch: a nil key is no key, a nil value a tombstone.
type testRecord struct{ key, value []byte }

func kv(key, value string) testRecord { return testRecord{[]byte(key), []byte(value)} }
func tombstone(key string) testRecord { return testRecord{key: []byte(key)} }

// keyedSpec describes a batch of keyed records.
type keyedSpec struct {
	records   []testRecord
	timestamp int64 // of the first record; each next one is a millisecond later
	codec     int   // record.CodecNone..codecZstd, or xerialCodec

	producerID    int64
	producerEpoch int16
	baseSequence  int32
}

func keyed(ts int64, records ...testRecord) keyedSpec {
	return keyedSpec{records: records, timestamp: ts, producerID: -1, producerEpoch: -1, baseSequence: -1}
}

// keyedBatch encodes a magic-v2 batch of spec's records with kmsg.
func keyedBatch(t testing.TB, spec keyedSpec) []byte {
	t.Helper()
	var records []byte
	for i, r := range spec.records {
		rec := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Key: r.key, Value: r.value}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1) // the zero length is one varint byte
		records = rec.AppendTo(records)
	}
	payload := compress(t, spec.codec, records)
	codec := spec.codec
	if codec == xerialCodec {
		codec = record.CodecSnappy
	}
	n := len(spec.records)
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1,
		Magic:                2,
		Attributes:           int16(codec),
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       spec.timestamp,
		MaxTimestamp:         spec.timestamp + int64(n-1),
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

// loggedRecord is a record read back from a log.
type loggedRecord struct {
	offset     int64
	key, value string
	tombstone  bool
}

func (r loggedRecord) String() string {
	if r.tombstone {
		return fmt.Sprintf("%d:%s=<tombstone>", r.offset, r.key)
	}
	return fmt.Sprintf("%d:%s=%s", r.offset, r.key, r.value)
}

// decodeKeyedBatch checks a batch read from a log and decodes its records, with kmsg and
// franz-go's decompressors rather than the code under test.
func decodeKeyedBatch(t testing.TB, b []byte) (kmsg.RecordBatch, []loggedRecord) {
	t.Helper()
	if !crcValid(b) {
		t.Fatalf("batch at offset %d fails its CRC", decodeTestHeader(t, b).baseOffset)
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b); err != nil {
		t.Fatalf("decode batch: %v", err)
	}
	payload := rb.Records
	if codec := rb.Attributes & 7; codec != 0 && rb.NumRecords > 0 {
		var err error
		if payload, err = kgo.DefaultDecompressor().Decompress(payload, kgo.CompressionCodecType(codec)); err != nil {
			t.Fatalf("batch at offset %d: decompress: %v", rb.FirstOffset, err)
		}
	}
	var out []loggedRecord
	for range rb.NumRecords {
		length, n := binary.Varint(payload)
		if n <= 0 || int(length) > len(payload)-n {
			t.Fatalf("batch at offset %d: bad record length", rb.FirstOffset)
		}
		var rec kmsg.Record
		if err := rec.ReadFrom(payload[:n+int(length)]); err != nil {
			t.Fatalf("batch at offset %d: decode record: %v", rb.FirstOffset, err)
		}
		payload = payload[n+int(length):]
		if rec.OffsetDelta > rb.LastOffsetDelta {
			t.Fatalf("batch at offset %d: record offset delta %d beyond the last %d", rb.FirstOffset, rec.OffsetDelta, rb.LastOffsetDelta)
		}
		out = append(out, loggedRecord{
			offset: rb.FirstOffset + int64(rec.OffsetDelta), key: string(rec.Key), value: string(rec.Value), tombstone: rec.Value == nil,
		})
	}
	if len(payload) != 0 {
		t.Fatalf("batch at offset %d: %d bytes after its records", rb.FirstOffset, len(payload))
	}
	return rb, out
}

// readBatches reads every batch of the log, in order, as fetches would.
func readBatches(t testing.TB, l *Log) [][]byte {
	t.Helper()
	var out [][]byte
	for off := l.LogStartOffset(); off < l.LogEndOffset(); {
		s, err := l.Read(off, math.MaxInt64, math.MaxInt32)
		if err != nil {
			t.Fatalf("read %d: %v", off, err)
		}
		batches := splitTestBatches(t, readSlice(t, s))
		if len(batches) == 0 {
			break // compaction removed every record from off up to the log end
		}
		out = append(out, batches...)
		off = decodeTestHeader(t, batches[len(batches)-1]).lastOffset + 1
	}
	return out
}

// readRecords reads every record of the log, in order.
func readRecords(t testing.TB, l *Log) []loggedRecord {
	t.Helper()
	var out []loggedRecord
	for _, b := range readBatches(t, l) {
		_, recs := decodeKeyedBatch(t, b)
		out = append(out, recs...)
	}
	for i := 1; i < len(out); i++ {
		if out[i].offset <= out[i-1].offset {
			t.Fatalf("offsets out of order: %v then %v", out[i-1], out[i])
		}
	}
	return out
}

// logModel remembers what was appended to a compacted log: the latest record of each key.
type logModel map[string]loggedRecord

func (m logModel) append(t testing.TB, l *Log, spec keyedSpec) AppendResult {
	t.Helper()
	res := appendT(t, l, keyedBatch(t, spec))
	for i, r := range spec.records {
		if r.key != nil {
			m[string(r.key)] = loggedRecord{offset: res.FirstOffset + int64(i), key: string(r.key), value: string(r.value), tombstone: r.value == nil}
		}
	}
	return res
}

// latest is what a fully compacted log holds, in offset order.
func (m logModel) latest() []loggedRecord {
	out := make([]loggedRecord, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].offset < out[j].offset })
	return out
}

func checkRecords(t testing.TB, got, want []loggedRecord) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("log holds\n%v\nwant\n%v", got, want)
	}
}

// compactedConfig makes compacted logs of several small segments that roll by time only
// when a test advances the clock.
func compactedConfig() Config {
	cfg := smallConfig()
	cfg.Compact, cfg.Delete = true, false
	cfg.SegmentMs = 60_000
	cfg.FileDeleteDelayMs = 60_000 // readers of replaced segments keep their files
	return cfg
}

// roll makes the next append start a new segment, by letting segment.ms pass.
func roll(t testing.TB, l *Log, clock *fakeClock, m logModel) {
	t.Helper()
	before := len(l.loadSegments())
	clock.Advance(61 * time.Second)
	// A key of its own, which no later record supersedes.
	m.append(t, l, keyed(clock.Now().UnixMilli(), kv(fmt.Sprint("~roll", clock.Now().UnixMilli()), "")))
	if after := len(l.loadSegments()); after != before+1 {
		t.Fatalf("%d segments after rolling %d", after, before)
	}
}

const testMapBytes = 64 << 20

func cleanT(t testing.TB, l *Log, now time.Time, force bool) cleanResult {
	t.Helper()
	res, err := l.clean(context.Background(), now, testMapBytes, nil, force)
	if err != nil {
		t.Fatalf("clean: %v", err)
	}
	return res
}

func activeSegment(l *Log) *segment {
	segs := l.loadSegments()
	return segs[len(segs)-1]
}

func segmentBytes(t testing.TB, s *segment) []byte {
	t.Helper()
	b := make([]byte, s.size.Load())
	if _, err := s.log.ReadAt(b, 0); err != nil {
		t.Fatalf("read segment %d: %v", s.baseOffset, err)
	}
	return b
}

func TestCleanKeepsTheLatestRecordOfEachKey(t *testing.T) {
	cfg := compactedConfig()
	clock := newFakeClock()
	dir := t.TempDir()
	l := openLogT(t, dir, cfg, OpenOptions{Now: clock.Now})
	m := logModel{}
	keys := []string{"a", "b", "c", "d", "e"}
	for i := range 80 {
		m.append(t, l, keyed(clock.Now().UnixMilli(),
			kv(keys[i%5], fmt.Sprint("v", i)), kv(keys[(i+2)%5], fmt.Sprint("w", i))))
	}
	roll(t, l, clock, m)
	if n := len(l.loadSegments()); n < 5 {
		t.Fatalf("only %d segments", n)
	}
	leo, active := l.LogEndOffset(), activeSegment(l)
	activeBytes := segmentBytes(t, active)

	res := cleanT(t, l, clock.Now(), false)
	if !res.ran || res.end != active.baseOffset || res.recordsRemoved != 160-len(keys) {
		t.Fatalf("clean result %+v: want it to cover the log up to the active segment at %d", res, active.baseOffset)
	}
	checkRecords(t, readRecords(t, l), m.latest())
	if l.LogEndOffset() != leo || activeSegment(l) != active || !bytes.Equal(segmentBytes(t, active), activeBytes) {
		t.Fatal("the clean touched the active segment or the log end offset")
	}
	if got := l.cleanerCheckpoint.Load(); got != active.baseOffset {
		t.Fatalf("cleaner checkpoint %d, want %d", got, active.baseOffset)
	}

	// A consumer fetching from any offset, retained or not, gets the next retained record.
	want := m.latest()
	for off := int64(0); off < leo; off++ {
		i := sort.Search(len(want), func(i int) bool { return want[i].offset >= off })
		if got := consumeFirst(t, l, off); got != want[i] {
			t.Fatalf("consuming from %d gives %v first, want %v", off, got, want[i])
		}
	}

	// Nothing is dirty any more: the next pass has nothing to do unless forced, and then
	// merges the small cleaned segments.
	if res := cleanT(t, l, clock.Now(), false); res.ran {
		t.Fatalf("clean of a clean log ran: %+v", res)
	}
	res = cleanT(t, l, clock.Now(), true)
	if res.segmentsAfter != 1 || res.segmentsBefore < 4 {
		t.Fatalf("forced clean %+v: want every cleaned segment merged into one", res)
	}
	if n := len(l.loadSegments()); n != 2 {
		t.Fatalf("%d segments after merging, want the merged one and the active one", n)
	}
	checkRecords(t, readRecords(t, l), m.latest())
	if files := segmentFiles(t, dir); len(files) != 2 {
		t.Fatalf("segment files %v after merging", files)
	}

	// The log reads the same after a reopen, which trusts the index files the clean wrote.
	closeLog(t, l)
	indexes := indexFiles(t, dir)
	l = openLogT(t, dir, cfg, OpenOptions{Now: clock.Now, CleanShutdown: true, CleanerCheckpoint: active.baseOffset})
	checkRecords(t, readRecords(t, l), m.latest())
	if got := indexFiles(t, dir); !mapsEqualBytes(got, indexes) {
		t.Fatal("reopening rewrote the index files the clean wrote")
	}
	if got := l.cleanerCheckpoint.Load(); got != active.baseOffset {
		t.Fatalf("cleaner checkpoint %d after reopening, want %d", got, active.baseOffset)
	}
}

// consumeFirst fetches from off one batch at a time, as a consumer does, and returns the
// first record at or after off.
func consumeFirst(t testing.TB, l *Log, off int64) loggedRecord {
	t.Helper()
	for fetch := off; fetch < l.LogEndOffset(); {
		s, err := l.Read(fetch, math.MaxInt64, 1)
		must(t, err)
		batches := splitTestBatches(t, readSlice(t, s))
		if len(batches) == 0 {
			break
		}
		for _, b := range batches {
			rb, recs := decodeKeyedBatch(t, b)
			for _, r := range recs {
				if r.offset >= off {
					return r
				}
			}
			fetch = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
		}
	}
	t.Fatalf("no record at or after %d", off)
	return loggedRecord{}
}

func mapsEqualBytes(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !bytes.Equal(v, w) {
			return false
		}
	}
	return true
}

func TestCleanTombstonesAfterDeleteRetention(t *testing.T) {
	cfg := compactedConfig()
	const retention = time.Hour
	cfg.DeleteRetentionMs = retention.Milliseconds()
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
	m := logModel{}
	ts := clock.Now().UnixMilli()
	m.append(t, l, keyed(ts, kv("gone", "v1")))
	m.append(t, l, keyed(ts, kv("kept", "v1")))
	m.append(t, l, keyed(ts, tombstone("gone")))
	roll(t, l, clock, m)

	first := clock.Now()
	cleanT(t, l, first, false)
	withTombstone := m.latest()
	checkRecords(t, readRecords(t, l), withTombstone)

	// A tombstone written later is first cleaned later, and lasts longer.
	m.append(t, l, keyed(ts, kv("later", "v1")))
	m.append(t, l, keyed(ts, tombstone("later")))
	roll(t, l, clock, m)
	second := first.Add(retention / 2)
	cleanT(t, l, second, false)
	checkRecords(t, readRecords(t, l), m.latest())

	cleanT(t, l, first.Add(retention-time.Millisecond), true)
	checkRecords(t, readRecords(t, l), m.latest())

	cleanT(t, l, first.Add(retention), true)
	delete(m, "gone")
	checkRecords(t, readRecords(t, l), m.latest())

	cleanT(t, l, second.Add(retention), true)
	delete(m, "later")
	checkRecords(t, readRecords(t, l), m.latest())
	for _, r := range readRecords(t, l) {
		if r.tombstone {
			t.Fatalf("tombstone %v survived delete.retention.ms", r)
		}
	}
}

func TestCleanCompressedBatches(t *testing.T) {
	codecs := map[string]int{"gzip": record.CodecGzip, "snappy": record.CodecSnappy, "xerial snappy": xerialCodec, "lz4": record.CodecLz4, "zstd": record.CodecZstd}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			clock := newFakeClock()
			l := openLogT(t, t.TempDir(), compactedConfig(), OpenOptions{Now: clock.Now})
			m := logModel{}
			ts := clock.Now().UnixMilli()
			value := strings.Repeat("x", 40<<10) // spans several lz4 and xerial blocks
			spec := keyed(ts, kv("a", "0"), kv("b", "0"), kv("a", "00"), kv("c", value), kv("d", "0"))
			spec.codec = codec
			m.append(t, l, spec)
			spec = keyed(ts+10, kv("a", "1"), kv("b", "1"))
			spec.codec = codec
			m.append(t, l, spec)
			roll(t, l, clock, m)

			res := cleanT(t, l, clock.Now(), false)
			if res.recordsRemoved != 3 {
				t.Fatalf("removed %d records, want 3", res.recordsRemoved)
			}
			checkRecords(t, readRecords(t, l), m.latest())
			batches := readBatches(t, l)
			rb, recs := decodeKeyedBatch(t, batches[0])
			wantCodec := int16(codec)
			if codec == xerialCodec {
				wantCodec = record.CodecSnappy
				if !(record.FramingOf(rb.Records) == record.SnappyXerial) {
					t.Error("xerial framing not kept")
				}
			}
			if rb.Attributes&7 != wantCodec || rb.FirstOffset != 0 || rb.LastOffsetDelta != 4 || rb.NumRecords != 2 {
				t.Fatalf("rewritten batch: codec %d, offsets %d+%d, %d records; want codec %d, 0+4, 2 records",
					rb.Attributes&7, rb.FirstOffset, rb.LastOffsetDelta, rb.NumRecords, wantCodec)
			}
			if rb.FirstTimestamp != ts || rb.MaxTimestamp != ts+4 {
				t.Fatalf("timestamps %d..%d, want %d..%d", rb.FirstTimestamp, rb.MaxTimestamp, ts, ts+4)
			}
			if recs[0].offset != 3 || recs[0].value != value {
				t.Fatalf("rewritten batch starts with %v", recs[0])
			}
			// The code that finds offsets by timestamp decodes the rewritten batch too.
			off, _, ok, err := l.OffsetForTimestamp(ts + 1)
			if err != nil || !ok || off != 3 {
				t.Fatalf("offset for timestamp %d: %d, %v, %v; want 3", ts+1, off, ok, err)
			}
		})
	}
}

func TestCleanKeepsTheLastBatchOfEachProducer(t *testing.T) {
	cfg := compactedConfig()
	clock := newFakeClock()
	dir := t.TempDir()
	l := openLogT(t, dir, cfg, OpenOptions{Now: clock.Now})
	m := logModel{}
	ts := clock.Now().UnixMilli()
	idem := func(seq int32, records ...testRecord) keyedSpec {
		spec := keyed(ts, records...)
		spec.producerID, spec.producerEpoch, spec.baseSequence = 7, 0, seq
		return spec
	}
	m.append(t, l, idem(0, kv("x", "0")))                                     // superseded, not the producer's last: goes
	last := m.append(t, l, idem(1, kv("a", "0"), kv("b", "0"), kv("c", "0"))) // superseded, but the producer's last
	m.append(t, l, keyed(ts, kv("a", "1"), kv("b", "1"), kv("c", "1"), kv("x", "1")))
	roll(t, l, clock, m)

	cleanT(t, l, clock.Now(), false)
	checkRecords(t, readRecords(t, l), m.latest())
	var kept []int64
	for _, b := range readBatches(t, l) {
		if rb, _ := decodeKeyedBatch(t, b); rb.ProducerID == 7 {
			kept = append(kept, rb.FirstOffset)
			if rb.NumRecords != 0 || rb.LastOffsetDelta != 2 || rb.FirstSequence != 1 || rb.Attributes&7 != 0 {
				t.Fatalf("producer's last batch kept as %+v", rb)
			}
		}
	}
	if !slices.Equal(kept, []int64{last.FirstOffset}) {
		t.Fatalf("batches of producer 7 at %v, want only its last at %d", kept, last.FirstOffset)
	}

	dup := keyedBatch(t, idem(1, kv("a", "0"), kv("b", "0"), kv("c", "0")))
	checkDuplicate := func(l *Log) {
		t.Helper()
		res, err := l.AppendAsLeader(slices.Clone(dup), testEpoch, OriginClient)
		if err != nil || !res.Duplicate || res.FirstOffset != last.FirstOffset || res.LastOffset != last.LastOffset {
			t.Fatalf("resent batch: %+v, %v; want a duplicate of %d-%d", res, err, last.FirstOffset, last.LastOffset)
		}
	}
	checkDuplicate(l)
	// Also when the producer state is rebuilt from the log alone.
	closeLog(t, l)
	snapshots, err := filepath.Glob(filepath.Join(dir, "*.snapshot"))
	must(t, err)
	for _, s := range snapshots {
		must(t, os.Remove(s))
	}
	l = openLogT(t, dir, cfg, OpenOptions{Now: clock.Now})
	checkDuplicate(l)
	if _, err := l.AppendAsLeader(keyedBatch(t, idem(4, kv("y", "0"))), testEpoch, OriginClient); err != nil {
		t.Fatalf("next batch of the producer: %v", err)
	}
}

func TestCleanDropsRecordsWithoutKey(t *testing.T) {
	// A compacted log refuses records without a key, but holds those written
	// before its topic became compacted.
	clock := newFakeClock()
	notYetCompacted := compactedConfig()
	notYetCompacted.Compact = false
	l := openLogT(t, t.TempDir(), notYetCompacted, OpenOptions{Now: clock.Now})
	m := logModel{}
	m.append(t, l, keyed(clock.Now().UnixMilli(), testRecord{value: []byte("no key")}, kv("k", "v")))
	l.UpdateConfig(compactedConfig())
	roll(t, l, clock, m)
	cleanT(t, l, clock.Now(), false)
	checkRecords(t, readRecords(t, l), m.latest())
}

func TestCleanStaysBelowHighWatermarkAndMinCompactionLag(t *testing.T) {
	cfg := compactedConfig()
	cfg.MinCompactionLagMs = time.Hour.Milliseconds()
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
	m := logModel{}
	for i := range 3 {
		m.append(t, l, keyed(clock.Now().UnixMilli(), kv("k", fmt.Sprint(i))))
		roll(t, l, clock, m)
	}
	all := readRecords(t, l)

	// The records are younger than min.compaction.lag.ms.
	if res := cleanT(t, l, clock.Now(), true); res.end != 0 || res.recordsRemoved != 0 {
		t.Fatalf("clean of records within the compaction lag: %+v", res)
	}
	// Old enough, but above the high watermark.
	later := clock.Now().Add(2 * time.Hour)
	l.SetHighWatermark(all[1].offset)
	if res := cleanT(t, l, later, true); res.end > all[1].offset || res.recordsRemoved != 0 {
		t.Fatalf("clean above the high watermark %d: %+v", all[1].offset, res)
	}
	checkRecords(t, readRecords(t, l), all)

	l.SetHighWatermark(l.LogEndOffset())
	cleanT(t, l, later, false)
	checkRecords(t, readRecords(t, l), m.latest())
}

func TestCleanOverSeveralPassesWhenTheKeyMapIsFull(t *testing.T) {
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), compactedConfig(), OpenOptions{Now: clock.Now})
	m := logModel{}
	for i := range 60 {
		m.append(t, l, keyed(clock.Now().UnixMilli(), kv(fmt.Sprint("k", i%20), fmt.Sprint(i))))
	}
	roll(t, l, clock, m)
	end := activeSegment(l).baseOffset
	var ends []int64
	for range 20 {
		res, err := l.clean(context.Background(), clock.Now(), 5*offsetMapEntryOverhead, nil, true)
		must(t, err)
		ends = append(ends, res.end)
		if res.end == end {
			break
		}
	}
	if len(ends) < 3 || ends[len(ends)-1] != end {
		t.Fatalf("cleans ended at %v: want several passes reaching %d", ends, end)
	}
	checkRecords(t, readRecords(t, l), m.latest())
}

func TestRetentionFollowsCleanupPolicy(t *testing.T) {
	for _, policy := range []struct {
		name            string
		compact, delete bool
		deletes         bool
	}{
		{"compact", true, false, false},
		{"compact,delete", true, true, true},
		{"delete", false, true, true},
	} {
		t.Run(policy.name, func(t *testing.T) {
			cfg := smallConfig()
			cfg.Compact, cfg.Delete = policy.compact, policy.delete
			cfg.RetentionMs = 60_000
			clock := newFakeClock()
			l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
			for i := range 20 {
				appendT(t, l, keyedBatch(t, keyed(clock.Now().UnixMilli(), kv(fmt.Sprint(i), strings.Repeat("v", 100)))))
			}
			clock.Advance(2 * time.Minute)
			n, err := l.DeleteExpiredSegments()
			must(t, err)
			if (n > 0) != policy.deletes {
				t.Fatalf("retention deleted %d segments", n)
			}
		})
	}
}

func TestCleanAbortsWhenRetentionRemovedItsSegments(t *testing.T) {
	cfg := compactedConfig()
	clock := newFakeClock()
	dir := t.TempDir()
	l := openLogT(t, dir, cfg, OpenOptions{Now: clock.Now})
	m := logModel{}
	for i := range 40 {
		m.append(t, l, keyed(clock.Now().UnixMilli(), kv(fmt.Sprint("k", i%3), fmt.Sprint(i))))
	}
	roll(t, l, clock, m)

	plan, err := l.planClean(clock.Now())
	must(t, err)
	p := newCleanPass(l, plan, testMapBytes)
	defer p.close()
	end, err := p.buildOffsetMap(context.Background())
	must(t, err)
	groups := groupSegments(plan.segmentsBelow(end), plan.cfg)

	// Meanwhile retention deletes the oldest segment.
	cfg.Delete, cfg.RetentionBytes = true, 0
	l.UpdateConfig(cfg)
	if n, err := l.DeleteExpiredSegments(); err != nil || n == 0 {
		t.Fatalf("retention deleted %d segments: %v", n, err)
	}
	before := readBatches(t, l)
	if _, err := p.cleanGroup(context.Background(), groups[0]); !errors.Is(err, errCleanAborted) {
		t.Fatalf("clean of a deleted segment: %v, want errCleanAborted", err)
	}
	if !slices.EqualFunc(readBatches(t, l), before, bytes.Equal) {
		t.Fatal("an aborted clean changed the log")
	}
	for _, pattern := range []string{"*.cleaned", "*.swap"} {
		if leftovers, _ := filepath.Glob(filepath.Join(dir, pattern)); len(leftovers) > 0 {
			t.Fatalf("aborted clean left %v", leftovers)
		}
	}
}

func TestTruncationBelowTheCleanerCheckpoint(t *testing.T) {
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), compactedConfig(), OpenOptions{Now: clock.Now})
	m := logModel{}
	m.append(t, l, keyed(clock.Now().UnixMilli(), kv("k", "old")))
	for i := range 30 {
		m.append(t, l, keyed(clock.Now().UnixMilli(), kv("x", fmt.Sprint(i))))
	}
	lastX := m["x"].offset
	roll(t, l, clock, m)
	cleanT(t, l, clock.Now(), false)
	if got := l.cleanerCheckpoint.Load(); got != lastX+1 {
		t.Fatalf("cleaner checkpoint %d after a clean, want %d", got, lastX+1)
	}
	// The clean removed the records before lastX: the log now ends where the last one
	// before them did.
	must(t, l.TruncateTo(lastX))
	if got := l.cleanerCheckpoint.Load(); got != l.LogEndOffset() || got > lastX {
		t.Fatalf("cleaner checkpoint %d after truncating to %d, which ended the log at %d", got, lastX, l.LogEndOffset())
	}
	// The record written where the truncated ones were is dirty, and supersedes "old".
	delete(m, "x")
	for key := range m {
		if strings.HasPrefix(key, "~roll") {
			delete(m, key)
		}
	}
	m.append(t, l, keyed(clock.Now().UnixMilli(), kv("k", "new")))
	roll(t, l, clock, m)
	cleanT(t, l, clock.Now(), false)
	checkRecords(t, readRecords(t, l), m.latest())
}

func TestOpenFinishesAnInterruptedSwap(t *testing.T) {
	// A log cleaned once is made of small segments; cleaning it again merges them. Its
	// copy is cleaned a second time, and the merged segment placed in the original as a
	// .swap file, as a crash after the clean committed would leave it.
	cfg := compactedConfig()
	clock := newFakeClock()
	before := filepath.Join(t.TempDir(), "t-0")
	l := openLogT(t, before, cfg, OpenOptions{Now: clock.Now})
	m := logModel{}
	for i := range 60 {
		m.append(t, l, keyed(clock.Now().UnixMilli(), kv(fmt.Sprint("k", i%4), fmt.Sprint(i))))
	}
	roll(t, l, clock, m)
	cleanT(t, l, clock.Now(), false)
	checkpoint := l.cleanerCheckpoint.Load()
	closeLog(t, l)
	beforeSegments := segmentFiles(t, before)
	if len(beforeSegments) < 4 {
		t.Fatalf("only %d segments", len(beforeSegments))
	}

	after := filepath.Join(t.TempDir(), "t-0")
	copyDir(t, before, after)
	l = openLogT(t, after, cfg, OpenOptions{Now: clock.Now, CleanerCheckpoint: checkpoint, HighWatermark: math.MaxInt64})
	cleanT(t, l, clock.Now(), true)
	if got := segmentFiles(t, after); len(got) != 2 {
		t.Fatalf("segments %v after the second clean, want the merged one and the active one", got)
	}
	want := readRecords(t, l)
	closeLog(t, l)
	merged, err := os.ReadFile(filepath.Join(after, beforeSegments[0]))
	must(t, err)

	crashes := map[string]func(dir string){
		"before removing the replaced segments": func(string) {},
		"while removing the replaced segments": func(dir string) {
			must(t, os.Remove(filepath.Join(dir, beforeSegments[1])))
			must(t, os.Remove(filepath.Join(dir, strings.TrimSuffix(beforeSegments[0], ".log")+".index")))
		},
		"after removing the replaced segments": func(dir string) {
			for _, name := range beforeSegments[1 : len(beforeSegments)-1] {
				must(t, os.Remove(filepath.Join(dir, name)))
			}
		},
		// With file.delete.delay.ms, the replaced log files move aside for readers instead,
		// the first one last, just before the swap takes its name.
		"after moving every replaced segment aside": func(dir string) {
			for i, name := range beforeSegments[:len(beforeSegments)-1] {
				must(t, os.Rename(filepath.Join(dir, name), filepath.Join(dir, fmt.Sprintf("%s.%d.deleted", name, i+1))))
			}
		},
	}
	for name, crash := range crashes {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "t-0")
			copyDir(t, before, dir)
			must(t, os.WriteFile(filepath.Join(dir, beforeSegments[0]+".swap"), merged, 0o644))
			crash(dir)
			l := openLogT(t, dir, cfg, OpenOptions{Now: clock.Now})
			checkRecords(t, readRecords(t, l), want)
			if got := segmentFiles(t, dir); len(got) != 2 {
				t.Fatalf("segments %v after finishing the swap, want the merged one and the active one", got)
			}
			for _, pattern := range []string{"*.swap", "*.deleted"} {
				if leftovers, _ := filepath.Glob(filepath.Join(dir, pattern)); len(leftovers) > 0 {
					t.Fatalf("left %v", leftovers)
				}
			}
		})
	}

	t.Run("before the commit", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "t-0")
		copyDir(t, before, dir)
		must(t, os.WriteFile(filepath.Join(dir, beforeSegments[0]+".cleaned"), merged[:len(merged)/2], 0o644))
		l := openLogT(t, dir, cfg, OpenOptions{Now: clock.Now})
		checkRecords(t, readRecords(t, l), want) // the first clean's result: the same records
		if got := segmentFiles(t, dir); !slices.Equal(got, beforeSegments) {
			t.Fatalf("segments %v, want %v", got, beforeSegments)
		}
		if fileExists(filepath.Join(dir, beforeSegments[0]+".cleaned")) {
			t.Fatal(".cleaned file survived opening")
		}
	})
}

func TestReadsConcurrentWithCleaning(t *testing.T) {
	cfg := compactedConfig()
	cfg.SegmentMs = 0 // roll by size only
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
	var batches [][]byte
	for i := range 400 {
		spec := keyed(clock.Now().UnixMilli(), kv(fmt.Sprint("k", i%7), fmt.Sprint(i)), kv(fmt.Sprint("j", i%3), fmt.Sprint(i)))
		if i%3 == 0 {
			spec.codec = record.CodecZstd
		}
		batches = append(batches, keyedBatch(t, spec))
	}
	for _, b := range batches[:100] {
		appendT(t, l, b)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan error, 8)
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for ctx.Err() == nil {
				off := rng.Int64N(l.LogEndOffset())
				s, err := l.Read(off, math.MaxInt64, int32(1+rng.IntN(4096)))
				if err != nil {
					errs <- fmt.Errorf("read %d: %w", off, err)
					return
				}
				if s.Size == 0 {
					continue
				}
				b := make([]byte, s.Size)
				if _, err := s.File.ReadAt(b, s.Pos); err != nil {
					errs <- fmt.Errorf("read slice at %d: %w", off, err)
					return
				}
				if err := checkWholeBatches(b); err != nil {
					errs <- fmt.Errorf("fetch at %d: %w", off, err)
					return
				}
				reads.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() { // appends go on while the cleaner works
		defer wg.Done()
		for _, b := range batches[100:] {
			if ctx.Err() != nil {
				return
			}
			if _, err := l.AppendAsLeader(b, testEpoch, OriginClient); err != nil {
				errs <- fmt.Errorf("append: %w", err)
				return
			}
			l.SetHighWatermark(l.LogEndOffset())
		}
	}()
	cleaned := 0
	for range 5 {
		res, err := l.clean(context.Background(), clock.Now(), testMapBytes, nil, true)
		if err != nil && !errors.Is(err, errCleanAborted) {
			t.Errorf("clean: %v", err)
		}
		cleaned += res.recordsRemoved
	}
	poll.Until(t, waitTimeout, "concurrent reads", func() bool { return reads.Load() >= 200 || len(errs) > 0 })
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if cleaned == 0 {
		t.Error("the cleans removed nothing")
	}
}

// checkWholeBatches checks that b is a run of whole batches with valid checksums.
func checkWholeBatches(b []byte) error {
	for len(b) > 0 {
		if len(b) < 61 {
			return fmt.Errorf("%d trailing bytes", len(b))
		}
		size := 12 + int(binary.BigEndian.Uint32(b[8:]))
		if size > len(b) {
			return fmt.Errorf("torn batch: %d bytes of %d", len(b), size)
		}
		if !crcValid(b[:size]) {
			return errors.New("batch fails its CRC")
		}
		b = b[size:]
	}
	return nil
}

func TestManagerCleansCompactedLogs(t *testing.T) {
	dir := t.TempDir()
	m := newManagerT(t, ManagerConfig{
		Dirs: []string{dir}, BrokerID: 1,
		CleanerEnabled: true,
		CleanerBackoff: 5 * time.Millisecond,
	})
	defer closeManager(t, m)
	cfg := compactedConfig()
	cfg.SegmentMs = 0
	tp := zkpaths.TopicPartition{Topic: "compacted", Partition: 0}
	l, err := m.GetOrCreate(tp, cfg)
	must(t, err)
	var appended []loggedRecord
	for i := range 100 {
		key, value := fmt.Sprint("k", i%5), fmt.Sprint(i)
		res := appendT(t, l, keyedBatch(t, keyed(time.Now().UnixMilli(), kv(key, value))))
		appended = append(appended, loggedRecord{offset: res.FirstOffset, key: key, value: value})
	}
	if len(l.loadSegments()) < 3 {
		t.Fatal("too few segments")
	}
	active := activeSegment(l).baseOffset

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Run(ctx)
	}()
	checkpointed := func() bool {
		data, err := os.ReadFile(filepath.Join(dir, cleanerCheckpointFile))
		if err != nil {
			return false
		}
		offsets, err := parseOffsetCheckpoint(data)
		return err == nil && offsets[tp] == active
	}
	poll.Until(t, waitTimeout, "the cleaner to clean the log and checkpoint it", checkpointed)
	cancel()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return after its context was cancelled")
	}
	// Below the active segment only the latest record of each key is left; the active
	// segment is as it was written.
	below := logModel{}
	var want []loggedRecord
	for _, r := range appended {
		if r.offset < active {
			below[r.key] = r
		} else {
			want = append(want, r)
		}
	}
	want = append(below.latest(), want...)
	checkRecords(t, readRecords(t, l), want)
}

func TestGroupSegments(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 100
	cfg.MaxIndexBytes = 10 * offsetIndexEntrySize
	info := func(base, next, size int64, entries int) segmentInfo {
		return segmentInfo{seg: &segment{baseOffset: base}, nextOffset: next, size: size, offsetEntries: entries}
	}
	segs := []segmentInfo{
		info(0, 10, 40, 1), info(10, 20, 40, 1), info(20, 30, 40, 1), // bytes: 80 fit, 120 do not
		info(30, 40, 100, 1),                                         // full on its own
		info(40, 50, 10, 5), info(50, 60, 10, 5), info(60, 70, 1, 1), // offset index entries: 10 fit, 11 do not
		info(1<<31, 1<<31+10, 1, 0), info(1<<32, 1<<32+1, 1, 0), // offsets too far apart for one segment
	}
	var got [][]int64
	for _, g := range groupSegments(segs, cfg) {
		var bases []int64
		for _, s := range g {
			bases = append(bases, s.seg.baseOffset)
		}
		got = append(got, bases)
	}
	want := [][]int64{{0, 10}, {20}, {30}, {40, 50}, {60, 1 << 31}, {1 << 32}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("groups %v, want %v", got, want)
	}
}

func TestFollowerCopiesACompactedLog(t *testing.T) {
	clock := newFakeClock()
	leader := openLogT(t, t.TempDir(), compactedConfig(), OpenOptions{Now: clock.Now})
	m := logModel{}
	for i := range 120 {
		m.append(t, leader, keyed(clock.Now().UnixMilli(), kv(fmt.Sprint("k", i%6), fmt.Sprint(i))))
	}
	roll(t, leader, clock, m)
	cleanT(t, leader, clock.Now(), false)

	// The follower fetches from its log end, which falls into the gaps compaction left.
	follower := openLogT(t, t.TempDir(), compactedConfig(), OpenOptions{Now: clock.Now})
	for follower.LogEndOffset() < leader.LogEndOffset() {
		s, err := leader.Read(follower.LogEndOffset(), math.MaxInt64, 200)
		must(t, err)
		if _, err := follower.AppendAsFollower(readSlice(t, s)); err != nil {
			t.Fatalf("follower append at %d: %v", follower.LogEndOffset(), err)
		}
	}
	follower.SetHighWatermark(follower.LogEndOffset())
	checkRecords(t, readRecords(t, follower), readRecords(t, leader))
	checkRecords(t, readRecords(t, follower), m.latest())
}

func TestCompactionSettings(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentMs = 1_000
	cfg.MaxCompactionLagMs = 500
	if got := cfg.rollMs(); got != 1_000 {
		t.Errorf("a log that is not compacted rolls after %d ms, want segment.ms", got)
	}
	cfg.Compact = true
	if got := cfg.rollMs(); got != 500 {
		t.Errorf("a compacted log rolls after %d ms, want max.compaction.lag.ms", got)
	}
	cfg.SegmentMs = 0
	if got := cfg.rollMs(); got != 500 {
		t.Errorf("a compacted log without segment.ms rolls after %d ms, want max.compaction.lag.ms", got)
	}

	for name, mutate := range map[string]func(*Config){
		"ratio above 1":      func(c *Config) { c.MinCleanableDirtyRatio = 1.5 },
		"ratio NaN":          func(c *Config) { c.MinCleanableDirtyRatio = math.NaN() },
		"negative retention": func(c *Config) { c.DeleteRetentionMs = -1 },
		"negative min lag":   func(c *Config) { c.MinCompactionLagMs = -1 },
		"zero max lag":       func(c *Config) { c.MaxCompactionLagMs = 0 },
	} {
		c := DefaultConfig()
		mutate(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCleanIsDueByDirtyRatioOrMaxCompactionLag(t *testing.T) {
	cfg := compactedConfig()
	cfg.MinCleanableDirtyRatio = 0.5
	cfg.MaxCompactionLagMs = time.Hour.Milliseconds()
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
	m := logModel{}
	for i := range 40 {
		m.append(t, l, keyed(clock.Now().UnixMilli(), kv(fmt.Sprint("k", i), strings.Repeat("v", 50))))
	}
	roll(t, l, clock, m)
	if res := cleanT(t, l, clock.Now(), false); !res.ran {
		t.Fatal("a log never cleaned is all dirty, yet the clean did not run")
	}

	// A little more, well under half of the log.
	m.append(t, l, keyed(clock.Now().UnixMilli(), kv("k0", "new")))
	written := clock.Now()
	roll(t, l, clock, m)
	plan, err := l.planClean(clock.Now())
	must(t, err)
	if plan.due() || plan.dirtyRatio() >= 0.5 || plan.dirtyBytes == 0 {
		t.Fatalf("due %v with dirty ratio %v", plan.due(), plan.dirtyRatio())
	}
	if res := cleanT(t, l, clock.Now(), false); res.ran {
		t.Fatal("clean ran below min.cleanable.dirty.ratio")
	}
	if res := cleanT(t, l, written.Add(time.Hour+time.Second), false); !res.ran {
		t.Fatal("clean did not run after max.compaction.lag.ms")
	}
	checkRecords(t, readRecords(t, l), m.latest())
}

func TestCompactedLogRefusesRecordsWithoutKey(t *testing.T) {
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), compactedConfig(), OpenOptions{Now: clock.Now})
	keyless := testRecord{value: []byte("v")}
	for _, codec := range []int{record.CodecNone, record.CodecGzip, record.CodecZstd} {
		spec := keyed(clock.Now().UnixMilli(), kv("k", "v"), keyless)
		spec.codec = codec
		_, err := l.AppendAsLeader(keyedBatch(t, spec), 0, OriginClient)
		if !errors.Is(err, kerr.InvalidRecord) {
			t.Errorf("codec %d: append of a record without a key: error %v, want INVALID_RECORD", codec, err)
		}
	}
	if leo := l.LogEndOffset(); leo != 0 {
		t.Fatalf("log end offset %d after refused appends", leo)
	}
	if _, err := l.AppendAsLeader(keyedBatch(t, keyed(clock.Now().UnixMilli(), kv("k", "v"), tombstone("j"))), 0, OriginClient); err != nil {
		t.Fatalf("append of keyed records: %v", err)
	}

	// A log that is not compacted takes records without keys.
	plainLog := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{Now: clock.Now})
	if _, err := plainLog.AppendAsLeader(keyedBatch(t, keyed(clock.Now().UnixMilli(), keyless)), 0, OriginClient); err != nil {
		t.Fatalf("append without a key to a log that is not compacted: %v", err)
	}
}
