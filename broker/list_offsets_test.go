package broker

import (
	"context"
	"fmt"
	"hash/crc32"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/coordinator"
)

// txnTestBatch is a transactional batch of one record of producer id, epoch 0, at
// sequence seq, stamped timestamp.
func txnTestBatch(t *testing.T, id int64, seq int32, timestamp int64) []byte {
	t.Helper()
	rec := kmsg.Record{Key: []byte("k"), Value: []byte("txn")}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	records := rec.AppendTo(nil)
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, Attributes: record.TransactionalBit, FirstTimestamp: timestamp, MaxTimestamp: timestamp,
		ProducerID: id, ProducerEpoch: 0, FirstSequence: seq, NumRecords: 1, Records: records,
	}
	b.Length = int32(49 + len(records))
	raw := b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b.AppendTo(nil)
}

// TestListOffsetsIsolation: a read_committed consumer's latest offset is the last
// stable offset, and its timestamp lookups find nothing at or past it.
func TestListOffsetsIsolation(t *testing.T) {
	s, _ := testServer(t, &coordinator.Snapshot{Brokers: liveBrokers(1), Topics: map[string]*coordinator.Topic{}})
	f := withReplicas(t, s)
	p := f.lead("t", 0, config.Topic{}, 1, []int32{1}, []int32{1})
	f.appendAsLeader(p, testBatch(t, "v"))         // 0, timestamp 1
	f.appendAsLeader(p, txnTestBatch(t, 5, 0, 50)) // 1: an open transaction
	f.appendAsLeader(p, testBatch(t, "w"))         // 2, timestamp 1
	if hw, lso := p.HighWatermark(), p.LastStableOffset(); hw != 3 || lso != 1 {
		t.Fatalf("high watermark %d, LSO %d; want 3 and 1", hw, lso)
	}
	list := func(isolation int8, timestamp int64) kmsg.ListOffsetsResponseTopicPartition {
		in := kmsg.NewPtrListOffsetsRequest()
		in.Version = 4
		in.IsolationLevel = isolation
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = timestamp
		rt.Partitions = append(rt.Partitions, rp)
		in.Topics = append(in.Topics, rt)
		return callHandler(s, context.Background(), &request{key: in.Key(), version: 4, body: in}).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	for _, tc := range []struct {
		isolation  int8
		timestamp  int64
		wantOffset int64
	}{
		{0, listLatest, 3},
		{1, listLatest, 1},
		{0, 50, 1},
		{1, 50, -1}, // the record is at the LSO
		{1, 1, 0},
		{1, listEarliest, 0},
	} {
		if got := list(tc.isolation, tc.timestamp); got.ErrorCode != 0 || got.Offset != tc.wantOffset {
			t.Errorf("isolation %d, timestamp %d: error %d, offset %d; want %d", tc.isolation, tc.timestamp, got.ErrorCode, got.Offset, tc.wantOffset)
		}
	}
}

// TestFetchReadCommitted: a read_committed Fetch stops at the LSO; a
// consumer of a log that had transactions is sent no control batch and,
// reading committed, no batch of an aborted transaction: each run of them
// is one empty batch, and the aborted transactions are empty (null for
// read_uncommitted). A range of nothing but such batches up to the LSO is
// sent as nothing, and waits for MinBytes as an empty read does.
func TestFetchReadCommitted(t *testing.T) {
	s, _ := testServer(t, &coordinator.Snapshot{Brokers: liveBrokers(1), Topics: map[string]*coordinator.Topic{}})
	f := withReplicas(t, s)
	p := f.lead("t", 0, config.Topic{}, 1, []int32{1}, []int32{1})
	f.appendAsLeader(p, txnTestBatch(t, 5, 0, 1)) // 0: producer 5
	marker := record.BuildMarker(record.Marker{ProducerID: 5, CoordinatorEpoch: 0}, 1)
	if _, err := s.replicas.AppendAndAwait(context.Background(), p, 1, marker, time.Second); err != nil {
		t.Fatal(err) // 1: producer 5 aborts
	}
	f.appendAsLeader(p, txnTestBatch(t, 6, 0, 1)) // 2: producer 6, open

	fetchAs := func(namedClient bool, isolation int8, minBytes int32, maxWait time.Duration) kmsg.FetchResponseTopicPartition {
		in := kmsg.NewPtrFetchRequest()
		in.Version = 11
		in.ReplicaID = -1
		in.MaxBytes = 1 << 20
		in.MinBytes = minBytes
		in.MaxWaitMillis = int32(maxWait.Milliseconds())
		in.IsolationLevel = isolation
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = "t"
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.PartitionMaxBytes = 1 << 20
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
		in.Topics = append(in.Topics, rt)
		resp := callHandler(s, context.Background(), &request{key: in.Key(), version: 11, body: in, namedClient: namedClient}).(*fetchResponse)
		decoded := kmsg.NewPtrFetchResponse()
		decoded.SetVersion(11)
		if err := decoded.ReadFrom(assemble(t, resp)); err != nil {
			t.Fatal(err)
		}
		return decoded.Topics[0].Partitions[0]
	}
	fetch := func(isolation int8, minBytes int32, maxWait time.Duration) kmsg.FetchResponseTopicPartition {
		return fetchAs(false, isolation, minBytes, maxWait)
	}

	// A client that named its software (KIP-511) skips markers and aborted
	// records itself: it reads the log as Kafka serves it.
	kafka := fetchAs(true, 1, 0, 0)
	if got, want := batchesOf(t, kafka.RecordBatches), []string{"0-0: 1 records", "1-1: 1 records"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed as Kafka serves it read %q, want %q", got, want)
	}
	if a := kafka.AbortedTransactions; len(a) != 1 || a[0].ProducerID != 5 || a[0].FirstOffset != 0 {
		t.Fatalf("read_committed as Kafka serves it: aborted transactions %+v, want producer 5 from offset 0", a)
	}

	committed := fetch(1, 0, 0)
	if committed.ErrorCode != 0 || committed.HighWatermark != 3 || committed.LastStableOffset != 2 {
		t.Fatalf("read_committed: %+v", committed)
	}
	if a := committed.AbortedTransactions; a == nil || len(a) != 0 {
		t.Fatalf("aborted transactions %+v, want none (not null)", a)
	}
	if got := batchesOf(t, committed.RecordBatches); len(got) != 0 {
		t.Fatalf("read_committed read %q, want nothing: an aborted batch and its marker up to the LSO", got)
	}
	uncommitted := fetch(0, 0, 0)
	if uncommitted.AbortedTransactions != nil || uncommitted.LastStableOffset != 2 {
		t.Fatalf("read_uncommitted: %+v", uncommitted)
	}
	if got, want := batchesOf(t, uncommitted.RecordBatches), []string{"0-0: 1 records", "1-1: 0 records", "2-2: 1 records"}; !slices.Equal(got, want) {
		t.Fatalf("read_uncommitted read %q, want %q", got, want)
	}

	const wait = 50 * time.Millisecond
	start := time.Now()
	if got := batchesOf(t, fetch(1, 1, wait).RecordBatches); len(got) != 0 {
		t.Fatalf("read_committed with MinBytes read %q", got)
	}
	if elapsed := time.Since(start); elapsed < wait {
		t.Fatalf("a read of dropped batches alone was answered after %v, before MaxWait %v", elapsed, wait)
	}

	// Once producer 6 commits, the consumer gets an empty batch for the
	// dropped ones and producer 6's record.
	marker = record.BuildMarker(record.Marker{ProducerID: 6, CoordinatorEpoch: 0, Commit: true}, 1)
	if _, err := s.replicas.AppendAndAwait(context.Background(), p, 1, marker, time.Second); err != nil {
		t.Fatal(err) // 3: producer 6 commits
	}
	if got, want := batchesOf(t, fetch(1, 0, 0).RecordBatches), []string{"0-1: 0 records", "2-2: 1 records", "3-3: 0 records"}; !slices.Equal(got, want) {
		t.Fatalf("read_committed after the commit read %q, want %q", got, want)
	}
}

// batchesOf describes the batches of a Fetch's records as "first-last: n
// records", checking each CRC.
func batchesOf(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	for len(b) > 0 {
		if len(b) < record.HeaderSize {
			t.Fatalf("%d bytes left, less than a batch header", len(b))
		}
		h := record.ParseHeader(b)
		if err := h.CheckStructure(int64(len(b))); err != nil {
			t.Fatal(err)
		}
		if err := h.CheckCRC(b[:h.Size()]); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%d-%d: %d records", h.BaseOffset, h.LastOffset(), h.RecordCount))
		b = b[h.Size():]
	}
	return out
}
