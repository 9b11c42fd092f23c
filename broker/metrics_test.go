package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	peerconn "github.com/kzoo/kzoo/broker/peer"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/metrics"
	"github.com/kzoo/kzoo/broker/quota"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// metricsTestServer is a Server with just what the metrics read: its id,
// a replica manager and a cluster view.
func metricsTestServer(t *testing.T, id int32, snap *coordinator.Snapshot) (*Server, *replicaFixture) {
	t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	s := &Server{cfg: &config.Broker{ID: id, ReplicaSocketTimeout: time.Minute}, logger: log, traffic: metrics.NewTraffic(nil), quotas: quota.NewManager(quota.DefaultSettings(), nil)}
	f := withReplicas(t, s)
	s.applied.Store(snap)
	return s, f
}

// addPartition gives s a replica of topic-number, led by s at epoch, or
// held without leading it (epoch -1).
func addPartition(f *replicaFixture, topic string, number, epoch int32) {
	st := coordinator.Partition{Leader: -1, State: zkpaths.StateOffline}
	if epoch >= 0 {
		st = coordinator.Partition{Leader: f.s.cfg.ID, LeaderEpoch: epoch, Replicas: []int32{f.s.cfg.ID}, ISR: []int32{f.s.cfg.ID}, State: zkpaths.StateOnline}
	}
	f.set(topic, number, config.Topic{}, st)
}

func TestBrokerGauges(t *testing.T) {
	snap := &coordinator.Snapshot{ControllerID: 1}
	s, f := metricsTestServer(t, 1, snap)
	addPartition(f, "t", 0, 3)
	addPartition(f, "t", 1, 0)
	addPartition(f, "t", 2, -1)
	s.health.current = ReplicationHealth{UnderReplicated: 1, Offline: 2}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.brokerGauges()...)

	const help = `
# HELP kzoo_active_controller 1 on the active controller, 0 on the other brokers.
# TYPE kzoo_active_controller gauge
# HELP kzoo_leader_count Partitions this broker leads.
# TYPE kzoo_leader_count gauge
# HELP kzoo_offline_partitions Partitions without a leader. Only the active controller reports them (0 elsewhere), as in Kafka, so that their sum over the brokers counts each once.
# TYPE kzoo_offline_partitions gauge
# HELP kzoo_partition_count Partition replicas this broker holds, as leader or follower.
# TYPE kzoo_partition_count gauge
# HELP kzoo_under_replicated_partitions Partitions this broker leads whose in-sync replicas are fewer than their replicas.
# TYPE kzoo_under_replicated_partitions gauge
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(help+`
kzoo_active_controller 1
kzoo_leader_count 2
kzoo_offline_partitions 2
kzoo_partition_count 3
kzoo_under_replicated_partitions 1
`)); err != nil {
		t.Error(err)
	}

	// Another broker became controller: the offline count moves with it.
	s.applied.Store(&coordinator.Snapshot{ControllerID: 2})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(help+`
kzoo_active_controller 0
kzoo_leader_count 2
kzoo_offline_partitions 0
kzoo_partition_count 3
kzoo_under_replicated_partitions 1
`)); err != nil {
		t.Error(err)
	}
}

func TestRemoteLeaders(t *testing.T) {
	snap := &coordinator.Snapshot{Topics: map[string]*coordinator.Topic{
		"t": {Name: "t", Partitions: []coordinator.Partition{
			{Partition: 0, Leader: 2},
			{Partition: 1, Leader: 3},
			{Partition: 2, Leader: 1},  // this broker, not leading it yet
			{Partition: 3, Leader: -1}, // offline
			{Partition: 4, Leader: 2},
		}},
	}}
	tp := func(topic string, p int32) zkpaths.TopicPartition {
		return zkpaths.TopicPartition{Topic: topic, Partition: p}
	}
	got := remoteLeaders(snap, 1, []zkpaths.TopicPartition{
		tp("t", 0), tp("t", 1), tp("t", 2), tp("t", 3), tp("t", 4), tp("t", 5), tp("t", -1), tp("gone", 0),
	})
	want := map[int32][]zkpaths.TopicPartition{
		2: {tp("t", 0), tp("t", 4)},
		3: {tp("t", 1)},
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("remoteLeaders() = %v, want %v", got, want)
	}
}

// fakePeer is a broker that answers ListOffsets from a table of end
// offsets; partitions not in the table get NOT_LEADER_OR_FOLLOWER. A nil
// table makes it read requests and never answer.
type fakePeer struct {
	ln   net.Listener
	ends map[zkpaths.TopicPartition]int64
	// received gets every request, once read.
	received chan *kmsg.ListOffsetsRequest

	wg sync.WaitGroup
}

func startFakePeer(t *testing.T, ends map[zkpaths.TopicPartition]int64) *fakePeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePeer{ln: ln, ends: ends, received: make(chan *kmsg.ListOffsetsRequest, 16)}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	f.wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			f.wg.Go(func() { f.serve(t, nc) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		f.wg.Wait()
	})
	return f
}

func (f *fakePeer) port() int32 { return int32(f.ln.Addr().(*net.TCPAddr).Port) }

func (f *fakePeer) serve(t *testing.T, nc net.Conn) {
	for {
		frame, err := readFrame(nc, 1<<20, nil)
		if err != nil {
			return
		}
		req, err := parseRequest(frame, func(int16) (apiRange, bool) { return apiRange{0, 12}, true })
		if err != nil {
			t.Errorf("fake peer: %v", err)
			return
		}
		in, ok := req.body.(*kmsg.ListOffsetsRequest)
		if !ok {
			t.Errorf("fake peer: got %s, want ListOffsets", kmsg.NameForKey(req.key))
			return
		}
		f.received <- in
		if f.ends == nil {
			continue
		}
		resp := in.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range in.Topics {
			ot := kmsg.NewListOffsetsResponseTopic()
			ot.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				op := kmsg.NewListOffsetsResponseTopicPartition()
				op.Partition = rp.Partition
				if end, ok := f.ends[zkpaths.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}]; ok {
					op.Offset = end
				} else {
					op.ErrorCode = kerr.NotLeaderForPartition.Code
				}
				ot.Partitions = append(ot.Partitions, op)
			}
			resp.Topics = append(resp.Topics, ot)
		}
		out := appendResponseHeader(make([]byte, 4), req, resp.IsFlexible())
		out = resp.AppendTo(out)
		binary.BigEndian.PutUint32(out, uint32(len(out)-4))
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

func TestListLatestOffsets(t *testing.T) {
	t0 := zkpaths.TopicPartition{Topic: "t", Partition: 0}
	t1 := zkpaths.TopicPartition{Topic: "t", Partition: 1}
	u0 := zkpaths.TopicPartition{Topic: "u", Partition: 0}
	peer := startFakePeer(t, map[zkpaths.TopicPartition]int64{t0: 42, u0: 7})

	got, err := listLatestOffsets(t.Context(), peer.ln.Addr().String(), "test", plaintextPeer, time.Minute, []zkpaths.TopicPartition{t0, t1, u0})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[zkpaths.TopicPartition]int64{t0: 42, u0: 7}; !maps.Equal(got, want) {
		t.Errorf("listLatestOffsets() = %v, want %v (t-1 answered with an error)", got, want)
	}
	req := <-peer.received
	if req.ReplicaID != -1 {
		t.Errorf("asked with replica id %d, want -1 (a consumer's view)", req.ReplicaID)
	}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			if rp.Timestamp != listLatest {
				t.Errorf("%s-%d asked at timestamp %d, want %d (latest)", rt.Topic, rp.Partition, rp.Timestamp, listLatest)
			}
		}
	}
}

func TestListLatestOffsetsStopsWithItsContext(t *testing.T) {
	tps := []zkpaths.TopicPartition{{Topic: "t", Partition: 0}}

	t.Run("deadline", func(t *testing.T) {
		peer := startFakePeer(t, nil) // never answers
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, err := listLatestOffsets(ctx, peer.ln.Addr().String(), "test", plaintextPeer, timeoutOf(ctx, time.Hour), tps); err == nil {
			t.Error("no error from a leader that never answered")
		}
	})
	t.Run("cancel", func(t *testing.T) {
		peer := startFakePeer(t, nil) // never answers
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := listLatestOffsets(ctx, peer.ln.Addr().String(), "test", plaintextPeer, time.Hour, tps)
			done <- err
		}()
		<-peer.received // waiting for the answer now
		cancel()
		if err := <-done; err == nil {
			t.Error("no error after the context was cancelled")
		}
	})
}

func TestLagEndOffsets(t *testing.T) {
	tp := func(topic string, p int32) zkpaths.TopicPartition {
		return zkpaths.TopicPartition{Topic: topic, Partition: p}
	}
	peer2 := startFakePeer(t, map[zkpaths.TopicPartition]int64{tp("t", 1): 20, tp("u", 0): 5})
	peer3 := startFakePeer(t, map[zkpaths.TopicPartition]int64{tp("t", 2): 30})
	snap := &coordinator.Snapshot{
		ControllerID: 1,
		Brokers: map[int32]coordinator.Broker{
			1: plaintextBroker(1, "127.0.0.1", 1),
			2: plaintextBroker(2, "127.0.0.1", peer2.port()),
			3: plaintextBroker(3, "127.0.0.1", peer3.port()),
		},
		Topics: map[string]*coordinator.Topic{
			"t": {Name: "t", Partitions: []coordinator.Partition{
				{Partition: 0, Leader: 1},
				{Partition: 1, Leader: 2},
				{Partition: 2, Leader: 3},
				{Partition: 3, Leader: -1}, // offline
				{Partition: 4, Leader: 4},  // leader not live
			}},
			"u": {Name: "u", Partitions: []coordinator.Partition{{Partition: 0, Leader: 2}}},
		},
	}
	s, f := metricsTestServer(t, 1, snap)
	addPartition(f, "t", 0, 5) // led here: its high watermark, 0 for an empty log

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	got := lagEndOffsets{s}.EndOffsets(ctx, []zkpaths.TopicPartition{
		tp("t", 0), tp("t", 1), tp("t", 2), tp("t", 3), tp("t", 4), tp("u", 0), tp("gone", 0),
	})
	want := map[zkpaths.TopicPartition]int64{tp("t", 0): 0, tp("t", 1): 20, tp("t", 2): 30, tp("u", 0): 5}
	if !maps.Equal(got, want) {
		t.Errorf("EndOffsets() = %v, want %v", got, want)
	}
	// One request per leader, carrying all its partitions.
	if n := len(peer2.received); n != 1 {
		t.Errorf("broker 2 got %d requests, want 1", n)
	}
	if n := len(peer3.received); n != 1 {
		t.Errorf("broker 3 got %d requests, want 1", n)
	}
}

func TestTimeoutOf(t *testing.T) {
	if got := timeoutOf(context.Background(), 7*time.Second); got != 7*time.Second {
		t.Errorf("timeoutOf() without a deadline = %v, want the fallback", got)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if got := timeoutOf(ctx, time.Hour); got > 0 {
		t.Errorf("timeoutOf() past the deadline = %v, want <= 0", got)
	}
}

func TestListenMetricsReportsABusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, _ := metricsTestServer(t, 1, &coordinator.Snapshot{})
	err = s.listenMetrics(ln.Addr().String(), s.logger)
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("listenMetrics(%s) on a busy port = %v, want a listen error", ln.Addr(), err)
	}
}

// isrMetadata is a cluster view that accepts every ISR write, recording it.
type isrMetadata struct {
	Metadata // any other method panics through the nil interface

	snap *coordinator.Snapshot
	mu   sync.Mutex
	isrs [][]int32
}

func (m *isrMetadata) Snapshot() *coordinator.Snapshot { return m.snap }

func (m *isrMetadata) UpdateISR(ctx context.Context, topic string, partition, leaderEpoch, partitionEpoch int32, isr []int32) (int32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.isrs = append(m.isrs, slices.Clone(isr))
	return partitionEpoch + 1, nil
}

// recordBatch is one uncompressed magic-v2 batch of the given record
// values.
func recordBatch(t *testing.T, values ...string) []byte {
	t.Helper()
	var records []byte
	for i, v := range values {
		rec := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1) // a zero length takes one varint byte
		records = rec.AppendTo(records)
	}
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(len(values) - 1), FirstTimestamp: 1, MaxTimestamp: 1,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(len(values)), Records: records,
	}
	b.Length = int32(49 + len(records))
	raw := b.AppendTo(nil)
	b.CRC = int32(crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b.AppendTo(nil)
}

// fetchAll fetches topic's partition 0 from offset as replicaID (-1: a
// consumer) without waiting, and returns the record bytes answered.
func fetchAll(t *testing.T, s *Server, replicaID int32, topic string, offset int64) int64 {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version, req.ReplicaID, req.MaxBytes = 12, replicaID, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := callHandler(s, t.Context(), &request{key: kmsg.Fetch.Int16(), body: req}).(*fetchResponse)
	var bytes int64
	for _, p := range resp.parts {
		bytes += p.slice.Size
	}
	return bytes
}

func TestTrafficCountersMoveWithProduceFetchAndISR(t *testing.T) {
	const topic = "orders"
	snap := &coordinator.Snapshot{
		Brokers: liveBrokers(1, 2),
		Topics:  map[string]*coordinator.Topic{topic: {Name: topic, Partitions: []coordinator.Partition{{Topic: topic}}}},
	}
	s, _ := testServer(t, snap)
	meta := &isrMetadata{snap: snap}
	s.meta = meta
	s.traffic = metrics.NewTraffic(servedAPIKeys())
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.traffic)
	clock := time.Now()
	f := withReplicasAt(t, s, func() time.Time { return clock })
	p := f.lead(topic, 0, config.Topic{"min.insync.replicas": "1"}, 1, []int32{1, 2}, []int32{1})

	// Two produce requests through dispatch: 3 records, then 2.
	var produced int
	for _, values := range [][]string{{"a", "b", "c"}, {"d", "e"}} {
		batch := recordBatch(t, values...)
		produced += len(batch)
		req := kmsg.NewPtrProduceRequest()
		req.Version, req.Acks, req.TimeoutMillis = 9, 1, 1000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rt.Partitions = []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}
		req.Topics = append(req.Topics, rt)
		answer, _ := s.dispatch(t.Context(), &conn{}, &request{key: kmsg.Produce.Int16(), body: req})
		resp := answer.(*kmsg.ProduceResponse)
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(code))
		}
	}
	metric := func(name, label string) float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				if len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
		return -1
	}
	if got := metric("kzoo_topic_records_in_total", topic); got != 5 {
		t.Errorf("records in = %v, want 5", got)
	}
	if got := metric("kzoo_topic_bytes_in_total", topic); got != float64(produced) {
		t.Errorf("bytes in = %v, want %d", got, produced)
	}
	if got := metric("kzoo_requests_total", "Produce"); got != 2 {
		t.Errorf("Produce requests = %v, want 2", got)
	}

	// A consumer's fetch counts as the topic's bytes out; a follower's
	// as replication.
	consumed := fetchAll(t, s, -1, topic, 0)
	if consumed != int64(produced) {
		t.Fatalf("consumer fetched %d bytes, want %d", consumed, produced)
	}
	if got := metric("kzoo_topic_bytes_out_total", topic); got != float64(consumed) {
		t.Errorf("bytes out = %v, want %d", got, consumed)
	}
	replicated := fetchAll(t, s, 2, topic, 0)
	if got := metric("kzoo_replication_bytes_out_total", ""); got != float64(replicated) || replicated == 0 {
		t.Errorf("replication bytes out = %v, want %d", got, replicated)
	}
	if got := metric("kzoo_topic_bytes_out_total", topic); got != float64(consumed) {
		t.Errorf("bytes out after a follower fetch = %v, want %d still", got, consumed)
	}

	// The follower catches up and joins the ISR, then falls behind and
	// leaves it.
	fetchAll(t, s, 2, topic, p.Log().LogEndOffset())
	s.replicas.UpdateISRs(t.Context())
	if got := metric("kzoo_isr_expands_total", ""); got != 1 {
		t.Errorf("ISR expands = %v, want 1 (ISR writes %v)", got, meta.isrs)
	}
	clock = clock.Add(s.cfg.ReplicaLagTimeMax + time.Millisecond)
	s.replicas.UpdateISRs(t.Context())
	if got := metric("kzoo_isr_shrinks_total", ""); got != 1 {
		t.Errorf("ISR shrinks = %v, want 1 (ISR writes %v)", got, meta.isrs)
	}
	if got := metric("kzoo_isr_expands_total", ""); got != 1 {
		t.Errorf("ISR expands after the shrink = %v, want 1", got)
	}

	// Deleting the topic drops its series.
	s.forgetDeletedTopics(&coordinator.Snapshot{Topics: map[string]*coordinator.Topic{}})
	if got := metric("kzoo_topic_records_in_total", topic); got != -1 {
		t.Errorf("records in of the deleted topic = %v, want no series", got)
	}
}

// plaintextPeer is an unsecured connection to another broker.
var plaintextPeer peerconn.Security
