package storage

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/kzoo/kzoo/broker/record"
)

type stampedOffset struct{ offset, timestamp int64 }

// TestOffsetForTimestamp checks every timestamp around those of a log against a model, for
// each codec, with small segments (the search crosses segments) and with one large
// segment (it relies on the time index within a segment).
func TestOffsetForTimestamp(t *testing.T) {
	codecs := []struct {
		name  string
		codec int
	}{
		{"none", record.CodecNone},
		{"gzip", record.CodecGzip},
		{"snappy", record.CodecSnappy},
		{"snappy-xerial", xerialCodec},
		{"lz4", record.CodecLz4},
		{"zstd", record.CodecZstd},
	}
	for _, c := range codecs {
		for _, segmentBytes := range []int64{400, 1 << 20} {
			t.Run(fmt.Sprintf("%s/segment.bytes=%d", c.name, segmentBytes), func(t *testing.T) {
				testOffsetForTimestamp(t, c.codec, segmentBytes)
			})
		}
	}
}

func testOffsetForTimestamp(t *testing.T, codec int, segmentBytes int64) {
	cfg := smallConfig()
	cfg.SegmentBytes = segmentBytes
	cfg.RetentionMs = -1
	dir := t.TempDir()
	l := openLogT(t, dir, cfg, OpenOptions{})
	// Timestamps rise overall but jitter within and across batches, so that the answer is
	// often not a batch's first record.
	rng := rand.New(rand.NewPCG(1, uint64(codec)))
	var model []stampedOffset
	for i := range 40 {
		n := 1 + rng.IntN(6)
		spec := plain(n, 0)
		spec.codec = codec
		for j := range n {
			spec.timestamps[j] = int64(10_000+20*i) + rng.Int64N(31) - 15
		}
		res := appendT(t, l, makeBatch(t, spec))
		for j, ts := range spec.timestamps {
			model = append(model, stampedOffset{res.FirstOffset + int64(j), ts})
		}
	}
	if n := len(l.loadSegments()); segmentBytes < 1000 && n < 3 {
		t.Fatalf("%d segments, want several", n)
	}
	if _, times := l.loadSegments()[0].index.counts(); segmentBytes > 1000 && times < 5 {
		t.Fatalf("%d time index entries in the segment, want several", times)
	}

	lo, hi := model[0].timestamp, model[0].timestamp
	for _, m := range model {
		lo, hi = min(lo, m.timestamp), max(hi, m.timestamp)
	}
	check := func(l *Log) {
		t.Helper()
		for ts := lo - 2; ts <= hi+2; ts++ {
			var want stampedOffset
			found := false
			for _, m := range model {
				if m.timestamp >= ts {
					want, found = m, true
					break
				}
			}
			off, gotTs, ok, err := l.OffsetForTimestamp(ts)
			if err != nil {
				t.Fatalf("ts %d: %v", ts, err)
			}
			if ok != found || (found && (off != want.offset || gotTs != want.timestamp)) {
				t.Fatalf("ts %d: got offset %d ts %d found %v, want offset %d ts %d found %v",
					ts, off, gotTs, ok, want.offset, want.timestamp, found)
			}
		}
	}
	check(l)
	closeLog(t, l)
	check(openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true}))
}

func TestFindRecordRejectsCorruptCompressedData(t *testing.T) {
	for _, codec := range []int{record.CodecGzip, record.CodecSnappy, xerialCodec, record.CodecLz4, record.CodecZstd} {
		spec := plain(4, 100)
		spec.codec = codec
		b := makeBatch(t, spec)
		h := record.ParseHeader(b)
		for i := record.HeaderSize + 4; i < len(b); i++ {
			b[i] ^= 0x55
		}
		if _, _, _, err := findRecordAtOrAfter(h, b, 103); err == nil {
			t.Errorf("codec %d: garbled records decoded without error", codec)
		}
	}
}
