package scale

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// topicsPerCreate bounds how many topics one CreateTopics request carries:
// the broker creates a request's topics one after another, and the
// request's timeout covers them all.
const topicsPerCreate = 10

// newClient returns a franz-go client of seeds, closed when the test ends.
func newClient(tb testing.TB, seeds []string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// metadataFrom asks the first seed broker of cl itself (kgo would pick any
// broker) for the metadata of topics, or of every topic if none is named.
func metadataFrom(ctx context.Context, cl *kgo.Client, topics ...string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.(*kmsg.MetadataResponse), nil
}

// createTopics creates topics of partitions partitions and replication
// factor rf each, several per request, and fails the test unless every one
// is created.
func createTopics(tb testing.TB, cl *kgo.Client, topics []string, partitions int32, rf int16, configs map[string]string) {
	tb.Helper()
	if err := tryCreateTopics(cl, topics, partitions, rf, configs, time.Minute); err != nil {
		tb.Fatal(err)
	}
}

// tryCreateTopics is createTopics returning its failure; each request
// waits at most timeout.
func tryCreateTopics(cl *kgo.Client, topics []string, partitions int32, rf int16, configs map[string]string, timeout time.Duration) error {
	for batch := range slices.Chunk(topics, topicsPerCreate) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = int32(timeout / time.Millisecond)
		for _, name := range batch {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
			for k, v := range configs {
				c := kmsg.NewCreateTopicsRequestTopicConfig()
				c.Name, c.Value = k, kmsg.StringPtr(v)
				rt.Configs = append(rt.Configs, c)
			}
			req.Topics = append(req.Topics, rt)
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
		resp, err := req.RequestWith(ctx, cl)
		cancel()
		if err != nil {
			return fmt.Errorf("create topics %s..%s: %w", batch[0], batch[len(batch)-1], err)
		}
		for _, rt := range resp.Topics {
			if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
				return fmt.Errorf("create topic %s: %w", rt.Topic, err)
			}
		}
	}
	return nil
}

// topicNames returns n topic names, prefix-0 to prefix-(n-1).
func topicNames(prefix string, n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return names
}

// leadership is what one broker's Metadata says about the partitions of
// some topics.
type leadership struct {
	controller int32
	// partitions counts the partitions listed; led those with a live
	// leader; fullISR those whose ISR holds every replica.
	partitions, led, fullISR int
	// ledBy counts the partitions each broker leads.
	ledBy map[int32]int
	// missingTopics counts topics asked for but absent or in error.
	missingTopics int
}

// summarize reads md for the topics whose name starts with prefix (every
// topic if prefix is ""). A live leader is a broker the answer lists as
// registered that is not dead (-1 for none): a broker killed moments ago
// is still registered until its session expires.
func summarize(md *kmsg.MetadataResponse, prefix string, wantTopics int, dead int32) leadership {
	l := leadership{controller: md.ControllerID, ledBy: map[int32]int{}}
	live := map[int32]bool{}
	for _, b := range md.Brokers {
		live[b.NodeID] = b.NodeID != dead
	}
	topics := 0
	for _, t := range md.Topics {
		if t.Topic == nil || !strings.HasPrefix(*t.Topic, prefix) {
			continue
		}
		if t.ErrorCode != 0 {
			continue
		}
		topics++
		for _, p := range t.Partitions {
			l.partitions++
			if p.ErrorCode != 0 && p.ErrorCode != kerr.ReplicaNotAvailable.Code {
				continue
			}
			if p.Leader >= 0 && live[p.Leader] {
				l.led++
				l.ledBy[p.Leader]++
			}
			if len(p.ISR) == len(p.Replicas) && len(p.Replicas) > 0 {
				l.fullISR++
			}
		}
	}
	l.missingTopics = max(wantTopics-topics, 0)
	return l
}

func (l leadership) String() string {
	return fmt.Sprintf("controller %d, %d partitions listed (%d topics missing), %d with a live leader, %d with a full ISR",
		l.controller, l.partitions, l.missingTopics, l.led, l.fullISR)
}

// everyBrokerSees waits until each broker of ids answers Metadata for
// topics in which cond holds of the partitions whose topic starts with
// prefix, and fails the test after timeout.
func everyBrokerSees(tb testing.TB, c *cluster.Cluster, ids []int, timeout time.Duration, what string, topics []string, prefix string, dead int32, cond func(leadership) bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for _, id := range ids {
		cl := newClient(tb, []string{c.BrokerAddr(id)})
		poll.UntilSaw(tb, time.Until(deadline), fmt.Sprintf("%s, seen by broker %d", what, id), func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			md, err := metadataFrom(ctx, cl, topics...)
			if err != nil {
				return false, err.Error()
			}
			l := summarize(md, prefix, len(topics), dead)
			return l.missingTopics == 0 && cond(l), l.String()
		})
	}
}
