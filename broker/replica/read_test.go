package replica

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/record/recordtest"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// soleLeader returns a manager leading one partition alone: its high watermark follows
// its log end.
func soleLeader(t *testing.T) (*Manager, *Partition) {
	t.Helper()
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	m := New(Config{BrokerID: 1, Logger: logger}, 0)
	log, err := storage.Open(t.TempDir(), storage.DefaultConfig(), storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close() })
	p := newPartition(zkpaths.TopicPartition{Topic: "t", Partition: 0}, log, config.Topic{})
	p.mu.Lock()
	m.becomeLeaderLocked(p, coordinator.Partition{LeaderEpoch: 1, Replicas: []int32{1}, ISR: []int32{1}})
	p.mu.Unlock()
	if !p.IsLeader() {
		t.Fatal("not leading")
	}
	return m, p
}

// producerBatch is a batch of n records of producer id (epoch 0) from sequence seq,
// transactional or not; id -1 is no producer.
func producerBatch(n int, id int64, seq int32, transactional bool) []byte {
	var records []recordtest.Record
	for range n {
		records = append(records, recordtest.Record{Key: []byte("k"), Value: []byte("v")})
	}
	attrs := int16(0)
	if transactional {
		attrs = record.TransactionalBit
	}
	b := recordtest.FrameAttributes(attrs, int32(n), recordtest.Records(records...))
	if id >= 0 {
		binary.BigEndian.PutUint64(b[43:], uint64(id))
		binary.BigEndian.PutUint16(b[51:], 0)
		binary.BigEndian.PutUint32(b[53:], uint32(seq))
		binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	}
	return b
}

func produce(t *testing.T, m *Manager, p *Partition, batch []byte) {
	t.Helper()
	a := []Append{{Partition: p, Records: batch, LeaderEpoch: -1}}
	m.AppendRecords(context.Background(), -1, time.Second, a)
	if a[0].Err != nil || a[0].AckErr != nil {
		t.Fatalf("produce: %v, %v", a[0].Err, a[0].AckErr)
	}
}

func writeMarker(t *testing.T, m *Manager, p *Partition, id int64, commit bool) {
	t.Helper()
	marker := record.BuildMarker(record.Marker{ProducerID: id, CoordinatorEpoch: 1, Commit: commit}, 1_000)
	if _, err := m.AppendAndAwait(context.Background(), p, 1, marker, time.Second); err != nil {
		t.Fatalf("marker: %v", err)
	}
}

// lastOffsetRead is the last offset of the batches a read returned, -1 for none.
func lastOffsetRead(t *testing.T, s storage.Slice) int64 {
	t.Helper()
	if s.Size == 0 {
		return -1
	}
	b := make([]byte, s.Size)
	if _, err := s.File.ReadAt(b, s.Pos); err != nil {
		t.Fatal(err)
	}
	last := int64(-1)
	for len(b) > 0 {
		h := record.ParseHeader(b)
		last = h.LastOffset()
		b = b[h.Size():]
	}
	return last
}

func TestReadCommittedStopsAtTheLastStableOffset(t *testing.T) {
	m, p := soleLeader(t)
	produce(t, m, p, producerBatch(1, -1, 0, false)) // 0
	produce(t, m, p, producerBatch(2, 1, 0, true))   // 1-2: producer 1
	produce(t, m, p, producerBatch(1, 2, 0, true))   // 3: producer 2
	wake := make(chan struct{}, 1)
	p.Watch(wake)
	writeMarker(t, m, p, 1, false) // 4: producer 1 aborts
	select {
	case <-wake:
	default:
		t.Fatal("a marker moving the high watermark woke no waiter")
	}
	if hw, lso := p.HighWatermark(), p.LastStableOffset(); hw != 5 || lso != 3 {
		t.Fatalf("high watermark %d, last stable offset %d; want 5 and 3", hw, lso)
	}

	// A consumer that asks for it is sent the view of the range read without
	// markers (and, reading committed, without aborted batches), and so no
	// aborted transactions.
	committed, err := m.Read(p, -1, FetchPosition{FetchOffset: 0, CurrentLeaderEpoch: -1, ReadCommitted: true, FilterTransactions: true}, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if last := lastOffsetRead(t, committed.Records); last != 2 || committed.LastStableOffset != 3 || committed.HighWatermark != 5 {
		t.Fatalf("read_committed: last offset %d, result %+v", last, committed)
	}
	expectChunks(t, "read_committed", committed, "kept 0-0", "empty 1-2")
	if committed.AbortedTransactions == nil || len(committed.AbortedTransactions) != 0 {
		t.Fatalf("read_committed view: aborted %v, want none (not null)", committed.AbortedTransactions)
	}

	uncommitted, err := m.Read(p, -1, FetchPosition{FetchOffset: 0, CurrentLeaderEpoch: -1, FilterTransactions: true}, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if last := lastOffsetRead(t, uncommitted.Records); last != 4 || uncommitted.AbortedTransactions != nil || uncommitted.LastStableOffset != 3 {
		t.Fatalf("read_uncommitted: last offset %d, result %+v", last, uncommitted)
	}
	expectChunks(t, "read_uncommitted", uncommitted, "kept 0-3", "empty 4-4")

	// At the LSO a read_committed consumer reads nothing, and learns of no aborts.
	empty, err := m.Read(p, -1, FetchPosition{FetchOffset: 3, CurrentLeaderEpoch: -1, ReadCommitted: true, FilterTransactions: true}, 1<<20, true)
	if err != nil || empty.Records.Size != 0 || empty.Chunks != nil || empty.AbortedTransactions == nil || len(empty.AbortedTransactions) != 0 {
		t.Fatalf("read at the LSO: %+v, %v", empty, err)
	}

	writeMarker(t, m, p, 2, true) // 5: producer 2 commits
	if lso := p.LastStableOffset(); lso != 6 {
		t.Fatalf("after the commit the LSO is %d, want 6", lso)
	}
	rest, err := m.Read(p, -1, FetchPosition{FetchOffset: 3, CurrentLeaderEpoch: -1, ReadCommitted: true, FilterTransactions: true}, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if last := lastOffsetRead(t, rest.Records); last != 5 {
		t.Fatalf("read_committed after the commit: last offset %d", last)
	}
	expectChunks(t, "read_committed after the commit", rest, "kept 3-3", "empty 4-5")
	if rest.AbortedTransactions == nil || len(rest.AbortedTransactions) != 0 {
		t.Fatalf("read_committed view: aborted %v, want none (not null)", rest.AbortedTransactions)
	}

	// Markers alone up to the high watermark: nothing is sent, as at the end.
	tail, err := m.Read(p, -1, FetchPosition{FetchOffset: 4, CurrentLeaderEpoch: -1, FilterTransactions: true}, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if tail.Chunks == nil || len(tail.Chunks) != 0 {
		t.Fatalf("read of the markers at the end: chunks %v, want none (not nil)", tail.Chunks)
	}

	// A consumer that skips markers and aborted records itself reads the
	// log as Kafka serves it: up to the LSO (6, after the commit), with the
	// aborted transactions.
	kafka, err := m.Read(p, -1, FetchPosition{FetchOffset: 0, CurrentLeaderEpoch: -1, ReadCommitted: true}, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if last := lastOffsetRead(t, kafka.Records); last != 5 || kafka.Chunks != nil ||
		len(kafka.AbortedTransactions) != 1 || kafka.AbortedTransactions[0] != (storage.AbortedTxn{ProducerID: 1, FirstOffset: 1}) {
		t.Fatalf("read_committed as Kafka serves it: last offset %d, result %+v", last, kafka)
	}

	// A follower gets the log as it is, markers included.
	follower, err := m.Read(p, 2, FetchPosition{FetchOffset: 0, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1}, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if last := lastOffsetRead(t, follower.Records); last != 5 || follower.Chunks != nil || follower.AbortedTransactions != nil {
		t.Fatalf("follower read: last offset %d, result %+v", last, follower)
	}
}

// TestReadOfAPlainLog: a consumer of a log that never had transactions gets
// the range read as it is.
func TestReadOfAPlainLog(t *testing.T) {
	m, p := soleLeader(t)
	produce(t, m, p, producerBatch(1, -1, 0, false))
	produce(t, m, p, producerBatch(2, 1, 0, false))
	for _, committed := range []bool{false, true} {
		res, err := m.Read(p, -1, FetchPosition{FetchOffset: 0, CurrentLeaderEpoch: -1, ReadCommitted: committed, FilterTransactions: true}, 1<<20, true)
		if err != nil {
			t.Fatal(err)
		}
		if last := lastOffsetRead(t, res.Records); last != 2 || res.Chunks != nil {
			t.Fatalf("read_committed %v: last offset %d, chunks %v", committed, last, res.Chunks)
		}
	}
}

// expectChunks checks the chunks of a consumer's read, each described as
// "kept a-b" (batches of the log) or "empty a-b" (a synthetic batch).
func expectChunks(t *testing.T, what string, res ReadResult, want ...string) {
	t.Helper()
	var got []string
	for _, c := range res.Chunks {
		if c.Batch != nil {
			h := record.ParseHeader(c.Batch)
			if h.RecordCount != 0 || h.CheckCRC(c.Batch) != nil {
				t.Fatalf("%s: synthetic batch %+v", what, h)
			}
			got = append(got, fmt.Sprintf("empty %d-%d", h.BaseOffset, h.LastOffset()))
			continue
		}
		b := make([]byte, c.Slice.Size)
		if _, err := c.Slice.File.ReadAt(b, c.Slice.Pos); err != nil {
			t.Fatal(err)
		}
		first := record.ParseHeader(b).BaseOffset
		got = append(got, fmt.Sprintf("kept %d-%d", first, lastOffsetRead(t, c.Slice)))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: chunks %q, want %q", what, got, want)
	}
}

func TestProduceRefusesMarkersFromClients(t *testing.T) {
	m, p := soleLeader(t)
	a := []Append{{Partition: p, Records: record.BuildMarker(record.Marker{ProducerID: 1, Commit: true}, 1_000), LeaderEpoch: -1}}
	m.AppendRecords(context.Background(), 1, time.Second, a)
	if a[0].Err == nil {
		t.Fatal("a client wrote a marker")
	}
	a[0].Origin, a[0].Err = storage.OriginCoordinator, nil
	m.AppendRecords(context.Background(), 1, time.Second, a)
	if a[0].Err != nil {
		t.Fatalf("a coordinator's marker: %v", a[0].Err)
	}
}

// A new leader does not know the high watermark until its followers fetch:
// offsets are not available while its own is below its epoch's start.
func TestOffsetsNotAvailableUntilTheHighWatermarkReachesTheEpochStart(t *testing.T) {
	m, p := soleLeader(t)
	lead := func(epoch int32, isr ...int32) {
		p.mu.Lock()
		m.becomeLeaderLocked(p, coordinator.Partition{LeaderEpoch: epoch, Replicas: []int32{1, 2}, ISR: isr})
		p.mu.Unlock()
	}
	lead(2, 1, 2)
	a := []Append{{Partition: p, Records: producerBatch(5, -1, 0, false), LeaderEpoch: -1}}
	m.AppendRecords(context.Background(), 1, time.Second, a)
	if a[0].Err != nil {
		t.Fatalf("produce: %v", a[0].Err)
	}
	if hw := p.HighWatermark(); hw != 0 {
		t.Fatalf("high watermark %d before the follower fetched, want 0", hw)
	}
	if err := p.CheckOffsetsAvailable(); err != nil {
		t.Fatalf("epoch 2 starts at 0, the high watermark: %v", err)
	}

	lead(3, 1, 2) // the epoch starts at 5; the high watermark is still 0
	if err := p.CheckOffsetsAvailable(); !errors.Is(err, kerr.OffsetNotAvailable) {
		t.Fatalf("high watermark 0 below the epoch start 5: got %v, want OFFSET_NOT_AVAILABLE", err)
	}

	lead(4, 1) // alone in the ISR: the high watermark is the log end
	if err := p.CheckOffsetsAvailable(); err != nil {
		t.Fatalf("high watermark %d at the epoch start: %v", p.HighWatermark(), err)
	}
}
