package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// Client and topic quotas, measured the way a user would: a client sends
// or reads as fast as it can, and what the brokers acknowledge or return
// over the last part of the run is held near the quota, whether or not the
// client honours throttle_time_ms, while an unthrottled neighbour on the
// same broker runs at full speed.

const (
	quotaRate     = 1 << 20 // bytes per second
	quotaRun      = 15 * time.Second
	quotaMeasured = 10 * time.Second // the last part of the run
	quotaRecord   = 16 << 10
	// Records per kafka-go and sarama batch: half a MiB, within the
	// broker's message.max.bytes.
	quotaBatch     = 32
	quotaTolerance = 0.4 // the measured rate is within ±40% of the quota
	// An unthrottled client on the same broker must not be slowed below
	// this.
	quotaNeighbourFloor = 5 << 20
)

func TestClientQuotas(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 19300})
	waitForLiveBrokers(t, c.Bootstrap(), 3)
	qc := &quotaCluster{c: c}

	t.Run("franz-go-producer", qc.franzProducer)
	t.Run("franz-go-consumer", qc.franzConsumer)
	t.Run("kafka-go-producer", qc.kafkaGoProducer)
	t.Run("kafka-go-consumer", qc.kafkaGoConsumer)
	t.Run("sarama-producer", qc.saramaProducer)
	t.Run("raw-request-loop", qc.rawLoop)
	t.Run("altered-at-run-time", qc.alteredAtRunTime)
	t.Run("topic-quota", qc.topicQuota)
}

type quotaCluster struct {
	c *cluster.Cluster
}

// topicOnBroker1 creates a one-partition topic led by broker 1, so that a
// client's traffic to it meets one broker's quota.
func (qc *quotaCluster) topicOnBroker1(t *testing.T, name string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, []int32{1}
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := req.RequestWith(ctx, admin(t, qc.c.Bootstrap()))
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	waitForLeaders(t, qc.c.Bootstrap(), name, 1)
}

// setClientQuota sets (or, with value "", removes) a client-id quota with
// the CLI.
func (qc *quotaCluster) setClientQuota(t *testing.T, clientID, key, value string) {
	t.Helper()
	if value == "" {
		mustKzoo(t, qc.c, "quotas", "alter", "--client-id", clientID, "--delete-config", key)
		return
	}
	mustKzoo(t, qc.c, "quotas", "alter", "--client-id", clientID, "--add-config", key+"="+value)
}

// meter records the bytes a client had acknowledged (or received), when.
type meter struct {
	mu     sync.Mutex
	start  time.Time
	events []meterEvent
}

type meterEvent struct {
	at    time.Duration
	bytes int
}

func newMeter() *meter { return &meter{start: time.Now()} }

func (m *meter) add(n int) {
	m.mu.Lock()
	m.events = append(m.events, meterEvent{time.Since(m.start), n})
	m.mu.Unlock()
}

// rate is the bytes per second counted between from and to, measured from
// the meter's start.
func (m *meter) rate(from, to time.Duration) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	total := 0
	for _, e := range m.events {
		if e.at >= from && e.at < to {
			total += e.bytes
		}
	}
	return float64(total) / (to - from).Seconds()
}

// measured is the rate over the last quotaMeasured of a quotaRun.
func (m *meter) measured() float64 { return m.rate(quotaRun-quotaMeasured, quotaRun) }

func checkNearQuota(t *testing.T, what string, rate, quota float64) {
	t.Helper()
	t.Logf("%s: %.2f MB/s (quota %.2f MB/s)", what, rate/(1<<20), quota/(1<<20))
	if rate < (1-quotaTolerance)*quota || rate > (1+quotaTolerance)*quota {
		t.Errorf("%s: %.2f MB/s, want within %.0f%% of the quota, %.2f MB/s", what, rate/(1<<20), quotaTolerance*100, quota/(1<<20))
	}
}

func checkUnthrottled(t *testing.T, what string, rate float64) {
	t.Helper()
	t.Logf("%s: %.2f MB/s unthrottled", what, rate/(1<<20))
	if rate < quotaNeighbourFloor {
		t.Errorf("%s: %.2f MB/s, want at least %.0f MB/s: a neighbour's quota slowed it", what, rate/(1<<20), float64(quotaNeighbourFloor)/(1<<20))
	}
}

// quotaValue is a record value that does not compress: quotas charge the
// bytes a broker appends or sends, which for a compressible value would be
// far fewer than the client's.
func quotaValue() []byte {
	v := make([]byte, quotaRecord)
	rand.Read(v)
	return v
}

// throttleHook counts the throttles franz-go is told of.
type throttleHook struct{ n atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if d > 0 {
		h.n.Add(1)
	}
}

// franzProduce produces quotaRecord-sized records to partition 0 of topic
// as fast as the client lets it (or, with pace > 0, at most pace bytes per
// second) until ctx ends, counting the acknowledged bytes in m.
func franzProduce(ctx context.Context, t *testing.T, bootstrap []string, clientID, topic string, pace float64, m *meter, opts ...kgo.Opt) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(bootstrap...),
		kgo.ClientID(clientID),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(),
		kgo.MaxBufferedRecords(256),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}, opts...)...)
	if err != nil {
		t.Errorf("%s: %v", clientID, err)
		return
	}
	defer cl.Close()
	value := quotaValue()
	sent := 0
	start := time.Now()
	for ctx.Err() == nil {
		if pace > 0 {
			if ahead := time.Duration(float64(sent)/pace*float64(time.Second)) - time.Since(start); ahead > 0 {
				select {
				case <-time.After(ahead):
				case <-ctx.Done():
				}
				continue
			}
		}
		cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
			if err == nil {
				m.add(len(r.Value))
			}
		})
		sent += quotaRecord
	}
}

func (qc *quotaCluster) franzProducer(t *testing.T) {
	slow, fast := "quota-franz-slow", "quota-franz-fast"
	qc.topicOnBroker1(t, slow)
	qc.topicOnBroker1(t, fast)
	qc.setClientQuota(t, slow, "producer_byte_rate", fmt.Sprint(quotaRate))
	waitQuotaInEffect(t, qc.c, slow)

	hook := &throttleHook{}
	slowRate, fastRate := newMeter(), newMeter()
	ctx, cancel := context.WithTimeout(context.Background(), quotaRun)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { franzProduce(ctx, t, qc.c.Bootstrap(), slow, slow, 0, slowRate, kgo.WithHooks(hook)) })
	wg.Go(func() { franzProduce(ctx, t, qc.c.Bootstrap(), fast, fast, 8<<20, fastRate) })
	wg.Wait()
	checkNearQuota(t, "franz-go producer under producer_byte_rate", slowRate.measured(), quotaRate)
	checkUnthrottled(t, "franz-go producer beside it", fastRate.measured())
	if hook.n.Load() == 0 {
		t.Error("no Produce response carried a throttle time")
	}
}

// waitQuotaInEffect waits until broker 1 describes a quota for clientID: the
// quota reaches the brokers through ZooKeeper.
func waitQuotaInEffect(t *testing.T, c *cluster.Cluster, clientID string) {
	t.Helper()
	poll.Until(t, 15*time.Second, "the quota of "+clientID+" to reach the brokers", func() bool {
		out, err := kzoo(t, c, "quotas", "describe", "--client-id", clientID) // of broker 1
		return err == nil && strings.Contains(out, clientID)
	})
}

func (qc *quotaCluster) franzConsumer(t *testing.T) {
	topic := "quota-consume"
	slow, fast := "quota-franz-slow-consumer", "quota-franz-fast-consumer"
	qc.topicOnBroker1(t, topic)
	// Enough for the throttled consumer's run, and for the unthrottled
	// one to show its speed.
	const size = 32 << 20
	fill, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	filled := newMeter()
	franzProduceBytes(fill, t, qc.c.Bootstrap(), topic, size, filled)
	qc.setClientQuota(t, slow, "consumer_byte_rate", fmt.Sprint(quotaRate))
	waitQuotaInEffect(t, qc.c, slow)

	hook := &throttleHook{}
	slowRate, fastRate := newMeter(), newMeter()
	ctx, stop := context.WithTimeout(context.Background(), quotaRun)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() { franzConsume(ctx, t, qc.c.Bootstrap(), slow, topic, size, slowRate, kgo.WithHooks(hook)) })
	var fastTook time.Duration
	wg.Go(func() {
		start := time.Now()
		franzConsume(ctx, t, qc.c.Bootstrap(), fast, topic, size, fastRate)
		fastTook = time.Since(start)
	})
	wg.Wait()
	checkNearQuota(t, "franz-go consumer under consumer_byte_rate", slowRate.measured(), quotaRate)
	checkUnthrottled(t, "franz-go consumer beside it", float64(size)/fastTook.Seconds())
	if hook.n.Load() == 0 {
		t.Error("no Fetch response carried a throttle time")
	}
}

// franzProduceBytes writes size bytes of quotaRecord-sized records to
// partition 0 of topic, as fast as it can.
func franzProduceBytes(ctx context.Context, t *testing.T, bootstrap []string, topic string, size int, m *meter) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	value := quotaValue()
	for range size / quotaRecord {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
			if err != nil {
				t.Errorf("fill %s: %v", topic, err)
				return
			}
			m.add(len(r.Value))
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("fill %s: %v", topic, err)
	}
}

// franzConsume reads partition 0 of topic from the start until ctx ends or
// it has read size bytes of values, counting them in m.
func franzConsume(ctx context.Context, t *testing.T, bootstrap []string, clientID, topic string, size int, m *meter, opts ...kgo.Opt) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(bootstrap...),
		kgo.ClientID(clientID),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
	}, opts...)...)
	if err != nil {
		t.Errorf("%s: %v", clientID, err)
		return
	}
	defer cl.Close()
	read := 0
	for read < size && ctx.Err() == nil {
		fetches := cl.PollFetches(ctx)
		fetches.EachRecord(func(r *kgo.Record) {
			read += len(r.Value)
			m.add(len(r.Value))
		})
	}
}

func (qc *quotaCluster) kafkaGoProducer(t *testing.T) {
	topic := "quota-kafka-go"
	qc.topicOnBroker1(t, topic)
	qc.setClientQuota(t, topic, "producer_byte_rate", fmt.Sprint(quotaRate))
	waitQuotaInEffect(t, qc.c, topic)
	w := &kafka.Writer{
		Addr:         kafka.TCP(qc.c.BrokerAddr(1)),
		Topic:        topic,
		RequiredAcks: kafka.RequireOne,
		BatchSize:    quotaBatch,
		BatchBytes:   2 << 20,
		BatchTimeout: 10 * time.Millisecond,
		Transport:    &kafka.Transport{ClientID: topic},
	}
	defer w.Close()
	m := newMeter()
	ctx, cancel := context.WithTimeout(context.Background(), quotaRun)
	defer cancel()
	value := quotaValue()
	msgs := make([]kafka.Message, quotaBatch)
	for i := range msgs {
		msgs[i].Value = value
	}
	var errs errorCounter
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				err := w.WriteMessages(ctx, msgs...)
				if err == nil {
					m.add(len(msgs) * quotaRecord)
				} else if ctx.Err() == nil {
					errs.add(err)
				}
			}
		})
	}
	wg.Wait()
	errs.report(t, "kafka-go")
	checkNearQuota(t, "kafka-go producer under producer_byte_rate", m.measured(), quotaRate)
	expectThrottleMetric(t, qc.c, topic)
}

// kafkaGoConsumer reads under a consumer_byte_rate with kafka-go, which
// does not look at throttle_time_ms: the muted connection holds it back.
func (qc *quotaCluster) kafkaGoConsumer(t *testing.T) {
	topic := "quota-kafka-go-consume"
	qc.topicOnBroker1(t, topic)
	const size = 24 << 20
	fill, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	franzProduceBytes(fill, t, qc.c.Bootstrap(), topic, size, newMeter())
	qc.setClientQuota(t, topic, "consumer_byte_rate", fmt.Sprint(quotaRate))
	waitQuotaInEffect(t, qc.c, topic)

	rd := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   []string{qc.c.BrokerAddr(1)},
		Topic:     topic,
		Partition: 0,
		MaxBytes:  1 << 20,
		MaxWait:   250 * time.Millisecond,
		Dialer:    &kafka.Dialer{ClientID: topic, Timeout: 10 * time.Second},
	})
	defer rd.Close()
	m := newMeter()
	ctx, stop := context.WithTimeout(context.Background(), quotaRun)
	defer stop()
	for {
		msg, err := rd.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				t.Errorf("kafka-go read: %v", err)
			}
			break
		}
		m.add(len(msg.Value))
	}
	checkNearQuota(t, "kafka-go consumer under consumer_byte_rate", m.measured(), quotaRate)
	expectThrottleMetric(t, qc.c, topic)
}

func (qc *quotaCluster) saramaProducer(t *testing.T) {
	topic := "quota-sarama"
	qc.topicOnBroker1(t, topic)
	qc.setClientQuota(t, topic, "producer_byte_rate", fmt.Sprint(quotaRate))
	waitQuotaInEffect(t, qc.c, topic)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V2_4_0_0
	cfg.ClientID = topic
	cfg.Producer.RequiredAcks = sarama.WaitForLocal
	cfg.Producer.Return.Successes = true
	// Batches of quotaBatch records at most, flushed after 10 ms at the
	// latest: with a message count alone, the last batch of a run, short
	// of it, would wait forever.
	cfg.Producer.Flush.Messages = quotaBatch
	cfg.Producer.Flush.MaxMessages = quotaBatch
	cfg.Producer.Flush.Frequency = 10 * time.Millisecond
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{qc.c.BrokerAddr(1)}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	m := newMeter()
	value := sarama.ByteEncoder(quotaValue())
	deadline := time.Now().Add(quotaRun)
	var errs errorCounter
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				msgs := make([]*sarama.ProducerMessage, quotaBatch)
				for i := range msgs {
					msgs[i] = &sarama.ProducerMessage{Topic: topic, Value: value}
				}
				if err := p.SendMessages(msgs); err == nil {
					m.add(len(msgs) * quotaRecord)
				} else {
					errs.add(err)
				}
			}
		})
	}
	wg.Wait()
	errs.report(t, "sarama")
	checkNearQuota(t, "sarama producer under producer_byte_rate", m.measured(), quotaRate)
	expectThrottleMetric(t, qc.c, topic)
}

// errorCounter counts a client's failed writes, keeping the first.
type errorCounter struct {
	mu    sync.Mutex
	n     int
	first error
}

func (e *errorCounter) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == 0 {
		e.first = err
	}
	e.n++
}

// report fails the test on any failed write: a quota slows a client, it
// never fails its writes.
func (e *errorCounter) report(t *testing.T, client string) {
	t.Helper()
	if e.n > 0 {
		t.Errorf("%s: %d writes failed, the first with: %v", client, e.n, e.first)
	}
}

// expectThrottleMetric wants broker 1 to have throttled clientID: a client
// library that hides throttle_time_ms from its user is checked through the
// broker's metrics.
func expectThrottleMetric(t *testing.T, c *cluster.Cluster, clientID string) {
	t.Helper()
	for series, v := range scrapeMetrics(t, c.MetricsAddr(1)) {
		if strings.HasPrefix(series, "kzoo_quota_throttle_seconds_total{") && strings.Contains(series, `client_id="`+clientID+`"`) && v > 0 {
			return
		}
	}
	t.Errorf("broker 1 reports no throttle time for client id %s", clientID)
}

// rawLoop sends Produce requests on one connection, each as soon as the
// previous is answered, never looking at throttle_time_ms.
func (qc *quotaCluster) rawLoop(t *testing.T) {
	topic := "quota-raw"
	qc.topicOnBroker1(t, topic)
	qc.setClientQuota(t, topic, "producer_byte_rate", fmt.Sprint(quotaRate))
	waitQuotaInEffect(t, qc.c, topic)
	nc, err := net.DialTimeout("tcp", qc.c.BrokerAddr(1), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rd := bufio.NewReader(nc)

	req := kmsg.NewPtrProduceRequest()
	req.Version = 7
	req.Acks = 1
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = valueBatch(make([]byte, 128<<10))
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	body := req.AppendTo(nil)

	m := newMeter()
	throttled := 0
	for corr := int32(1); time.Since(m.start) < quotaRun; corr++ {
		if err := nc.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		frame := binary.BigEndian.AppendUint32(nil, 0)
		frame = binary.BigEndian.AppendUint16(frame, uint16(kmsg.Produce))
		frame = binary.BigEndian.AppendUint16(frame, uint16(req.Version))
		frame = binary.BigEndian.AppendUint32(frame, uint32(corr))
		frame = binary.BigEndian.AppendUint16(frame, uint16(len(topic)))
		frame = append(frame, topic...) // the client id
		frame = append(frame, body...)
		binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
		if _, err := nc.Write(frame); err != nil {
			t.Fatalf("send: %v", err)
		}
		var size [4]byte
		if _, err := io.ReadFull(rd, size[:]); err != nil {
			t.Fatalf("read: %v", err)
		}
		answer := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(rd, answer); err != nil {
			t.Fatalf("read: %v", err)
		}
		resp := kmsg.NewPtrProduceResponse()
		resp.Version = req.Version
		if err := resp.ReadFrom(answer[4:]); err != nil {
			t.Fatalf("decode: %v", err)
		}
		if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
			t.Fatalf("produce: error %d", code)
		}
		if resp.ThrottleMillis > 0 {
			throttled++
		}
		m.add(len(rp.Records))
	}
	checkNearQuota(t, "a raw Produce loop ignoring throttle_time_ms", m.measured(), quotaRate)
	if throttled == 0 {
		t.Error("no response carried a throttle time")
	}
}

// alteredAtRunTime sets a quota on a running producer and removes it.
func (qc *quotaCluster) alteredAtRunTime(t *testing.T) {
	topic := "quota-altered"
	qc.topicOnBroker1(t, topic)
	hook := &throttleHook{}
	m := newMeter()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		franzProduce(ctx, t, qc.c.Bootstrap(), topic, topic, 8<<20, m, kgo.WithHooks(hook))
	}()
	defer func() { cancel(); <-done }()

	rateOver := func(d time.Duration) float64 {
		now := time.Since(m.start)
		return m.rate(now-d, now)
	}
	poll.Until(t, 15*time.Second, "the producer to run unthrottled", func() bool { return rateOver(2*time.Second) >= quotaNeighbourFloor })

	qc.setClientQuota(t, topic, "producer_byte_rate", fmt.Sprint(quotaRate))
	set := time.Now()
	poll.Until(t, 10*time.Second, "the new quota to throttle the running producer", func() bool { return hook.n.Load() > 0 })
	t.Logf("throttled %v after the quota was set", time.Since(set).Round(time.Millisecond))
	// Give the rate a window to settle, then measure.
	time.Sleep(quotaMeasured / 2)
	checkNearQuota(t, "the producer under the quota set at run time", rateOver(quotaMeasured/2), quotaRate)

	qc.setClientQuota(t, topic, "producer_byte_rate", "")
	removed := time.Now()
	poll.Until(t, 15*time.Second, "the producer to run unthrottled again", func() bool { return rateOver(2*time.Second) >= quotaNeighbourFloor })
	t.Logf("back to full speed %v after the quota was removed", time.Since(removed).Round(time.Millisecond))
}

// topicQuota holds two producers of different client ids to one topic's
// producer.byte.rate together.
func (qc *quotaCluster) topicQuota(t *testing.T) {
	topic := "quota-topic"
	qc.topicOnBroker1(t, topic)
	mustKzoo(t, qc.c, "configs", "alter", "--topic", topic, "--add-config", fmt.Sprintf("producer.byte.rate=%d", quotaRate))
	poll.Until(t, 15*time.Second, "the topic quota to reach broker 1", func() bool {
		out, err := kzoo(t, qc.c, "configs", "describe", "--topic", topic) // of broker 1
		return err == nil && strings.Contains(out, "producer.byte.rate")
	})
	m := newMeter()
	ctx, cancel := context.WithTimeout(context.Background(), quotaRun)
	defer cancel()
	var wg sync.WaitGroup
	for _, id := range []string{"quota-topic-a", "quota-topic-b"} {
		wg.Go(func() { franzProduce(ctx, t, qc.c.Bootstrap(), id, topic, 0, m) })
	}
	wg.Wait()
	checkNearQuota(t, "two producers under the topic's producer.byte.rate", m.measured(), quotaRate)
}
