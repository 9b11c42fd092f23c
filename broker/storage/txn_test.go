package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kzoo/kzoo/broker/record"
)

// txnBatch is a transactional batch of n records of producer id, epoch 0 unless given.
func txnBatch(t testing.TB, n int, id int64, epoch int16, seq int32) []byte {
	t.Helper()
	b := makeBatch(t, idempotent(n, id, epoch, seq))
	attrs := binary.BigEndian.Uint16(b[21:]) | record.TransactionalBit
	binary.BigEndian.PutUint16(b[21:], attrs)
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	return b
}

func markerBatch(id int64, epoch int16, coordinatorEpoch int32, commit bool) []byte {
	return record.BuildMarker(record.Marker{ProducerID: id, ProducerEpoch: epoch, CoordinatorEpoch: coordinatorEpoch, Commit: commit}, 2_000)
}

// appendAs appends batch from origin without moving the high watermark.
func appendAs(t testing.TB, l *Log, origin AppendOrigin, batch []byte) AppendResult {
	t.Helper()
	res, err := l.AppendAsLeader(batch, testEpoch, origin)
	if err != nil {
		t.Fatalf("append at %d: %v", l.LogEndOffset(), err)
	}
	return res
}

func expectLSO(t testing.TB, l *Log, hw, want int64) {
	t.Helper()
	l.SetHighWatermark(hw)
	if got := l.LastStableOffset(); got != want {
		t.Fatalf("high watermark %d: last stable offset %d, want %d", hw, got, want)
	}
}

func expectAborted(t testing.TB, l *Log, from, upper int64, want ...AbortedTxn) {
	t.Helper()
	got, err := l.AbortedTransactions(from, upper)
	must(t, err)
	if !slices.Equal(got, want) {
		t.Fatalf("aborted transactions in [%d, %d): %v, want %v", from, upper, got, want)
	}
}

// TestLastStableOffset follows the LSO through two producers' transactions, one
// committed and one aborted, as the high watermark moves.
func TestLastStableOffset(t *testing.T) {
	l := openLogT(t, t.TempDir(), DefaultConfig(), OpenOptions{})
	appendAs(t, l, OriginClient, makeBatch(t, plain(2, 1_000))) // 0-1
	appendAs(t, l, OriginClient, txnBatch(t, 2, 1, 0, 0))       // 2-3: producer 1 opens
	expectLSO(t, l, 2, 2)
	expectLSO(t, l, 4, 2)
	appendAs(t, l, OriginClient, txnBatch(t, 1, 2, 0, 0))       // 4: producer 2 opens
	appendAs(t, l, OriginClient, makeBatch(t, plain(1, 1_000))) // 5
	appendAs(t, l, OriginClient, txnBatch(t, 1, 1, 0, 2))       // 6: producer 1 continues
	expectLSO(t, l, 7, 2)
	appendAs(t, l, OriginCoordinator, markerBatch(1, 0, 5, true))  // 7: producer 1 commits
	expectLSO(t, l, 7, 2)                                          // the marker is not replicated yet
	expectLSO(t, l, 8, 4)                                          // it is: producer 2 holds the LSO
	appendAs(t, l, OriginCoordinator, markerBatch(2, 0, 5, false)) // 8: producer 2 aborts
	expectLSO(t, l, 8, 4)
	expectLSO(t, l, 9, 9)

	expectAborted(t, l, 0, 9, AbortedTxn{ProducerID: 2, FirstOffset: 4})
	expectAborted(t, l, 8, 9, AbortedTxn{ProducerID: 2, FirstOffset: 4})
	expectAborted(t, l, 0, 4)  // the transaction starts at the bound
	expectAborted(t, l, 9, 10) // its marker is below the fetch

	byID := map[int64]ProducerState{}
	for _, p := range l.Producers() {
		byID[p.ProducerID] = p
	}
	if p := byID[1]; p.CurrentTxnStartOffset != -1 || p.CoordinatorEpoch != 5 || p.LastSequence != 2 || p.LastTimestamp != 2_000 {
		t.Fatalf("producer 1: %+v", p)
	}
	appendAs(t, l, OriginClient, txnBatch(t, 1, 2, 0, 1)) // 9: producer 2's next transaction
	if p := l.Producers(); len(p) != 2 {
		t.Fatalf("producers %+v", p)
	}
	for _, p := range l.Producers() {
		if p.ProducerID == 2 && p.CurrentTxnStartOffset != 9 {
			t.Fatalf("producer 2: %+v", p)
		}
	}
	expectLSO(t, l, 10, 9)
}

func TestTransactionFencingAndState(t *testing.T) {
	l := openLogT(t, t.TempDir(), DefaultConfig(), OpenOptions{})
	appendAs(t, l, OriginClient, txnBatch(t, 1, 7, 3, 0))
	appendAs(t, l, OriginCoordinator, markerBatch(7, 3, 10, false))
	appendAs(t, l, OriginClient, txnBatch(t, 1, 7, 3, 1))
	leo := l.LogEndOffset()
	if !l.TransactionOpen(7, 3) || l.TransactionOpen(7, 2) || l.TransactionOpen(8, 3) {
		t.Fatal("TransactionOpen: want producer 7's transaction open at epoch 3 only")
	}
	tests := []struct {
		name   string
		origin AppendOrigin
		batch  []byte
		want   error
	}{
		{"marker of an older producer epoch", OriginCoordinator, markerBatch(7, 2, 10, true), kerr.ProducerFenced},
		{"marker of an older coordinator", OriginCoordinator, markerBatch(7, 3, 9, true), kerr.TransactionCoordinatorFenced},
		{"non-transactional batch inside a transaction", OriginClient, makeBatch(t, idempotent(1, 7, 3, 2)), kerr.InvalidTxnState},
		{"marker from a client", OriginClient, markerBatch(7, 3, 10, true), kerr.InvalidRecord},
		{"data of an older epoch from a coordinator", OriginCoordinator, txnBatch(t, 1, 7, 2, 0), kerr.InvalidProducerEpoch},
	}
	for _, tt := range tests {
		if _, err := l.AppendAsLeader(tt.batch, testEpoch, tt.origin); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
		if l.LogEndOffset() != leo {
			t.Fatalf("%s: refused append changed the log end to %d", tt.name, l.LogEndOffset())
		}
	}
	// A newer coordinator and a bumped epoch (KIP-360) end the transaction.
	appendAs(t, l, OriginCoordinator, markerBatch(7, 4, 11, false))
	if p := l.Producers()[0]; p.ProducerEpoch != 4 || p.CoordinatorEpoch != 11 || p.CurrentTxnStartOffset != -1 {
		t.Fatalf("after the marker: %+v", p)
	}
	if l.TransactionOpen(7, 4) || l.TransactionOpen(7, 3) {
		t.Fatal("TransactionOpen after the marker ended the transaction")
	}
	// A marker with no transaction open is written all the same.
	res := appendAs(t, l, OriginCoordinator, markerBatch(7, 4, 11, false))
	if res.LastOffset != l.LogEndOffset()-1 {
		t.Fatalf("marker result %+v", res)
	}
	// A coordinator's transactional batch without sequences opens a transaction.
	first := appendAs(t, l, OriginCoordinator, coordinatorTxnBatch(t, 8, 1)).FirstOffset
	for _, p := range l.Producers() {
		if p.ProducerID == 8 && (p.CurrentTxnStartOffset != first || p.LastSequence != -1) {
			t.Fatalf("producer 8: %+v", p)
		}
	}
	expectLSO(t, l, l.LogEndOffset(), first)
}

// coordinatorTxnBatch is a transactional batch without sequences, as the group
// coordinator writes transactional offset commits.
func coordinatorTxnBatch(t testing.TB, id int64, epoch int16) []byte {
	t.Helper()
	b := txnBatch(t, 1, id, epoch, 0)
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	return b
}

// abortTxn writes one aborted transaction of producer id (sequence seq) of n records and
// returns its first offset; the high watermark follows.
func abortTxn(t testing.TB, l *Log, id int64, seq int32, n int) int64 {
	t.Helper()
	first := appendAs(t, l, OriginClient, txnBatch(t, n, id, 0, seq)).FirstOffset
	appendAs(t, l, OriginCoordinator, markerBatch(id, 0, 1, false))
	l.SetHighWatermark(l.LogEndOffset())
	return first
}

func TestTxnIndexFileAndTruncation(t *testing.T) {
	dir := t.TempDir()
	l := openLogT(t, dir, DefaultConfig(), OpenOptions{})
	first := abortTxn(t, l, 1, 0, 3)
	mid := l.LogEndOffset()
	second := abortTxn(t, l, 2, 0, 2)
	path := txnIndexPath(dir, 0)
	b, err := os.ReadFile(path)
	must(t, err)
	entries, err := decodeTxnIndex(b, 0, l.LogEndOffset())
	must(t, err)
	want := []abortedTxnEntry{
		{producerID: 1, firstOffset: first, lastOffset: first + 3, lastStableOffset: first + 4},
		{producerID: 2, firstOffset: second, lastOffset: second + 2, lastStableOffset: second + 3},
	}
	if !slices.Equal(entries, want) || len(b) != 2*txnIndexEntrySize || binary.BigEndian.Uint16(b) != 0 {
		t.Fatalf("txnindex %v (%d bytes), want %v", entries, len(b), want)
	}
	expectAborted(t, l, 0, l.LogEndOffset(), AbortedTxn{1, first}, AbortedTxn{2, second})

	must(t, l.TruncateTo(mid))
	expectAborted(t, l, 0, l.LogEndOffset(), AbortedTxn{1, first})
	if b, err := os.ReadFile(path); err != nil || len(b) != txnIndexEntrySize {
		t.Fatalf("txnindex after truncation: %d bytes, %v", len(b), err)
	}
	must(t, l.TruncateTo(first+1)) // inside the first transaction, which is open again
	expectAborted(t, l, 0, l.LogEndOffset())
	if fileExists(path) {
		t.Fatal("an empty transaction index was kept")
	}
	expectLSO(t, l, l.LogEndOffset(), first)
}

// TestOpenKeepsOpenTransaction restarts a log with a transaction open: the snapshot
// carries it, so the LSO stays held and the marker written after the restart ends it.
func TestOpenKeepsOpenTransaction(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, DefaultConfig(), OpenOptions{})
	must(t, err)
	appendAs(t, l, OriginClient, makeBatch(t, plain(2, 1_000)))
	first := appendAs(t, l, OriginClient, txnBatch(t, 2, 4, 1, 0)).FirstOffset
	appendAs(t, l, OriginCoordinator, markerBatch(4, 1, 3, true))
	second := appendAs(t, l, OriginClient, txnBatch(t, 2, 4, 1, 2)).FirstOffset
	appendAs(t, l, OriginClient, makeBatch(t, plain(1, 1_000)))
	leo := l.LogEndOffset()
	must(t, l.Flush())
	closeLog(t, l)
	if first != 2 {
		t.Fatalf("first transaction at %d", first)
	}

	if !fileExists(snapshotPath(dir, leo)) {
		t.Fatal("no snapshot at the log end after a clean close")
	}
	l = openLogT(t, dir, DefaultConfig(), OpenOptions{CleanShutdown: true, RecoveryPoint: leo, HighWatermark: leo})
	if got := l.LastStableOffset(); got != second {
		t.Fatalf("after the restart the LSO is %d, want %d", got, second)
	}
	ps := l.Producers()
	if len(ps) != 1 || ps[0].CurrentTxnStartOffset != second || ps[0].CoordinatorEpoch != 3 || ps[0].ProducerEpoch != 1 || ps[0].LastSequence != 3 {
		t.Fatalf("producers after the restart: %+v", ps)
	}
	if _, err := l.AppendAsLeader(markerBatch(4, 1, 2, false), testEpoch, OriginCoordinator); !errors.Is(err, kerr.TransactionCoordinatorFenced) {
		t.Fatalf("marker of an older coordinator after the restart: %v", err)
	}
	appendAs(t, l, OriginCoordinator, markerBatch(4, 1, 3, false))
	expectLSO(t, l, l.LogEndOffset(), l.LogEndOffset())
	expectAborted(t, l, 0, l.LogEndOffset(), AbortedTxn{4, second})
}

// rollingLog writes aborted transactions of producer 1 across several segments and
// returns them.
func rollingLog(t testing.TB, l *Log, n int) []AbortedTxn {
	var aborted []AbortedTxn
	for i := range n {
		aborted = append(aborted, AbortedTxn{1, abortTxn(t, l, 1, int32(3*i), 3)})
	}
	if len(l.loadSegments()) < 3 {
		t.Fatalf("%d segments, the test wants several", len(l.loadSegments()))
	}
	return aborted
}

func TestTxnIndexRebuiltWhenTorn(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l, err := Open(dir, cfg, OpenOptions{})
	must(t, err)
	aborted := rollingLog(t, l, 12)
	leo := l.LogEndOffset()
	must(t, l.Flush())
	closeLog(t, l)

	// Tear the first segment's index, empty the second's and misplace the third's.
	segs := segmentFiles(t, dir)
	bases := make([]int64, len(segs))
	for i := range segs {
		bases[i] = int64(mustAtoi(t, segs[i]))
	}
	f, err := os.OpenFile(txnIndexPath(dir, bases[0]), os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	_, err = f.Write([]byte{0, 0, 1})
	must(t, errors.Join(err, f.Close()))
	must(t, os.WriteFile(txnIndexPath(dir, bases[2]), appendTxnIndexEntries(nil, []abortedTxnEntry{{1, 0, bases[0], 1}}), 0o644))

	l = openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true, RecoveryPoint: leo, HighWatermark: leo})
	expectAborted(t, l, 0, leo, aborted...)
	for _, base := range bases[:3] {
		b, err := os.ReadFile(txnIndexPath(dir, base))
		must(t, err)
		if _, err := decodeTxnIndex(b, base, leo); err != nil {
			t.Fatalf("segment %d: index not rebuilt: %v", base, err)
		}
	}
}

func TestTxnIndexRebuiltByRecovery(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	l, err := Open(dir, cfg, OpenOptions{})
	must(t, err)
	aborted := rollingLog(t, l, 12)
	leo := l.LogEndOffset()
	must(t, l.Flush())
	closeLog(t, l)
	for _, s := range segmentFiles(t, dir) {
		must(t, removeIfExists(txnIndexPath(dir, int64(mustAtoi(t, s)))))
	}
	// An unclean shutdown with nothing known flushed: every segment is recovered.
	l = openLogT(t, dir, cfg, OpenOptions{HighWatermark: leo})
	expectAborted(t, l, 0, leo, aborted...)
	expectAborted(t, l, aborted[5].FirstOffset, aborted[6].FirstOffset+1, aborted[5], aborted[6])
}

// TestFollowerTracksTransactions copies a leader's log to a follower, which must end up
// with the same transactions, LSO and transaction index.
func TestFollowerTracksTransactions(t *testing.T) {
	leader := openLogT(t, t.TempDir(), DefaultConfig(), OpenOptions{})
	first := abortTxn(t, leader, 1, 0, 2)
	appendAs(t, leader, OriginClient, txnBatch(t, 2, 2, 0, 0))
	open := appendAs(t, leader, OriginClient, txnBatch(t, 1, 3, 0, 0)).FirstOffset
	appendAs(t, leader, OriginCoordinator, markerBatch(2, 0, 1, true))
	leader.SetHighWatermark(leader.LogEndOffset())

	follower := openLogT(t, t.TempDir(), DefaultConfig(), OpenOptions{})
	_, err := follower.AppendAsFollower(readAll(t, leader))
	must(t, err)
	expectLSO(t, follower, follower.LogEndOffset(), open)
	if leader.LastStableOffset() != open {
		t.Fatalf("leader LSO %d, want %d", leader.LastStableOffset(), open)
	}
	expectAborted(t, follower, 0, follower.LogEndOffset(), AbortedTxn{1, first})

	bad := markerBatch(3, 0, 1, true)
	bad[len(bad)-9] = 5 // the control type: neither commit nor abort
	binary.BigEndian.PutUint64(bad, uint64(follower.LogEndOffset()))
	binary.BigEndian.PutUint32(bad[17:], record.ComputeCRC(bad))
	if _, err := follower.AppendAsFollower(bad); err == nil {
		t.Fatal("a follower accepted a malformed marker")
	}
}

func TestRetentionKeepsProducersWithOpenTransactions(t *testing.T) {
	s := newProducerStates()
	var events []txnEvent
	h := record.ParseHeader(txnBatch(t, 1, 1, 0, 0))
	s.replay(h, nil, &events)
	h = record.ParseHeader(makeBatch(t, idempotent(1, 2, 0, 0)))
	h.BaseOffset = 1
	s.replay(h, nil, &events)
	s.removeBefore(10)
	if _, ok := s.entries[1]; !ok || len(s.entries) != 1 {
		t.Fatalf("after removing below 10: %v", s.entries)
	}
	if len(events) != 1 || events[0] != (txnEvent{producerID: 1, firstOffset: 0, markerOffset: -1}) {
		t.Fatalf("events %v", events)
	}
}

func mustAtoi(t testing.TB, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// transactional marks a keyed batch transactional.
func transactional(t testing.TB, b []byte) []byte {
	t.Helper()
	binary.BigEndian.PutUint16(b[21:], binary.BigEndian.Uint16(b[21:])|record.TransactionalBit)
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	return b
}

// TestCleanTransactions compacts a log holding an aborted, a committed and an open
// transaction: the aborted records go without superseding older ones, the committed
// stay, markers stay, and nothing at or past the open transaction is cleaned.
func TestCleanTransactions(t *testing.T) {
	cfg := compactedConfig()
	clock := newFakeClock()
	dir := t.TempDir()
	l := openLogT(t, dir, cfg, OpenOptions{Now: clock.Now})
	m := logModel{}
	ts := clock.Now().UnixMilli()
	txn := func(id int64, records ...testRecord) []byte {
		spec := keyed(ts, records...)
		spec.producerID, spec.producerEpoch, spec.baseSequence = id, 0, 0
		return transactional(t, keyedBatch(t, spec))
	}
	coordinate := func(id int64, commit bool) {
		appendAs(t, l, OriginCoordinator, markerBatch(id, 0, 1, commit))
		l.SetHighWatermark(l.LogEndOffset())
	}
	m.append(t, l, keyed(ts, kv("a", "0")))     // 0
	appendT(t, l, txn(5, kv("a", "aborted")))   // 1
	coordinate(5, false)                        // 2
	appendT(t, l, txn(6, kv("b", "committed"))) // 3
	coordinate(6, true)                         // 4
	m["b"] = loggedRecord{offset: 3, key: "b", value: "committed"}
	roll(t, l, clock, m)
	open := appendT(t, l, txn(7, kv("c", "open"))).FirstOffset
	m.append(t, l, keyed(ts, kv("b", "later"))) // past the open transaction's start
	roll(t, l, clock, m)
	if lso := l.LastStableOffset(); lso != open {
		t.Fatalf("LSO %d, want the open transaction's %d", lso, open)
	}

	cleanT(t, l, clock.Now(), true)
	var data []loggedRecord
	var markers []int64
	for _, b := range readBatches(t, l) {
		h := record.ParseHeader(b)
		if h.IsControl() {
			markers = append(markers, h.BaseOffset)
			continue
		}
		_, recs := decodeKeyedBatch(t, b)
		data = append(data, recs...)
	}
	if !slices.Equal(markers, []int64{2, 4}) {
		t.Fatalf("markers at %v, want 2 and 4", markers)
	}
	// "a"=0 stays: the aborted record never superseded it. "b"=committed stays too: the
	// clean stopped at the open transaction, below "b"=later.
	if data[0] != (loggedRecord{offset: 0, key: "a", value: "0"}) || data[1] != (loggedRecord{offset: 3, key: "b", value: "committed"}) {
		t.Fatalf("after the clean: %v", data)
	}
	for _, r := range data {
		if r.value == "aborted" {
			t.Fatalf("aborted record kept: %v", data)
		}
		if r.offset >= open && r.value == "open" {
			open = -1 // found, untouched
		}
	}
	if open != -1 {
		t.Fatalf("the open transaction's record is gone: %v", data)
	}
	// A read_committed reader still learns of the abort, whose records are gone, also
	// after a restart: the cleaned segment's index is whole.
	expectAborted(t, l, 0, l.LastStableOffset(), AbortedTxn{5, 1})
	leo, hw := l.LogEndOffset(), l.HighWatermark()
	must(t, l.Flush())
	closeLog(t, l)
	l = openLogT(t, dir, cfg, OpenOptions{Now: clock.Now, CleanShutdown: true, RecoveryPoint: leo, HighWatermark: hw})
	expectAborted(t, l, 0, l.LogEndOffset(), AbortedTxn{5, 1})
	if lso := l.LastStableOffset(); lso >= hw || lso < 0 {
		t.Fatalf("after the restart the LSO is %d: the open transaction must still hold it", lso)
	}
}

// TestUnindexedAbortHoldsTheLSO: an abort whose index entry is not written yet keeps its
// transaction unstable even once the high watermark passes its marker.
func TestUnindexedAbortHoldsTheLSO(t *testing.T) {
	tr := newTxnTracker()
	tr.apply(txnEvent{producerID: 1, firstOffset: 10, markerOffset: -1})
	if _, aborted := tr.apply(txnEvent{producerID: 1, firstOffset: 10, markerOffset: 20}); !aborted {
		t.Fatal("an abort made no index entry")
	}
	tr.unreplicated[0].unindexed = true
	if first, ok := tr.firstUnstable(30); !ok || first != 10 {
		t.Fatalf("unindexed abort: first unstable %d, %v; want 10", first, ok)
	}
	tr.unreplicated[0].unindexed = false
	if _, ok := tr.firstUnstable(30); ok {
		t.Fatal("an indexed abort below the high watermark still holds the LSO")
	}
}

// markersAndAborts lists the offsets of the log's control batches and its aborted
// transactions.
func markersAndAborts(t *testing.T, l *Log) (markers []int64, aborted []AbortedTxn) {
	t.Helper()
	for _, b := range readBatches(t, l) {
		if h := record.ParseHeader(b); h.IsControl() {
			markers = append(markers, h.BaseOffset)
		}
	}
	aborted, err := l.AbortedTransactions(0, l.LastStableOffset())
	must(t, err)
	return markers, aborted
}

// TestCleanRemovesMarkersOfCleanedTransactions: a marker goes once no batch of its
// transaction is left and delete.retention.ms has passed since a clean first passed it;
// an abort's index entry goes with its batches.
func TestCleanRemovesMarkersOfCleanedTransactions(t *testing.T) {
	cfg := compactedConfig()
	const retention = time.Hour
	cfg.DeleteRetentionMs = retention.Milliseconds()
	clock := newFakeClock()
	dir := t.TempDir()
	l := openLogT(t, dir, cfg, OpenOptions{Now: clock.Now})
	m := logModel{}
	ts := clock.Now().UnixMilli()
	txn := func(id int64, seq int32, records ...testRecord) []byte {
		spec := keyed(ts, records...)
		spec.producerID, spec.producerEpoch, spec.baseSequence = id, 0, seq
		return transactional(t, keyedBatch(t, spec))
	}
	coordinate := func(id int64, commit bool) {
		appendAs(t, l, OriginCoordinator, markerBatch(id, 0, 1, commit))
		l.SetHighWatermark(l.LogEndOffset())
	}
	appendT(t, l, txn(5, 0, kv("a", "aborted"))) // 0
	coordinate(5, false)                         // 1
	appendT(t, l, txn(6, 0, kv("b", "old")))     // 2
	coordinate(6, true)                          // 3
	appendT(t, l, txn(6, 1, kv("b", "new")))     // 4: supersedes b=old
	coordinate(6, true)                          // 5: producer 6's last batch
	m.append(t, l, keyed(ts, kv("c", "0")))      // 6
	roll(t, l, clock, m)

	first := clock.Now()
	cleanT(t, l, first, false)
	markers, aborted := markersAndAborts(t, l)
	// Every marker had a batch of its transaction in this pass.
	if !slices.Equal(markers, []int64{1, 3, 5}) || !slices.Equal(aborted, []AbortedTxn{{5, 0}}) {
		t.Fatalf("after the first clean: markers %v, aborted %v", markers, aborted)
	}

	cleanT(t, l, first.Add(retention-time.Millisecond), true)
	if markers, _ := markersAndAborts(t, l); !slices.Equal(markers, []int64{1, 3, 5}) {
		t.Fatalf("markers %v removed before delete.retention.ms", markers)
	}
	_, aborted = markersAndAborts(t, l)
	if len(aborted) != 0 {
		t.Fatalf("the abort's index entry outlived its batches: %v", aborted)
	}

	cleanT(t, l, first.Add(retention), true)
	markers, _ = markersAndAborts(t, l)
	// Producer 5's abort marker is its last batch and stays; producer 6's first commit
	// has no batch left and goes; its second commits b=new and stays.
	if !slices.Equal(markers, []int64{1, 5}) {
		t.Fatalf("after delete.retention.ms: markers %v, want 1 and 5", markers)
	}
	var data []loggedRecord
	for _, b := range readBatches(t, l) {
		if !record.ParseHeader(b).IsControl() {
			_, recs := decodeKeyedBatch(t, b)
			data = append(data, recs...)
		}
	}
	if len(data) < 2 || data[0] != (loggedRecord{offset: 4, key: "b", value: "new"}) || data[1].key != "c" {
		t.Fatalf("records after the cleans: %v", data)
	}

	// A restart trusts the swapped indexes and rebuilds the same state.
	leo, hw := l.LogEndOffset(), l.HighWatermark()
	must(t, l.Flush())
	closeLog(t, l)
	l = openLogT(t, dir, cfg, OpenOptions{Now: clock.Now, CleanShutdown: true, RecoveryPoint: leo, HighWatermark: hw})
	if _, aborted := markersAndAborts(t, l); len(aborted) != 0 {
		t.Fatalf("after the restart: aborted %v", aborted)
	}
}

// TestOpenFinishesAnInterruptedSwapOfATxnIndex: a crash after a clean committed, before
// the cleaned segment's transaction index took its name, leaves it as .txnindex.cleaned
// beside the .swap file: open installs both. Before the commit it is a leftover.
func TestOpenFinishesAnInterruptedSwapOfATxnIndex(t *testing.T) {
	cfg := compactedConfig()
	clock := newFakeClock()
	before := filepath.Join(t.TempDir(), "t-0")
	l := openLogT(t, before, cfg, OpenOptions{Now: clock.Now})
	m := logModel{}
	ts := clock.Now().UnixMilli()
	for i := range 4 {
		spec := keyed(ts, kv("a", fmt.Sprint("aborted", i)))
		spec.producerID, spec.producerEpoch, spec.baseSequence = int64(10+i), 0, 0
		appendT(t, l, transactional(t, keyedBatch(t, spec)))
		m.append(t, l, keyed(ts, kv(fmt.Sprint("k", i), "v")))
		appendAs(t, l, OriginCoordinator, markerBatch(int64(10+i), 0, 1, false))
		l.SetHighWatermark(l.LogEndOffset())
	}
	roll(t, l, clock, m)
	closeLog(t, l)
	segs := segmentFiles(t, before)
	base := int64(mustAtoi(t, segs[0]))

	after := filepath.Join(t.TempDir(), "t-0")
	copyDir(t, before, after)
	l = openLogT(t, after, cfg, OpenOptions{Now: clock.Now, HighWatermark: math.MaxInt64})
	cleanT(t, l, clock.Now(), true)
	want, err := l.AbortedTransactions(0, l.LastStableOffset())
	must(t, err)
	if len(want) != 4 {
		t.Fatalf("aborted %v after the clean, want the 4 whose batches it removed", want)
	}
	wantRecords := readRecords(t, l)
	// Only the active segment is recovered: the others' index files are read, not rebuilt
	// (a rebuild would find no abort to list, the cleaner having removed their batches).
	opts := OpenOptions{Now: clock.Now, HighWatermark: math.MaxInt64, RecoveryPoint: l.LogEndOffset()}
	closeLog(t, l)
	merged, err := os.ReadFile(filepath.Join(after, segs[0]))
	must(t, err)
	index, err := os.ReadFile(txnIndexPath(after, base))
	must(t, err)

	t.Run("after the commit", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "t-0")
		copyDir(t, before, dir)
		must(t, os.Remove(txnIndexPath(dir, base))) // whatever the old one held goes
		must(t, os.WriteFile(filepath.Join(dir, segs[0]+".swap"), merged, 0o644))
		must(t, os.WriteFile(txnIndexPath(dir, base)+".cleaned", index, 0o644))
		l := openLogT(t, dir, cfg, opts)
		checkRecords(t, readRecords(t, l), wantRecords)
		expectAborted(t, l, 0, l.LastStableOffset(), want...)
		if fileExists(txnIndexPath(dir, base) + ".cleaned") {
			t.Fatal(".txnindex.cleaned survived opening")
		}
	})
	t.Run("before the commit", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "t-0")
		copyDir(t, before, dir)
		must(t, os.WriteFile(txnIndexPath(dir, base)+".cleaned", index[:len(index)/2], 0o644))
		l := openLogT(t, dir, cfg, opts)
		expectAborted(t, l, 0, l.LastStableOffset(), want...)
		if fileExists(txnIndexPath(dir, base) + ".cleaned") {
			t.Fatal(".txnindex.cleaned survived opening")
		}
	})
}
