// Package e2e drives a real kzoo cluster -- a 3-node ZooKeeper ensemble and
// brokers as processes, started by scripts/cluster -- with real Kafka
// clients: kafka-go, franz-go and kcat.
package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// TestCluster runs the client and protocol tests against one 3-broker
// cluster; the broker-kill test runs last because it disturbs the cluster.
func TestCluster(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 13400, Env: map[string]string{
		// A killed broker's registration lingers for a session timeout.
		"KZOO_ZOOKEEPER_SESSION_TIMEOUT_MS":    "6000",
		"KZOO_LOG_RETENTION_CHECK_INTERVAL_MS": "300",
	}})
	bootstrap := c.Bootstrap()
	waitForLiveBrokers(t, bootstrap, 3)

	t.Run("kafka-go", func(t *testing.T) { testKafkaGo(t, bootstrap) })
	t.Run("franz-go", func(t *testing.T) { testFranz(t, bootstrap) })
	t.Run("kcat", func(t *testing.T) { testKcat(t, bootstrap) })
	t.Run("compression", func(t *testing.T) { testCompression(t, bootstrap) })
	t.Run("protocol", func(t *testing.T) { testProtocol(t, c) })
	t.Run("cli-topics", func(t *testing.T) { testCLITopics(t, c) })
	t.Run("retention", func(t *testing.T) { testRetention(t, bootstrap) })
	t.Run("clean-shutdown", func(t *testing.T) { testCleanShutdown(t, c) })
	t.Run("kill-broker", func(t *testing.T) { testKillBroker(t, c) })
}

// waitForLiveBrokers waits until Metadata lists n brokers.
func waitForLiveBrokers(t *testing.T, bootstrap []string, n int) {
	t.Helper()
	cl := admin(t, bootstrap)
	poll.Until(t, 60*time.Second, "all brokers in Metadata", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		return err == nil && len(resp.Brokers) == n && resp.ControllerID >= 0
	})
}

// testKillBroker produces continuously with an idempotent franz-go producer
// while a broker is SIGKILLed and restarted: every acknowledged record must
// be in the log at its acknowledged offset, once, with no offset gaps.
func testKillBroker(t *testing.T, c *cluster.Cluster) {
	bootstrap := c.Bootstrap()
	const topic, partitions, total = "kill-broker", 6, 30_000
	createTopic(t, bootstrap, topic, partitions, 1, nil)
	w := newWorkload(total, 500, "kill")

	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.RecordDeliveryTimeout(3*time.Minute),
		kgo.RetryTimeout(3*time.Minute),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	var (
		mu     sync.Mutex
		acked  = map[int]record{}
		failed int
		wg     sync.WaitGroup
	)
	ackedCount := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		for i := range w.values {
			i := i
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Key: w.keys[i], Value: w.values[i]}, func(r *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed++
					return
				}
				acked[i] = record{partition: r.Partition, offset: r.Offset, key: r.Key, value: r.Value}
			})
			if i%1000 == 999 {
				// Keep producing over the whole kill/restart window.
				time.Sleep(20 * time.Millisecond)
			}
		}
		wg.Wait()
	}()

	poll.Until(t, time.Minute, "first records acknowledged", func() bool { return ackedCount() >= 3000 })
	if err := c.KillBroker(2); err != nil {
		t.Fatal(err)
	}
	before := ackedCount()
	poll.Until(t, time.Minute, "producing to the live brokers", func() bool { return ackedCount() >= before+2000 })
	if err := c.StartBroker(2); err != nil {
		t.Fatal(err)
	}
	select {
	case <-produced:
	case <-ctx.Done():
		t.Fatalf("producer did not finish: %d acknowledged", ackedCount())
	}
	t.Logf("%d records acknowledged, %d failed", len(acked), failed)
	if len(acked) < total/2 {
		t.Fatalf("only %d of %d records acknowledged", len(acked), total)
	}

	got := consumeFranz(t, bootstrap, topic, highWatermarks(t, bootstrap, topic, partitions))
	got = sortByPartition(got, partitions)
	at := make(map[[2]int64]record, len(got))
	seen := make(map[int]bool)
	next := map[int32]int64{}
	for _, r := range got {
		if r.offset != next[r.partition] {
			t.Fatalf("partition %d: offset %d where %d was next (a gap)", r.partition, r.offset, next[r.partition])
		}
		next[r.partition] = r.offset + 1
		seq := seqOf(r.value)
		if seen[seq] {
			t.Errorf("record %d is in the log twice", seq)
		}
		seen[seq] = true
		at[[2]int64{int64(r.partition), r.offset}] = r
	}
	for seq, a := range acked {
		r, ok := at[[2]int64{int64(a.partition), a.offset}]
		if !ok || string(r.value) != string(w.values[seq]) {
			t.Fatalf("acknowledged record %d (partition %d offset %d) is lost", seq, a.partition, a.offset)
		}
	}
}
