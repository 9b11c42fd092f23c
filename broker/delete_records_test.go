package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// leadUserPartition makes broker 1 leader of orders-<partition> with
// replicas 1, 2, 3 all in the ISR, with records offsets 0 to n-1
// committed: followers 2 and 3 fetched them all, with their log start still
// at 0.
func leadUserPartition(t *testing.T, f *replicaFixture, partition int32, cfg config.Topic, n int) *replica.Partition {
	t.Helper()
	p := f.lead("orders", partition, cfg, 3, []int32{1, 2, 3}, []int32{1, 2, 3})
	for range n {
		f.appendAsLeader(p, testBatch(t, "v"))
	}
	for _, id := range []int32{2, 3} {
		f.followerFetched(p, id, int64(n), 0)
	}
	if hw := p.HighWatermark(); hw != int64(n) {
		t.Fatalf("high watermark %d after the followers fetched, want %d", hw, n)
	}
	return p
}

func TestDeleteRecordsOnLeader(t *testing.T) {
	s, _ := testServer(t, &coordinator.Snapshot{Brokers: liveBrokers(1, 2, 3)})
	f := withReplicas(t, s)
	p := leadUserPartition(t, f, 0, config.Topic{}, 10)

	for _, tc := range []struct {
		offset int64
		want   error
	}{{11, kerr.OffsetOutOfRange}, {-2, kerr.OffsetOutOfRange}} {
		if _, err := p.DeleteRecords(tc.offset); !errors.Is(err, tc.want) {
			t.Errorf("delete below %d: %v, want %v", tc.offset, err, tc.want)
		}
	}
	if got, err := p.DeleteRecords(4); err != nil || got != 4 || p.Log().LogStartOffset() != 4 {
		t.Fatalf("delete below 4: %d, %v; log start %d", got, err, p.Log().LogStartOffset())
	}
	// The followers have not deleted yet.
	if lw, err := p.LowWatermark(s.isLive); err != nil || lw != 0 {
		t.Fatalf("low watermark before the followers follow: %d, %v; want 0", lw, err)
	}
	if got, err := p.DeleteRecords(-1); err != nil || got != 10 || p.Log().LogStartOffset() != 10 {
		t.Fatalf("delete below the high watermark (-1): %d, %v; log start %d", got, err, p.Log().LogStartOffset())
	}

	compacted := leadUserPartition(t, f, 1, config.Topic{"cleanup.policy": "compact"}, 2)
	if _, err := compacted.DeleteRecords(1); !errors.Is(err, kerr.PolicyViolation) {
		t.Errorf("delete on a compacted topic: %v, want POLICY_VIOLATION", err)
	}
	f.set("orders", 1, config.Topic{"cleanup.policy": "compact"}, coordinator.Partition{Leader: -1, LeaderEpoch: 4, State: zkpaths.StateOffline})
	if _, err := compacted.DeleteRecords(1); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("delete on a replica that no longer leads: %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
	if _, err := compacted.LowWatermark(s.isLive); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("low watermark on a replica that no longer leads: %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
}

func TestDeleteRecordsAnswersOnceEveryLiveReplicaDeleted(t *testing.T) {
	// Broker 3 is a replica but not registered: it does not hold the answer.
	s, _ := testServer(t, &coordinator.Snapshot{Brokers: liveBrokers(1, 2)})
	f := withReplicas(t, s)
	p := leadUserPartition(t, f, 0, config.Topic{}, 10)
	if _, err := p.DeleteRecords(6); err != nil {
		t.Fatal(err)
	}
	out := kmsg.NewDeleteRecordsResponseTopicPartition()
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Far longer than the test may take: only follower 2 ends the wait.
		s.awaitLowWatermarks(context.Background(), []recordDeletion{{p: p, offset: 6, out: &out}}, time.Hour)
	}()
	// A fetch from a follower that has not deleted yet does not end it.
	f.followerFetched(p, 2, 10, 0)
	f.followerFetched(p, 2, 10, 6)
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("DeleteRecords still waiting a minute after every live replica reached the offset")
	}
	if out.ErrorCode != 0 || out.LowWatermark != 6 {
		t.Errorf("answer: low watermark %d, %v; want 6", out.LowWatermark, kerr.ErrorForCode(out.ErrorCode))
	}
}

func TestDeleteRecordsTimesOut(t *testing.T) {
	s, _ := testServer(t, &coordinator.Snapshot{Brokers: liveBrokers(1, 2, 3)})
	f := withReplicas(t, s)
	p := leadUserPartition(t, f, 0, config.Topic{}, 10)
	if _, err := p.DeleteRecords(6); err != nil {
		t.Fatal(err)
	}
	f.followerFetched(p, 2, 10, 6)
	out := kmsg.NewDeleteRecordsResponseTopicPartition()
	s.awaitLowWatermarks(context.Background(), []recordDeletion{{p: p, offset: 6, out: &out}}, 0)
	// Follower 3 is still at 0.
	if out.ErrorCode != kerr.RequestTimedOut.Code || out.LowWatermark != 0 {
		t.Errorf("answer: low watermark %d, %v; want 0 and REQUEST_TIMED_OUT", out.LowWatermark, kerr.ErrorForCode(out.ErrorCode))
	}
}
