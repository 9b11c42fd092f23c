package storage

import (
	"fmt"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/record"
)

// viewT reads the log from offset up to maxOffset within maxBytes as a consumer fetch
// does and returns the consumer's view of it, checked by checkView, with the range read.
func viewT(t testing.TB, l *Log, offset, maxOffset int64, maxBytes int32, readCommitted bool) ([]string, Slice) {
	t.Helper()
	s, err := l.Read(offset, maxOffset, maxBytes)
	must(t, err)
	chunks, filtered, err := l.ConsumerView(s, maxOffset, maxBytes, readCommitted)
	must(t, err)
	if !filtered {
		t.Fatalf("view of a log that had transactions not filtered")
	}
	return checkView(t, s, chunks), s
}

// checkView decodes the chunks of a view of s with kmsg as a client would, checks that
// every batch is whole with a valid CRC, that the batches follow each other without a
// gap from the first offset of s, over its offsets at least (further when the view read
// on past dropped batches), that the synthetic ones are empty batches of no producer,
// and that a view of s alone is no bigger than s. It describes each chunk as "kept a-b"
// (batches of the log, sent from its file) or "empty a-b" (a synthetic batch), a and b
// being the first and last offsets it spans.
func checkView(t testing.TB, s Slice, chunks []Chunk) []string {
	t.Helper()
	if chunks == nil {
		t.Fatal("a filtered view is nil")
	}
	next := decodeTestHeader(t, readSlice(t, s)).baseOffset
	out := []string{}
	total := int64(0)
	for i, c := range chunks {
		var b []byte
		kind := "kept"
		if c.Batch != nil {
			kind, b = "empty", c.Batch
		} else {
			b = readSlice(t, c.Slice)
		}
		total += c.Size()
		if int64(len(b)) != c.Size() || len(b) == 0 {
			t.Fatalf("chunk %d: %d bytes, Size %d", i, len(b), c.Size())
		}
		first := next
		for _, batch := range splitTestBatches(t, b) {
			var rb kmsg.RecordBatch
			if err := rb.ReadFrom(batch); err != nil {
				t.Fatalf("chunk %d: kmsg cannot decode a batch: %v", i, err)
			}
			if !crcValid(batch) {
				t.Fatalf("chunk %d: batch at offset %d has a bad CRC", i, rb.FirstOffset)
			}
			if rb.FirstOffset != next {
				t.Fatalf("chunk %d: batch at offset %d, want %d: the view has a gap or overlap", i, rb.FirstOffset, next)
			}
			if kind == "empty" {
				if len(batch) != record.HeaderSize || rb.Length != record.MinBatchLength || rb.Magic != 2 || rb.Attributes != 0 ||
					rb.ProducerID != -1 || rb.ProducerEpoch != -1 || rb.FirstSequence != -1 || rb.NumRecords != 0 || len(rb.Records) != 0 {
					t.Fatalf("chunk %d: synthetic batch %+v is not an empty batch of no producer", i, rb)
				}
			} else if rb.Attributes&record.ControlBit != 0 {
				t.Fatalf("chunk %d: control batch at offset %d kept", i, rb.FirstOffset)
			}
			next = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
		}
		out = append(out, fmt.Sprintf("%s %d-%d", kind, first, next-1))
	}
	switch {
	case len(chunks) == 0:
	case next < s.NextOffset:
		t.Fatalf("view ends before offset %d, the range read before %d", next, s.NextOffset)
	case next == s.NextOffset && total > s.Size:
		t.Fatalf("view of %d bytes, bigger than the %d read", total, s.Size)
	case len(chunks) == 1 && chunks[0].Batch != nil:
		t.Fatal("a view of a synthetic batch alone")
	}
	return out
}

func expectView(t testing.TB, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: view %q, want %q", what, got, want)
	}
}

// interleavedTxns writes two producers' transactions, committed and aborted, with
// non-transactional batches between, and moves the high watermark to the end:
//
//	0-1 plain  2-3 P1  4 P2  5 plain  6 P1  7 P1 commits  8 P2  9 P2 aborts
//	10-11 plain  12 P1  13 P1 aborts
func interleavedTxns(t testing.TB, l *Log) {
	t.Helper()
	appendAs(t, l, OriginClient, makeBatch(t, plain(2, 1_000)))
	appendAs(t, l, OriginClient, txnBatch(t, 2, 1, 0, 0))
	appendAs(t, l, OriginClient, txnBatch(t, 1, 2, 0, 0))
	appendAs(t, l, OriginClient, makeBatch(t, plain(1, 1_000)))
	appendAs(t, l, OriginClient, txnBatch(t, 1, 1, 0, 2))
	appendAs(t, l, OriginCoordinator, markerBatch(1, 0, 1, true))
	appendAs(t, l, OriginClient, txnBatch(t, 1, 2, 0, 1))
	appendAs(t, l, OriginCoordinator, markerBatch(2, 0, 1, false))
	appendAs(t, l, OriginClient, makeBatch(t, plain(2, 1_000)))
	appendAs(t, l, OriginClient, txnBatch(t, 1, 1, 0, 3))
	appendAs(t, l, OriginCoordinator, markerBatch(1, 0, 1, false))
	l.SetHighWatermark(l.LogEndOffset())
	if lso := l.LastStableOffset(); lso != 14 {
		t.Fatalf("last stable offset %d, want 14", lso)
	}
}

func TestConsumerViewInterleavedTransactions(t *testing.T) {
	l := openLogT(t, t.TempDir(), DefaultConfig(), OpenOptions{})
	interleavedTxns(t, l)

	got, _ := viewT(t, l, 0, 14, math.MaxInt32, true)
	expectView(t, "read_committed", got, "kept 0-3", "empty 4-4", "kept 5-6", "empty 7-9", "kept 10-11", "empty 12-13")
	if n := l.viewHeadersRead.Load(); n != 11 {
		t.Fatalf("read %d headers for a range of 11 batches", n)
	}
	got, _ = viewT(t, l, 0, 14, math.MaxInt32, false)
	expectView(t, "read_uncommitted", got, "kept 0-6", "empty 7-7", "kept 8-8", "empty 9-9", "kept 10-12", "empty 13-13")

	// From inside a run, and from a committed batch after aborted ones.
	got, _ = viewT(t, l, 8, 14, math.MaxInt32, true)
	expectView(t, "read_committed from 8", got, "empty 8-9", "kept 10-11", "empty 12-13")
	got, _ = viewT(t, l, 6, 14, math.MaxInt32, true)
	expectView(t, "read_committed from 6", got, "kept 6-6", "empty 7-9", "kept 10-11", "empty 12-13")
	// A range of dropped batches up to the high watermark: nothing, as at the end.
	got, _ = viewT(t, l, 13, 14, math.MaxInt32, false)
	expectView(t, "read_uncommitted from 13", got)
	got, _ = viewT(t, l, 12, 14, math.MaxInt32, true)
	expectView(t, "read_committed from 12", got)
	got, _ = viewT(t, l, 7, 8, math.MaxInt32, true)
	expectView(t, "read_committed from 7 below 8", got)

	// The aborted transactions Fetch would report are the log's business, unchanged.
	expectAborted(t, l, 0, 14, AbortedTxn{ProducerID: 2, FirstOffset: 4}, AbortedTxn{ProducerID: 1, FirstOffset: 12})
}

// TestConsumerViewCutByMaxBytes: the view is of the range the byte limit gives, a run at
// its end closed there; the next read carries on from the range's end.
func TestConsumerViewCutByMaxBytes(t *testing.T) {
	l := openLogT(t, t.TempDir(), DefaultConfig(), OpenOptions{})
	interleavedTxns(t, l)
	whole, err := l.Read(0, 14, math.MaxInt32)
	must(t, err)
	batches := splitTestBatches(t, readSlice(t, whole))
	// The first three batches: 0-1, 2-3 and P2's aborted 4.
	limit := int32(len(batches[0]) + len(batches[1]) + len(batches[2]))

	got, s := viewT(t, l, 0, 14, limit, true)
	if s.NextOffset != 5 || s.Size != int64(limit) {
		t.Fatalf("read %+v, want the three batches up to offset 5", s)
	}
	expectView(t, "read_committed to 5", got, "kept 0-3", "empty 4-4")
	// 5, 6, the marker 7 and P2's aborted 8: the run is cut before P2's marker.
	limit = int32(len(batches[3]) + len(batches[4]) + len(batches[5]) + len(batches[6]))
	got, _ = viewT(t, l, s.NextOffset, 14, limit, true)
	expectView(t, "read_committed from 5", got, "kept 5-6", "empty 7-8")
	got, _ = viewT(t, l, 9, 14, limit, true)
	expectView(t, "read_committed from 9", got, "empty 9-9", "kept 10-11", "empty 12-12")

	// One batch more than fits: KIP-74 returns it alone, and it is dropped, as are the
	// two after it: the view reads on to the first batch kept.
	got, s = viewT(t, l, 7, 14, 1, true)
	expectView(t, "read_committed of one marker", got, "empty 7-9", "kept 10-11")
	if s.NextOffset != 8 {
		t.Fatalf("read %+v, want the marker at 7 alone", s)
	}
	// Reading on keeps to the byte limit, less the synthetic batch.
	got, _ = viewT(t, l, 7, 14, int32(len(batches[8])+record.HeaderSize), true)
	expectView(t, "read_committed from 7 within a limit", got, "empty 7-9", "kept 10-11")
	got, _ = viewT(t, l, 8, 14, int32(len(batches[6])+len(batches[7])), false)
	expectView(t, "read_uncommitted from 8", got, "kept 8-8", "empty 9-9")
	// The last stable offset bounds the range as it does any read.
	got, _ = viewT(t, l, 0, 8, math.MaxInt32, true)
	expectView(t, "read_committed below 8", got, "kept 0-3", "empty 4-4", "kept 5-6", "empty 7-7")
}

// TestConsumerViewControlBatchesOnly: a run of markers becomes one empty batch spanning
// them, with the leader epoch of the last and their timestamps; up to the high
// watermark alone, it is not sent at all.
func TestConsumerViewControlBatchesOnly(t *testing.T) {
	l := openLogT(t, t.TempDir(), DefaultConfig(), OpenOptions{})
	for i, ts := range []int64{2_000, 3_000, 2_500} {
		m := record.BuildMarker(record.Marker{ProducerID: int64(i + 1), CoordinatorEpoch: 1, Commit: i != 1}, ts)
		if _, err := l.AppendAsLeader(m, testEpoch+int32(i), OriginCoordinator); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	for _, committed := range []bool{false, true} {
		got, _ := viewT(t, l, 0, 3, math.MaxInt32, committed)
		expectView(t, fmt.Sprintf("read_committed %v, markers alone", committed), got)
	}
	if _, err := l.AppendAsLeader(makeBatch(t, plain(1, 1_000)), testEpoch+2, OriginClient); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	for _, committed := range []bool{false, true} {
		s, err := l.Read(0, 4, math.MaxInt32)
		must(t, err)
		chunks, filtered, err := l.ConsumerView(s, 4, math.MaxInt32, committed)
		must(t, err)
		if !filtered {
			t.Fatal("markers did not make the log filtered")
		}
		expectView(t, fmt.Sprintf("read_committed %v", committed), checkView(t, s, chunks), "empty 0-2", "kept 3-3")
		h := record.ParseHeader(chunks[0].Batch)
		if err := h.CheckStructure(int64(len(chunks[0].Batch))); err != nil {
			t.Fatal(err)
		}
		if err := h.CheckCRC(chunks[0].Batch); err != nil {
			t.Fatal(err)
		}
		if h.LeaderEpoch != testEpoch+2 || h.BaseTimestamp != 2_000 || h.MaxTimestamp != 3_000 || h.LastOffsetDelta != 2 {
			t.Fatalf("synthetic batch %+v: want leader epoch %d, timestamps 2000 to 3000, offsets 0-2", h, testEpoch+2)
		}
	}
}

// TestConsumerViewDropsEmptyBatches: a batch without records (the cleaner leaves them)
// joins the run of dropped batches next to it, so that the view never has two empty
// batches in a row.
func TestConsumerViewDropsEmptyBatches(t *testing.T) {
	l := openLogT(t, t.TempDir(), DefaultConfig(), OpenOptions{})
	appendAs(t, l, OriginClient, txnBatch(t, 1, 1, 0, 0))
	appendAs(t, l, OriginCoordinator, markerBatch(1, 0, 1, true))
	// A follower copies an empty batch of producer 2, as a leader's cleaner left it.
	empty := makeBatch(t, idempotent(1, 2, 0, 0))
	record.StampBaseOffset(empty, 2)
	empty = empty[:record.HeaderSize]
	record.Finish(empty, 0, 1_000)
	if _, err := l.AppendAsFollower(empty); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsFollower(withBase(t, makeBatch(t, plain(1, 1_000)), 3)); err != nil {
		t.Fatal(err)
	}
	l.SetHighWatermark(l.LogEndOffset())
	got, _ := viewT(t, l, 0, 4, math.MaxInt32, false)
	expectView(t, "read_uncommitted", got, "kept 0-0", "empty 1-2", "kept 3-3")
}

// withBase sets a batch's base offset, as a leader would have.
func withBase(t testing.TB, b []byte, offset int64) []byte {
	t.Helper()
	record.StampBaseOffset(b, offset)
	return b
}

// TestConsumerViewOfAPlainLog: a log that never had a transactional or control batch is
// not filtered, and no header is read for it; one that had one is, after a restart too.
func TestConsumerViewOfAPlainLog(t *testing.T) {
	dir := t.TempDir()
	l := openLogT(t, dir, DefaultConfig(), OpenOptions{})
	appendT(t, l, makeBatch(t, plain(3, 1_000)))
	appendT(t, l, makeBatch(t, idempotent(2, 7, 0, 0)))
	s, err := l.Read(0, l.HighWatermark(), math.MaxInt32)
	must(t, err)
	for _, committed := range []bool{false, true} {
		chunks, filtered, err := l.ConsumerView(s, l.HighWatermark(), math.MaxInt32, committed)
		must(t, err)
		if filtered || chunks != nil {
			t.Fatalf("plain log filtered: %v", chunks)
		}
	}
	if n := l.viewHeadersRead.Load(); n != 0 {
		t.Fatalf("read %d headers of a plain log", n)
	}
	closeLog(t, l)
	l = openLogT(t, dir, DefaultConfig(), OpenOptions{CleanShutdown: true, HighWatermark: 5})
	if l.HadTransactions() {
		t.Fatal("a plain log had transactions after a restart")
	}
}

// TestHadTransactionsSurvivesRestarts: the flag comes back from the producer snapshot
// (a committed transaction: the producer's coordinator epoch; an open one: its first
// offset), from the transaction index, and from a replay of the log.
func TestHadTransactionsSurvivesRestarts(t *testing.T) {
	for _, tt := range []struct {
		name  string
		write func(t *testing.T, l *Log)
	}{
		{"committed", func(t *testing.T, l *Log) {
			appendAs(t, l, OriginClient, txnBatch(t, 1, 1, 0, 0))
			appendAs(t, l, OriginCoordinator, markerBatch(1, 0, 1, true))
		}},
		{"open", func(t *testing.T, l *Log) { appendAs(t, l, OriginClient, txnBatch(t, 1, 1, 0, 0)) }},
		{"marker-alone", func(t *testing.T, l *Log) { appendAs(t, l, OriginCoordinator, markerBatch(1, 0, 1, false)) }},
		{"follower", func(t *testing.T, l *Log) {
			if _, err := l.AppendAsFollower(withBase(t, markerBatch(1, 0, 1, true), 1)); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, replay := range []bool{false, true} {
				dir := t.TempDir()
				l, err := Open(dir, DefaultConfig(), OpenOptions{})
				must(t, err)
				appendT(t, l, makeBatch(t, plain(1, 1_000)))
				tt.write(t, l)
				if !l.HadTransactions() {
					t.Fatal("not flagged after the append")
				}
				closeLog(t, l)
				opts := OpenOptions{CleanShutdown: true}
				if replay {
					// Without snapshots the producer state is replayed from the log.
					for _, offset := range snapshotOffsets(t, dir) {
						must(t, os.Remove(snapshotPath(dir, offset)))
					}
					opts = OpenOptions{}
				}
				l = openLogT(t, dir, DefaultConfig(), opts)
				if !l.HadTransactions() {
					t.Fatalf("not flagged after a restart (replay %v)", replay)
				}
			}
		})
	}
}
