package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// TestReplicationBasic checks replication on an RF=3 topic with
// min.insync.replicas=2: acks=all produce survives a SIGKILLed leader, the
// restarted broker rejoins the ISR, and with two brokers down acks=all is
// refused with NOT_ENOUGH_REPLICAS instead of silently succeeding.
func TestReplicationBasic(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 20400, Env: map[string]string{
		"KZOO_REPLICA_LAG_TIME_MAX_MS": "3000",
		// For the follower that comes back below the leader's log start.
		"KZOO_LOG_RETENTION_CHECK_INTERVAL_MS": "500",
	}})
	waitForLiveBrokers(t, c.Bootstrap(), 3)
	conn := zkConn(t, c)
	const topic = "replication-basic"
	createTopic(t, c.Bootstrap(), topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	waitForLeaders(t, c.Bootstrap(), topic, 1)

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.DefaultProduceTopic(topic), kgo.RecordRetries(3), kgo.RequestRetries(3),
		kgo.ProduceRequestTimeout(5*time.Second), kgo.RecordDeliveryTimeout(20*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(n int, prefix string) error {
		for i := range n {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%s-%d", prefix, i)}).FirstErr()
			cancel()
			if err != nil {
				return err
			}
		}
		return nil
	}

	if err := produce(50, "a"); err != nil {
		t.Fatalf("acks=all produce with a full ISR: %v", err)
	}
	states := partitionStates(t, conn, topic, 1)
	leader := int(states[0].Leader)
	t.Logf("leader %d, ISR %v", leader, states[0].ISR)
	if len(states[0].ISR) != 3 {
		t.Fatalf("ISR %v, want all three replicas", states[0].ISR)
	}

	if err := c.KillBroker(leader); err != nil {
		t.Fatal(err)
	}
	if err := produce(50, "b"); err != nil {
		t.Fatalf("acks=all produce after the leader was killed: %v", err)
	}
	if err := c.StartBroker(leader); err != nil {
		t.Fatal(err)
	}
	awaitISRExpansion(t, conn, topic, 1, [][]int32{{1, 2, 3}})

	hw := highWatermarks(t, c.Bootstrap(), topic, 1)[0]
	if hw < 100 {
		t.Fatalf("high watermark %d after 100 acknowledged records", hw)
	}

	// Two brokers down: the survivor alone is below min.insync.replicas.
	states = partitionStates(t, conn, topic, 1)
	survivor := int(states[0].Leader)
	for _, id := range c.BrokerIDs() {
		if id != survivor {
			if err := c.KillBroker(id); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A raw produce sees the broker's answer itself: franz-go would retry
	// NOT_ENOUGH_REPLICAS (it is retriable) until its delivery timeout.
	survivorClient := brokerClient(t, c.BrokerAddr(survivor))
	poll.Until(t, 30*time.Second, "NOT_ENOUGH_REPLICAS", func() bool {
		req := produceRequest(topic, 0, -1, batch(-1, -1, -1, 1, time.Now().UnixMilli()))
		req.TimeoutMillis = 2000
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, survivorClient)
		if err != nil {
			t.Fatalf("Produce: %v", err)
		}
		p := resp.Topics[0].Partitions[0]
		switch p.ErrorCode {
		case kerr.NotEnoughReplicas.Code:
			return true
		case 0:
			t.Fatalf("acks=all produce with one of three brokers left succeeded at offset %d", p.BaseOffset)
		}
		return false
	})
	for _, id := range c.BrokerIDs() {
		if id != survivor {
			if err := c.StartBroker(id); err != nil {
				t.Fatal(err)
			}
		}
	}
	awaitISRExpansion(t, conn, topic, 1, [][]int32{{1, 2, 3}})
	if err := produce(10, "d"); err != nil {
		t.Fatalf("acks=all produce after the brokers came back: %v", err)
	}

	t.Run("follower below the leader's log start", func(t *testing.T) { testFollowerBelowLeaderStart(t, c, conn) })
}

// testFollowerBelowLeaderStart stops a follower, lets retention on the
// leader delete everything past the follower's log end, and restarts it:
// the follower must start over from the leader's log start and rejoin the
// ISR, not retry forever from an offset the leader no longer has.
func testFollowerBelowLeaderStart(t *testing.T, c *cluster.Cluster, conn *zk.Conn) {
	const topic = "below-log-start"
	createTopic(t, c.Bootstrap(), topic, 1, 2, map[string]string{"segment.bytes": "1024", "retention.bytes": "2048"})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	produce := func(n int) {
		t.Helper()
		for i := range n {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := cl.ProduceSync(ctx, &kgo.Record{Value: fmt.Appendf(nil, "%064d", i)}).FirstErr()
			cancel()
			if err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
	}
	produce(10)
	replicas := replicasOf(t, cl, topic)
	awaitISRExpansion(t, conn, topic, 1, replicas)
	leader := partitionStates(t, conn, topic, 1)[0].Leader
	var follower int
	for _, id := range replicas[0] {
		if id != leader {
			follower = int(id)
		}
	}
	followerEnd := highWatermarks(t, c.Bootstrap(), topic, 1)[0]

	if err := c.StopBroker(follower); err != nil {
		t.Fatal(err)
	}
	produce(200)
	poll.Until(t, 30*time.Second, "retention past the stopped follower's log end", func() bool {
		return logStartOf(t, c.Bootstrap(), topic, 0) > followerEnd
	})
	if err := c.StartBroker(follower); err != nil {
		t.Fatal(err)
	}
	awaitISRExpansion(t, conn, topic, 1, replicas)
	if log := c.BrokerLog(follower); !strings.Contains(log, "emptying it to copy from there") {
		t.Errorf("broker %d rejoined the ISR without starting over at the leader's log start", follower)
	}
}
