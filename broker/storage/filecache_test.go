package storage

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

// openLogCachedT opens a standalone log whose files go through a descriptor cache of
// limit files, closed when the test ends.
func openLogCachedT(t testing.TB, dir string, cfg Config, opts OpenOptions, limit int) (*Log, *fileCache) {
	t.Helper()
	files := newFileCache(limit, nil)
	l, err := openLog(dir, cfg, opts, logShared{files: files})
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close log: %v", err)
		}
	})
	return l, files
}

// cachedFiles creates n files named f0, f1... holding their own name, with handles in a
// cache of limit files, none open yet.
func cachedFiles(t *testing.T, limit, n int) (*fileCache, []*FileHandle) {
	t.Helper()
	c := newFileCache(limit, nil)
	dir := t.TempDir()
	handles := make([]*FileHandle, n)
	for i := range handles {
		path := filepath.Join(dir, fmt.Sprint("f", i))
		must(t, os.WriteFile(path, []byte(filepath.Base(path)), 0o644))
		handles[i] = c.handle(path, os.O_RDWR)
	}
	return c, handles
}

func isOpen(h *FileHandle) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.file != nil
}

func openSet(handles []*FileHandle) []int {
	var open []int
	for i, h := range handles {
		if isOpen(h) {
			open = append(open, i)
		}
	}
	return open
}

func use(t *testing.T, h *FileHandle) {
	t.Helper()
	if _, err := h.ReadAt(make([]byte, 1), 0); err != nil {
		t.Fatalf("read %s: %v", h.Name(), err)
	}
}

func TestFileCacheEvictsTheLeastRecentlyUsed(t *testing.T) {
	c, h := cachedFiles(t, 3, 5)
	use(t, h[0])
	use(t, h[1])
	use(t, h[2])
	if got := openSet(h); fmt.Sprint(got) != "[0 1 2]" {
		t.Fatalf("open %v, want [0 1 2]", got)
	}
	use(t, h[3]) // the oldest goes
	if got := openSet(h); fmt.Sprint(got) != "[1 2 3]" {
		t.Fatalf("open %v after a fourth file, want [1 2 3]", got)
	}
	use(t, h[1]) // used again: 2 is now the least recently used
	use(t, h[4])
	if got := openSet(h); fmt.Sprint(got) != "[1 3 4]" {
		t.Fatalf("open %v after a fifth file, want [1 3 4]", got)
	}
	st := c.stats()
	if st.Open != 3 || st.Limit != 3 || st.Opens != 5 || st.Evictions != 2 || st.OverLimit != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFileCacheNeverClosesAFileInUse(t *testing.T) {
	c, h := cachedFiles(t, 2, 5)
	logger, logged := logtest.NewNullLogger()
	c.logger = logger
	var held []*os.File
	for _, x := range h[:3] {
		f, err := x.acquire()
		must(t, err)
		held = append(held, f)
	}
	// All open files are in use: the third opened over the limit, and was counted.
	if st := c.stats(); st.Open != 3 || st.OverLimit != 1 || st.Evictions != 0 {
		t.Fatalf("stats %+v with three files held under a limit of 2", st)
	}
	_, err := h[4].acquire() // over the limit again: counted, but no second warning within a minute
	must(t, err)
	h[4].release()
	if st := c.stats(); st.OverLimit != 2 {
		t.Fatalf("stats %+v after a second open over the limit", st)
	}
	if n := len(logged.AllEntries()); n != 1 || logged.LastEntry().Level != logrus.WarnLevel {
		t.Fatalf("%d log entries for two opens over the limit, want one warning", n)
	}
	for i, f := range held {
		b := make([]byte, 2)
		if _, err := f.ReadAt(b, 0); err != nil || string(b) != fmt.Sprint("f", i) {
			t.Fatalf("held file %d: %q, %v", i, b, err)
		}
	}
	h[1].release() // the only one evictable
	use(t, h[3])
	if got := openSet(h); fmt.Sprint(got) != "[0 2 3]" {
		t.Fatalf("open %v, want [0 2 3]: only the released file may go", got)
	}
	h[0].release()
	h[2].release()
	use(t, h[1]) // back under the limit
	if st := c.stats(); st.Open != 2 {
		t.Fatalf("%d files open once none is held, limit 2", st.Open)
	}
}

func TestFileCacheReopensAfterEviction(t *testing.T) {
	c, h := cachedFiles(t, 1, 2)
	must(t, os.WriteFile(h[0].Name(), bytes.Repeat([]byte("x"), 100), 0o644))
	if _, err := h[0].WriteAt([]byte("hello"), 50); err != nil {
		t.Fatal(err)
	}
	use(t, h[1])
	if isOpen(h[0]) {
		t.Fatal("file not evicted under a limit of 1")
	}
	b := make([]byte, 5)
	if _, err := h[0].ReadAt(b, 50); err != nil || string(b) != "hello" {
		t.Fatalf("read after reopening: %q, %v", b, err)
	}
	if st := c.stats(); st.Opens != 3 || st.Evictions != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFileCacheClosedHandle(t *testing.T) {
	c, h := cachedFiles(t, 4, 1)
	f, err := h[0].acquire()
	must(t, err)
	must(t, h[0].close())
	// Its user goes on reading: the file closes when released.
	if _, err := f.ReadAt(make([]byte, 1), 0); err != nil {
		t.Fatalf("read of a held file after close: %v", err)
	}
	h[0].release()
	if _, err := f.Stat(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("file still open after its last user released it: %v", err)
	}
	if _, err := h[0].ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read through a closed handle: %v, want os.ErrClosed", err)
	}
	if st := c.stats(); st.Open != 0 {
		t.Fatalf("%d files open", st.Open)
	}
}

// TestFileCacheConcurrentReaders reads many files through a cache far smaller than
// them: every read sees its file's bytes, none a closed file.
func TestFileCacheConcurrentReaders(t *testing.T) {
	c, h := cachedFiles(t, 3, 20)
	var wg sync.WaitGroup
	var failures atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 2000 {
				i := rng.IntN(len(h))
				want := fmt.Sprint("f", i)
				b := make([]byte, len(want))
				if _, err := h[i].ReadAt(b, 0); err != nil || string(b) != want {
					t.Errorf("read f%d: %q, %v", i, b, err)
					failures.Add(1)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := c.stats()
	// 8 readers hold at most 8 files at once.
	if st.Open > 8 || st.Evictions == 0 {
		t.Fatalf("stats %+v", st)
	}
	if failures.Load() == 0 && st.Open > 3 && st.OverLimit == 0 {
		t.Fatalf("%d open over the limit without being counted", st.Open)
	}
}

// TestLogsUnderATinyDescriptorBound appends to and reads from many partitions of a
// Manager that may keep 4 files open: everything reads back, and once idle the
// Manager holds no more than its bound.
func TestLogsUnderATinyDescriptorBound(t *testing.T) {
	dir := t.TempDir()
	m := newManagerT(t, ManagerConfig{Dirs: []string{dir}, BrokerID: 1, MaxOpenFiles: 4})
	cfg := smallConfig()
	const partitions = 12
	logs := make([]*Log, partitions)
	for i := range logs {
		l, err := m.GetOrCreate(zkpaths.TopicPartition{Topic: "t", Partition: int32(i)}, cfg)
		must(t, err)
		logs[i] = l
	}
	var wg sync.WaitGroup
	for i, l := range logs {
		wg.Add(2)
		go func() { // appender
			defer wg.Done()
			for j := range 60 {
				if _, err := l.AppendAsLeader(makeBatch(t, plain(1+j%3, int64(j))), testEpoch, OriginClient); err != nil {
					t.Errorf("append to %d: %v", i, err)
					return
				}
				l.SetHighWatermark(l.LogEndOffset())
			}
		}()
		go func() { // reader, of whatever is there
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(i), 3))
			for range 200 {
				end := l.LogEndOffset()
				if end == 0 {
					continue
				}
				s, err := l.Read(rng.Int64N(end), math.MaxInt64, int32(1+rng.IntN(2048)))
				if err != nil {
					t.Errorf("read %d: %v", i, err)
					return
				}
				if s.Size == 0 {
					continue
				}
				var buf bytes.Buffer
				if _, err := s.WriteTo(&buf); err != nil {
					t.Errorf("send slice of %d: %v", i, err)
					return
				}
				if err := checkWholeBatches(buf.Bytes()); err != nil {
					t.Errorf("slice of %d: %v", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := m.FileCacheStats()
	if st.Open > 4 || st.Evictions == 0 {
		t.Fatalf("idle manager: stats %+v, want at most 4 open and evictions", st)
	}
	for i, l := range logs {
		var total int64
		for off := int64(0); off < l.LogEndOffset(); {
			s, err := l.Read(off, math.MaxInt64, math.MaxInt32)
			must(t, err)
			b := readSlice(t, s)
			must(t, checkWholeBatches(b))
			total += int64(len(b))
			off = s.NextOffset
		}
		if total != l.Size() {
			t.Fatalf("partition %d: read back %d bytes of %d", i, total, l.Size())
		}
	}
	// After a restart the logs open without their files: only what the opens read is
	// open, within the bound.
	closeManager(t, m)
	m = newManagerT(t, ManagerConfig{Dirs: []string{dir}, BrokerID: 1, MaxOpenFiles: 4})
	for i := range partitions {
		l, err := m.GetOrCreate(zkpaths.TopicPartition{Topic: "t", Partition: int32(i)}, cfg)
		must(t, err)
		if l.LogEndOffset() != logs[i].LogEndOffset() {
			t.Fatalf("partition %d reopened at %d, was %d", i, l.LogEndOffset(), logs[i].LogEndOffset())
		}
	}
	if st := m.FileCacheStats(); st.Open > 4 {
		t.Fatalf("%d files open after opening the logs, bound 4", st.Open)
	}
}

// TestDeletedSegmentReadableAfterEviction: a fetch that found a segment before retention
// deleted it can send it until file.delete.delay.ms passes, even when its file was
// closed meanwhile.
func TestDeletedSegmentReadableAfterEviction(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionBytes = 0
	cfg.FileDeleteDelayMs = 60_000
	clock := newFakeClock()
	dir := t.TempDir()
	l, files := openLogCachedT(t, dir, cfg, OpenOptions{Now: clock.Now}, 1)
	written := appendBatches(t, l, 30)
	s, err := l.Read(0, math.MaxInt64, 1)
	must(t, err)
	if n, err := l.DeleteExpiredSegments(); err != nil || n == 0 {
		t.Fatalf("deleted %d segments: %v", n, err)
	}
	if fileExists(segmentPath(dir, 0, logFileSuffix)) {
		t.Fatal("deleted segment still under its name")
	}
	appendBatches(t, l, 1) // uses the active segment's files: the deleted one is evicted
	if isOpen(s.File) {
		t.Fatal("deleted segment's file still open under a limit of 1")
	}
	if got := readSlice(t, s); !bytes.Equal(got, written[0]) {
		t.Fatal("deleted segment unreadable before file.delete.delay.ms")
	}
	clock.Advance(time.Minute)
	if _, err := l.DeleteExpiredSegments(); err != nil { // a standalone log reaps here
		t.Fatal(err)
	}
	if _, err := s.File.ReadAt(make([]byte, 1), s.Pos); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("deleted segment still readable after the delay: %v", err)
	}
	entries, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range entries {
		if filepath.Ext(e.Name()) == deletedFileSuffix {
			t.Fatalf("%s left after the delay", e.Name())
		}
	}
	if st := files.stats(); st.Open > 1 {
		t.Fatalf("%d files open, limit 1", st.Open)
	}
}

// TestCleanUnderATinyDescriptorBound runs the cleaner's swaps, with readers of the
// replaced segments, while at most two files stay open.
func TestCleanUnderATinyDescriptorBound(t *testing.T) {
	cfg := compactedConfig()
	clock := newFakeClock()
	dir := t.TempDir()
	l, files := openLogCachedT(t, dir, cfg, OpenOptions{Now: clock.Now}, 2)
	m := logModel{}
	for round := range 6 {
		for i := range 10 {
			m.append(t, l, keyed(clock.Now().UnixMilli(), kv(fmt.Sprint("k", i%4), fmt.Sprint(round, i))))
		}
		roll(t, l, clock, m)
	}
	before, err := l.Read(0, math.MaxInt64, math.MaxInt32)
	must(t, err)
	want := readSlice(t, before)
	if res := cleanT(t, l, clock.Now(), true); res.recordsRemoved == 0 {
		t.Fatal("the clean removed nothing")
	}
	// Evict everything, then read the replaced first segment through the old slice: it
	// must be the old file, not the cleaned one now under its name.
	for i := range 3 {
		m.append(t, l, keyed(clock.Now().UnixMilli(), kv(fmt.Sprint("late", i), "")))
	}
	checkRecords(t, readRecords(t, l), m.latest())
	if isOpen(before.File) {
		t.Fatal("the replaced segment's file still open under a limit of 2")
	}
	if got := readSlice(t, before); !bytes.Equal(got, want) {
		t.Fatal("a slice of a replaced segment reads other bytes")
	}
	if st := files.stats(); st.Open > 2 {
		t.Fatalf("%d files open, limit 2", st.Open)
	}
	closeLog(t, l)
	reopened := openLogT(t, dir, cfg, OpenOptions{Now: clock.Now, CleanShutdown: true})
	checkRecords(t, readRecords(t, reopened), m.latest())
}

// The bound is on the process's descriptors, not only on the cache's count: segments
// created, rolled, read and deleted one after another never leave more segment or index
// files open than the limit.
func TestSegmentDescriptorsStayWithinTheBound(t *testing.T) {
	dir := t.TempDir()
	const limit = 4
	m := newManagerT(t, ManagerConfig{Dirs: []string{dir}, BrokerID: 1, MaxOpenFiles: limit})
	cfg := smallConfig()
	check := func(when string) {
		t.Helper()
		if n := openSegmentFiles(t, dir); n > limit {
			t.Fatalf("%s: %d segment and index files open, more than the bound %d", when, n, limit)
		}
	}
	var logs []*Log
	for i := range 8 {
		l, err := m.GetOrCreate(zkpaths.TopicPartition{Topic: "t", Partition: int32(i)}, cfg)
		must(t, err)
		logs = append(logs, l)
		check("after creating a log")
	}
	for round := range 20 {
		for i, l := range logs {
			_, err := l.AppendAsLeader(makeBatch(t, plain(3, int64(round))), testEpoch, OriginClient)
			must(t, err)
			check(fmt.Sprintf("after append %d to log %d", round, i))
			l.SetHighWatermark(l.LogEndOffset())
			s, err := l.Read(0, math.MaxInt64, 1<<20)
			must(t, err)
			_, err = s.WriteTo(io.Discard)
			must(t, err)
			check(fmt.Sprintf("after read %d of log %d", round, i))
		}
	}
	if segs := len(logs[0].loadSegments()); segs < 3 {
		t.Fatalf("test needs rolled segments; log 0 has %d", segs)
	}
}

// openSegmentFiles counts this process's descriptors on segment, index and deleted
// segment files under dir.
func openSegmentFiles(t *testing.T, dir string) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err != nil || !strings.HasPrefix(target, dir+"/") {
			continue
		}
		for _, suffix := range []string{logFileSuffix, indexFileSuffix, timeIndexFileSuffix, ".deleted"} {
			if strings.HasSuffix(target, suffix) {
				n++
				break
			}
		}
	}
	return n
}
