package storage

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/kzoo/kzoo/zkpaths"
	"github.com/twmb/franz-go/pkg/kerr"
)

// midSegmentOffset returns an offset strictly inside the segment at index i of l (neither
// its base nor its last offset), so that advancing to it deletes the segments before i
// and keeps i.
func midSegmentOffset(t *testing.T, l *Log, i int) int64 {
	t.Helper()
	segs := l.loadSegments()
	if i+1 >= len(segs) {
		t.Fatalf("log has %d segments, want more than %d", len(segs), i+1)
	}
	base, next := segs[i].baseOffset, segs[i+1].baseOffset
	if next-base < 3 {
		t.Fatalf("segment %d holds offsets %d to %d, too few to advance into", i, base, next-1)
	}
	return base + (next-base)/2
}

func TestAdvanceLogStartOffset(t *testing.T) {
	dir := t.TempDir()
	l := openLogT(t, dir, smallConfig(), OpenOptions{})
	appendBatches(t, l, 60)
	before := l.loadSegments()
	if len(before) < 4 {
		t.Fatalf("%d segments, want at least 4", len(before))
	}
	hw := before[len(before)-1].baseOffset + 1
	l.SetHighWatermark(hw)

	// Past the high watermark: refused, nothing changes.
	if _, err := l.AdvanceLogStartOffset(hw + 1); !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Fatalf("advance past the high watermark %d: %v, want OFFSET_OUT_OF_RANGE", hw, err)
	}
	if l.LogStartOffset() != 0 || len(l.loadSegments()) != len(before) {
		t.Fatalf("a refused advance moved the start to %d or deleted segments", l.LogStartOffset())
	}

	// Into the third segment: the first two go, the third stays with its early records
	// unreadable.
	target := midSegmentOffset(t, l, 2)
	start, err := l.AdvanceLogStartOffset(target)
	if err != nil || start != target || l.LogStartOffset() != target {
		t.Fatalf("advance to %d: start %d (LogStartOffset %d), %v", target, start, l.LogStartOffset(), err)
	}
	after := l.loadSegments()
	if len(after) != len(before)-2 || after[0] != before[2] {
		t.Fatalf("%d segments left of %d: want the two wholly below %d deleted, the one holding it kept", len(after), len(before), target)
	}
	for _, s := range before[:2] {
		if fileExists(segmentPath(dir, s.baseOffset, logFileSuffix)) {
			t.Errorf("segment %d wholly below the start still on disk", s.baseOffset)
		}
	}
	for _, offset := range []int64{target - 1, before[2].baseOffset, 0} {
		if _, err := l.Read(offset, math.MaxInt64, 100); !errors.Is(err, kerr.OffsetOutOfRange) {
			t.Errorf("read at %d below the start %d: %v, want OFFSET_OUT_OF_RANGE", offset, target, err)
		}
	}
	slice, err := l.Read(target, math.MaxInt64, 100)
	must(t, err)
	if h := decodeTestHeader(t, readSlice(t, slice)); h.baseOffset > target || h.lastOffset < target {
		t.Fatalf("read at the start %d returned the batch of offsets %d to %d", target, h.baseOffset, h.lastOffset)
	}
	if offset, _, ok, err := l.OffsetForTimestamp(0); err != nil || !ok || offset != target {
		t.Fatalf("first offset by timestamp: %d, %t, %v; want the log start %d", offset, ok, err, target)
	}

	// Lower or equal: a no-op that reports the current start.
	for _, lower := range []int64{0, target - 1, target} {
		if start, err := l.AdvanceLogStartOffset(lower); err != nil || start != target {
			t.Fatalf("advance to %d below the start %d: %d, %v; want a no-op", lower, target, start, err)
		}
	}

	// Up to the high watermark, inside the active segment: every older segment goes, the
	// active one stays.
	if start, err := l.AdvanceLogStartOffset(hw); err != nil || start != hw {
		t.Fatalf("advance to the high watermark %d: %d, %v", hw, start, err)
	}
	if segs := l.loadSegments(); len(segs) != 1 || segs[0] != before[len(before)-1] {
		t.Fatalf("%d segments left after advancing into the active one, want it alone", len(segs))
	}
	if l.HighWatermark() != hw || l.LogEndOffset() != before[len(before)-1].nextOffset {
		t.Fatalf("advancing the start moved the high watermark to %d or the end to %d", l.HighWatermark(), l.LogEndOffset())
	}
	// Appends go on after it.
	appendBatches(t, l, 1)

	// A truncation below the start brings the start down with it.
	must(t, l.TruncateTo(hw-1))
	if l.LogStartOffset() != hw-1 || l.LogEndOffset() != hw-1 {
		t.Fatalf("after truncating to %d: start %d, end %d; want both at %d", hw-1, l.LogStartOffset(), l.LogEndOffset(), hw-1)
	}
}

func TestLogStartOffsetOnClosedLog(t *testing.T) {
	l, err := Open(t.TempDir(), smallConfig(), OpenOptions{})
	must(t, err)
	appendBatches(t, l, 3)
	closeLog(t, l)
	if _, err := l.AdvanceLogStartOffset(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("advance on a closed log: %v, want ErrClosed", err)
	}
}

// TestLogStartOffsetSurvivesRestart checks that a managed log writes its new start to the
// log-start-offset-checkpoint before AdvanceLogStartOffset returns, so that neither a
// crash nor a clean restart brings the deleted records back.
func TestLogStartOffsetSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	cfg := ManagerConfig{Dirs: []string{dir}, BrokerID: 1}
	tp, other := zkpaths.TopicPartition{Topic: "purged", Partition: 0}, zkpaths.TopicPartition{Topic: "untouched", Partition: 0}
	m := newManagerT(t, cfg)
	l, err := m.GetOrCreate(tp, smallConfig())
	must(t, err)
	appendBatches(t, l, 40)
	o, err := m.GetOrCreate(other, smallConfig())
	must(t, err)
	appendBatches(t, o, 40)
	target := midSegmentOffset(t, l, 1)
	if _, err := l.AdvanceLogStartOffset(target); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "log-start-offset-checkpoint"))
	must(t, err)
	starts, err := parseOffsetCheckpoint(data)
	must(t, err)
	// As Kafka: only the logs whose start is not their first segment's base.
	if len(starts) != 1 || starts[tp] != target {
		t.Fatalf("log-start-offset-checkpoint holds %v, want %s at %d only", starts, tp, target)
	}

	reopen := func(what string) {
		t.Helper()
		m = newManagerT(t, cfg)
		l, err = m.GetOrCreate(tp, smallConfig())
		must(t, err)
		if l.LogStartOffset() != target {
			t.Fatalf("after %s: log start %d, want %d", what, l.LogStartOffset(), target)
		}
		if _, err := l.Read(target-1, math.MaxInt64, 100); !errors.Is(err, kerr.OffsetOutOfRange) {
			t.Fatalf("after %s: read below the start: %v, want OFFSET_OUT_OF_RANGE", what, err)
		}
		if l.HighWatermark() < target {
			t.Fatalf("after %s: high watermark %d below the log start %d", what, l.HighWatermark(), target)
		}
	}
	crash(t, m)
	reopen("a crash")
	// Not opened in this run: its checkpoint entry must survive the next write.
	closeManager(t, m)
	reopen("a clean restart without opening it")
	closeManager(t, m)
	reopen("a second clean restart")
	closeManager(t, m)
}

// TestRestoreLogStartDeletesSegmentsBelowIt covers a crash between the checkpoint write
// and the deletion of the segments below the new start: the next open deletes them.
func TestRestoreLogStartDeletesSegmentsBelowIt(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, smallConfig(), OpenOptions{})
	must(t, err)
	appendBatches(t, l, 40)
	target := midSegmentOffset(t, l, 2)
	first := l.loadSegments()[2].baseOffset
	end := l.LogEndOffset()
	must(t, l.Flush())
	closeLog(t, l)

	l = openLogT(t, dir, smallConfig(), OpenOptions{CleanShutdown: true, LogStartOffset: target, HighWatermark: end})
	if l.LogStartOffset() != target || l.loadSegments()[0].baseOffset != first {
		t.Fatalf("reopened with start %d: start %d, first segment %d; want %d and %d", target, l.LogStartOffset(), l.loadSegments()[0].baseOffset, target, first)
	}
	if got := segmentFiles(t, dir); len(got) != len(l.loadSegments()) {
		t.Fatalf("segment files %v left on disk, want only the %d segments from %d on", got, len(l.loadSegments()), first)
	}

	// A checkpointed start beyond the log (recovery cut it shorter) stops at its end.
	dir2 := t.TempDir()
	l2, err := Open(dir2, smallConfig(), OpenOptions{})
	must(t, err)
	appendBatches(t, l2, 3)
	end2 := l2.LogEndOffset()
	closeLog(t, l2)
	l2 = openLogT(t, dir2, smallConfig(), OpenOptions{LogStartOffset: end2 + 100})
	if l2.LogStartOffset() != end2 {
		t.Fatalf("start checkpointed past the end %d: opened with start %d, want the end", end2, l2.LogStartOffset())
	}
}

func TestManagerLogDirs(t *testing.T) {
	root := t.TempDir()
	dirs := []string{filepath.Join(root, "a"), filepath.Join(root, "b")}
	m := newManagerT(t, ManagerConfig{Dirs: dirs, BrokerID: 1})
	defer closeManager(t, m)
	tps := []zkpaths.TopicPartition{{Topic: "t", Partition: 0}, {Topic: "t", Partition: 1}, {Topic: "u", Partition: 0}}
	placed := map[zkpaths.TopicPartition]string{}
	for _, tp := range tps {
		l, err := m.GetOrCreate(tp, smallConfig())
		must(t, err)
		appendBatches(t, l, 5)
		placed[tp] = filepath.Dir(l.Dir())
	}
	got := m.LogDirs()
	if len(got) != 2 || got[0].Path != dirs[0] || got[1].Path != dirs[1] {
		t.Fatalf("LogDirs lists %+v, want %v in order", got, dirs)
	}
	seen := 0
	for _, d := range got {
		if d.TotalBytes <= 0 || d.UsableBytes < 0 || d.UsableBytes > d.TotalBytes {
			t.Errorf("dir %s: total %d, usable %d bytes", d.Path, d.TotalBytes, d.UsableBytes)
		}
		for tp, l := range d.Logs {
			seen++
			if placed[tp] != d.Path {
				t.Errorf("%s listed in %s, lives in %s", tp, d.Path, placed[tp])
			}
			if l.Size() <= 0 {
				t.Errorf("%s has size %d after appends", tp, l.Size())
			}
		}
	}
	if seen != len(tps) {
		t.Fatalf("LogDirs lists %d logs, want %d", seen, len(tps))
	}
}
