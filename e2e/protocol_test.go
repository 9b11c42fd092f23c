package e2e

import (
	"context"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

func testProtocol(t *testing.T, c *cluster.Cluster) {
	bootstrap := c.Bootstrap()
	t.Run("create-topic-errors", func(t *testing.T) { testCreateTopicErrors(t, bootstrap) })
	t.Run("replica-assignment", func(t *testing.T) { testReplicaAssignment(t, bootstrap) })
	t.Run("not-leader", func(t *testing.T) { testNotLeader(t, c) })
	t.Run("fetch", func(t *testing.T) { testFetch(t, bootstrap) })
	t.Run("list-offsets-by-time", func(t *testing.T) { testListOffsetsByTime(t, bootstrap) })
	t.Run("idempotence", func(t *testing.T) { testIdempotence(t, bootstrap) })
	t.Run("auto-create", func(t *testing.T) { testAutoCreate(t, bootstrap) })
	t.Run("delete-topic", func(t *testing.T) { testDeleteTopic(t, c) })
}

func testCreateTopicErrors(t *testing.T, bootstrap []string) {
	createTopic(t, bootstrap, "exists", 1, 1, nil)
	cases := []struct {
		name       string
		topic      string
		partitions int32
		rf         int16
		configs    map[string]string
		want       *kerr.Error
	}{
		{"rf above live brokers", "rf-too-big", 1, 4, nil, kerr.InvalidReplicationFactor},
		{"zero partitions", "no-partitions", 0, 1, nil, kerr.InvalidPartitions},
		{"illegal character", "bad/name", 1, 1, nil, kerr.InvalidTopicException},
		{"name of 250 characters", strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
		{"dot", ".", 1, 1, nil, kerr.InvalidTopicException},
		{"already exists", "exists", 1, 1, nil, kerr.TopicAlreadyExists},
		{"bad config value", "bad-config", 1, 1, map[string]string{"retention.ms": "soon"}, kerr.InvalidConfig},
		{"unknown config", "unknown-config", 1, 1, map[string]string{"retention.forever": "1"}, kerr.InvalidConfig},
	}
	for _, tc := range cases {
		if got := tryCreateTopic(t, bootstrap, tc.topic, tc.partitions, tc.rf, tc.configs); got != tc.want.Code {
			t.Errorf("%s: error %v, want %v", tc.name, kerr.ErrorForCode(got), tc.want)
		}
	}
	if got := tryCreateTopic(t, bootstrap, strings.Repeat("y", 249), 1, 1, nil); got != 0 {
		t.Errorf("name of 249 characters: %v, want success", kerr.ErrorForCode(got))
	}
}

func metadata(t *testing.T, bootstrap []string, topics ...string) *kmsg.MetadataResponse {
	t.Helper()
	return metadataRequest(t, bootstrap, false, topics...)
}

func metadataRequest(t *testing.T, bootstrap []string, autoCreate bool, topics ...string) *kmsg.MetadataResponse {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = autoCreate
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, admin(t, bootstrap))
	if err != nil {
		t.Fatalf("Metadata: %v", err)
	}
	return resp
}

// testReplicaAssignment checks that an RF=3 topic's replicas and leaders are
// spread evenly over the brokers, as Kafka's assignment does.
func testReplicaAssignment(t *testing.T, bootstrap []string) {
	createTopic(t, bootstrap, "rf3", 6, 3, nil)
	resp := metadata(t, bootstrap, "rf3")
	leaders := map[int32]int{}
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 || len(p.Replicas) != 3 || len(p.ISR) != 3 || p.Leader != p.Replicas[0] {
			t.Fatalf("partition %d: error %d leader %d replicas %v isr %v", p.Partition, p.ErrorCode, p.Leader, p.Replicas, p.ISR)
		}
		leaders[p.Leader]++
	}
	for id := int32(1); id <= 3; id++ {
		if leaders[id] != 2 {
			t.Fatalf("leaders per broker %v, want 2 each", leaders)
		}
	}
}

// brokerClient talks to one broker only, without kgo's routing.
func brokerClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func leaderOf(t *testing.T, bootstrap []string, topic string, partition int32) int32 {
	t.Helper()
	for _, p := range metadata(t, bootstrap, topic).Topics[0].Partitions {
		if p.Partition == partition {
			return p.Leader
		}
	}
	t.Fatalf("no partition %d in %s", partition, topic)
	return -1
}

func produceRequest(topic string, partition int32, acks int16, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func produceTo(t *testing.T, cl *kgo.Client, topic string, partition int32, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := produceRequest(topic, partition, -1, records).RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("Produce: %v", err)
	}
	return resp.Topics[0].Partitions[0]
}

// batch encodes a v2 record batch of n records, as a producer would.
func batch(producerID int64, epoch int16, baseSeq int32, n int, baseTimestamp int64) []byte {
	b := kmsg.RecordBatch{
		Magic:                2,
		LastOffsetDelta:      int32(n - 1),
		FirstTimestamp:       baseTimestamp,
		MaxTimestamp:         baseTimestamp + int64(n-1)*1000,
		ProducerID:           producerID,
		ProducerEpoch:        epoch,
		FirstSequence:        baseSeq,
		NumRecords:           int32(n),
		PartitionLeaderEpoch: -1,
	}
	var records []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{
			TimestampDelta64: int64(i) * 1000,
			OffsetDelta:      int32(i),
			Key:              []byte("k"),
			Value:            []byte("value"),
		}
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		records = r.AppendTo(records)
	}
	b.Records = records
	raw := b.AppendTo(nil)
	b.Length = int32(len(raw) - 12)
	raw = b.AppendTo(nil)
	crc := crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli))
	b.CRC = int32(crc)
	return b.AppendTo(nil)
}

func testNotLeader(t *testing.T, c *cluster.Cluster) {
	bootstrap := c.Bootstrap()
	createTopic(t, bootstrap, "not-leader", 1, 1, nil)
	leader := leaderOf(t, bootstrap, "not-leader", 0)
	other := 1
	if leader == 1 {
		other = 2
	}
	p := produceTo(t, brokerClient(t, c.BrokerAddr(other)), "not-leader", 0, batch(-1, -1, -1, 1, time.Now().UnixMilli()))
	if p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("produce to broker %d, not the leader: %v, want NOT_LEADER_OR_FOLLOWER", other, kerr.ErrorForCode(p.ErrorCode))
	}
	p = produceTo(t, brokerClient(t, c.BrokerAddr(int(leader))), "not-leader", 7, batch(-1, -1, -1, 1, time.Now().UnixMilli()))
	if p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("produce to partition 7 of 1: %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(p.ErrorCode))
	}
	bad := batch(-1, -1, -1, 1, time.Now().UnixMilli())
	bad[len(bad)-1] ^= 0xff
	p = produceTo(t, brokerClient(t, c.BrokerAddr(int(leader))), "not-leader", 0, bad)
	if p.ErrorCode != kerr.CorruptMessage.Code {
		t.Fatalf("produce with a bad CRC: %v, want CORRUPT_MESSAGE", kerr.ErrorForCode(p.ErrorCode))
	}
}

func fetchRequest(topic string, partition int32, offset int64, maxWait time.Duration) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = int32(maxWait/time.Millisecond), 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func testFetch(t *testing.T, bootstrap []string) {
	createTopic(t, bootstrap, "fetch", 1, 1, nil)
	leader := brokerClient(t, addrOf(t, bootstrap, leaderOf(t, bootstrap, "fetch", 0)))
	if p := produceTo(t, leader, "fetch", 0, batch(-1, -1, -1, 3, time.Now().UnixMilli())); p.ErrorCode != 0 || p.BaseOffset != 0 {
		t.Fatalf("produce: %v at %d", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	resp, err := fetchRequest("fetch", 0, 10, 0).RequestWith(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch past the end: %v, want OFFSET_OUT_OF_RANGE", kerr.ErrorForCode(p.ErrorCode))
	}

	resp, err = fetchRequest("fetch", 0, 1, 0).RequestWith(ctx, leader)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || p.HighWatermark != 3 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch from offset 1: error %v hw %d, %d bytes", kerr.ErrorForCode(p.ErrorCode), p.HighWatermark, len(p.RecordBatches))
	}

	// A long poll at the end of the log returns as soon as a record comes.
	type result struct {
		resp *kmsg.FetchResponse
		err  error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		r, err := fetchRequest("fetch", 0, 3, 25*time.Second).RequestWith(ctx, leader)
		done <- result{r, err}
	}()
	poll.Until(t, 10*time.Second, "produce to succeed", func() bool {
		p := produceTo(t, leader, "fetch", 0, batch(-1, -1, -1, 1, time.Now().UnixMilli()))
		return p.ErrorCode == 0
	})
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if elapsed := time.Since(start); elapsed > 20*time.Second {
		t.Fatalf("long poll answered after %v, not when the record arrived", elapsed)
	}
	if p := r.resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) == 0 {
		t.Fatalf("long poll: error %v, %d bytes", kerr.ErrorForCode(p.ErrorCode), len(p.RecordBatches))
	}
}

func addrOf(t *testing.T, bootstrap []string, id int32) string {
	t.Helper()
	for _, b := range metadata(t, bootstrap).Brokers {
		if b.NodeID == id {
			return b.Host + ":" + itoa(int(b.Port))
		}
	}
	t.Fatalf("broker %d not in Metadata", id)
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }

func testListOffsetsByTime(t *testing.T, bootstrap []string) {
	createTopic(t, bootstrap, "by-time", 1, 1, nil)
	leader := brokerClient(t, addrOf(t, bootstrap, leaderOf(t, bootstrap, "by-time", 0)))
	base := time.Now().Add(-time.Hour).UnixMilli()
	// Two batches of 5 records, one second apart each.
	produceTo(t, leader, "by-time", 0, batch(-1, -1, -1, 5, base))
	produceTo(t, leader, "by-time", 0, batch(-1, -1, -1, 5, base+5000))

	list := func(ts int64) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "by-time"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp = ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, leader)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0]
	}
	for _, tc := range []struct{ ts, offset int64 }{
		{base - 1, 0}, {base, 0}, {base + 1, 1}, {base + 2500, 3}, {base + 6000, 6}, {base + 9000, 9},
		{base + 9001, -1}, {-2, 0}, {-1, 10},
	} {
		p := list(tc.ts)
		if p.ErrorCode != 0 || p.Offset != tc.offset {
			t.Errorf("ListOffsets(%d): offset %d error %v, want %d", tc.ts-base, p.Offset, kerr.ErrorForCode(p.ErrorCode), tc.offset)
		}
	}
}

// testIdempotence sends an idempotent producer's batches by hand: a resent
// batch is acknowledged at its first offset without a second append, and a
// sequence gap is refused.
func testIdempotence(t *testing.T, bootstrap []string) {
	createTopic(t, bootstrap, "idempotence", 1, 1, nil)
	leader := brokerClient(t, addrOf(t, bootstrap, leaderOf(t, bootstrap, "idempotence", 0)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	init, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, leader)
	if err != nil || init.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v %v", err, kerr.ErrorForCode(init.ErrorCode))
	}
	id, epoch := init.ProducerID, init.ProducerEpoch
	now := time.Now().UnixMilli()
	steps := []struct {
		name       string
		seq        int32
		n          int
		wantErr    *kerr.Error
		wantOffset int64
	}{
		{"first batch", 0, 3, nil, 0},
		{"second batch", 3, 2, nil, 3},
		{"first batch again", 0, 3, nil, 0},
		{"second batch again", 3, 2, nil, 3},
		{"gap", 7, 1, kerr.OutOfOrderSequenceNumber, -1},
		{"next in sequence", 5, 1, nil, 5},
	}
	for _, s := range steps {
		p := produceTo(t, leader, "idempotence", 0, batch(id, epoch, s.seq, s.n, now))
		wantCode := int16(0)
		if s.wantErr != nil {
			wantCode = s.wantErr.Code
		}
		if p.ErrorCode != wantCode || (s.wantErr == nil && p.BaseOffset != s.wantOffset) {
			t.Fatalf("%s: error %v offset %d, want %v at %d", s.name, kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, s.wantErr, s.wantOffset)
		}
	}
	if hw := highWatermarks(t, bootstrap, "idempotence", 1)[0]; hw != 6 {
		t.Fatalf("high watermark %d after 6 distinct records, want 6 (duplicates appended?)", hw)
	}
	// A second producer id gets a new id.
	again, err := kmsg.NewPtrInitProducerIDRequest().RequestWith(ctx, leader)
	if err != nil || again.ProducerID == id {
		t.Fatalf("second InitProducerId: %v, id %d (first %d)", err, again.ProducerID, id)
	}
}

func testAutoCreate(t *testing.T, bootstrap []string) {
	const topic = "auto-created"
	poll.Until(t, 30*time.Second, "auto-created topic to get leaders", func() bool {
		resp := metadataRequest(t, bootstrap, true, topic)
		mt := resp.Topics[0]
		if mt.ErrorCode != 0 {
			if mt.ErrorCode != kerr.LeaderNotAvailable.Code && mt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
				t.Fatalf("Metadata for a new topic: %v", kerr.ErrorForCode(mt.ErrorCode))
			}
			return false
		}
		return len(mt.Partitions) == 1 && mt.Partitions[0].ErrorCode == 0
	})
}

func testDeleteTopic(t *testing.T, c *cluster.Cluster) {
	bootstrap := c.Bootstrap()
	const topic = "to-delete"
	createTopic(t, bootstrap, topic, 3, 1, nil)
	produceFranz(t, bootstrap, topic, newWorkload(300, 10, "del"))
	dirs := func() []string {
		var found []string
		for _, id := range c.BrokerIDs() {
			m, _ := filepath.Glob(filepath.Join(c.Home(), "broker-"+itoa(id), "data", topic+"-*"))
			found = append(found, m...)
		}
		return found
	}
	if n := len(dirs()); n != 3 {
		t.Fatalf("%d partition directories before delete, want 3", n)
	}

	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewDeleteTopicsRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	rt2 := kmsg.NewDeleteTopicsRequestTopic()
	rt2.Topic = kmsg.StringPtr("never-existed")
	req.Topics = append(req.Topics, rt2)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, admin(t, bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	for _, tp := range resp.Topics {
		want := int16(0)
		if *tp.Topic == "never-existed" {
			want = kerr.UnknownTopicOrPartition.Code
		}
		if tp.ErrorCode != want {
			t.Fatalf("delete %s: %v", *tp.Topic, kerr.ErrorForCode(tp.ErrorCode))
		}
	}
	if mt := metadata(t, bootstrap, topic).Topics; len(mt) != 1 || mt[0].ErrorCode == 0 {
		t.Fatalf("topic still in Metadata after delete")
	}
	poll.Until(t, 30*time.Second, "partition directories removed", func() bool {
		for _, d := range dirs() {
			if _, err := os.Stat(d); err == nil && !strings.HasSuffix(d, "-delete") {
				return false
			}
		}
		return true
	})
}
