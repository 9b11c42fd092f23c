package broker

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"math"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/broker/quota"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
)

// fakeMetadata records the topic administration a test expects; any other
// Metadata method panics through the nil embedded interface.
type fakeMetadata struct {
	Metadata

	mu      sync.Mutex
	created []createdTopic
	deleted []string
	// createTopic, when set, answers CreateTopic after it is recorded.
	createTopic func(ctx context.Context) error
}

type createdTopic struct {
	name       string
	assignment [][]int32
	configs    map[string]string
}

func (m *fakeMetadata) CreateTopic(ctx context.Context, name string, assignment [][]int32, configs map[string]string) error {
	m.mu.Lock()
	m.created = append(m.created, createdTopic{name, assignment, configs})
	answer := m.createTopic
	m.mu.Unlock()
	if answer != nil {
		return answer(ctx)
	}
	return nil
}

func (m *fakeMetadata) DeleteTopic(ctx context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.deleted = append(m.deleted, name)
	return nil
}

func (m *fakeMetadata) createdTopics() []createdTopic {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.created)
}

func discardLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// testBrokerConfig is broker 1's configuration with Kafka's defaults and
// the given overrides.
func testBrokerConfig(t testing.TB, overrides ...string) *config.Broker {
	t.Helper()
	vals, err := config.Load("", nil, append([]string{"broker.id=1"}, overrides...))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := vals.Broker()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testServer is a Server that answers from snap, with no listeners, logs or
// group coordinator.
func testServer(t *testing.T, snap *coordinator.Snapshot, overrides ...string) (*Server, *fakeMetadata) {
	meta := &fakeMetadata{}
	s := &Server{cfg: testBrokerConfig(t, overrides...), meta: meta, logger: discardLogger(), handoffs: newHandoffQueue(), quotas: quota.NewManager(quota.DefaultSettings(), nil)}
	s.applied.Store(snap)
	return s, meta
}

func liveBrokers(ids ...int32) map[int32]coordinator.Broker {
	out := make(map[int32]coordinator.Broker)
	for _, id := range ids {
		out[id] = plaintextBroker(id, "127.0.0.1", 9090+id)
	}
	return out
}

// offsetsTopic is a __consumer_offsets whose partition p is led by
// leaders[p] (-1: no leader).
func offsetsTopic(leaders ...int32) *coordinator.Topic {
	t := &coordinator.Topic{Name: group.OffsetsTopic, Configs: map[string]string{}}
	for p, leader := range leaders {
		state := zkpaths.StateOnline
		if leader < 0 {
			state = zkpaths.StateOffline
		}
		t.Partitions = append(t.Partitions, coordinator.Partition{
			Topic: group.OffsetsTopic, Partition: int32(p), Leader: leader, LeaderEpoch: 4, State: state,
			Replicas: []int32{max(leader, 1)}, ISR: []int32{max(leader, 1)},
		})
	}
	return t
}

// kafkaPartitionFor is Kafka's partitionFor, written out here so that the
// test does not trust the code under test: Utils.abs (math.MinInt32 maps to
// 0) of the Java String.hashCode, modulo the partition count.
func kafkaPartitionFor(groupID string, partitions int32) int32 {
	var h int32
	for _, r := range groupID { // ASCII ids in these tests: one UTF-16 unit each
		h = 31*h + int32(r)
	}
	switch {
	case h == math.MinInt32:
		h = 0
	case h < 0:
		h = -h
	}
	return h % partitions
}

func findCoordinatorRequest(version int16, keyType int8, keys ...string) *request {
	in := kmsg.NewPtrFindCoordinatorRequest()
	in.Version = version
	in.CoordinatorType = keyType
	if version >= 4 {
		in.CoordinatorKeys = keys
	} else {
		in.CoordinatorKey = keys[0]
	}
	return &request{key: in.Key(), version: version, body: in, listener: "PLAINTEXT"}
}

func TestFindCoordinatorNamesTheLeaderOfTheGroupsPartition(t *testing.T) {
	// Three partitions, though offsets.topic.num.partitions says 50: the
	// existing topic's count is what group ids hash over.
	snap := &coordinator.Snapshot{
		Brokers: liveBrokers(1, 2, 3),
		Topics:  map[string]*coordinator.Topic{group.OffsetsTopic: offsetsTopic(1, 2, 3)},
	}
	s, meta := testServer(t, snap)
	groups := []string{"g1", "orders", "payments-service", "a", ""}

	resp := callHandler(s, context.Background(), findCoordinatorRequest(4, coordinatorKeyGroup, groups...)).(*kmsg.FindCoordinatorResponse)
	if len(resp.Coordinators) != len(groups) {
		t.Fatalf("got %d coordinators for %d keys", len(resp.Coordinators), len(groups))
	}
	for i, c := range resp.Coordinators {
		want := kafkaPartitionFor(groups[i], 3) + 1 // partition p is led by broker p+1
		if c.Key != groups[i] || c.ErrorCode != 0 || c.NodeID != want || c.Host != "127.0.0.1" || c.Port != 9090+want {
			t.Errorf("group %q: got key %q node %d at %s:%d (error %d), want node %d at 127.0.0.1:%d",
				groups[i], c.Key, c.NodeID, c.Host, c.Port, c.ErrorCode, want, 9090+want)
		}
	}

	for v := int16(0); v <= 3; v++ {
		resp := callHandler(s, context.Background(), findCoordinatorRequest(v, coordinatorKeyGroup, "orders")).(*kmsg.FindCoordinatorResponse)
		if want := kafkaPartitionFor("orders", 3) + 1; resp.ErrorCode != 0 || resp.NodeID != want || resp.Port != 9090+want {
			t.Errorf("v%d: node %d port %d error %d, want node %d", v, resp.NodeID, resp.Port, resp.ErrorCode, want)
		}
	}
	if created := meta.createdTopics(); len(created) != 0 {
		t.Errorf("created %v, want nothing: the topic exists", created)
	}
}

func TestFindCoordinatorWithoutALeader(t *testing.T) {
	for name, snap := range map[string]*coordinator.Snapshot{
		"offline partition": {Brokers: liveBrokers(1), Topics: map[string]*coordinator.Topic{group.OffsetsTopic: offsetsTopic(-1)}},
		"dead leader":       {Brokers: liveBrokers(1), Topics: map[string]*coordinator.Topic{group.OffsetsTopic: offsetsTopic(2)}},
		"topic being deleted": {Brokers: liveBrokers(1), Topics: map[string]*coordinator.Topic{group.OffsetsTopic: func() *coordinator.Topic {
			t := offsetsTopic(1)
			t.Deleting = true
			return t
		}()}},
	} {
		t.Run(name, func(t *testing.T) {
			s, meta := testServer(t, snap)
			resp := callHandler(s, context.Background(), findCoordinatorRequest(3, coordinatorKeyGroup, "g")).(*kmsg.FindCoordinatorResponse)
			if resp.ErrorCode != kerr.CoordinatorNotAvailable.Code || resp.NodeID != -1 || resp.Port != -1 {
				t.Errorf("error %d node %d port %d, want COORDINATOR_NOT_AVAILABLE and no node", resp.ErrorCode, resp.NodeID, resp.Port)
			}
			if created := meta.createdTopics(); len(created) != 0 {
				t.Errorf("created %v, want nothing", created)
			}
		})
	}
}

func TestFindCoordinatorCreatesTheOffsetsTopicOnce(t *testing.T) {
	// Two live brokers: the replication factor 3 of offsets.topic is cut to 2.
	snap := &coordinator.Snapshot{Brokers: liveBrokers(1, 2), Topics: map[string]*coordinator.Topic{}}
	s, meta := testServer(t, snap, "auto.create.topics.enable=false", "offsets.topic.num.partitions=7", "offsets.topic.segment.bytes=1048576")

	resp := callHandler(s, context.Background(), findCoordinatorRequest(4, coordinatorKeyGroup, "a", "b", "c")).(*kmsg.FindCoordinatorResponse)
	for _, c := range resp.Coordinators {
		if c.ErrorCode != kerr.CoordinatorNotAvailable.Code || c.NodeID != -1 {
			t.Errorf("key %q: error %d node %d, want COORDINATOR_NOT_AVAILABLE until the topic has leaders", c.Key, c.ErrorCode, c.NodeID)
		}
	}
	created := meta.createdTopics()
	if len(created) != 1 {
		t.Fatalf("CreateTopic called %d times, want once per request", len(created))
	}
	c := created[0]
	if c.name != group.OffsetsTopic || len(c.assignment) != 7 {
		t.Errorf("created %q with %d partitions, want %s with 7", c.name, len(c.assignment), group.OffsetsTopic)
	}
	for p, replicas := range c.assignment {
		if len(replicas) != 2 {
			t.Errorf("partition %d has replicas %v, want 2 (the live brokers)", p, replicas)
		}
	}
	want := map[string]string{"cleanup.policy": "compact", "segment.bytes": "1048576", "compression.type": "producer"}
	if !mapsEqual(c.configs, want) {
		t.Errorf("configs %v, want %v", c.configs, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestConcurrentFindCoordinatorsDoNotFailEachOther(t *testing.T) {
	snap := &coordinator.Snapshot{Brokers: liveBrokers(1), Topics: map[string]*coordinator.Topic{}}
	s, meta := testServer(t, snap)
	entered, release := make(chan struct{}), make(chan struct{})
	var calls int
	meta.createTopic = func(ctx context.Context) error {
		calls++ // no race: the second request never gets here, the third comes after the first
		if calls == 1 {
			close(entered)
			<-release
			return nil
		}
		// Another broker got there first.
		return coordinator.ErrTopicExists
	}

	first := make(chan *kmsg.FindCoordinatorResponse)
	go func() {
		first <- callHandler(s, context.Background(), findCoordinatorRequest(3, coordinatorKeyGroup, "g")).(*kmsg.FindCoordinatorResponse)
	}()
	<-entered
	// While the first request creates the topic, a second one does not
	// wait for it, nor try again.
	second := callHandler(s, context.Background(), findCoordinatorRequest(3, coordinatorKeyGroup, "h")).(*kmsg.FindCoordinatorResponse)
	if second.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Errorf("second request: error %d, want COORDINATOR_NOT_AVAILABLE", second.ErrorCode)
	}
	if n := len(meta.createdTopics()); n != 1 {
		t.Errorf("CreateTopic called %d times while the first was in flight, want 1", n)
	}
	close(release)
	if resp := <-first; resp.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Errorf("first request: error %d, want COORDINATOR_NOT_AVAILABLE", resp.ErrorCode)
	}

	// A topic someone else created is no failure either.
	third := callHandler(s, context.Background(), findCoordinatorRequest(3, coordinatorKeyGroup, "i")).(*kmsg.FindCoordinatorResponse)
	if third.ErrorCode != kerr.CoordinatorNotAvailable.Code || third.ErrorMessage == nil || *third.ErrorMessage != group.OffsetsTopic+" is being created" {
		t.Errorf("after TOPIC_ALREADY_EXISTS: error %d message %v, want COORDINATOR_NOT_AVAILABLE, being created", third.ErrorCode, third.ErrorMessage)
	}
}

func TestFindCoordinatorKeyTypes(t *testing.T) {
	snap := &coordinator.Snapshot{Brokers: liveBrokers(1), Topics: map[string]*coordinator.Topic{group.OffsetsTopic: offsetsTopic(1)}}
	s, _ := testServer(t, snap)
	for _, tc := range []struct {
		keyType int8
		want    *kerr.Error
	}{
		{coordinatorKeyTransaction, kerr.CoordinatorNotAvailable},
		{2, kerr.InvalidRequest},
		{-1, kerr.InvalidRequest},
	} {
		resp := callHandler(s, context.Background(), findCoordinatorRequest(4, tc.keyType, "k")).(*kmsg.FindCoordinatorResponse)
		c := resp.Coordinators[0]
		if c.ErrorCode != tc.want.Code || c.NodeID != -1 || c.ErrorMessage == nil {
			t.Errorf("key type %d: error %d node %d message %v, want %s with a message", tc.keyType, c.ErrorCode, c.NodeID, c.ErrorMessage, tc.want.Message)
		}
	}
}

func TestInternalTopicRules(t *testing.T) {
	snap := &coordinator.Snapshot{
		Brokers: liveBrokers(1),
		Topics:  map[string]*coordinator.Topic{group.OffsetsTopic: offsetsTopic(1)},
	}
	s, meta := testServer(t, snap)
	ctx := context.Background()

	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(group.OffsetsTopic)}}
	mresp := callHandler(s, ctx, &request{body: md, listener: "PLAINTEXT"}).(*kmsg.MetadataResponse)
	if len(mresp.Topics) != 1 || !mresp.Topics[0].IsInternal {
		t.Errorf("Metadata does not mark %s internal: %+v", group.OffsetsTopic, mresp.Topics)
	}

	pr := kmsg.NewPtrProduceRequest()
	pr.Version, pr.Acks, pr.TimeoutMillis = 9, -1, 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = group.OffsetsTopic
	pt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: testBatch(t, "forged commit")}}
	pr.Topics = append(pr.Topics, pt)
	presp := callHandler(s, ctx, &request{body: pr}).(*kmsg.ProduceResponse)
	if code := presp.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidTopicException.Code {
		t.Errorf("Produce to %s: error %d, want INVALID_TOPIC_EXCEPTION", group.OffsetsTopic, code)
	}

	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.Version = 7
	ct.Topics = []kmsg.CreateTopicsRequestTopic{{Topic: group.OffsetsTopic, NumPartitions: 3, ReplicationFactor: 1}}
	ctresp := callHandler(s, ctx, &request{body: ct}).(*kmsg.CreateTopicsResponse)
	if code := ctresp.Topics[0].ErrorCode; code != kerr.InvalidRequest.Code {
		t.Errorf("CreateTopics %s: error %d, want INVALID_REQUEST", group.OffsetsTopic, code)
	}

	dt := kmsg.NewPtrDeleteTopicsRequest()
	dt.Version = 5
	dt.TopicNames = []string{group.OffsetsTopic}
	dtresp := callHandler(s, ctx, &request{body: dt}).(*kmsg.DeleteTopicsResponse)
	if code := dtresp.Topics[0].ErrorCode; code != kerr.InvalidTopicException.Code {
		t.Errorf("DeleteTopics %s: error %d, want INVALID_TOPIC_EXCEPTION", group.OffsetsTopic, code)
	}

	cp := kmsg.NewCreatePartitionsRequestTopic()
	cp.Topic, cp.Count = group.OffsetsTopic, 2
	if _, err := s.planPartitions(snap, &cp); !errors.Is(err, kerr.InvalidPartitions) {
		t.Errorf("CreatePartitions %s: %v, want INVALID_PARTITIONS", group.OffsetsTopic, err)
	}

	if len(meta.createdTopics()) != 0 || len(meta.deleted) != 0 {
		t.Errorf("the cluster was changed: created %v, deleted %v", meta.createdTopics(), meta.deleted)
	}
}

func TestMetadataAutoCreatesTheOffsetsTopicWithItsOwnSettings(t *testing.T) {
	snap := &coordinator.Snapshot{Brokers: liveBrokers(1, 2, 3), Topics: map[string]*coordinator.Topic{}}
	s, meta := testServer(t, snap, "num.partitions=1", "offsets.topic.num.partitions=5")
	md := kmsg.NewPtrMetadataRequest()
	md.Version, md.AllowAutoTopicCreation = 12, true
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr(group.OffsetsTopic)}}

	resp := callHandler(s, context.Background(), &request{body: md, listener: "PLAINTEXT"}).(*kmsg.MetadataResponse)
	if mt := resp.Topics[0]; mt.ErrorCode != kerr.LeaderNotAvailable.Code || !mt.IsInternal {
		t.Errorf("error %d internal %v, want LEADER_NOT_AVAILABLE for an internal topic", mt.ErrorCode, mt.IsInternal)
	}
	created := meta.createdTopics()
	if len(created) != 1 || len(created[0].assignment) != 5 || len(created[0].assignment[0]) != 3 || created[0].configs["cleanup.policy"] != "compact" {
		t.Errorf("created %+v, want %s with 5 partitions of 3 replicas, compacted", created, group.OffsetsTopic)
	}
}

// testBatch is one uncompressed magic-v2 batch of a single record, as the
// group coordinator writes them.
func testBatch(t *testing.T, value string) []byte {
	t.Helper()
	rec := kmsg.Record{Key: []byte("k"), Value: []byte(value)}
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // a zero length takes one varint byte
	records := rec.AppendTo(nil)
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, FirstTimestamp: 1, MaxTimestamp: 1,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: records,
	}
	b.Length = int32(49 + len(records))
	raw := b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b.AppendTo(nil)
}

// leadOffsetsPartition makes this broker (1) leader of __consumer_offsets
// partition 7 at epoch 3 with isr, and returns the fixture, the partition and
// the group.Log the role change handed to the coordinator.
func leadOffsetsPartition(t *testing.T, s *Server, minISR string, isr ...int32) (*replicaFixture, *replica.Partition, group.Log) {
	t.Helper()
	f := withReplicas(t, s)
	p := f.lead(group.OffsetsTopic, 7, config.Topic{"min.insync.replicas": minISR}, 3, []int32{1, 2, 3}, isr)
	handoffs := s.handoffs.take()
	if len(handoffs) != 1 || handoffs[0].log == nil || handoffs[0].partition != 7 || handoffs[0].epoch != 3 {
		t.Fatalf("handed the coordinator %+v, want partition 7 at epoch 3", handoffs)
	}
	return f, p, handoffs[0].log
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, 10*time.Second, what, cond)
}

func TestLeadershipOfOffsetsPartitionsIsHandedToTheCoordinatorInOrder(t *testing.T) {
	s, _ := testServer(t, &coordinator.Snapshot{})
	f, p, _ := leadOffsetsPartition(t, s, "1", 1)
	f.change(p, coordinator.Partition{Leader: -1, LeaderEpoch: 4, State: zkpaths.StateOffline})
	f.change(p, coordinator.Partition{Leader: 1, LeaderEpoch: 5, Replicas: []int32{1}, ISR: []int32{1}, State: zkpaths.StateOnline})
	got := s.handoffs.take()
	if len(got) != 2 || got[0].log != nil || got[0].epoch != 3 || got[1].log == nil || got[1].epoch != 5 {
		t.Fatalf("handoffs %+v, want resign at 3 then lead at 5", got)
	}

	// A user topic's leadership is none of the coordinator's business.
	f.lead("orders", 7, config.Topic{}, 1, []int32{1}, []int32{1})
	if got := s.handoffs.take(); len(got) != 0 {
		t.Errorf("handed %+v for a user topic", got)
	}
}

func TestOffsetsLogAppendAloneInTheISR(t *testing.T) {
	s, _ := testServer(t, &coordinator.Snapshot{})
	_, p, log := leadOffsetsPartition(t, s, "1", 1)
	first, second := testBatch(t, "one"), testBatch(t, "two")
	for i, batch := range [][]byte{first, second} {
		last, err := log.Append(context.Background(), batch)
		if err != nil || last != int64(i) {
			t.Fatalf("append %d: last offset %d, %v; want %d", i, last, err, i)
		}
	}
	if hw := p.HighWatermark(); hw != 2 {
		t.Errorf("high watermark %d, want 2", hw)
	}
	if start, end := log.LogStartOffset(), log.LogEndOffset(); start != 0 || end != 2 {
		t.Errorf("log offsets [%d, %d), want [0, 2)", start, end)
	}

	// Append stamped the offsets and epoch into the batches, as stored.
	all, err := log.Read(0, 1<<20)
	if err != nil || !bytes.Equal(all, append(slices.Clone(first), second...)) {
		t.Errorf("Read(0) = %d bytes, %v; want both batches as stored", len(all), err)
	}
	one, err := log.Read(0, 1)
	if err != nil || !bytes.Equal(one, first) {
		t.Errorf("Read(0, 1 byte) = %d bytes, %v; want the whole first batch", len(one), err)
	}
	tail, err := log.Read(1, 1<<20)
	if err != nil || !bytes.Equal(tail, second) {
		t.Errorf("Read(1) = %d bytes, %v; want the second batch", len(tail), err)
	}
	if end, err := log.Read(2, 1<<20); err != nil || len(end) != 0 {
		t.Errorf("Read(log end) = %d bytes, %v; want nothing", len(end), err)
	}
	if _, err := log.Read(3, 1<<20); !errors.Is(err, kerr.OffsetOutOfRange) {
		t.Errorf("Read past the end: %v, want OFFSET_OUT_OF_RANGE", err)
	}
}

func TestOffsetsLogAppendWaitsForTheISR(t *testing.T) {
	s, _ := testServer(t, &coordinator.Snapshot{})
	f, p, log := leadOffsetsPartition(t, s, "1", 1, 2)
	done := make(chan error, 1)
	var last int64
	go func() {
		var err error
		last, err = log.Append(context.Background(), testBatch(t, "commit"))
		done <- err
	}()
	waitFor(t, "the batch is in the log", func() bool { return p.Log().LogEndOffset() == 1 })
	select {
	case err := <-done:
		t.Fatalf("append returned (%v) before follower 2 had the batch", err)
	default:
	}
	f.followerFetched(p, 2, 1, 0)
	if err := <-done; err != nil || last != 0 {
		t.Errorf("append: last offset %d, %v; want 0 once the ISR has it", last, err)
	}
}

func TestOffsetsLogAppendErrors(t *testing.T) {
	t.Run("ISR below min.insync.replicas", func(t *testing.T) {
		s, _ := testServer(t, &coordinator.Snapshot{})
		_, p, log := leadOffsetsPartition(t, s, "2", 1)
		if _, err := log.Append(context.Background(), testBatch(t, "x")); err != kerr.NotEnoughReplicas {
			t.Errorf("got %v, want NOT_ENOUGH_REPLICAS", err)
		}
		if leo := p.Log().LogEndOffset(); leo != 0 {
			t.Errorf("log end offset %d: the batch was written anyway", leo)
		}
	})
	t.Run("leadership moved before the append", func(t *testing.T) {
		s, _ := testServer(t, &coordinator.Snapshot{})
		f, p, log := leadOffsetsPartition(t, s, "1", 1)
		f.change(p, coordinator.Partition{Leader: 1, LeaderEpoch: 4, Replicas: []int32{1}, ISR: []int32{1}, State: zkpaths.StateOnline})
		if _, err := log.Append(context.Background(), testBatch(t, "x")); err != kerr.NotLeaderForPartition {
			t.Errorf("got %v, want NOT_LEADER_OR_FOLLOWER for a log handed over at epoch 3", err)
		}
		if leo := p.Log().LogEndOffset(); leo != 0 {
			t.Errorf("log end offset %d: the batch was written at the new epoch", leo)
		}
	})
	t.Run("leadership moved while waiting", func(t *testing.T) {
		s, _ := testServer(t, &coordinator.Snapshot{})
		f, p, log := leadOffsetsPartition(t, s, "1", 1, 2)
		done := make(chan error, 1)
		go func() {
			_, err := log.Append(context.Background(), testBatch(t, "x"))
			done <- err
		}()
		waitFor(t, "the batch is in the log", func() bool { return p.Log().LogEndOffset() == 1 })
		f.change(p, coordinator.Partition{Leader: -1, LeaderEpoch: 4, State: zkpaths.StateOffline})
		if err := <-done; err != kerr.NotLeaderForPartition {
			t.Errorf("got %v, want NOT_LEADER_OR_FOLLOWER", err)
		}
	})
	t.Run("ISR does not catch up in offsets.commit.timeout.ms", func(t *testing.T) {
		s, _ := testServer(t, &coordinator.Snapshot{}, "offsets.commit.timeout.ms=20")
		_, _, log := leadOffsetsPartition(t, s, "1", 1, 2)
		if _, err := log.Append(context.Background(), testBatch(t, "x")); err != kerr.RequestTimedOut {
			t.Errorf("got %v, want REQUEST_TIMED_OUT", err)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		s, _ := testServer(t, &coordinator.Snapshot{})
		_, _, log := leadOffsetsPartition(t, s, "1", 1, 2)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := log.Append(ctx, testBatch(t, "x")); !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want the context's error", err)
		}
	})
}

func TestGroupCoordinatorConfigFollowsTheExistingTopic(t *testing.T) {
	if got := internalTopicPartitions(nil, group.OffsetsTopic, 50); got != 50 {
		t.Errorf("without a view: %d, want the configured 50", got)
	}
	snap := &coordinator.Snapshot{Topics: map[string]*coordinator.Topic{}}
	if got := internalTopicPartitions(snap, group.OffsetsTopic, 50); got != 50 {
		t.Errorf("without the topic: %d, want the configured 50", got)
	}
	snap.Topics[group.OffsetsTopic] = offsetsTopic(1, 1, 1)
	if got := internalTopicPartitions(snap, group.OffsetsTopic, 50); got != 3 {
		t.Errorf("with a 3-partition topic: %d, want 3", got)
	}
}

func TestClientHostIsKafkasForm(t *testing.T) {
	for addr, want := range map[net.Addr]string{
		&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5000}: "/127.0.0.1",
		&net.TCPAddr{IP: net.ParseIP("::1"), Port: 5000}:     "/::1",
	} {
		if got := clientHost(addr); got != want {
			t.Errorf("clientHost(%v) = %q, want %q", addr, got, want)
		}
	}
}

// TxnOffsetCommit answers the partitions of topics that do not exist
// itself, as Kafka does, before the group coordinator sees the request.
func TestTxnOffsetCommitOfUnknownPartitions(t *testing.T) {
	snap := &coordinator.Snapshot{Brokers: liveBrokers(1), Topics: map[string]*coordinator.Topic{"known": {Partitions: []coordinator.Partition{{}}}}}
	s, _ := testServer(t, snap)
	in := kmsg.NewPtrTxnOffsetCommitRequest()
	in.Version, in.Group, in.TransactionalID, in.ProducerID = 3, "g", "t", 1
	for _, tp := range []struct {
		topic     string
		partition int32
	}{{"gone", 0}, {"known", 1}, {"known", -1}} {
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = tp.topic
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition = tp.partition
		rt.Partitions = append(rt.Partitions, rp)
		in.Topics = append(in.Topics, rt)
	}
	resp := callHandler(s, context.Background(), &request{key: in.Key(), version: in.Version, body: in}).(*kmsg.TxnOffsetCommitResponse)
	n := 0
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			n++
			if rp.ErrorCode != kerr.UnknownTopicOrPartition.Code {
				t.Errorf("%s-%d: error %d, want UNKNOWN_TOPIC_OR_PARTITION", rt.Topic, rp.Partition, rp.ErrorCode)
			}
		}
	}
	if n != 3 {
		t.Errorf("answered %d partitions, want 3: %+v", n, resp.Topics)
	}
}
