package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
)

// BenchmarkProduceConsume measures a broker end to end through franz-go:
// records of 1 KiB produced with acks=all to a 6-partition topic, then
// consumed from the start. Run with `make bench`.
func BenchmarkProduceConsume(b *testing.B) {
	c := cluster.Start(b, cluster.Options{Brokers: 1, PortOffset: 14200})
	benchProduceConsume(b, c.Bootstrap(), 1)
}

// BenchmarkProduceConsumeReplicated is BenchmarkProduceConsume on three
// brokers with every partition on all three: acks=all then waits for the
// followers' fetches, and the leaders' load is spread.
func BenchmarkProduceConsumeReplicated(b *testing.B) {
	c := cluster.Start(b, cluster.Options{Brokers: 3, PortOffset: 14300})
	benchProduceConsume(b, c.Bootstrap(), 3)
}

// BenchmarkProduceConsumeSecurity is BenchmarkProduceConsume on one broker
// over PLAINTEXT and then, on a secured cluster (scripts/cluster with
// KZOO_SECURE=1), over SASL_SSL with SCRAM-SHA-512 as a super user: what
// TLS and the authorizer cost, side by side. Each runs its own cluster,
// one after the other, at the same ports.
func BenchmarkProduceConsumeSecurity(b *testing.B) {
	b.Run("PLAINTEXT", func(b *testing.B) {
		c := cluster.Start(b, cluster.Options{Brokers: 1, PortOffset: 21800})
		benchProduceConsume(b, c.Bootstrap(), 1)
	})
	b.Run("SASL_SSL", func(b *testing.B) {
		c := cluster.Start(b, cluster.Options{Brokers: 1, PortOffset: 21800, Secure: true})
		benchProduceConsume(b, c.Bootstrap(), 1, adminAuth(c).kgoOpts()...)
	})
}

// benchProduceConsume runs the produce and consume benchmarks; opts are
// added to every client's options (security settings).
func benchProduceConsume(b *testing.B, bootstrap []string, replicationFactor int16, opts ...kgo.Opt) {
	client := func(b *testing.B, more ...kgo.Opt) *kgo.Client {
		cl, err := kgo.NewClient(slices.Concat([]kgo.Opt{kgo.SeedBrokers(bootstrap...)}, opts, more)...)
		if err != nil {
			b.Fatal(err)
		}
		return cl
	}
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	round := 0
	newTopic := func(b *testing.B) string {
		round++
		topic := fmt.Sprintf("bench-%d", round)
		cl := client(b)
		defer cl.Close()
		createTopicWith(b, cl, topic, 6, replicationFactor)
		return topic
	}

	b.Run("produce", func(b *testing.B) {
		topic := newTopic(b)
		cl := client(b, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
		defer cl.Close()
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		var wg sync.WaitGroup
		var failed error
		var mu sync.Mutex
		for i := 0; i < b.N; i++ {
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
				wg.Done()
			})
		}
		wg.Wait()
		if failed != nil {
			b.Fatal(failed)
		}
	})

	b.Run("consume", func(b *testing.B) {
		topic := newTopic(b)
		prod := client(b, kgo.DefaultProduceTopic(topic))
		for i := 0; i < b.N; i++ {
			prod.Produce(context.Background(), &kgo.Record{Value: value}, nil)
		}
		if err := prod.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		prod.Close()

		cons := client(b, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cons.Close()
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for got := 0; got < b.N; {
			fetches := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				b.Fatalf("consumed %d of %d", got, b.N)
			}
			got += fetches.NumRecords()
		}
	})
}

// BenchmarkTransactionalProduce measures, on one 3-broker cluster with
// every partition on all three (acks=all), franz-go's produce throughput
// idempotent and in transactions of 100 records, each reported as
// records/s beside the other. Records of 1 KiB go to a 6-partition topic;
// the transactions run one after another, as one producer's must.
// KZOO_TXN_E2E_BOOTSTRAP runs it against an external cluster (see
// transactions_test.go).
func BenchmarkTransactionalProduce(b *testing.B) {
	tc := startTxnCluster(b)
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	round := 0
	newTopic := func(b *testing.B) string {
		round++
		topic := tc.name(fmt.Sprintf("bench-txn-%d", round))
		createTopicWith(b, tc.client(b), topic, 6, tc.replicationFactor)
		return topic
	}
	// produce writes n records through cl and waits for their acks.
	produce := func(b *testing.B, cl *kgo.Client, n int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failed error
		for range n {
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
				}
				wg.Done()
			})
		}
		wg.Wait()
		if failed != nil {
			b.Fatal(failed)
		}
	}
	recordsPerSecond := func(b *testing.B) {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	}

	b.Run("idempotent", func(b *testing.B) {
		cl := tc.client(b, kgo.DefaultProduceTopic(newTopic(b)), kgo.ProducerLinger(5*time.Millisecond))
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		produce(b, cl, b.N)
		recordsPerSecond(b)
	})

	b.Run("transactional-100", func(b *testing.B) {
		const perTxn = 100
		topic := newTopic(b)
		cl := tc.client(b, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond),
			kgo.TransactionalID(tc.name(topic)))
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		ctx := context.Background()
		for done := 0; done < b.N; done += perTxn {
			if err := cl.BeginTransaction(); err != nil {
				b.Fatal(err)
			}
			produce(b, cl, min(perTxn, b.N-done))
			if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
				b.Fatal(err)
			}
		}
		recordsPerSecond(b)
	})
}

// BenchmarkProduceQuotaBookkeeping measures what quotas cost a producer
// that stays within them: the same acks=all produce as
// BenchmarkProduceConsume with no quota anywhere, then with a client-id
// quota, a <default> client quota and a topic quota set far above the
// rate reached. The two figures should differ by noise only.
func BenchmarkProduceQuotaBookkeeping(b *testing.B) {
	c := cluster.Start(b, cluster.Options{Brokers: 1, PortOffset: 18600})
	bootstrap := c.Bootstrap()
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	run := func(b *testing.B, topic string) {
		prod, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.ClientID("bench-quotas"), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		defer prod.Close()
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		for range b.N {
			prod.Produce(context.Background(), &kgo.Record{Value: value}, nil)
		}
		if err := prod.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	// Topics and quotas are set up outside b.Run, which calls each
	// function several times, growing b.N; the quotas only once the run
	// without them is over.
	createTopicWith(b, cl, "bench-no-quotas", 6, 1)
	createTopicWith(b, cl, "bench-quotas", 6, 1)
	b.Run("no-quotas", func(b *testing.B) { run(b, "bench-no-quotas") })

	const huge = 1e12 // bytes per second
	alterTopicConfig(b, cl, "bench-quotas", "producer.byte.rate", fmt.Sprint(int64(huge)))
	req := kmsg.NewPtrAlterClientQuotasRequest()
	for _, name := range []*string{kmsg.StringPtr("bench-quotas"), nil} { // the client id, and <default>
		e := kmsg.NewAlterClientQuotasRequestEntry()
		ec := kmsg.NewAlterClientQuotasRequestEntryEntity()
		ec.Type, ec.Name = "client-id", name
		e.Entity = append(e.Entity, ec)
		op := kmsg.NewAlterClientQuotasRequestEntryOp()
		op.Key, op.Value = "producer_byte_rate", huge
		e.Ops = append(e.Ops, op)
		req.Entries = append(req.Entries, e)
	}
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range resp.Entries {
		if err := kerr.ErrorForCode(e.ErrorCode); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("quotas-not-reached", func(b *testing.B) { run(b, "bench-quotas") })
}

// alterTopicConfig sets one config of a topic.
func alterTopicConfig(tb testing.TB, cl *kgo.Client, topic, key, value string) {
	tb.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Value = key, kmsg.StringPtr(value)
	r.Configs = append(r.Configs, c)
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		tb.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		tb.Fatalf("alter %s of %s: %v", key, topic, err)
	}
}
