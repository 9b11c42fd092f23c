package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/poll"
)

// record is what a test produced or consumed.
type record struct {
	partition int32
	offset    int64
	key       []byte
	value     []byte
}

// workload is n keyed records whose values carry their sequence number, so
// a reader can check presence, order and bytes.
type workload struct {
	keys   [][]byte
	values [][]byte
}

func newWorkload(n, distinctKeys int, prefix string) workload {
	w := workload{keys: make([][]byte, n), values: make([][]byte, n)}
	for i := 0; i < n; i++ {
		w.keys[i] = []byte(fmt.Sprintf("key-%d", i%distinctKeys))
		// Printable so that kcat can carry it on a line; long enough to
		// make batches of realistic size.
		w.values[i] = []byte(fmt.Sprintf("%s|%08d|%s", prefix, i, strings.Repeat(string(rune('a'+i%26)), 40+i%50)))
	}
	return w
}

// seqOf returns the sequence number inside a workload value, or -1.
func seqOf(value []byte) int {
	parts := strings.SplitN(string(value), "|", 3)
	if len(parts) < 3 {
		return -1
	}
	var n int
	if _, err := fmt.Sscanf(parts[1], "%d", &n); err != nil {
		return -1
	}
	return n
}

// expectedPartition is the murmur2 partition of key, as the Java client
// computes it; every client's keyed partitioner must agree with it.
func expectedPartition(key []byte, partitions int) int32 {
	ids := make([]int, partitions)
	for i := range ids {
		ids[i] = i
	}
	return int32((&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: key}, ids...))
}

// verifyExactlyOnceInOrder checks that got holds every record of w exactly
// once, byte-exact, in the murmur2 partition of its key, in production
// order within each partition, at continuous offsets from 0.
func verifyExactlyOnceInOrder(t *testing.T, w workload, partitions int, got []record) {
	t.Helper()
	if len(got) != len(w.values) {
		t.Errorf("consumed %d records, produced %d", len(got), len(w.values))
	}
	seen := make([]bool, len(w.values))
	lastSeq := map[int32]int{}
	nextOffset := map[int32]int64{}
	errors := 0
	fail := func(format string, args ...any) {
		errors++
		if errors <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, r := range got {
		seq := seqOf(r.value)
		if seq < 0 || seq >= len(w.values) {
			fail("partition %d offset %d: value %q is not from this workload", r.partition, r.offset, r.value)
			continue
		}
		if seen[seq] {
			fail("record %d consumed twice (partition %d offset %d)", seq, r.partition, r.offset)
		}
		seen[seq] = true
		if string(r.key) != string(w.keys[seq]) || string(r.value) != string(w.values[seq]) {
			fail("record %d: got key %q value %q, want %q %q", seq, r.key, r.value, w.keys[seq], w.values[seq])
		}
		if want := expectedPartition(r.key, partitions); r.partition != want {
			fail("record %d with key %q in partition %d, murmur2 says %d", seq, r.key, r.partition, want)
		}
		if last, ok := lastSeq[r.partition]; ok && seq < last {
			fail("partition %d: record %d after record %d", r.partition, seq, last)
		}
		lastSeq[r.partition] = seq
		if r.offset != nextOffset[r.partition] {
			fail("partition %d: offset %d where %d was next", r.partition, r.offset, nextOffset[r.partition])
		}
		nextOffset[r.partition] = r.offset + 1
	}
	missing := 0
	for _, ok := range seen {
		if !ok {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d produced records never consumed", missing)
	}
}

// admin is a franz-go client for raw requests.
func admin(t *testing.T, bootstrap []string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates a topic and fails the test unless it succeeds.
func createTopic(t *testing.T, bootstrap []string, name string, partitions int32, rf int16, configs map[string]string) {
	t.Helper()
	if code := tryCreateTopic(t, bootstrap, name, partitions, rf, configs); code != 0 {
		t.Fatalf("create topic %s: %v", name, kerr.ErrorForCode(code))
	}
	waitForLeaders(t, bootstrap, name, int(partitions))
}

// waitForLeaders waits until every broker's Metadata shows a leader for
// each partition of topic: brokers learn of a new topic through ZooKeeper
// watches, each at its own pace.
func waitForLeaders(t *testing.T, bootstrap []string, topic string, partitions int) {
	t.Helper()
	for _, addr := range bootstrap {
		waitForLeadersAt(t, admin(t, []string{addr}), addr, topic, partitions)
	}
}

// waitForLeadersAt waits until the first seed broker of cl (named broker
// in the failure) shows a leader for each partition of topic.
func waitForLeadersAt(t *testing.T, cl *kgo.Client, broker, topic string, partitions int) {
	t.Helper()
	poll.Until(t, 30*time.Second, "leaders of "+topic+" on "+broker, func() bool {
		md := metadataFrom(cl, topic) // the seed broker itself, not any
		if md == nil || len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 || len(md.Topics[0].Partitions) != partitions {
			return false
		}
		for _, p := range md.Topics[0].Partitions {
			if p.ErrorCode != 0 || p.Leader < 0 {
				return false
			}
		}
		return true
	})
}

// createTopicWith creates a topic through cl with the broker's config defaults.
func createTopicWith(tb testing.TB, cl *kgo.Client, name string, partitions int32, rf int16) {
	tb.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		tb.Fatalf("CreateTopics %s: %v", name, err)
	}
	if code := resp.Topics[0].ErrorCode; code != 0 {
		tb.Fatalf("create topic %s: %v", name, kerr.ErrorForCode(code))
	}
}

func tryCreateTopic(t *testing.T, bootstrap []string, name string, partitions int32, rf int16, configs map[string]string) int16 {
	t.Helper()
	return tryCreateTopicThrough(t, admin(t, bootstrap), name, partitions, rf, configs)
}

// tryCreateTopicThrough asks cl to create a topic and returns the topic's
// error code.
func tryCreateTopicThrough(t *testing.T, cl *kgo.Client, name string, partitions int32, rf int16, configs map[string]string) int16 {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("CreateTopics %s: %v", name, err)
	}
	return resp.Topics[0].ErrorCode
}

// logStartOf asks the leader of a partition for its earliest offset.
func logStartOf(t *testing.T, bootstrap []string, topic string, partition int32) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, -2
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, sh := range admin(t, bootstrap).RequestSharded(ctx, req) {
		if sh.Err != nil {
			t.Fatalf("ListOffsets: %v", sh.Err)
		}
		p := sh.Resp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("ListOffsets earliest of %s-%d: %v", topic, partition, kerr.ErrorForCode(p.ErrorCode))
		}
		return p.Offset
	}
	t.Fatal("no ListOffsets answer")
	return -1
}

// highWatermarks returns the latest offset of every partition of topic.
func highWatermarks(t *testing.T, bootstrap []string, topic string, partitions int) []int64 {
	t.Helper()
	return highWatermarksOf(t, admin(t, bootstrap), topic, partitions)
}

// highWatermarksOf is highWatermarks asked through cl.
func highWatermarksOf(t *testing.T, cl *kgo.Client, topic string, partitions int) []int64 {
	t.Helper()
	out := make([]int64, partitions)
	// A leader elected moments ago answers OFFSET_NOT_AVAILABLE until it
	// knows its high watermark; that, and a shard sent to a broker that
	// is moving, is asked again.
	poll.UntilSaw(t, 30*time.Second, fmt.Sprintf("the high watermarks of %s", topic), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = topic
		for p := 0; p < partitions; p++ {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = int32(p), -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		answered := 0
		var problems []string
		// kgo splits the request by partition leader.
		for _, sh := range cl.RequestSharded(ctx, req) {
			if sh.Err != nil {
				problems = append(problems, sh.Err.Error())
				continue
			}
			for _, tp := range sh.Resp.(*kmsg.ListOffsetsResponse).Topics {
				for _, p := range tp.Partitions {
					if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
						if !kerr.IsRetriable(err) {
							t.Fatalf("ListOffsets %s/%d: %v", topic, p.Partition, err)
						}
						problems = append(problems, fmt.Sprintf("%d: %v", p.Partition, err))
						continue
					}
					out[p.Partition] = p.Offset
					answered++
				}
			}
		}
		return answered == partitions && len(problems) == 0, strings.Join(problems, "; ")
	})
	return out
}

// askBroker sends req to the first seed broker of cl only (kgo would route
// it to any broker), failing the test on a transport error.
func askBroker[R kmsg.Response](t *testing.T, cl *kgo.Client, req kmsg.Request) R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatalf("%T: %v", req, err)
	}
	return resp.(R)
}

// metadataFrom returns what the first seed broker of cl answers to a
// Metadata request for topics (nil on a transport error, as a broker may
// be restarting).
func metadataFrom(cl *kgo.Client, topics ...string) *kmsg.MetadataResponse {
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil
	}
	return resp.(*kmsg.MetadataResponse)
}
