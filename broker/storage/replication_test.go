package storage

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
	"github.com/twmb/franz-go/pkg/kerr"
)

// replicatedBatch returns a batch of n records as a leader of epoch wrote it at base: both
// fields lie outside the CRC.
func replicatedBatch(t testing.TB, base int64, epoch int32, n int) []byte {
	t.Helper()
	b := makeBatch(t, plain(n, 1_000+base))
	binary.BigEndian.PutUint64(b[0:], uint64(base))
	binary.BigEndian.PutUint32(b[12:], uint32(epoch))
	return b
}

// replicate appends, as a follower, batches of n records each in the given epochs.
func replicate(t testing.TB, l *Log, n int, epochs ...int32) {
	t.Helper()
	for _, e := range epochs {
		if _, err := l.AppendAsFollower(replicatedBatch(t, l.LogEndOffset(), e, n)); err != nil {
			t.Fatalf("follower append in epoch %d at %d: %v", e, l.LogEndOffset(), err)
		}
	}
}

// epochEntries returns a copy of the log's epoch cache.
func (l *Log) epochEntries() []epochEntry {
	l.epochMu.Lock()
	defer l.epochMu.Unlock()
	return append([]epochEntry(nil), l.epochs.entries...)
}

func checkEpochs(t testing.TB, l *Log, want ...epochEntry) {
	t.Helper()
	if got := l.epochEntries(); !slices.Equal(got, want) {
		t.Fatalf("epoch cache %v, want %v", got, want)
	}
}

// checkEpochFile checks the leader-epoch-checkpoint on disk, line by line as Kafka writes it.
func checkEpochFile(t testing.TB, l *Log, want ...epochEntry) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(l.Dir(), "leader-epoch-checkpoint"))
	must(t, err)
	lines := []string{"0", strconv.Itoa(len(want))}
	for _, e := range want {
		lines = append(lines, strconv.Itoa(int(e.epoch))+" "+strconv.Itoa(int(e.startOffset)))
	}
	if wantText := strings.Join(lines, "\n") + "\n"; string(data) != wantText {
		t.Fatalf("leader-epoch-checkpoint:\n%s\nwant:\n%s", data, wantText)
	}
}

func TestEndOffsetForEpoch(t *testing.T) {
	// Epoch 2 wrote [10, 30), epoch 5 [30, 30) (nothing), epoch 6 [30, 70), epoch 9 [70, LEO).
	c := epochCache{entries: []epochEntry{{2, 10}, {5, 30}, {6, 30}, {9, 70}}}
	const leo = 100
	tests := []struct {
		epoch     int32
		wantEpoch int32
		wantEnd   int64
		wantOK    bool
	}{
		{-1, -1, -1, false},
		{0, -1, -1, false}, // below the first epoch
		{1, -1, -1, false},
		{2, 2, 30, true},
		{3, 2, 30, true}, // a gap: the largest epoch below it
		{4, 2, 30, true},
		{5, 5, 30, true},
		{6, 6, 70, true},
		{7, 6, 70, true},
		{8, 6, 70, true},
		{9, 9, leo, true}, // the latest ends at the log end
		{12, 9, leo, true},
	}
	for _, tt := range tests {
		e, end, ok := c.endOffsetFor(tt.epoch, leo)
		if e != tt.wantEpoch || end != tt.wantEnd || ok != tt.wantOK {
			t.Errorf("endOffsetFor(%d) = (%d, %d, %v), want (%d, %d, %v)", tt.epoch, e, end, ok, tt.wantEpoch, tt.wantEnd, tt.wantOK)
		}
	}
	var empty epochCache
	if e, end, ok := empty.endOffsetFor(3, leo); ok || e != -1 || end != -1 {
		t.Errorf("empty cache answered (%d, %d, %v)", e, end, ok)
	}
}

func TestEpochCacheAssignAndTruncate(t *testing.T) {
	var c epochCache
	for _, step := range []struct {
		epoch   int32
		start   int64
		changed bool
		err     bool
	}{
		{-1, 0, false, true},
		{1, 0, true, false},
		{1, 5, false, false}, // same epoch, later appends
		{3, 5, true, false},
		{2, 9, false, true}, // older epoch: fenced
		{4, 4, false, true}, // newer epoch starting inside the previous one
		{4, 9, true, false},
	} {
		changed, err := c.assignLeader(step.epoch, step.start)
		if changed != step.changed || (err != nil) != step.err {
			t.Fatalf("assignLeader(%d, %d) = (%v, %v), want changed %v, error %v", step.epoch, step.start, changed, err, step.changed, step.err)
		}
	}
	want := []epochEntry{{1, 0}, {3, 5}, {4, 9}}
	if !slices.Equal(c.entries, want) {
		t.Fatalf("entries %v, want %v", c.entries, want)
	}

	// A replicated batch of an older epoch at the log end replaces entries holding no data
	// and reports no conflict; one that contradicts entries holding data reports it.
	c = epochCache{entries: []epochEntry{{1, 0}, {3, 5}, {7, 20}}}
	if changed, conflict := c.assignReplicated(4, 20); !changed || conflict {
		t.Fatalf("assignReplicated(4, 20) = (%v, %v)", changed, conflict)
	}
	if want := []epochEntry{{1, 0}, {3, 5}, {4, 20}}; !slices.Equal(c.entries, want) {
		t.Fatalf("entries %v, want %v", c.entries, want)
	}
	if changed, conflict := c.assignReplicated(2, 25); !changed || !conflict {
		t.Fatalf("assignReplicated(2, 25) = (%v, %v), want a conflict", changed, conflict)
	}
	if want := []epochEntry{{1, 0}, {2, 25}}; !slices.Equal(c.entries, want) {
		t.Fatalf("entries %v, want %v", c.entries, want)
	}

	c = epochCache{entries: []epochEntry{{1, 0}, {3, 5}, {4, 9}, {6, 9}, {8, 15}}}
	if !c.truncateFromEnd(9) {
		t.Fatal("truncateFromEnd(9) changed nothing")
	}
	if want := []epochEntry{{1, 0}, {3, 5}}; !slices.Equal(c.entries, want) {
		t.Fatalf("after truncateFromEnd(9): %v, want %v", c.entries, want)
	}
	if c.truncateFromEnd(6) {
		t.Fatal("truncateFromEnd(6) dropped an entry starting below 6")
	}

	c = epochCache{entries: []epochEntry{{1, 0}, {3, 5}, {4, 9}, {6, 20}}}
	if c.truncateFromStart(0) {
		t.Fatal("truncateFromStart(0) changed the cache")
	}
	c.truncateFromStart(9) // epochs 1 and 3 lie wholly below 9
	if want := []epochEntry{{4, 9}, {6, 20}}; !slices.Equal(c.entries, want) {
		t.Fatalf("after truncateFromStart(9): %v, want %v", c.entries, want)
	}
	c.truncateFromStart(25) // epoch 6 covers 25: kept, starting there
	if want := []epochEntry{{6, 25}}; !slices.Equal(c.entries, want) {
		t.Fatalf("after truncateFromStart(25): %v, want %v", c.entries, want)
	}
}

func TestEpochCheckpointFormat(t *testing.T) {
	entries := []epochEntry{{0, 0}, {4, 17}, {5, 17}, {9, 1234}}
	data := formatEpochCheckpoint(entries)
	if want := "0\n4\n0 0\n4 17\n5 17\n9 1234\n"; string(data) != want {
		t.Fatalf("formatted %q, want %q", data, want)
	}
	got, err := parseEpochCheckpoint(data)
	if err != nil || !slices.Equal(got, entries) {
		t.Fatalf("parsed back %v (%v), want %v", got, err, entries)
	}
	if got, err := parseEpochCheckpoint([]byte("0\n0\n")); err != nil || len(got) != 0 {
		t.Fatalf("empty checkpoint parsed as %v (%v)", got, err)
	}
	for _, bad := range []string{
		"", "0\n", "1\n0\n", "0\n2\n1 0\n", "0\n1\n1 0\n2 5\n", "0\nx\n", "0\n1\n1\n", "0\n1\n-1 0\n", "0\n1\n1 -5\n",
		"0\n1\n1 0 7\n", "0\n2\n3 0\n3 5\n", "0\n2\n3 5\n4 2\n", "0\n1\n99999999999 0\n", "0\n1\n1 a\n",
	} {
		if got, err := parseEpochCheckpoint([]byte(bad)); err == nil {
			t.Errorf("parsed malformed checkpoint %q as %v", bad, got)
		}
	}
}

func TestLeaderEpochsOfALog(t *testing.T) {
	dir := t.TempDir()
	l := openLogT(t, dir, smallConfig(), OpenOptions{})
	if l.LatestEpoch() != -1 {
		t.Fatalf("new log has latest epoch %d", l.LatestEpoch())
	}
	if _, _, ok := l.EndOffsetForEpoch(0); ok {
		t.Fatal("new log answered for epoch 0")
	}

	// An append as leader records its epoch itself.
	_, err := l.AppendAsLeader(makeBatch(t, plain(3, 1_000)), 2, OriginClient)
	must(t, err)
	checkEpochs(t, l, epochEntry{2, 0})

	// A new leader records where its epoch starts before appending anything.
	if err := l.AssignEpochStartOffset(4, 2); err == nil {
		t.Fatal("assigned an epoch at an offset other than the log end")
	}
	must(t, l.AssignEpochStartOffset(4, 3))
	must(t, l.AssignEpochStartOffset(4, 3)) // again: a no-op
	checkEpochs(t, l, epochEntry{2, 0}, epochEntry{4, 3})
	if e, end, ok := l.EndOffsetForEpoch(2); !ok || e != 2 || end != 3 {
		t.Fatalf("EndOffsetForEpoch(2) = (%d, %d, %v), want (2, 3, true)", e, end, ok)
	}
	if e, end, ok := l.EndOffsetForEpoch(4); !ok || e != 4 || end != 3 {
		t.Fatalf("EndOffsetForEpoch(4) = (%d, %d, %v), want (4, 3, true)", e, end, ok)
	}
	_, err = l.AppendAsLeader(makeBatch(t, plain(2, 1_000)), 4, OriginClient)
	must(t, err)
	if e, end, ok := l.EndOffsetForEpoch(4); !ok || e != 4 || end != 5 {
		t.Fatalf("EndOffsetForEpoch(4) = (%d, %d, %v), want (4, 5, true): the latest epoch ends at the log end", e, end, ok)
	}

	// A stale leader can neither append nor assign.
	if _, err := l.AppendAsLeader(makeBatch(t, plain(1, 1_000)), 3, OriginClient); !errors.Is(err, kerr.FencedLeaderEpoch) {
		t.Fatalf("append in an older epoch: got %v, want FENCED_LEADER_EPOCH", err)
	}
	if err := l.AssignEpochStartOffset(3, l.LogEndOffset()); !errors.Is(err, kerr.FencedLeaderEpoch) {
		t.Fatalf("assign an older epoch: got %v, want FENCED_LEADER_EPOCH", err)
	}
	if l.LogEndOffset() != 5 {
		t.Fatalf("refused appends moved the log end to %d", l.LogEndOffset())
	}
	// A leader appending in a newer epoch without assigning it first still records it.
	_, err = l.AppendAsLeader(makeBatch(t, plain(1, 1_000)), 7, OriginClient)
	must(t, err)
	checkEpochs(t, l, epochEntry{2, 0}, epochEntry{4, 3}, epochEntry{7, 5})
	checkEpochFile(t, l, epochEntry{2, 0}, epochEntry{4, 3}, epochEntry{7, 5})
	if l.LatestEpoch() != 7 {
		t.Fatalf("latest epoch %d, want 7", l.LatestEpoch())
	}
}

func TestFollowerAppendsRecordEpochs(t *testing.T) {
	l := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})
	// Several batches per request, some epochs skipped, one epoch spanning requests.
	var records []byte
	next := int64(0)
	for _, e := range []int32{1, 1, 3} {
		records = append(records, replicatedBatch(t, next, e, 2)...)
		next += 2
	}
	_, err := l.AppendAsFollower(records)
	must(t, err)
	replicate(t, l, 3, 3, 6, 6, 8)
	checkEpochs(t, l, epochEntry{1, 0}, epochEntry{3, 4}, epochEntry{6, 9}, epochEntry{8, 15})
	checkEpochFile(t, l, epochEntry{1, 0}, epochEntry{3, 4}, epochEntry{6, 9}, epochEntry{8, 15})
	for _, tt := range []struct {
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{{1, 1, 4}, {2, 1, 4}, {3, 3, 9}, {5, 3, 9}, {6, 6, 15}, {7, 6, 15}, {8, 8, 18}} {
		if e, end, ok := l.EndOffsetForEpoch(tt.epoch); !ok || e != tt.wantEpoch || end != tt.wantEnd {
			t.Errorf("EndOffsetForEpoch(%d) = (%d, %d, %v), want (%d, %d, true)", tt.epoch, e, end, ok, tt.wantEpoch, tt.wantEnd)
		}
	}
	if _, _, ok := l.EndOffsetForEpoch(0); ok {
		t.Error("answered for an epoch below the first")
	}
}

func TestTruncationDropsEpochs(t *testing.T) {
	dir := t.TempDir()
	l := openLogT(t, dir, smallConfig(), OpenOptions{})
	replicate(t, l, 4, 1, 2, 2, 5, 7) // epochs 1@0 2@4 5@12 7@16, LEO 20
	l.SetHighWatermark(18)

	must(t, l.TruncateTo(12))
	checkEpochs(t, l, epochEntry{1, 0}, epochEntry{2, 4})
	checkEpochFile(t, l, epochEntry{1, 0}, epochEntry{2, 4})
	if l.HighWatermark() != 12 {
		t.Fatalf("high watermark %d after truncation to 12, want 12", l.HighWatermark())
	}
	if e, end, ok := l.EndOffsetForEpoch(7); !ok || e != 2 || end != 12 {
		t.Fatalf("EndOffsetForEpoch(7) = (%d, %d, %v), want (2, 12, true)", e, end, ok)
	}

	// A new leader that wrote nothing, then a truncation at the log end: its epoch goes.
	must(t, l.AssignEpochStartOffset(9, 12))
	must(t, l.TruncateTo(12))
	checkEpochs(t, l, epochEntry{1, 0}, epochEntry{2, 4})

	// Replication resumes in an older epoch than one the log had seen.
	must(t, l.AssignEpochStartOffset(9, 12))
	replicate(t, l, 2, 5)
	checkEpochs(t, l, epochEntry{1, 0}, epochEntry{2, 4}, epochEntry{5, 12})

	// Truncating below the log start empties the history.
	must(t, l.TruncateTo(0))
	checkEpochs(t, l)
	replicate(t, l, 1, 8)
	checkEpochs(t, l, epochEntry{8, 0})
}

func TestRetentionDropsEpochsBelowTheLogStart(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionBytes = 2_000
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{})
	for e := int32(1); e <= 12; e++ {
		replicate(t, l, 2, e, e, e)
	}
	l.SetHighWatermark(l.LogEndOffset())
	n, err := l.DeleteExpiredSegments()
	must(t, err)
	if n == 0 {
		t.Fatal("retention deleted nothing")
	}
	start := l.LogStartOffset()
	entries := l.epochEntries()
	if entries[0].startOffset != start {
		t.Fatalf("first epoch entry %v does not start at the log start %d", entries[0], start)
	}
	if len(entries) > 1 && entries[1].startOffset <= start {
		t.Fatalf("entry %v lies wholly below the log start %d", entries[1], start)
	}
	// Epoch e started at 6*(e-1): the one covering the log start is kept.
	if want := int32(start/6) + 1; entries[0].epoch != want {
		t.Fatalf("first epoch %d, want %d covering the log start %d", entries[0].epoch, want, start)
	}
	if len(entries) != 12-int(entries[0].epoch)+1 {
		t.Fatalf("%d entries from epoch %d: some later epochs were lost: %v", len(entries), entries[0].epoch, entries)
	}
	checkEpochFile(t, l, entries...)
	if l.HighWatermark() != l.LogEndOffset() {
		t.Fatalf("retention moved the high watermark to %d", l.HighWatermark())
	}
}

func TestEpochCacheSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l, err := Open(dir, cfg, OpenOptions{})
	must(t, err)
	replicate(t, l, 3, 0, 0, 2, 2, 2, 3)
	must(t, l.AssignEpochStartOffset(6, l.LogEndOffset()))
	want := []epochEntry{{0, 0}, {2, 6}, {3, 15}, {6, 18}}
	checkEpochs(t, l, want...)
	must(t, l.Flush())
	closeLog(t, l)

	l = openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
	checkEpochs(t, l, want...)
	if l.headersRead > 10 {
		t.Fatalf("a clean open read %d batch headers: the epoch cache was rebuilt rather than read", l.headersRead)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	// Entries beyond the log end (the batches of a new epoch lost in a crash) are dropped.
	must(t, os.WriteFile(filepath.Join(dir, "leader-epoch-checkpoint"), []byte("0\n5\n0 0\n2 6\n3 15\n6 18\n7 30\n"), 0o644))
	l = openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
	checkEpochs(t, l, want...)
	checkEpochFile(t, l, want...)
}

func TestCorruptEpochCheckpointIsRebuiltFromTheBatches(t *testing.T) {
	for name, corrupt := range map[string]func(path string) error{
		"missing":      os.Remove,
		"garbage":      func(path string) error { return os.WriteFile(path, []byte("0\n3\n1 0\nxx\n"), 0o644) },
		"empty":        func(path string) error { return os.WriteFile(path, nil, 0o644) },
		"out of order": func(path string) error { return os.WriteFile(path, []byte("0\n2\n4 0\n2 9\n"), 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			l, err := Open(dir, cfg, OpenOptions{})
			must(t, err)
			replicate(t, l, 3, 1, 1, 1, 4, 4, 4, 4, 9, 9, 9, 9, 9, 9, 9, 9)
			want := []epochEntry{{1, 0}, {4, 9}, {9, 21}}
			checkEpochs(t, l, want...)
			if len(l.loadSegments()) < 2 {
				t.Fatal("test needs several segments")
			}
			must(t, l.Flush())
			closeLog(t, l)

			must(t, corrupt(filepath.Join(dir, "leader-epoch-checkpoint")))
			l = openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
			checkEpochs(t, l, want...)
			checkEpochFile(t, l, want...)
		})
	}
}

func TestHighWatermarkIsClampedToTheLog(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l, err := Open(dir, cfg, OpenOptions{})
	must(t, err)
	replicate(t, l, 5, 1, 1, 1, 1)
	for _, tt := range []struct{ set, want int64 }{{7, 7}, {20, 20}, {25, 20}, {-3, 0}, {12, 12}} {
		l.SetHighWatermark(tt.set)
		if got := l.HighWatermark(); got != tt.want {
			t.Fatalf("SetHighWatermark(%d): got %d, want %d", tt.set, got, tt.want)
		}
	}
	must(t, l.Flush())
	closeLog(t, l)

	for _, tt := range []struct{ stored, want int64 }{{12, 12}, {99, 20}, {0, 0}} {
		l := openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true, HighWatermark: tt.stored})
		if got := l.HighWatermark(); got != tt.want {
			t.Fatalf("opened with high watermark %d: got %d, want %d", tt.stored, got, tt.want)
		}
		closeLog(t, l)
	}
}

func TestManagerPersistsHighWatermarks(t *testing.T) {
	dir := t.TempDir()
	cfg := ManagerConfig{Dirs: []string{dir}, BrokerID: 1}
	m := newManagerT(t, cfg)
	a, b := zkpaths.TopicPartition{Topic: "a", Partition: 0}, zkpaths.TopicPartition{Topic: "b", Partition: 3}
	la, err := m.GetOrCreate(a, smallConfig())
	must(t, err)
	lb, err := m.GetOrCreate(b, smallConfig())
	must(t, err)
	replicate(t, la, 4, 1, 1, 1)
	replicate(t, lb, 4, 2, 2)
	la.SetHighWatermark(9)
	lb.SetHighWatermark(8)
	closeManager(t, m)

	data, err := os.ReadFile(filepath.Join(dir, "replication-offset-checkpoint"))
	must(t, err)
	if want := "0\n2\na 0 9\nb 3 8\n"; string(data) != want {
		t.Fatalf("replication-offset-checkpoint %q, want %q", data, want)
	}

	// Reopened; b is never opened, and its high watermark survives the next checkpoint.
	m = newManagerT(t, cfg)
	la, err = m.GetOrCreate(a, smallConfig())
	must(t, err)
	if la.HighWatermark() != 9 {
		t.Fatalf("high watermark of %s after restart: %d, want 9", a, la.HighWatermark())
	}
	la.SetHighWatermark(12)
	must(t, m.writeCheckpoints(nil))
	data, err = os.ReadFile(filepath.Join(dir, "replication-offset-checkpoint"))
	must(t, err)
	if want := "0\n2\na 0 12\nb 3 8\n"; string(data) != want {
		t.Fatalf("replication-offset-checkpoint %q, want %q", data, want)
	}
	closeManager(t, m)

	// A malformed checkpoint costs the high watermarks, not the start.
	must(t, os.WriteFile(filepath.Join(dir, "replication-offset-checkpoint"), []byte("garbage"), 0o644))
	m = newManagerT(t, cfg)
	defer closeManager(t, m)
	lb, err = m.GetOrCreate(b, smallConfig())
	must(t, err)
	if lb.HighWatermark() != 0 {
		t.Fatalf("high watermark %d from a malformed checkpoint", lb.HighWatermark())
	}
}

func TestTruncationRewritesTheRecoveryPointCheckpoint(t *testing.T) {
	dir := t.TempDir()
	m := newManagerT(t, ManagerConfig{Dirs: []string{dir}, BrokerID: 1, CheckpointInterval: time.Hour})
	defer closeManager(t, m)
	tp := zkpaths.TopicPartition{Topic: "t", Partition: 0}
	l, err := m.GetOrCreate(tp, smallConfig())
	must(t, err)
	replicate(t, l, 5, 1, 1, 1, 1, 1, 1)
	must(t, l.Flush())
	must(t, m.writeCheckpoints(nil))
	checkpointed := func() int64 {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, "recovery-point-offset-checkpoint"))
		must(t, err)
		offsets, err := parseOffsetCheckpoint(data)
		must(t, err)
		return offsets[tp]
	}
	if got := checkpointed(); got != 30 {
		t.Fatalf("checkpointed recovery point %d, want 30", got)
	}
	l.SetHighWatermark(30)

	must(t, l.TruncateTo(12))
	// Without waiting for the checkpoint interval.
	if got, end := checkpointed(), l.LogEndOffset(); got != end {
		t.Fatalf("after truncating to %d the checkpoint says %d", end, got)
	}
	if l.HighWatermark() != l.LogEndOffset() {
		t.Fatalf("high watermark %d above the log end %d after truncation", l.HighWatermark(), l.LogEndOffset())
	}
}

func TestAppendsWaitForTheCheckpointATruncationOwes(t *testing.T) {
	l := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})
	replicate(t, l, 5, 1, 1, 1, 1)
	must(t, l.Flush())
	failing := errors.New("disk full")
	var calls int
	var checkpointErr error
	l.afterTruncate = func() error { calls++; return checkpointErr }

	// A truncation that leaves the recovery point alone owes no checkpoint.
	must(t, l.TruncateTo(l.LogEndOffset()))
	if calls != 0 {
		t.Fatalf("checkpoint written %d times with nothing truncated", calls)
	}

	checkpointErr = failing
	if err := l.TruncateTo(10); !errors.Is(err, failing) {
		t.Fatalf("truncation with a failing checkpoint: got %v", err)
	}
	if l.RecoveryPoint() != 10 {
		t.Fatalf("recovery point %d after truncating to 10", l.RecoveryPoint())
	}
	if _, err := l.AppendAsFollower(replicatedBatch(t, 10, 2, 1)); !errors.Is(err, failing) {
		t.Fatalf("follower append while the checkpoint is stale: got %v", err)
	}
	if _, err := l.AppendAsLeader(makeBatch(t, plain(1, 1)), 2, OriginClient); !errors.Is(err, failing) {
		t.Fatalf("leader append while the checkpoint is stale: got %v", err)
	}
	if l.LogEndOffset() != 10 {
		t.Fatalf("refused appends moved the log end to %d", l.LogEndOffset())
	}

	checkpointErr = nil
	replicate(t, l, 1, 2)
	before := calls
	replicate(t, l, 1, 2)
	if calls != before {
		t.Fatal("checkpoint rewritten again though nothing was truncated since")
	}
}

func TestRetentionKeepsWhatFollowersMayLack(t *testing.T) {
	cfg := smallConfig()
	cfg.RetentionBytes = 0
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{})
	replicate(t, l, 4, slices.Repeat([]int32{1}, 24)...)
	segs := l.loadSegments()
	if len(segs) < 4 {
		t.Fatalf("test needs at least 4 segments, has %d", len(segs))
	}
	if n, err := l.DeleteExpiredSegments(); err != nil || n != 0 {
		t.Fatalf("deleted %d segments (%v) with the high watermark at the log start", n, err)
	}
	// The high watermark inside the third segment: the first two may go, not the third.
	l.SetHighWatermark(segs[2].baseOffset + 1)
	n, err := l.DeleteExpiredSegments()
	must(t, err)
	if n != 2 || l.LogStartOffset() != segs[2].baseOffset {
		t.Fatalf("deleted %d segments, log start %d; want 2 and %d", n, l.LogStartOffset(), segs[2].baseOffset)
	}
}

func TestNewEpochsAreSyncedByTheNextFlush(t *testing.T) {
	l := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})
	replicate(t, l, 3, 1)
	must(t, l.AssignEpochStartOffset(4, l.LogEndOffset()))
	if !l.epochsUnsynced {
		t.Fatal("a new leader epoch was synced at once; it should wait for the next flush")
	}
	checkEpochFile(t, l, epochEntry{1, 0}, epochEntry{4, 3})
	must(t, l.Flush())
	if l.epochsUnsynced {
		t.Fatal("Flush left the leader epoch checkpoint unsynced")
	}
	// A truncation rewrites the file durably at once.
	replicate(t, l, 3, 4)
	must(t, l.TruncateTo(3))
	if l.epochsUnsynced {
		t.Fatal("a truncation left the leader epoch checkpoint unsynced")
	}
}

// A crash may leave the leader-epoch-checkpoint as it was before the epochs that
// persistNewEpochs wrote without an fsync: the open finds them in the batches above the
// recovery point.
func TestStaleEpochCheckpointGainsTheEpochsOfUnflushedBatches(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l, err := Open(dir, cfg, OpenOptions{})
	must(t, err)
	replicate(t, l, 3, 0, 0, 2, 2)
	must(t, l.Flush())
	recoveryPoint := l.RecoveryPoint()
	path := filepath.Join(dir, "leader-epoch-checkpoint")
	flushed, err := os.ReadFile(path)
	must(t, err)

	replicate(t, l, 3, 2, 3, 3, 3, 3, 5, 5, 5, 5, 5) // several segments above the recovery point
	must(t, l.AssignEpochStartOffset(7, l.LogEndOffset()))
	closeLog(t, l)
	if len(l.loadSegments()) < 3 {
		t.Fatal("test needs several segments above the recovery point")
	}
	must(t, os.WriteFile(path, flushed, 0o644)) // what the disk kept

	l = openLogT(t, dir, cfg, OpenOptions{RecoveryPoint: recoveryPoint})
	want := []epochEntry{{0, 0}, {2, 6}, {3, 15}, {5, 27}}
	checkEpochs(t, l, want...) // epoch 7 wrote nothing: it ends where epoch 5 does
	checkEpochFile(t, l, want...)
	if foundEpoch, end, ok := l.EndOffsetForEpoch(7); !ok || foundEpoch != 5 || end != l.LogEndOffset() {
		t.Fatalf("EndOffsetForEpoch(7) = %d, %d, %v; want 5, %d, true", foundEpoch, end, ok, l.LogEndOffset())
	}
}

// A new log's directory is synced, with its entry in the log dir, by its first flush
// rather than at creation, so creating many logs waits for no fsync.
func TestNewLogDirectoryIsSyncedByTheFirstFlush(t *testing.T) {
	l := openLogT(t, filepath.Join(t.TempDir(), "t-0"), smallConfig(), OpenOptions{})
	if !l.parentDirDirty || !l.dirDirty {
		t.Fatal("a new log synced its directory at creation")
	}
	must(t, l.Flush())
	if !l.parentDirDirty || !l.dirDirty {
		t.Fatal("Flush synced a log that holds nothing")
	}
	replicate(t, l, 3, 1)
	must(t, l.Flush())
	if l.parentDirDirty || l.dirDirty || l.epochsUnsynced {
		t.Fatal("Flush left a new log's directory or epochs unsynced")
	}
}
