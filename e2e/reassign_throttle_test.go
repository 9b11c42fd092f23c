package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// Sizes of the throttled reassignment test: a partition of about 200 MB
// copied at a throttle that makes the copy take about 16 s.
const (
	throttleRecordSize  = 100 << 10 // 100 KiB values, ten to a 1 MB batch
	throttleRecords     = 2000      // about 200 MB
	throttleRate        = 12_500_000
	throttleFreeRecords = 500 // 50 MB to a partition no list names, during the copy
)

// TestReassignThrottle moves a ~200 MB partition from broker 2 to broker 3
// with `kzoo reassign execute --throttle` (KIP-73): the copy takes no less
// time than the throttle allows (its observed rate within 0.6-1.4 × the
// throttle), the partition's ISR keeps its in-sync members throughout, a
// partition with the same leader and follower that no list names is not
// slowed, `reassign verify` removes the throttle configs once the move is
// complete, and no record is lost.
func TestReassignThrottle(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 4, PortOffset: 17900})
	bootstrap := c.Bootstrap()
	waitForLiveBrokers(t, bootstrap, 4)
	cl := admin(t, bootstrap)
	const moving, free = "throttled", "unthrottled"
	createAssigned(t, cl, moving, []int32{1, 2})
	createAssigned(t, cl, free, []int32{1, 3})
	waitForLeaders(t, bootstrap, moving, 1)
	waitForLeaders(t, bootstrap, free, 1)

	start := time.Now()
	produceLarge(t, bootstrap, moving, throttleRecords)
	produced := time.Since(start)
	size := partitionSize(t, cl, 1, moving)
	t.Logf("produced %d records, %.1f MB, in %v", throttleRecords, float64(size)/1e6, produced.Round(time.Millisecond))
	// How fast the unthrottled partition takes records with acks=all (its
	// follower is broker 3, where the throttled copy goes) before the move.
	baseline := timeProduce(t, bootstrap, free, throttleFreeRecords)

	plan := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(plan, []byte(`{"version":1,"partitions":[{"topic":"`+moving+`","partition":0,"replicas":[1,3]}]}`), 0o600); err != nil {
		t.Fatal(err)
	}

	// The ISR watch: until broker 3 has caught up and joined, the ISR is
	// the original one, 1 and 2, at every look.
	watch := watchISR(t, c.BrokerAddr(1), moving, []int32{1, 2}, 3)

	copyStart := time.Now()
	out := mustKzoo(t, c, "reassign", "execute", "--reassignment-json-file", plan, "--throttle", fmt.Sprint(throttleRate))
	for _, want := range []string{"The inter-broker throttle limit was set to 12500000 B/s on brokers 1,2,3", "Successfully started partition reassignments for " + moving + "-0"} {
		if !strings.Contains(out, want) {
			t.Errorf("execute output lacks %q:\n%s", want, out)
		}
	}
	// What execute set, as Kafka's tool sets it. Each broker describes its
	// configs from its view of ZooKeeper, which follows the write shortly.
	poll.UntilSaw(t, 10*time.Second, "the throttle configs execute set", func() (bool, string) {
		for _, id := range []string{"1", "2", "3"} {
			got := dynamicConfigs(t, cl, kmsg.ConfigResourceTypeBroker, id)
			if got["leader.replication.throttled.rate"] != "12500000" || got["follower.replication.throttled.rate"] != "12500000" {
				return false, fmt.Sprintf("broker %s: %v, want both throttle rates at 12500000", id, got)
			}
		}
		got := dynamicConfigs(t, cl, kmsg.ConfigResourceTypeTopic, moving)
		return got["leader.replication.throttled.replicas"] == "0:1,0:2" && got["follower.replication.throttled.replicas"] == "0:3",
			fmt.Sprintf("topic %s: %v, want leader 0:1,0:2 and follower 0:3", moving, got)
	})
	if got := dynamicConfigs(t, cl, kmsg.ConfigResourceTypeBroker, "4"); len(got) != 0 {
		t.Errorf("broker 4, which the move does not involve, got %v", got)
	}

	// verify while the copy runs: not complete, and the throttle stays. (At
	// once after execute the controller may not have started the move yet:
	// verify then finds the old replicas and no reassignment in progress.)
	if out := mustKzoo(t, c, "reassign", "verify", "--reassignment-json-file", plan); strings.Contains(out, "is complete") || strings.Contains(out, "Throttle was removed") {
		t.Errorf("verify during the copy:\n%s", out)
	}

	// The unthrottled partition, same leader, same follower broker, while
	// the throttled copy runs.
	during := timeProduce(t, bootstrap, free, throttleFreeRecords)

	copied := watch.wait(t, 3*time.Duration(size)*time.Second/throttleRate).Sub(copyStart)
	rate := float64(size) / copied.Seconds()
	t.Logf("copy of %.1f MB took %v: %.2f MB/s for a throttle of %.2f MB/s (%.2f×)",
		float64(size)/1e6, copied.Round(time.Millisecond), rate/1e6, throttleRate/1e6, rate/throttleRate)
	if rate < 0.6*throttleRate || rate > 1.4*throttleRate {
		t.Errorf("observed copy rate %.2f MB/s, want within 0.6-1.4 × the throttle %.2f MB/s", rate/1e6, throttleRate/1e6)
	}
	if watch.violations != "" {
		t.Errorf("the ISR lost an original member during the copy: %s", watch.violations)
	}
	freeSize := float64(throttleFreeRecords * throttleRecordSize)
	t.Logf("unthrottled partition, acks=all: %.2f MB/s before the move, %.2f MB/s during the copy",
		freeSize/baseline.Seconds()/1e6, freeSize/during.Seconds()/1e6)
	if freeRate := freeSize / during.Seconds(); freeRate < 2*throttleRate {
		t.Errorf("the unthrottled partition took records at %.2f MB/s during the copy, want at least twice the throttle", freeRate/1e6)
	}

	// The copy is counted against both quotas: the leader's (broker 1)
	// bytes sent and the follower's (broker 3) bytes received.
	leaderBytes := scrapeMetrics(t, c.MetricsAddr(1))[`kzoo_replication_throttled_bytes_total{side="leader"}`]
	followerBytes := scrapeMetrics(t, c.MetricsAddr(3))[`kzoo_replication_throttled_bytes_total{side="follower"}`]
	if leaderBytes < float64(size) || followerBytes < float64(size) {
		t.Errorf("throttled bytes: %.0f sent by broker 1, %.0f received by broker 3; want at least the partition's %d", leaderBytes, followerBytes, size)
	}

	// Complete: verify says so and removes the throttle.
	poll.Until(t, 30*time.Second, "verify to report the move complete", func() bool {
		out = mustKzoo(t, c, "reassign", "verify", "--reassignment-json-file", plan)
		return strings.Contains(out, "is complete.")
	})
	if !strings.Contains(out, "Throttle was removed: the replication throttle rates of broker(s) 1,2,3 and the throttled replicas of topic(s) "+moving+".") {
		t.Errorf("verify after the move:\n%s", out)
	}
	poll.UntilSaw(t, 10*time.Second, "DescribeConfigs to show the throttle gone", func() (bool, string) {
		for _, r := range []struct {
			typ  kmsg.ConfigResourceType
			name string
		}{{kmsg.ConfigResourceTypeBroker, "1"}, {kmsg.ConfigResourceTypeBroker, "2"}, {kmsg.ConfigResourceTypeBroker, "3"}, {kmsg.ConfigResourceTypeTopic, moving}} {
			if got := dynamicConfigs(t, cl, r.typ, r.name); len(got) != 0 {
				return false, fmt.Sprintf("%s: dynamic configs %v", r.name, got)
			}
		}
		return true, ""
	})

	// No record lost: the new replica holds what the leader holds, every
	// record produced.
	poll.UntilSaw(t, 30*time.Second, "broker 3's replica to match the leader's", func() (bool, string) {
		s1, s3 := partitionSize(t, cl, 1, moving), partitionSize(t, cl, 3, moving)
		return s1 == size && s3 == size, fmt.Sprintf("%d on broker 1, %d on broker 3, want %d", s1, s3, size)
	})
	if hw := highWatermarks(t, bootstrap, moving, 1)[0]; hw != throttleRecords {
		t.Errorf("high watermark %d, want the %d records produced", hw, throttleRecords)
	}
	if n := countRecords(t, []string{c.BrokerAddr(3)}, moving); n != throttleRecords {
		t.Errorf("consumed %d records, want %d", n, throttleRecords)
	}
	// Nothing is left to remove.
	if out := mustKzoo(t, c, "reassign", "verify", "--reassignment-json-file", plan); strings.Contains(out, "Throttle was removed") {
		t.Errorf("a second verify removed a throttle again:\n%s", out)
	}
}

// createAssigned creates a one-partition topic on the given replicas.
func createAssigned(t *testing.T, cl *kgo.Client, topic string, replicas []int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, -1, -1
	ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	ra.Partition, ra.Replicas = 0, replicas
	ct.ReplicaAssignment = append(ct.ReplicaAssignment, ra)
	req.Topics = append(req.Topics, ct)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		t.Fatalf("create %s: %v", topic, kerr.ErrorForCode(code))
	}
}

// produceLarge writes n records of throttleRecordSize to partition 0 of
// topic with acks=all, uncompressed, in batches of about 1 MB.
func produceLarge(t *testing.T, bootstrap []string, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1_000_000),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.MaxBufferedBytes(64<<20), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	value := make([]byte, throttleRecordSize)
	for i := range value {
		value[i] = byte(i * 7)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
	)
	for range n {
		cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		t.Fatalf("produce to %s: %v", topic, firstErr)
	}
}

// timeProduce produces n large records to topic and returns how long it took.
func timeProduce(t *testing.T, bootstrap []string, topic string, n int) time.Duration {
	t.Helper()
	start := time.Now()
	produceLarge(t, bootstrap, topic, n)
	return time.Since(start)
}

// partitionSize asks broker id for the size of its replica of partition 0
// of topic (DescribeLogDirs); -1 when it holds none.
func partitionSize(t *testing.T, cl *kgo.Client, id int32, topic string) int64 {
	t.Helper()
	req := kmsg.NewPtrDescribeLogDirsRequest()
	rt := kmsg.NewDescribeLogDirsRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Broker(int(id)).Request(ctx, req)
	if err != nil {
		t.Fatalf("DescribeLogDirs on broker %d: %v", id, err)
	}
	for _, d := range resp.(*kmsg.DescribeLogDirsResponse).Dirs {
		for _, dt := range d.Topics {
			for _, p := range dt.Partitions {
				if dt.Topic == topic && p.Partition == 0 {
					return p.Size
				}
			}
		}
	}
	return -1
}

// dynamicConfigs returns the configs set on a broker or topic as its own
// dynamic configs.
func dynamicConfigs(t *testing.T, cl *kgo.Client, typ kmsg.ConfigResourceType, name string) map[string]string {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = typ, name
	req.Resources = append(req.Resources, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe configs of %s: %v %+v", name, err, resp)
	}
	out := make(map[string]string)
	for _, c := range resp.Resources[0].Configs {
		if (c.Source == kmsg.ConfigSourceDynamicBrokerConfig || c.Source == kmsg.ConfigSourceDynamicTopicConfig) && c.Value != nil {
			out[c.Name] = *c.Value
		}
	}
	return out
}

// isrWatch polls a partition's ISR while a new replica copies it.
type isrWatch struct {
	done chan struct{}
	// Set by the watch before done is closed.
	joinedAt   time.Time
	violations string
}

// watchISR polls topic's partition 0 in the metadata of the broker at addr
// every 100 ms until joining is in its ISR, noting every look at which an
// original member is missing. The watch stops with the test.
func watchISR(t *testing.T, addr, topic string, original []int32, joining int32) *isrWatch {
	t.Helper()
	cl := admin(t, []string{addr})
	ctx, cancel := context.WithCancel(context.Background())
	w := &isrWatch{done: make(chan struct{})}
	t.Cleanup(func() {
		cancel()
		<-w.done
	})
	go func() {
		defer close(w.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			if m := metadataFrom(cl, topic); m != nil && len(m.Topics) == 1 && len(m.Topics[0].Partitions) == 1 {
				isr := m.Topics[0].Partitions[0].ISR
				if slices.Contains(isr, joining) {
					w.joinedAt = time.Now()
					return
				}
				for _, id := range original {
					if !slices.Contains(isr, id) {
						w.violations += fmt.Sprintf("ISR %v at %s; ", isr, time.Now().Format("15:04:05.000"))
						break
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

// wait waits up to timeout for the new replica to join the ISR and returns
// when it did.
func (w *isrWatch) wait(t *testing.T, timeout time.Duration) time.Time {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(timeout):
		t.Fatalf("the new replica did not join the ISR within %v", timeout)
	}
	if w.joinedAt.IsZero() {
		t.Fatal("the ISR watch stopped before the new replica joined")
	}
	return w.joinedAt
}

// countRecords consumes partition 0 of topic from the start to its high
// watermark and counts the records.
func countRecords(t *testing.T, bootstrap []string, topic string) int64 {
	t.Helper()
	end := highWatermarks(t, bootstrap, topic, 1)[0]
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxBytes(64<<20), kgo.FetchMaxPartitionBytes(16<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var n, next int64
	for next < end {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d records to offset %d of %d: %v", n, next, end, err)
		}
		fetches.EachError(func(_ string, _ int32, err error) { t.Fatalf("consume %s: %v", topic, err) })
		fetches.EachRecord(func(r *kgo.Record) {
			if r.Offset != next {
				t.Fatalf("record at offset %d, want %d", r.Offset, next)
			}
			n++
			next = r.Offset + 1
		})
	}
	return n
}
