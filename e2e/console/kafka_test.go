package console

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kzoo/kzoo/internal/poll"
)

// kafkaTimeout bounds one Kafka request of the setup, and each wait for
// the cluster to agree on leaders.
const kafkaTimeout = time.Minute

// admin returns a franz-go admin client of seeds, closed when the test
// ends.
func admin(t *testing.T, seeds []string) (*kgo.Client, *kadm.Client) {
	t.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl, kadm.NewClient(cl)
}

// setUp creates the test's topic, writes records records spread evenly
// over its partitions, and commits offset 0 of every partition for
// lagGroup, which nobody consumes, so that its lag is records; and offset 0
// of partition 0 for htmlGroup, whose id is HTML.
func setUp(t *testing.T, cl *kgo.Client, adm *kadm.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kafkaTimeout)
	defer cancel()
	configs := map[string]*string{overriddenConfig: new(overriddenValue)}
	if _, err := adm.CreateTopic(ctx, partitions, replicationFactor, configs, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	waitLeaders(t, adm, "every partition of "+topic+" led", topic)

	recs := make([]*kgo.Record, records)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: int32(i % partitions), Value: fmt.Appendf(nil, "record %d", i)}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records to %s: %v", records, topic, err)
	}

	var all, first kadm.Offsets
	for p := range int32(partitions) {
		all.Add(kadm.Offset{Topic: topic, Partition: p, At: 0, LeaderEpoch: -1})
	}
	first.Add(kadm.Offset{Topic: topic, Partition: 0, At: 0, LeaderEpoch: -1})
	for group, offsets := range map[string]kadm.Offsets{lagGroup: all, htmlGroup: first} {
		resp, err := adm.CommitOffsets(ctx, group, offsets)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("commit offsets of group %q: %v", group, err)
		}
	}
}

// waitLeaders waits until every partition of topics (every topic if none
// is named) has a leader other than not, and returns what the metadata
// then said.
func waitLeaders(t *testing.T, adm *kadm.Client, what string, topics ...string) kadm.Metadata {
	t.Helper()
	return waitMetadata(t, adm, what, func(md kadm.Metadata) (bool, string) {
		return allLed(md, -1)
	}, topics...)
}

// waitMetadata asks for the metadata of topics until ok accepts it and
// returns the accepted answer.
func waitMetadata(t *testing.T, adm *kadm.Client, what string, ok func(kadm.Metadata) (bool, string), topics ...string) kadm.Metadata {
	t.Helper()
	var md kadm.Metadata
	poll.UntilSaw(t, kafkaTimeout, what, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		if md, err = adm.Metadata(ctx, topics...); err != nil {
			return false, err.Error()
		}
		return ok(md)
	})
	return md
}

// allLed reports whether every partition in md has a leader, and not
// broker dead, and says which do not.
func allLed(md kadm.Metadata, dead int32) (bool, string) {
	var bad []string
	for _, td := range md.Topics.Sorted() {
		if td.Err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", td.Topic, td.Err))
			continue
		}
		if len(td.Partitions) == 0 {
			bad = append(bad, td.Topic+": no partitions")
		}
		for _, pd := range td.Partitions.Sorted() {
			if pd.Err != nil || pd.Leader < 0 || pd.Leader == dead {
				bad = append(bad, fmt.Sprintf("%s-%d: leader %d (%v)", td.Topic, pd.Partition, pd.Leader, pd.Err))
			}
		}
	}
	if len(md.Topics) == 0 {
		bad = append(bad, "no topics")
	}
	return len(bad) == 0, strings.Join(bad, "; ")
}

// partitionCount returns how many partitions md lists, over every topic.
func partitionCount(md kadm.Metadata) int {
	n := 0
	for _, td := range md.Topics {
		n += len(td.Partitions)
	}
	return n
}

// otherThan returns the first of ids that is not id.
func otherThan(ids []int, id int) int {
	i := slices.IndexFunc(ids, func(x int) bool { return x != id })
	if i < 0 {
		return -1
	}
	return ids[i]
}
