package verify

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValueRoundTrip(t *testing.T) {
	v := Value("abc123", 42, 80)
	if len(v) != 80 {
		t.Errorf("len(Value) = %d, want 80", len(v))
	}
	run, seq, ok := decodeValue(v)
	if !ok || run != "abc123" || seq != 42 {
		t.Errorf("decodeValue = %q %d %v, want abc123 42 true", run, seq, ok)
	}
	for _, bad := range []string{"", "x|y|z|w", "kzoo-verify|r|-1|", "kzoo-verify|r|nan|", "kzoo-verify|r|1"} {
		if _, _, ok := decodeValue([]byte(bad)); ok {
			t.Errorf("decodeValue(%q) accepted", bad)
		}
	}
}

func TestCompareAcks(t *testing.T) {
	rec := func(offset, seq int64) logRecord {
		return logRecord{offset: offset, seq: seq, value: Value("r", seq, 0)}
	}
	ack := func(p int32, offset, seq int64) Ack {
		return Ack{Partition: p, Offset: offset, Seq: seq, Value: Value("r", seq, 0)}
	}
	tests := map[string]struct {
		acks []Ack
		logs map[int32][]logRecord
		want Report
	}{
		"all there": {
			acks: []Ack{ack(0, 0, 0), ack(0, 1, 2), ack(1, 0, 1)},
			logs: map[int32][]logRecord{0: {rec(0, 0), rec(1, 2)}, 1: {rec(0, 1)}},
			want: Report{},
		},
		"unacknowledged extra record is fine": {
			acks: []Ack{ack(0, 0, 0)},
			logs: map[int32][]logRecord{0: {rec(0, 0), rec(1, 2)}},
			want: Report{},
		},
		"lost": {
			acks: []Ack{ack(0, 0, 0), ack(0, 1, 2)},
			logs: map[int32][]logRecord{0: {rec(0, 0)}},
			want: Report{Lost: 1},
		},
		"other record at the acknowledged offset": {
			acks: []Ack{ack(0, 1, 2)},
			logs: map[int32][]logRecord{0: {rec(0, 0), rec(1, 4)}},
			want: Report{Lost: 1},
		},
		"duplicated": {
			acks: []Ack{ack(0, 0, 0)},
			logs: map[int32][]logRecord{0: {rec(0, 0), rec(1, 0)}},
			want: Report{Duplicated: 1, Reordered: 1},
		},
		"reordered": {
			acks: []Ack{ack(0, 0, 4), ack(0, 1, 2)},
			logs: map[int32][]logRecord{0: {rec(0, 4), rec(1, 2)}},
			want: Report{Reordered: 1},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var rep Report
			compareAcks(&rep, tc.acks, tc.logs)
			if rep.Lost != tc.want.Lost || rep.Duplicated != tc.want.Duplicated || rep.Reordered != tc.want.Reordered {
				t.Errorf("got lost=%d duplicated=%d reordered=%d, want %d %d %d (%v)",
					rep.Lost, rep.Duplicated, rep.Reordered, tc.want.Lost, tc.want.Duplicated, tc.want.Reordered, rep.Problems)
			}
		})
	}
}

func TestReportString(t *testing.T) {
	got := Report{Acknowledged: 7, Lost: 1}.String()
	if !strings.HasPrefix(got, "acknowledged=7 lost=1 duplicated=0 reordered=0 divergent=0") {
		t.Errorf("String() = %q", got)
	}
}

// fakeBatch returns a v2 batch header and payload covering offsets
// [base, base+n) whose body bytes are fill.
func fakeBatch(base int64, n int32, fill byte) []byte {
	b := make([]byte, batchHeaderSize+10)
	binary.BigEndian.PutUint64(b[0:8], uint64(base))
	binary.BigEndian.PutUint32(b[8:12], uint32(len(b)-batchLengthEnd))
	b[magicPos] = 2
	binary.BigEndian.PutUint32(b[lastOffsetDeltaAt:], uint32(n-1))
	for i := batchHeaderSize; i < len(b); i++ {
		b[i] = fill
	}
	return b
}

func writeSegments(t *testing.T, segments map[string][][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, batches := range segments {
		var data []byte
		for _, b := range batches {
			data = append(data, b...)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestReadBatchesAndDiff(t *testing.T) {
	leader := writeSegments(t, map[string][][]byte{
		"00000000000000000000.log":   {fakeBatch(0, 3, 'a'), fakeBatch(3, 2, 'b')},
		"00000000000000000005.log":   {fakeBatch(5, 5, 'c'), fakeBatch(10, 1, 'd')},
		"00000000000000000000.index": {[]byte("ignored")},
	})
	// Same batches, other segment boundaries, and a torn tail.
	follower := writeSegments(t, map[string][][]byte{
		"00000000000000000000.log": {fakeBatch(0, 3, 'a'), fakeBatch(3, 2, 'b'), fakeBatch(5, 5, 'c'), fakeBatch(10, 1, 'd')[:20]},
	})
	divergent := writeSegments(t, map[string][][]byte{
		"00000000000000000000.log": {fakeBatch(0, 3, 'a'), fakeBatch(3, 2, 'X'), fakeBatch(5, 5, 'c')},
	})

	want, err := readBatches(leader, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 3 || want[2].last != 9 {
		t.Fatalf("leader batches below 10: %+v", want)
	}
	got, err := readBatches(follower, 10)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffBatches(want, got); d != "" {
		t.Errorf("identical replicas differ: %s", d)
	}
	bad, err := readBatches(divergent, 10)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffBatches(want, bad); d == "" {
		t.Error("a replica with other bytes at offset 3 compared equal")
	}
	if _, err := readBatches(follower, 11); err == nil {
		t.Error("a log ending at 10 passed for high watermark 11")
	}
}
