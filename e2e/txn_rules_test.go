package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kzoo/kzoo/internal/poll"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestTransactions checks the rules of transactions on one cluster: a
// fenced zombie producer, a transaction the coordinator aborts when it
// times out, kafka-go's isolation levels, idempotent producers beside open
// transactions, and the errors of bad requests.
func TestTransactions(t *testing.T) {
	tc := startTxnCluster(t)
	t.Run("zombie", func(t *testing.T) { testTxnZombie(t, tc) })
	t.Run("timeout", func(t *testing.T) { testTxnTimeout(t, tc) })
	t.Run("kafka-go-isolation", func(t *testing.T) { testTxnKafkaGoIsolation(t, tc) })
	t.Run("idempotent-beside-transaction", func(t *testing.T) { testTxnIdempotentBeside(t, tc) })
	t.Run("bad-requests", func(t *testing.T) { testTxnBadRequests(t, tc) })
}

// txnProducer returns a transactional franz-go producer writing to
// partition 0 of topic.
func txnProducer(t *testing.T, tc *txnCluster, transactionalID, topic string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return tc.client(t, append([]kgo.Opt{
		kgo.TransactionalID(transactionalID),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RecordDeliveryTimeout(30 * time.Second),
	}, opts...)...)
}

// produceValues writes one record per value to partition 0 through cl and
// returns the offset of the first.
func produceValues(t *testing.T, cl *kgo.Client, values ...string) (int64, error) {
	t.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Partition: 0, Value: []byte(v)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	results := cl.ProduceSync(ctx, recs...)
	if err := results.FirstErr(); err != nil {
		return -1, err
	}
	return results[0].Record.Offset, nil
}

func mustProduce(t *testing.T, cl *kgo.Client, values ...string) int64 {
	t.Helper()
	offset, err := produceValues(t, cl, values...)
	if err != nil {
		t.Fatalf("produce %q: %v", values, err)
	}
	return offset
}

func endTxn(t *testing.T, cl *kgo.Client, commit kgo.TransactionEndTry) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	return cl.EndTransaction(ctx, commit)
}

// valuesOf returns the values of records, in order.
func valuesOf(rs []record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.value)
	}
	return out
}

// readPartition0 reads a 1-partition topic to its end marker at an
// isolation level and returns the values before it.
func readPartition0(t *testing.T, tc *txnCluster, topic string, level kgo.IsolationLevel) []string {
	t.Helper()
	return valuesOf(readToEndMarkers(t, tc, topic, 1, level))
}

// testTxnZombie: a second producer with the same transactional id fences
// the first; the first's later writes and commit fail, and none of its
// records become visible to read_committed readers.
func testTxnZombie(t *testing.T, tc *txnCluster) {
	topic, id := tc.name("txn-zombie"), tc.name("txn-zombie-id")
	tc.createTopic(t, topic, 1)
	zombie := txnProducer(t, tc, id, topic)
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	mustProduce(t, zombie, "zombie-before-fence")

	fresh := txnProducer(t, tc, id, topic)
	if err := fresh.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	// Its InitProducerId fences the zombie and aborts its transaction.
	mustProduce(t, fresh, "fresh")
	if err := endTxn(t, fresh, kgo.TryCommit); err != nil {
		t.Fatalf("commit of the fencing producer: %v", err)
	}

	if _, err := produceValues(t, zombie, "zombie-after-fence"); !isFenced(err) {
		t.Errorf("zombie's produce after the fence: %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	} else {
		t.Logf("zombie's produce: %v", err)
	}
	if err := endTxn(t, zombie, kgo.TryCommit); err == nil {
		t.Error("zombie's commit after the fence succeeded")
	} else {
		t.Logf("zombie's commit: %v", err)
	}

	produceEndMarkers(t, tc, topic, 1)
	if got := readPartition0(t, tc, topic, kgo.ReadCommitted()); !slices.Equal(got, []string{"fresh"}) {
		t.Errorf("read_committed: %q, want only the fencing producer's record", got)
	}
	if got := readPartition0(t, tc, topic, kgo.ReadUncommitted()); slices.Contains(got, "zombie-after-fence") || !slices.Contains(got, "fresh") {
		t.Errorf("read_uncommitted: %q, want the fencing producer's record and nothing the zombie wrote after the fence", got)
	}
}

// testTxnTimeout: a transaction left open past its timeout is aborted by
// the coordinator, and a read_committed reader then reads past it.
func testTxnTimeout(t *testing.T, tc *txnCluster) {
	topic, id := tc.name("txn-timeout"), tc.name("txn-timeout-id")
	tc.createTopic(t, topic, 1)
	const timeout = 2 * time.Second
	slow := txnProducer(t, tc, id, topic, kgo.TransactionTimeout(timeout))
	if err := slow.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	opened := time.Now()
	open := mustProduce(t, slow, "left-open")
	after := mustProduce(t, tc.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner())), "after")
	if lso := listOffset(t, tc, topic, 1); lso != open && time.Since(opened) < timeout {
		t.Errorf("last stable offset %d while the transaction at offset %d is open", lso, open)
	}

	produceEndMarkers(t, tc, topic, 1)
	got := readPartition0(t, tc, topic, kgo.ReadCommitted())
	if !slices.Equal(got, []string{"after"}) {
		t.Errorf("read_committed: %q, want only the record written after the abandoned transaction", got)
	}
	if waited := time.Since(opened); waited < timeout {
		t.Errorf("read_committed read past the open transaction after %v, before its %v timeout", waited, timeout)
	} else {
		t.Logf("read_committed passed the transaction %v after it began (record after it at offset %d)", waited.Round(time.Millisecond), after)
	}
	if err := endTxn(t, slow, kgo.TryCommit); err == nil {
		t.Error("commit of the timed-out transaction succeeded")
	} else {
		t.Logf("commit of the timed-out transaction: %v", err)
	}
	if got := readPartition0(t, tc, topic, kgo.ReadUncommitted()); !slices.Equal(got, []string{"left-open", "after"}) {
		t.Errorf("read_uncommitted: %q, want the aborted record and the one after it", got)
	}
}

// listOffset returns the latest offset of partition 0 of topic at an
// isolation level: the high watermark (0) or the last stable offset (1).
func listOffset(t *testing.T, tc *txnCluster, topic string, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = 0, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, tc.client(t))
	if err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("ListOffsets %s/0: %v", topic, err)
	}
	return p.Offset
}

// kafka-go's Reader (v0.4.51, as go.mod pins it) leaves the client's part
// of transactions undone: it ignores the aborted transactions of a Fetch
// response (segmentio/kafka-go#1332) and would return every control record
// as a message (segmentio/kafka-go#1446, open). kzoo sends consumers of a
// partition that has had transactions a view without control batches and,
// for read_committed, without the batches of aborted transactions, each run
// of them replaced by an empty batch (broker/storage's ConsumerView), so
// kafka-go reads both isolation levels right.

// kafkaGoMarker reports whether msg has the shape a transaction marker
// takes as a kafka-go message: key version 0 and type 0 (abort) or 1
// (commit); value version 0 and the coordinator epoch.
func kafkaGoMarker(msg kafka.Message) bool {
	k, v := msg.Key, msg.Value
	return len(k) == 4 && k[0] == 0 && k[1] == 0 && k[2] == 0 && k[3] <= 1 && len(v) == 6 && v[0] == 0 && v[1] == 0
}

// testTxnKafkaGoIsolation: kafka-go's Reader with ReadCommitted sees only
// committed records, up to the last stable offset and no further while a
// transaction is open, and past it once the transaction commits; with
// ReadUncommitted it sees committed and aborted records, and the open
// transaction's at once. Neither ever returns a control record.
func testTxnKafkaGoIsolation(t *testing.T, tc *txnCluster) {
	topic, id := tc.name("txn-kafka-go"), tc.name("txn-kafka-go-id")
	tc.createTopic(t, topic, 1)
	p := txnProducer(t, tc, id, topic)
	var committedValues, allValues []string // before the open transaction
	for i, commit := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort, kgo.TryCommit, kgo.TryAbort, kgo.TryAbort, kgo.TryCommit} {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		var values []string
		for j := range 5 {
			values = append(values, fmt.Sprintf("txn-%d-commit-%v-%d", i, commit, j))
		}
		mustProduce(t, p, values...)
		if err := endTxn(t, p, commit); err != nil {
			t.Fatalf("end transaction %d: %v", i, err)
		}
		allValues = append(allValues, values...)
		if commit == kgo.TryCommit {
			committedValues = append(committedValues, values...)
		}
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	openValues := []string{"open-0", "open-1", "open-2"}
	mustProduce(t, p, openValues...)
	mustProduce(t, tc.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner())), "beyond")
	unstable := append(slices.Clone(openValues), "beyond")

	newReader := func(level kafka.IsolationLevel) *kafka.Reader {
		rd := kafka.NewReader(kafka.ReaderConfig{
			Brokers:        tc.bootstrap,
			Topic:          topic,
			Partition:      0,
			MinBytes:       1,
			MaxBytes:       1 << 20,
			MaxWait:        100 * time.Millisecond,
			IsolationLevel: level,
		})
		t.Cleanup(func() { rd.Close() })
		return rd
	}
	// read returns the values of the next n messages, failing the test if
	// they do not come within timeout or one is a control record.
	read := func(rd *kafka.Reader, n int, timeout time.Duration) []string {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var got []string
		for len(got) < n {
			msg, err := rd.ReadMessage(ctx)
			if err != nil {
				t.Fatalf("kafka-go isolation %d: after %q: %v", rd.Config().IsolationLevel, got, err)
			}
			if kafkaGoMarker(msg) {
				t.Fatalf("kafka-go isolation %d returned the control record at offset %d as a message, after %q", rd.Config().IsolationLevel, msg.Offset, got)
			}
			got = append(got, string(msg.Value))
		}
		return got
	}
	// expectNothing fails the test if rd returns a message within a
	// moment: the wait is for an absence, so it has to be a bounded one.
	expectNothing := func(rd *kafka.Reader, what string) {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		msg, err := rd.ReadMessage(ctx)
		cancel()
		if err == nil {
			t.Fatalf("kafka-go isolation %d read %q (key %q) at offset %d %s", rd.Config().IsolationLevel, msg.Value, msg.Key, msg.Offset, what)
		}
	}

	uncommitted := newReader(kafka.ReadUncommitted)
	if got, want := read(uncommitted, len(allValues)+len(unstable), 30*time.Second), append(slices.Clone(allValues), unstable...); !slices.Equal(got, want) {
		t.Errorf("kafka-go ReadUncommitted read %q, want %q", got, want)
	}

	committed := newReader(kafka.ReadCommitted)
	if got := read(committed, len(committedValues), 30*time.Second); !slices.Equal(got, committedValues) {
		t.Errorf("kafka-go ReadCommitted read %q, want %q", got, committedValues)
	}
	expectNothing(committed, "past the last stable offset")
	if err := endTxn(t, p, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if got := read(committed, len(unstable), 30*time.Second); !slices.Equal(got, unstable) {
		t.Errorf("kafka-go ReadCommitted read %q once the transaction committed, want %q", got, unstable)
	}
	// The last thing in the partition is the commit marker.
	expectNothing(committed, "after the last record")
	expectNothing(uncommitted, "after the last record")

	// A client that names its software (franz-go does, KIP-511) skips
	// markers and aborted records itself: it reads the partition as Kafka
	// serves it, control batches and the aborted transactions included.
	batches, aborted := rawFetchCommitted(t, tc.client(t), topic)
	controls := 0
	for _, b := range batches {
		if b.Attributes&0x20 != 0 {
			controls++
		}
	}
	if controls != 7 || len(aborted) != 3 {
		t.Errorf("a named client's read_committed Fetch: %d control batches and %d aborted transactions, want Kafka's 7 and 3", controls, len(aborted))
	}
}

// rawFetchCommitted sends one read_committed Fetch of partition 0 of topic
// from its start to the partition's leader through cl, and returns the
// batches and aborted transactions of the answer.
func rawFetchCommitted(t *testing.T, cl *kgo.Client, topic string) ([]kmsg.RecordBatch, []kmsg.FetchResponseTopicPartitionAbortedTransaction) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil || len(mresp.Topics) != 1 || len(mresp.Topics[0].Partitions) == 0 {
		t.Fatalf("metadata of %s: %v %+v", topic, err, mresp)
	}
	fetch := kmsg.NewPtrFetchRequest()
	fetch.ReplicaID, fetch.MaxBytes, fetch.IsolationLevel = -1, 1<<20, 1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	resp, err := fetch.RequestWith(ctx, cl.Broker(int(mresp.Topics[0].Partitions[0].Leader)))
	if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch %s: %v %+v", topic, err, resp)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch %s: %v", topic, kerr.ErrorForCode(p.ErrorCode))
	}
	var batches []kmsg.RecordBatch
	for raw := p.RecordBatches; len(raw) >= 12; {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			t.Fatalf("decode a batch of %s: %v", topic, err)
		}
		batches = append(batches, b)
		raw = raw[12+b.Length:]
	}
	return batches, p.AbortedTransactions
}

// testTxnIdempotentBeside: an idempotent, non-transactional producer
// writes to a partition where a transaction is open; its records become
// visible to read_committed readers once the transaction before them ends.
func testTxnIdempotentBeside(t *testing.T, tc *txnCluster) {
	topic, id := tc.name("txn-idempotent"), tc.name("txn-idempotent-id")
	tc.createTopic(t, topic, 1)
	p := txnProducer(t, tc, id, topic)
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	open := mustProduce(t, p, "in-transaction")
	idem := tc.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	first := mustProduce(t, idem, "idempotent-1", "idempotent-2")
	if first <= open {
		t.Errorf("idempotent records at offset %d, the open transaction's at %d", first, open)
	}
	if lso, hw := listOffset(t, tc, topic, 1), listOffset(t, tc, topic, 0); lso != open || hw != first+2 {
		t.Errorf("while the transaction is open: last stable offset %d, high watermark %d; want %d and %d", lso, hw, open, first+2)
	}
	if err := endTxn(t, p, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// The commit marker follows the idempotent records. EndTxn answers once
	// the commit is decided; the markers are written after (as in Kafka),
	// so the last stable offset gets there a moment later.
	poll.UntilSaw(t, 15*time.Second, "the last stable offset to pass the commit marker", func() (bool, string) {
		lso, hw := listOffset(t, tc, topic, 1), listOffset(t, tc, topic, 0)
		return lso == hw && hw == first+3, fmt.Sprintf("last stable offset %d, high watermark %d; want both %d", lso, hw, first+3)
	})
	produceEndMarkers(t, tc, topic, 1)
	want := []string{"in-transaction", "idempotent-1", "idempotent-2"}
	if got := readPartition0(t, tc, topic, kgo.ReadCommitted()); !slices.Equal(got, want) {
		t.Errorf("read_committed: %q, want %q", got, want)
	}
}

// testTxnBadRequests sends transaction requests that break the rules and
// checks the Kafka error of each.
func testTxnBadRequests(t *testing.T, tc *txnCluster) {
	topic := tc.name("txn-bad")
	tc.createTopic(t, topic, 1)
	// Versions a Kafka 3.5 client sends: AddPartitionsToTxn v4 and later
	// are for brokers only.
	cl := tc.client(t, kgo.MaxVersions(kversion.V3_5_0()))
	initPID := func(t *testing.T, id string, timeout time.Duration) (*kmsg.InitProducerIDResponse, error) {
		t.Helper()
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = kmsg.StringPtr(id)
		req.TransactionTimeoutMillis = int32(timeout.Milliseconds())
		req.ProducerID, req.ProducerEpoch = -1, -1
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		// Retried while the coordinator loads or ends a transaction.
		for {
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return nil, err
			}
			if code := resp.ErrorCode; (code == kerr.ConcurrentTransactions.Code || code == kerr.CoordinatorLoadInProgress.Code) && ctx.Err() == nil {
				continue
			}
			return resp, nil
		}
	}
	mustInit := func(t *testing.T, id string) (int64, int16) {
		t.Helper()
		resp, err := initPID(t, id, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Fatalf("InitProducerId %s: %v", id, err)
		}
		return resp.ProducerID, resp.ProducerEpoch
	}
	addPartitions := func(t *testing.T, id string, pid int64, epoch int16, topic string) int16 {
		t.Helper()
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0}
		req.Topics = append(req.Topics, rt)
		resp := request[*kmsg.AddPartitionsToTxnResponse](t, cl, req)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("AddPartitionsToTxn: answer %+v, want one partition", resp)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	wantCode := func(t *testing.T, what string, got int16, want ...*kerr.Error) {
		t.Helper()
		for _, w := range want {
			if got == w.Code {
				return
			}
		}
		t.Errorf("%s: %v, want %v", what, kerr.ErrorForCode(got), want)
	}

	t.Run("end-without-transaction", func(t *testing.T) {
		id := tc.name("txn-bad-end")
		pid, epoch := mustInit(t, id)
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, true
		resp := request[*kmsg.EndTxnResponse](t, cl, req)
		wantCode(t, "EndTxn with no transaction", resp.ErrorCode, kerr.InvalidTxnState)
	})

	t.Run("unknown-topic", func(t *testing.T) {
		id := tc.name("txn-bad-topic")
		pid, epoch := mustInit(t, id)
		code := addPartitions(t, id, pid, epoch, tc.name("txn-no-such-topic"))
		wantCode(t, "AddPartitionsToTxn of an unknown topic", code, kerr.UnknownTopicOrPartition)
	})

	t.Run("empty-transactional-id", func(t *testing.T) {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = kmsg.StringPtr("")
		req.TransactionTimeoutMillis = 60000
		req.ProducerID, req.ProducerEpoch = -1, -1
		// Any broker answers: there is no coordinator of "".
		resp := askBroker[*kmsg.InitProducerIDResponse](t, admin(t, tc.bootstrap[:1]), req)
		wantCode(t, "InitProducerId with an empty transactional id", resp.ErrorCode, kerr.InvalidRequest)
	})

	t.Run("timeout-over-max", func(t *testing.T) {
		id := tc.name("txn-bad-timeout")
		resp, err := initPID(t, id, txnMaxTimeout+time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, "InitProducerId with a timeout over transaction.max.timeout.ms", resp.ErrorCode, kerr.InvalidTransactionTimeout)
		resp, err = initPID(t, id, txnMaxTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Errorf("InitProducerId with a timeout of transaction.max.timeout.ms: %v, want no error", err)
		}
	})

	t.Run("old-epoch", func(t *testing.T) {
		id := tc.name("txn-bad-epoch")
		pid, epoch := mustInit(t, id)
		pid2, epoch2 := mustInit(t, id)
		if pid2 == pid && epoch2 <= epoch {
			t.Fatalf("second InitProducerId: producer %d epoch %d, after epoch %d", pid2, epoch2, epoch)
		}
		code := addPartitions(t, id, pid, epoch, topic)
		wantCode(t, "AddPartitionsToTxn with the fenced epoch", code, kerr.ProducerFenced, kerr.InvalidProducerEpoch)
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, true
		resp := request[*kmsg.EndTxnResponse](t, cl, req)
		wantCode(t, "EndTxn with the fenced epoch", resp.ErrorCode, kerr.ProducerFenced, kerr.InvalidProducerEpoch)
	})

	t.Run("txn-offset-commit-wrong-generation", func(t *testing.T) {
		if !supportsKIP447(t, tc) {
			t.Skip("skipping: the brokers do not take TxnOffsetCommit v3 (KIP-447, Kafka 2.5)")
		}
		group, id := tc.name("txn-bad-group"), tc.name("txn-bad-generation")
		assigned := make(chan struct{}, 1)
		member := tc.client(t,
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(topic),
			kgo.SessionTimeout(memberSessionTimeout),
			kgo.DisableAutoCommit(),
			kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
				select {
				case assigned <- struct{}{}:
				default:
				}
			}),
		)
		// Polling makes the client join the group.
		pollCtx, stopPolling := context.WithCancel(context.Background())
		defer stopPolling()
		go func() {
			for pollCtx.Err() == nil {
				member.PollFetches(pollCtx)
			}
		}()
		select {
		case <-assigned:
		case <-time.After(30 * time.Second):
			t.Fatal("the group member got no assignment within 30 s")
		}
		memberID, generation := member.GroupMetadata()

		pid, epoch := mustInit(t, id)
		add := kmsg.NewPtrAddOffsetsToTxnRequest()
		add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = id, pid, epoch, group
		if err := kerr.ErrorForCode(request[*kmsg.AddOffsetsToTxnResponse](t, cl, add).ErrorCode); err != nil {
			t.Fatalf("AddOffsetsToTxn: %v", err)
		}

		commit := kmsg.NewPtrTxnOffsetCommitRequest()
		commit.TransactionalID, commit.Group, commit.ProducerID, commit.ProducerEpoch = id, group, pid, epoch
		commit.MemberID, commit.Generation = memberID, generation+1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 0, -1
		rt.Partitions = append(rt.Partitions, rp)
		commit.Topics = append(commit.Topics, rt)
		resp := request[*kmsg.TxnOffsetCommitResponse](t, cl, commit)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("TxnOffsetCommit: answer %+v, want one partition", resp)
		}
		wantCode(t, fmt.Sprintf("TxnOffsetCommit of member %s with generation %d, the group's being %d", memberID, generation+1, generation),
			resp.Topics[0].Partitions[0].ErrorCode, kerr.IllegalGeneration)
	})
}
