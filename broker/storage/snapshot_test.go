package storage

import (
	"bytes"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/kzoo/kzoo/broker/record"
)

// producerWorkload is what idempotent producers appended to a log.
type producerWorkload struct {
	sent []sentBatch // in log order
}

type sentBatch struct {
	batch      []byte // as built, before the log stamped it
	producer   int64
	result     AppendResult
	idempotent bool
}

// appendProducerWorkload appends n batches: three idempotent producers take turns, with
// a plain batch every fourth turn.
func appendProducerWorkload(t testing.TB, l *Log, n int) *producerWorkload {
	t.Helper()
	w := &producerWorkload{}
	seqs := map[int64]int32{}
	for i := range n {
		var spec batchSpec
		pid := int64(11 + i%3)
		idem := i%4 != 3
		if idem {
			spec = idempotent(1+i%3, pid, 0, seqs[pid])
			seqs[pid] += int32(len(spec.timestamps))
		} else {
			spec = plain(2, int64(1_000+i))
			pid = -1
		}
		for k := range spec.timestamps {
			spec.timestamps[k] = int64(1_000 + 10*i + k) // timestamps grow along the log
		}
		b := makeBatch(t, spec)
		res := appendT(t, l, bytes.Clone(b))
		w.sent = append(w.sent, sentBatch{batch: b, producer: pid, result: res, idempotent: idem})
	}
	return w
}

// recent returns the last k idempotent batches of every producer that end below end.
func (w *producerWorkload) recent(k int, end int64) []sentBatch {
	perProducer := map[int64][]sentBatch{}
	for _, s := range w.sent {
		if s.idempotent && s.result.LastOffset < end {
			perProducer[s.producer] = append(perProducer[s.producer], s)
		}
	}
	var out []sentBatch
	for _, batches := range perProducer {
		out = append(out, batches[max(0, len(batches)-k):]...)
	}
	return out
}

// expectDuplicates resends batches and checks that each is reported as the original.
func expectDuplicates(t testing.TB, l *Log, batches []sentBatch) {
	t.Helper()
	if len(batches) == 0 {
		t.Fatal("no batches to resend")
	}
	for _, s := range batches {
		end := l.LogEndOffset()
		res, err := l.AppendAsLeader(bytes.Clone(s.batch), testEpoch, OriginClient)
		if err != nil {
			t.Fatalf("resend of producer %d's batch at %d: %v", s.producer, s.result.FirstOffset, err)
		}
		if !res.Duplicate || res.FirstOffset != s.result.FirstOffset || res.LastOffset != s.result.LastOffset {
			t.Fatalf("resend of producer %d's batch at %d-%d: %+v, want a duplicate", s.producer, s.result.FirstOffset, s.result.LastOffset, res)
		}
		if l.LogEndOffset() != end {
			t.Fatal("duplicate appended")
		}
	}
}

// fullScanProducers rebuilds the producer state from every batch of the log, read back
// through Read: what opening did before snapshots.
func fullScanProducers(t testing.TB, l *Log) map[int64]producerEntry {
	t.Helper()
	states := newProducerStates()
	for _, b := range splitTestBatches(t, readAll(t, l)) {
		h := record.ParseHeader(b)
		m, err := parseMarkerIfControl(h, b)
		must(t, err)
		states.replay(h, m, new([]txnEvent))
	}
	return states.entries
}

func expectFullScanState(t testing.TB, l *Log) {
	t.Helper()
	want := fullScanProducers(t, l)
	if len(want) == 0 {
		t.Fatal("the log has no producer state to compare")
	}
	if !maps.Equal(l.producers.entries, want) {
		t.Fatalf("producer state %v\nwant, as rebuilt from the whole log, %v", l.producers.entries, want)
	}
}

// snapshotOffsets lists the offsets of the snapshot files in dir.
func snapshotOffsets(t testing.TB, dir string) []int64 {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, "*.snapshot"))
	must(t, err)
	var offsets []int64
	for _, m := range matches {
		off, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(m), ".snapshot"), 10, 64)
		must(t, err)
		offsets = append(offsets, off)
	}
	slices.Sort(offsets)
	return offsets
}

func TestProducerSnapshotEncoding(t *testing.T) {
	states := newProducerStates()
	for i := range 12 {
		h := record.ParseHeader(makeBatch(t, idempotent(1+i%3, int64(100+i%4), int16(i/6), int32(i*3))))
		h.BaseOffset = int64(10 * i)
		states.replay(h, nil, new([]txnEvent))
	}
	marked := newProducerEntry(2) // a producer known only by a marker
	marked.lastOffset, marked.coordinatorEpoch, marked.lastTimestamp = 57, 4, 1_000
	states.entries[99] = marked
	open := newProducerEntry(0) // a producer with an open transaction
	open.lastOffset, open.txnFirstOffset = 80, 70
	states.entries[101] = open
	data := encodeProducerSnapshot(&states, 120)
	got, err := decodeProducerSnapshot(data, 120)
	must(t, err)
	if !maps.Equal(got.entries, states.entries) {
		t.Fatalf("decoded %v, want %v", got.entries, states.entries)
	}
	if !bytes.Equal(encodeProducerSnapshot(&got, 120), data) {
		t.Fatal("encoding is not deterministic")
	}
	empty := newProducerStates()
	if got, err := decodeProducerSnapshot(encodeProducerSnapshot(&empty, 0), 0); err != nil || len(got.entries) != 0 {
		t.Fatalf("empty snapshot: %v, %v", got.entries, err)
	}

	bad := map[string][]byte{
		"empty":            nil,
		"truncated":        data[:len(data)-1],
		"trailing byte":    append(bytes.Clone(data), 0),
		"flipped bit":      flipByte(data, len(data)/2),
		"other version":    flipByte(data, 1),
		"crc damaged":      flipByte(data, 3),
		"header truncated": data[:snapshotHeaderSize-1],
	}
	for name, b := range bad {
		if _, err := decodeProducerSnapshot(b, 120); !errors.Is(err, errCorruptSnapshot) {
			t.Errorf("%s: got %v, want a corrupt snapshot error", name, err)
		}
	}
	if _, err := decodeProducerSnapshot(data, 121); !errors.Is(err, errCorruptSnapshot) {
		t.Errorf("snapshot read as of another offset: %v", err)
	}
	// A well-formed snapshot (valid checksum) holding nonsense is rejected too.
	huge := newProducerStates()
	huge.entries[1] = producerEntry{lastOffset: 500, txnFirstOffset: -1}
	if _, err := decodeProducerSnapshot(encodeProducerSnapshot(&huge, 100), 100); !errors.Is(err, errCorruptSnapshot) {
		t.Errorf("producer above the snapshot offset: %v", err)
	}
}

func flipByte(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x40
	return b
}

func TestProducerStateSurvivesReopen(t *testing.T) {
	cfg := smallConfig()
	src := filepath.Join(t.TempDir(), "src")
	l, err := Open(src, cfg, OpenOptions{})
	must(t, err)
	w := appendProducerWorkload(t, l, 150)
	live := maps.Clone(l.producers.entries)
	end := l.LogEndOffset()
	closeLog(t, l)
	if n := len(segmentFiles(t, src)); n < 10 {
		t.Fatalf("%d segments, want many", n)
	}
	if snaps := snapshotOffsets(t, src); len(snaps) > snapshotsKept || snaps[len(snaps)-1] != end {
		t.Fatalf("snapshots %v: want at most %d, the newest at the log end %d", snaps, snapshotsKept, end)
	}

	lastSeg := l.loadSegments()[len(l.loadSegments())-1].baseOffset
	tests := []struct {
		name string
		opts OpenOptions
	}{
		{"clean", OpenOptions{CleanShutdown: true}},
		{"unclean from the start", OpenOptions{}},
		{"unclean from the last segment", OpenOptions{RecoveryPoint: lastSeg}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), strconv.Itoa(i))
			copyDir(t, src, dir)
			l := openLogT(t, dir, cfg, tt.opts)
			if l.LogEndOffset() != end {
				t.Fatalf("log end %d, want %d", l.LogEndOffset(), end)
			}
			if !maps.Equal(l.producers.entries, live) {
				t.Fatalf("producer state after reopening %v\nwant the state before closing %v", l.producers.entries, live)
			}
			expectFullScanState(t, l)
			expectDuplicates(t, l, w.recent(producerBatchCacheSize, end))
		})
	}
}

func TestProducerStateAfterRecoveryFromATornTail(t *testing.T) {
	cfg := smallConfig()
	dir := filepath.Join(t.TempDir(), "topic-0")
	l, err := Open(dir, cfg, OpenOptions{})
	must(t, err)
	w := appendProducerWorkload(t, l, 59)
	last := w.sent[len(w.sent)-1]
	if !last.idempotent {
		t.Fatal("the workload must end with an idempotent batch")
	}
	closeLog(t, l)

	// Cut the last batch in half: the snapshot Close wrote describes it and must go.
	segs := segmentFiles(t, dir)
	path := filepath.Join(dir, segs[len(segs)-1])
	fi, err := os.Stat(path)
	must(t, err)
	must(t, os.Truncate(path, fi.Size()-int64(len(last.batch))/2))
	staleSnapshot := snapshotPath(dir, last.result.LastOffset+1)
	if !fileExists(staleSnapshot) {
		t.Fatal("no snapshot at the log end before the crash")
	}

	l = openLogT(t, dir, cfg, OpenOptions{RecoveryPoint: last.result.FirstOffset})
	if l.LogEndOffset() != last.result.FirstOffset {
		t.Fatalf("log end %d after losing the last batch, want %d", l.LogEndOffset(), last.result.FirstOffset)
	}
	if fileExists(staleSnapshot) {
		t.Fatal("snapshot beyond the recovered log end survived")
	}
	expectFullScanState(t, l)
	expectDuplicates(t, l, w.recent(producerBatchCacheSize, l.LogEndOffset()))
	// The lost batch is new again, not a duplicate.
	res, err := l.AppendAsLeader(bytes.Clone(last.batch), testEpoch, OriginClient)
	if err != nil || res.Duplicate || res.FirstOffset != last.result.FirstOffset {
		t.Fatalf("resend of the lost batch: %+v, %v; want it appended at %d", res, err, last.result.FirstOffset)
	}
}

func TestCorruptSnapshotIsIgnored(t *testing.T) {
	cfg := smallConfig()
	src := filepath.Join(t.TempDir(), "src")
	l, err := Open(src, cfg, OpenOptions{})
	must(t, err)
	w := appendProducerWorkload(t, l, 100)
	end := l.LogEndOffset()
	closeLog(t, l)
	snaps := snapshotOffsets(t, src)
	if len(snaps) < 2 {
		t.Fatalf("snapshots %v, want several", snaps)
	}

	damages := map[string]func(path string){
		"flipped byte": func(path string) {
			data, err := os.ReadFile(path)
			must(t, err)
			must(t, os.WriteFile(path, flipByte(data, len(data)-3), 0o644))
		},
		"empty":     func(path string) { must(t, os.Truncate(path, 0)) },
		"truncated": func(path string) { must(t, os.Truncate(path, 25)) },
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			intact := filepath.Join(t.TempDir(), "intact")
			copyDir(t, src, intact)
			reference := openLogT(t, intact, cfg, OpenOptions{CleanShutdown: true})

			// The newest damaged: the one before it serves.
			dir := filepath.Join(t.TempDir(), "newest")
			copyDir(t, src, dir)
			damage(snapshotPath(dir, end))
			l := openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
			expectFullScanState(t, l)
			expectDuplicates(t, l, w.recent(producerBatchCacheSize, end))
			if l.headersRead <= reference.headersRead {
				t.Fatalf("read %d headers with the newest snapshot damaged, %d without: it was not passed over", l.headersRead, reference.headersRead)
			}
			if fileExists(snapshotPath(dir, end)) {
				t.Fatal("corrupt snapshot not deleted")
			}

			// All damaged: the whole log is replayed.
			dir = filepath.Join(t.TempDir(), "all")
			copyDir(t, src, dir)
			for _, off := range snaps {
				damage(snapshotPath(dir, off))
			}
			l = openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
			expectFullScanState(t, l)
			expectDuplicates(t, l, w.recent(producerBatchCacheSize, end))
			if all := int64(len(w.sent)); l.headersRead < all {
				t.Fatalf("read %d headers without a usable snapshot, want at least the %d batches", l.headersRead, all)
			}
		})
	}
}

func TestCleanReopenReadsOnlyTheTail(t *testing.T) {
	cfg := smallConfig()
	cfg.IndexIntervalBytes = 0 // every batch but a segment's first is indexed: a tail is one batch
	src := filepath.Join(t.TempDir(), "src")
	l, err := Open(src, cfg, OpenOptions{})
	must(t, err)
	w := appendProducerWorkload(t, l, 400)
	segs := l.loadSegments()
	active := segs[len(segs)-1]
	activeBatches := 0
	for _, s := range w.sent {
		if s.result.FirstOffset >= active.baseOffset {
			activeBatches++
		}
	}
	closeLog(t, l)
	if len(segs) < 40 {
		t.Fatalf("%d segments, want many", len(segs))
	}

	dir := filepath.Join(t.TempDir(), "clean")
	copyDir(t, src, dir)
	indexesBefore := indexFiles(t, dir)
	l = openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
	// One header per inactive segment to check its indexes, the active segment in full,
	// and no producer replay: Close's snapshot is at the log end.
	if want := int64(len(segs) - 1 + activeBatches); l.headersRead != want {
		t.Fatalf("clean open read %d batch headers, want %d (%d segments, %d batches in the active one, %d in all)",
			l.headersRead, want, len(segs), activeBatches, len(w.sent))
	}
	if got := indexFiles(t, dir); !maps.EqualFunc(got, indexesBefore, bytes.Equal) {
		t.Fatal("a clean open rewrote index files")
	}
	expectFullScanState(t, l)
	expectDuplicates(t, l, w.recent(producerBatchCacheSize, l.LogEndOffset()))

	// What the open trusted is what reading every batch yields.
	full := filepath.Join(t.TempDir(), "full")
	copyDir(t, src, full)
	reference := openLogT(t, full, cfg, OpenOptions{})
	if reference.headersRead < int64(len(w.sent)) {
		t.Fatalf("unclean open from offset 0 read %d headers, fewer than the %d batches", reference.headersRead, len(w.sent))
	}
	expectSameSegments(t, l, reference)
}

// expectSameSegments compares what two opens of the same log found in its segments.
func expectSameSegments(t testing.TB, got, want *Log) {
	t.Helper()
	gotSegs, wantSegs := got.loadSegments(), want.loadSegments()
	if len(gotSegs) != len(wantSegs) {
		t.Fatalf("%d segments, want %d", len(gotSegs), len(wantSegs))
	}
	for i, g := range gotSegs {
		w := wantSegs[i]
		if g.baseOffset != w.baseOffset || g.nextOffset != w.nextOffset || g.size.Load() != w.size.Load() ||
			g.maxTimestamp.Load() != w.maxTimestamp.Load() {
			t.Fatalf("segment %d: offsets [%d, %d), %d bytes, max timestamp %d; want [%d, %d), %d bytes, max timestamp %d",
				i, g.baseOffset, g.nextOffset, g.size.Load(), g.maxTimestamp.Load(),
				w.baseOffset, w.nextOffset, w.size.Load(), w.maxTimestamp.Load())
		}
		if !slices.Equal(g.index.offsets, w.index.offsets) || !slices.Equal(g.index.times, w.index.times) {
			t.Fatalf("segment %d: in-memory indexes differ", g.baseOffset)
		}
	}
}

func TestIncompleteIndexesOfInactiveSegmentsAreRebuilt(t *testing.T) {
	cfg := smallConfig()
	src, _ := writtenLog(t, cfg, 60)
	want := indexFiles(t, src)
	bases := segmentFiles(t, src)
	if len(bases) < 4 {
		t.Fatalf("%d segments", len(bases))
	}
	// The second segment is inactive and has entries in both files.
	stem := strings.TrimSuffix(bases[1], ".log")
	offsetIndex, timeIndex := stem+".index", stem+".timeindex"
	if len(want[offsetIndex]) < 2*offsetIndexEntrySize || len(want[timeIndex]) < 2*timeIndexEntrySize {
		t.Fatalf("segment %s has too few index entries to test with", stem)
	}
	damages := map[string]func(dir string){
		// Both lose whole entries at their end, as after a crash: the structure is sound.
		"offset index lost its last entry": func(dir string) {
			must(t, os.Truncate(filepath.Join(dir, offsetIndex), int64(len(want[offsetIndex])-offsetIndexEntrySize)))
		},
		"time index lost its last entry": func(dir string) {
			must(t, os.Truncate(filepath.Join(dir, timeIndex), int64(len(want[timeIndex])-timeIndexEntrySize)))
		},
		"time index emptied": func(dir string) {
			must(t, os.Truncate(filepath.Join(dir, timeIndex), 0))
		},
		"offset index entry moved to another batch": func(dir string) {
			data := bytes.Clone(want[offsetIndex])
			n := len(data) - offsetIndexEntrySize
			copy(data[n:n+4], data[n-offsetIndexEntrySize:n-offsetIndexEntrySize+4]) // offset of the previous entry
			data[n+3]++
			must(t, os.WriteFile(filepath.Join(dir, offsetIndex), data, 0o644))
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			copyDir(t, src, dir)
			damage(dir)
			l := openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
			if got := indexFiles(t, dir); !maps.EqualFunc(got, want, bytes.Equal) {
				t.Fatal("damaged index not rebuilt to what the log calls for")
			}
			full := filepath.Join(t.TempDir(), "full")
			copyDir(t, src, full)
			expectSameSegments(t, l, openLogT(t, full, cfg, OpenOptions{}))
		})
	}
}

func TestTruncationStartsFromASnapshot(t *testing.T) {
	cfg := smallConfig()
	dir := filepath.Join(t.TempDir(), "topic-0")
	l := openLogT(t, dir, cfg, OpenOptions{})
	w := appendProducerWorkload(t, l, 150)
	segs := l.loadSegments()
	if len(segs) < 10 {
		t.Fatalf("%d segments", len(segs))
	}
	snaps := snapshotOffsets(t, dir)
	if len(snaps) != snapshotsKept {
		t.Fatalf("snapshots %v, want the newest %d", snaps, snapshotsKept)
	}
	// Into the segment after the newest-but-one snapshot, at a batch boundary.
	var target sentBatch
	for _, s := range w.sent {
		if s.result.FirstOffset > snaps[1] && s.result.FirstOffset < snaps[2] && s.idempotent {
			target = s
			break
		}
	}
	if target.batch == nil {
		t.Fatalf("no batch between the snapshots %v", snaps)
	}
	before := l.headersRead
	must(t, l.TruncateTo(target.result.FirstOffset))
	if l.LogEndOffset() != target.result.FirstOffset {
		t.Fatalf("log end %d, want %d", l.LogEndOffset(), target.result.FirstOffset)
	}
	if got := snapshotOffsets(t, dir); !slices.Equal(got, snaps[:2]) {
		t.Fatalf("snapshots %v after truncating to %d, want %v", got, target.result.FirstOffset, snaps[:2])
	}
	// The cut segment is read to rebuild its index, and the batches after the snapshot
	// below the cut to rebuild the producer state: nothing like the whole log.
	if read := l.headersRead - before; read > int64(len(w.sent))/4 {
		t.Fatalf("truncation read %d batch headers of a log of %d batches", read, len(w.sent))
	}
	expectFullScanState(t, l)
	expectDuplicates(t, l, w.recent(producerBatchCacheSize, l.LogEndOffset()))
	res, err := l.AppendAsLeader(bytes.Clone(target.batch), testEpoch, OriginClient)
	if err != nil || res.Duplicate || res.FirstOffset != target.result.FirstOffset {
		t.Fatalf("resend of the truncated batch: %+v, %v; want it appended again", res, err)
	}

	// Without a snapshot below the cut, the whole log is replayed, with the same result.
	must(t, l.TruncateTo(snaps[0]-1))
	expectFullScanState(t, l)
	expectDuplicates(t, l, w.recent(producerBatchCacheSize, l.LogEndOffset()))
	if got := snapshotOffsets(t, dir); len(got) != 0 {
		t.Fatalf("snapshots %v above the log end %d", got, l.LogEndOffset())
	}
}

func TestRetentionDeletesSnapshotsBelowTheLogStart(t *testing.T) {
	cfg := smallConfig()
	dir := filepath.Join(t.TempDir(), "topic-0")
	l := openLogT(t, dir, cfg, OpenOptions{})
	appendProducerWorkload(t, l, 100)
	cfg.RetentionBytes = 2 * cfg.SegmentBytes
	l.UpdateConfig(cfg)
	if _, err := l.DeleteExpiredSegments(); err != nil {
		t.Fatal(err)
	}
	for _, off := range snapshotOffsets(t, dir) {
		if off < l.LogStartOffset() {
			t.Fatalf("snapshot at %d below the log start %d", off, l.LogStartOffset())
		}
	}
	end := l.LogEndOffset()
	live := maps.Clone(l.producers.entries)
	closeLog(t, l)
	l = openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
	if l.LogEndOffset() != end {
		t.Fatalf("log end %d, want %d", l.LogEndOffset(), end)
	}
	// Not the state of a full scan, which cannot know of the batches retention deleted:
	// like the running log, the reopened one still recognises their resends.
	if !maps.Equal(l.producers.entries, live) {
		t.Fatalf("producer state after reopening %v\nwant the state before closing %v", l.producers.entries, live)
	}
}

func TestOpenRemovesSnapshotLeftovers(t *testing.T) {
	cfg := smallConfig()
	dir, _ := writtenLog(t, cfg, 5)
	leftover := filepath.Join(dir, "00000000000000000003.snapshot.tmp")
	beyond := snapshotPath(dir, math.MaxInt32)
	must(t, os.WriteFile(leftover, []byte("x"), 0o644))
	must(t, os.WriteFile(beyond, []byte("x"), 0o644))
	openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
	for _, path := range []string{leftover, beyond} {
		if fileExists(path) {
			t.Errorf("%s survived opening", filepath.Base(path))
		}
	}
}
