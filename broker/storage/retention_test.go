package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestExpiredSegmentCount(t *testing.T) {
	segs := []retentionCandidate{
		{size: 100, largestTimestamp: 1_000},
		{size: 100, largestTimestamp: 2_000},
		{size: 100, largestTimestamp: 3_000},
	}
	const total = 350 // the three candidates and a 50-byte active segment
	tests := []struct {
		name                       string
		now, retentionMs, retBytes int64
		want                       int
	}{
		{"nothing configured", 10_000, -1, -1, 0},
		{"none old enough", 3_500, 2_600, -1, 0},
		{"exactly retention.ms old is kept", 3_000, 2_000, -1, 0},
		{"just older than retention.ms", 3_000, 1_999, -1, 1},
		{"two old enough", 3_500, 1_499, -1, 2},
		{"stops at the first young segment", 3_500, 1_600, -1, 1},
		{"all candidates old enough", 100_000, 0, -1, 3},
		{"size: deletes while staying at or above the limit", 0, -1, 150, 2},
		{"size: exactly at the limit after deleting", 0, -1, 50, 3},
		{"size: under the limit", 0, -1, 400, 0},
		{"size: limit 0 deletes every candidate", 0, -1, 0, 3},
		{"size counts what time already deleted", 3_500, 1_600, 200, 1},
		{"time then size", 3_500, 1_600, 100, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := expiredSegmentCount(segs, total, tt.now, tt.retentionMs, tt.retBytes); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
	if got := expiredSegmentCount(nil, 50, 1<<40, 0, 0); got != 0 {
		t.Fatalf("deleted %d segments with only an active one", got)
	}
}

func TestRetentionByTime(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionMs = 60_000
	clock := newFakeClock()
	dir := t.TempDir()
	l := openLogT(t, dir, cfg, OpenOptions{Now: clock.Now})
	start := clock.Now().UnixMilli()
	// Old records, then records a minute younger.
	for i := range 20 {
		appendT(t, l, makeBatch(t, plain(2, start+int64(i))))
	}
	oldEnd := l.LogEndOffset()
	clock.Advance(time.Minute)
	for i := range 20 {
		appendT(t, l, makeBatch(t, plain(2, clock.Now().UnixMilli()+int64(i))))
	}
	segsBefore := l.loadSegments()

	if n, err := l.DeleteExpiredSegments(); err != nil || n != 0 {
		t.Fatalf("deleted %d segments (%v) while nothing is older than retention.ms", n, err)
	}
	clock.Advance(time.Millisecond + 19*time.Millisecond)
	n, err := l.DeleteExpiredSegments()
	must(t, err)
	if n == 0 {
		t.Fatal("deleted no segment after retention.ms passed")
	}
	checkDeletedPrefix(t, l, dir, segsBefore, n)
	if l.LogStartOffset() > oldEnd {
		t.Fatalf("log start %d: deleted segments holding records younger than retention.ms (they start at %d)", l.LogStartOffset(), oldEnd)
	}
	// The first remaining segment is the one holding the youngest old record or later.
	if first := l.loadSegments()[0]; first.maxTimestamp.Load() < start+19 {
		t.Fatalf("kept an expired segment with max timestamp %d", first.maxTimestamp.Load())
	}

	clock.Advance(24 * time.Hour)
	n, err = l.DeleteExpiredSegments()
	must(t, err)
	if segs := l.loadSegments(); len(segs) != 1 {
		t.Fatalf("%d segments left after everything expired: the active segment must stay, and only it", len(segs))
	}
	if l.LogEndOffset() != 80 {
		t.Fatalf("retention moved the log end to %d", l.LogEndOffset())
	}
}

// checkDeletedPrefix checks that the first n of before were deleted whole and that
// reading below the new log start fails.
func checkDeletedPrefix(t *testing.T, l *Log, dir string, before []*segment, n int) {
	t.Helper()
	after := l.loadSegments()
	if len(after) != len(before)-n || after[0] != before[n] {
		t.Fatalf("%d segments left of %d after deleting %d", len(after), len(before), n)
	}
	if l.LogStartOffset() != before[n].baseOffset {
		t.Fatalf("log start %d, want the base offset %d of the first segment left", l.LogStartOffset(), before[n].baseOffset)
	}
	for _, s := range before[:n] {
		for _, suffix := range []string{logFileSuffix, indexFileSuffix, timeIndexFileSuffix} {
			if path := segmentPath(dir, s.baseOffset, suffix); fileExists(path) {
				t.Errorf("%s still exists", filepath.Base(path))
			}
		}
	}
	for _, s := range after {
		if !fileExists(segmentPath(dir, s.baseOffset, logFileSuffix)) {
			t.Errorf("segment %d lost its file", s.baseOffset)
		}
	}
	if _, err := l.Read(l.LogStartOffset()-1, math.MaxInt64, 100); !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Fatalf("read below the log start: %v, want OFFSET_OUT_OF_RANGE", err)
	}
	if _, err := l.Read(l.LogStartOffset(), math.MaxInt64, 100); err != nil {
		t.Fatalf("read at the log start: %v", err)
	}
}

func TestRetentionBySize(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionMs = -1 // the test batches are stamped in 1970
	cfg.RetentionBytes = 2_500
	dir := t.TempDir()
	l := openLogT(t, dir, cfg, OpenOptions{})
	appendBatches(t, l, 60)
	before := l.loadSegments()
	total := l.Size()
	n, err := l.DeleteExpiredSegments()
	must(t, err)
	if n == 0 {
		t.Fatalf("deleted nothing from %d bytes with retention.bytes %d", total, cfg.RetentionBytes)
	}
	checkDeletedPrefix(t, l, dir, before, n)
	if l.Size() < cfg.RetentionBytes {
		t.Fatalf("size %d fell below retention.bytes %d", l.Size(), cfg.RetentionBytes)
	}
	if l.Size()-before[n].size.Load() >= cfg.RetentionBytes {
		t.Fatalf("size %d: one more segment could have gone", l.Size())
	}
	if n2, _ := l.DeleteExpiredSegments(); n2 != 0 {
		t.Fatalf("second pass deleted %d more segments", n2)
	}
}

func TestDeletedSegmentStaysReadableUntilTheDelayPasses(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionBytes = 0
	cfg.FileDeleteDelayMs = 60_000
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
	written := appendBatches(t, l, 30)
	s, err := l.Read(0, math.MaxInt64, 1)
	must(t, err)
	if n, err := l.DeleteExpiredSegments(); err != nil || n == 0 {
		t.Fatalf("deleted %d segments: %v", n, err)
	}
	// A fetch that found the segment before it was deleted can still send it.
	if got := readSlice(t, s); !bytes.Equal(got, written[0]) {
		t.Fatal("deleted segment unreadable before file.delete.delay.ms")
	}
	if l.reaper.len() == 0 {
		t.Fatal("no file waiting to be closed")
	}
	clock.Advance(time.Minute)
	if _, err := l.DeleteExpiredSegments(); err != nil { // a standalone log reaps here
		t.Fatal(err)
	}
	if l.reaper.len() != 0 {
		t.Fatalf("%d files still open after the delay", l.reaper.len())
	}
	if _, err := s.File.ReadAt(make([]byte, 1), s.Pos); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("deleted segment file still open after the delay: %v", err)
	}
}

func TestReaper(t *testing.T) {
	var r fileReaper
	c := newFileCache(10, nil)
	now := time.Unix(1_000, 0)
	dir := t.TempDir()
	open := func(name string) (*FileHandle, string) {
		path := filepath.Join(dir, name)
		h, err := c.create(path)
		must(t, err)
		return h, path
	}
	early, earlyPath := open("early")
	late, latePath := open("late")
	r.add(pendingClose{file: early, remove: earlyPath, due: now.Add(time.Second)})
	if !late.pinIfOpen() {
		t.Fatal("a file just opened is not open")
	}
	r.add(pendingClose{file: late, pinned: true, due: now.Add(time.Minute)})
	must(t, r.closeDue(now))
	if r.len() != 2 {
		t.Fatalf("closed a file before its time: %d pending", r.len())
	}
	must(t, r.closeDue(now.Add(time.Second)))
	if r.len() != 1 {
		t.Fatalf("%d pending after the first was due", r.len())
	}
	if _, err := early.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Fatal("due file not closed")
	}
	if _, err := os.Stat(earlyPath); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("due file not removed")
	}
	if _, err := late.Stat(); err != nil {
		t.Fatal("file not due yet was closed")
	}
	must(t, r.closeAll())
	if _, err := late.Stat(); !errors.Is(err, os.ErrClosed) || r.len() != 0 {
		t.Fatal("closeAll left a file open")
	}
	if _, err := os.Stat(latePath); err != nil {
		t.Fatal("a pinned file was removed: only its log directory's removal removes it")
	}
	if got := c.stats().Open; got != 0 {
		t.Fatalf("%d files open after the reaper closed all", got)
	}
}

func TestTruncateTo(t *testing.T) {
	cfg := smallConfig()
	dir := t.TempDir()
	l := openLogT(t, dir, cfg, OpenOptions{})
	written := appendBatches(t, l, 40) // batches of 1-4 records: boundaries are irregular
	must(t, l.Flush())

	// To a batch boundary inside an early segment: later segments go.
	target := decodeTestHeader(t, written[12]).baseOffset
	must(t, l.TruncateTo(target))
	if l.LogEndOffset() != target {
		t.Fatalf("log end %d after truncating to %d", l.LogEndOffset(), target)
	}
	if l.RecoveryPoint() > target {
		t.Fatalf("recovery point %d above the truncation point %d", l.RecoveryPoint(), target)
	}
	var want []byte
	for _, b := range written[:12] {
		want = append(want, b...)
	}
	if !bytes.Equal(readAll(t, l), want) {
		t.Fatal("log after truncation is not the batches below the truncation point")
	}
	if segs := segmentFiles(t, dir); len(segs) != len(l.loadSegments()) {
		t.Fatalf("%d segment files for %d segments", len(segs), len(l.loadSegments()))
	}

	// Into the middle of a batch: the whole batch goes.
	h := decodeTestHeader(t, written[10])
	if h.lastOffset == h.baseOffset {
		h = decodeTestHeader(t, written[11])
	}
	must(t, l.TruncateTo(h.baseOffset+1))
	if l.LogEndOffset() != h.baseOffset {
		t.Fatalf("log end %d after truncating inside the batch at %d", l.LogEndOffset(), h.baseOffset)
	}

	// Appends continue, and a reopened log agrees.
	res := appendT(t, l, makeBatch(t, plain(3, 0)))
	if res.FirstOffset != h.baseOffset {
		t.Fatalf("append after truncation at %d, want %d", res.FirstOffset, h.baseOffset)
	}
	end := l.LogEndOffset()
	closeLog(t, l)
	wantIndexes := indexFiles(t, dir)
	l2 := openLogT(t, dir, cfg, OpenOptions{})
	if l2.LogEndOffset() != end {
		t.Fatalf("reopened log ends at %d, want %d", l2.LogEndOffset(), end)
	}
	for name, data := range indexFiles(t, dir) {
		if !bytes.Equal(wantIndexes[name], data) {
			t.Fatalf("index %s written after truncation had to be rebuilt at open", name)
		}
	}

	// Below the log start: the log restarts there, empty.
	must(t, l2.TruncateTo(end)) // no-op at the end
	cfg.RetentionBytes = 0
	l2.UpdateConfig(cfg)
	l2.SetHighWatermark(end)
	if _, err := l2.DeleteExpiredSegments(); err != nil {
		t.Fatal(err)
	}
	start := l2.LogStartOffset()
	must(t, l2.TruncateTo(start-3))
	if l2.LogStartOffset() != start-3 || l2.LogEndOffset() != start-3 || l2.Size() != 0 {
		t.Fatalf("after truncating below the start: [%d, %d) with %d bytes", l2.LogStartOffset(), l2.LogEndOffset(), l2.Size())
	}
	if res := appendT(t, l2, makeBatch(t, plain(1, 0))); res.FirstOffset != start-3 {
		t.Fatalf("append at %d, want %d", res.FirstOffset, start-3)
	}
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	cfg := smallConfig()
	dir := t.TempDir()
	l := openLogT(t, dir, cfg, OpenOptions{})
	appendBatches(t, l, 20)
	must(t, l.AssignEpochStartOffset(3, l.LogEndOffset()))
	l.SetHighWatermark(l.LogEndOffset())
	const restart = 1000
	if l.LogEndOffset() >= restart {
		t.Fatalf("log end %d already at the restart offset", l.LogEndOffset())
	}

	must(t, l.TruncateFullyAndStartAt(restart))
	if start, end, hw := l.LogStartOffset(), l.LogEndOffset(), l.HighWatermark(); start != restart || end != restart || hw != restart {
		t.Fatalf("after restarting at %d: log start %d, end %d, high watermark %d", restart, start, end, hw)
	}
	if l.RecoveryPoint() != restart {
		t.Fatalf("recovery point %d after restarting at %d", l.RecoveryPoint(), restart)
	}
	if epoch := l.LatestEpoch(); epoch >= 0 {
		t.Fatalf("leader epoch %d survives the restart", epoch)
	}
	if segs := segmentFiles(t, dir); len(segs) != 1 {
		t.Fatalf("%d segment files after the restart, want the one empty segment", len(segs))
	}

	// The follower goes on copying from the leader's log start.
	batch := makeBatch(t, plain(3, 1))
	binary.BigEndian.PutUint64(batch, restart)
	if _, err := l.AppendAsFollower(batch); err != nil {
		t.Fatalf("append at the restart offset: %v", err)
	}
	closeLog(t, l)
	l = openLogT(t, dir, cfg, OpenOptions{})
	if start, end := l.LogStartOffset(), l.LogEndOffset(); start != restart || end != restart+3 {
		t.Fatalf("reopened: log start %d, end %d; want %d and %d", start, end, restart, restart+3)
	}
	if !bytes.Equal(readAll(t, l), batch) {
		t.Fatal("reopened log does not hold exactly the batch copied after the restart")
	}
}

// len is how many files wait to be closed.
func (r *fileReaper) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}
