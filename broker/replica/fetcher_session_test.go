package replica

import (
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/zkpaths"
)

// requestPartitions lists the partitions a follower's Fetch names, and
// those it forgets, sorted.
func requestPartitions(req *kmsg.FetchRequest) (named, forgotten []int32) {
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			named = append(named, p.Partition)
		}
	}
	for _, t := range req.ForgottenTopics {
		forgotten = append(forgotten, t.Partitions...)
	}
	slices.Sort(named)
	slices.Sort(forgotten)
	return named, forgotten
}

// TestFollowerFetchSession walks a fetcher's session with its leader: a
// full request that asks for a session; incremental ones that name only the
// partitions whose position moved, forget those no longer fetched, and name
// again a partition whose answer could not be used; a full request again,
// closing the old session, once it is lost; full requests while the leader
// grants none.
func TestFollowerFetchSession(t *testing.T) {
	clock := &testClock{now: time.Unix(1_700_000_000, 0)}
	m := throttleManager(t, 3, clock)
	target := followTarget{leader: 1, epoch: 1}
	f := &fetcher{source: 1, parts: make(map[zkpaths.TopicPartition]*fetchedPartition), wake: make(chan struct{}, 1)}
	var ps []*Partition
	for i := range int32(3) {
		p := throttlePartition(t, m, i, config.Topic{})
		p.following = target
		f.parts[p.tp] = &fetchedPartition{p: p, target: target}
		ps = append(ps, p)
	}
	build := func(wantID, wantEpoch int32, wantNamed, wantForgotten []int32) {
		t.Helper()
		req, fetching, _ := m.buildReplicaFetch(f)
		named, forgotten := requestPartitions(req)
		if req.SessionID != wantID || req.SessionEpoch != wantEpoch || !slices.Equal(named, wantNamed) || !slices.Equal(forgotten, wantForgotten) {
			t.Fatalf("request of session %d epoch %d naming %v forgetting %v; want session %d epoch %d naming %v forgetting %v",
				req.SessionID, req.SessionEpoch, named, forgotten, wantID, wantEpoch, wantNamed, wantForgotten)
		}
		if want := countReady(f); fetching != want {
			t.Fatalf("%d partitions fetched, want the %d ready", fetching, want)
		}
	}
	answer := func(partition int32, records []byte, hw int64) *kmsg.FetchResponse {
		resp := kmsg.NewPtrFetchResponse()
		resp.SessionID = 77
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = "t"
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition, rp.HighWatermark, rp.LogStartOffset, rp.RecordBatches = partition, hw, 0, records
		rt.Partitions = append(rt.Partitions, rp)
		resp.Topics = append(resp.Topics, rt)
		return resp
	}

	build(0, 0, []int32{0, 1, 2}, nil) // full: asks for a session
	f.session.answered(77)
	build(77, 1, nil, nil) // nothing moved
	f.session.answered(77)

	// Records for partition 1 move its position: named in the next request.
	build(77, 2, nil, nil)
	m.applyReplicaFetch(f, answer(1, producerBatch(10, -1, 0, false), 10))
	f.session.answered(77)
	if ps[1].log.LogEndOffset() != 10 {
		t.Fatalf("partition 1 ends at %d after the answer, want 10", ps[1].log.LogEndOffset())
	}
	build(77, 3, []int32{1}, nil)
	f.session.answered(77)

	// Paused, partition 2 is forgotten; fetched again, it is named.
	f.parts[ps[2].tp].paused = true
	build(77, 4, nil, []int32{2})
	f.session.answered(77)
	f.parts[ps[2].tp].paused = false
	build(77, 5, []int32{2}, nil)
	f.session.answered(77)

	// An answer that no longer applies (the log moved since the request)
	// is not used, and the partition is named again for a full answer.
	build(77, 6, nil, nil)
	f.parts[ps[0].tp].fetchOffset = 5
	m.applyReplicaFetch(f, answer(0, nil, 3))
	f.session.answered(77)
	build(77, 7, []int32{0}, nil)
	f.session.answered(77)

	// An answer for a partition the request did not fetch is ignored.
	delete(f.parts, ps[0].tp)
	build(77, 8, nil, []int32{0}) // removed from the fetcher: forgotten
	m.applyReplicaFetch(f, answer(0, producerBatch(10, -1, 0, false), 10))
	if ps[0].log.LogEndOffset() != 0 {
		t.Fatalf("partition 0, no longer fetched, appended to: ends at %d", ps[0].log.LogEndOffset())
	}
	f.session.answered(77)

	// The session is lost: a full request that closes it.
	f.session.reset()
	build(77, 0, []int32{1, 2}, nil)
	f.session.answered(0) // the leader grants none: full requests from now on
	build(0, 0, []int32{1, 2}, nil)
	f.session.answered(0)
	build(0, 0, []int32{1, 2}, nil)
}

// countReady counts f's partitions neither paused nor waiting to retry.
func countReady(f *fetcher) int {
	n := 0
	for _, fp := range f.parts {
		if !fp.paused && !fp.retryAt.After(time.Now()) {
			n++
		}
	}
	return n
}

// TestFollowerSessionEpochWraps: after the largest epoch comes 1.
func TestFollowerSessionEpochWraps(t *testing.T) {
	s := followerSession{id: 9, epoch: 1<<31 - 1, held: map[zkpaths.TopicPartition]fetchPosition{}, pending: map[zkpaths.TopicPartition]fetchPosition{}}
	s.answered(9)
	if s.epoch != 1 {
		t.Fatalf("epoch after the largest = %d, want 1", s.epoch)
	}
}
