package broker

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/coordinator"
)

func metadataOf(t *testing.T, s *Server, version int16, topics ...string) *kmsg.MetadataResponse {
	t.Helper()
	in := kmsg.NewPtrMetadataRequest()
	in.Version = version
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		in.Topics = append(in.Topics, rt)
	}
	resp := callHandler(s, context.Background(), &request{key: in.Key(), version: version, body: in, listener: "PLAINTEXT"}).(*kmsg.MetadataResponse)
	return roundTrip(t, resp, kmsg.NewPtrMetadataResponse())
}

// leaders lists the leader of each partition of the response's topic name.
func leaders(resp *kmsg.MetadataResponse, name string) []int32 {
	for _, mt := range resp.Topics {
		if *mt.Topic == name {
			var out []int32
			for _, p := range mt.Partitions {
				out = append(out, p.Leader)
			}
			return out
		}
	}
	return nil
}

// TestMetadataCacheFollowsViews: answers come from the view applied, cached
// entries never outlive a change of their topic or of the live brokers,
// and the requests of every topic and by id see the same.
func TestMetadataCacheFollowsViews(t *testing.T) {
	first := diffSnapshot(diffTopic("a", []int32{1, 2}, []int32{2, 1}), diffTopic("b", []int32{2, 1}))
	first.Brokers = liveBrokers(1, 2)
	first.Topics["a"].ID = [16]byte{1}
	s, _ := testServer(t, first)

	if got := leaders(metadataOf(t, s, 12, "a"), "a"); !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("leaders of a %v, want [1 2]", got)
	}
	all := metadataOf(t, s, 12)
	if len(all.Topics) != 2 || *all.Topics[0].Topic != "a" || *all.Topics[1].Topic != "b" {
		t.Fatalf("every topic: %d topics, want a and b in order", len(all.Topics))
	}

	// a's leader of partition 1 moves; b is shared with the first view.
	c := cloneTopic(first.Topics["a"])
	c.Partitions[1].Leader, c.Partitions[1].LeaderEpoch = 1, 2
	second := withTopic(first, c)
	second.Brokers = first.Brokers
	s.applied.Store(second)
	if got := leaders(metadataOf(t, s, 12, "a", "b"), "a"); !slices.Equal(got, []int32{1, 1}) {
		t.Errorf("leaders of a after the move %v, want [1 1]", got)
	}
	if got := leaders(metadataOf(t, s, 12), "b"); !slices.Equal(got, []int32{2}) {
		t.Errorf("leaders of b %v, want [2]", got)
	}

	// Broker 2 dies: b's entry, though its topic is shared, must change.
	third := &coordinator.Snapshot{Topics: maps.Clone(second.Topics), Brokers: liveBrokers(1)}
	s.applied.Store(third)
	resp := metadataOf(t, s, 12, "b")
	if got := leaders(resp, "b"); !slices.Equal(got, []int32{-1}) {
		t.Errorf("leaders of b with its leader dead %v, want [-1]", got)
	}
	if got := resp.Topics[0].Partitions[0].OfflineReplicas; !slices.Equal(got, []int32{2}) {
		t.Errorf("offline replicas of b-0 %v, want [2]", got)
	}

	// By id.
	in := kmsg.NewPtrMetadataRequest()
	in.Version = 12
	rt := kmsg.NewMetadataRequestTopic()
	rt.TopicID = [16]byte{1}
	in.Topics = append(in.Topics, rt)
	byID := callHandler(s, context.Background(), &request{key: in.Key(), version: 12, body: in, listener: "PLAINTEXT"}).(*kmsg.MetadataResponse)
	if len(byID.Topics) != 1 || byID.Topics[0].Topic == nil || *byID.Topics[0].Topic != "a" {
		t.Errorf("topic by id: %+v, want a", byID.Topics)
	}
}
