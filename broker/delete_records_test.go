package broker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/coordinator"
)

// leadUserPartition makes broker 1 leader of orders-0 with replicas 1, 2, 3
// all in the ISR, with records offsets 0 to n-1 committed: followers 2 and
// 3 fetched them all, with their log start still at 0.
func leadUserPartition(t *testing.T, s *Server, cfg config.Topic, n int) *partition {
	t.Helper()
	l, err := storage.Open(t.TempDir(), storage.DefaultConfig(), storage.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &partition{tp: storage.TopicPartition{Topic: "orders", Partition: 0}, log: l, following: followTarget{-1, -1}, fencedEpoch: -1}
	p.cfg.Store(&cfg)
	p.leaderEpoch.Store(-1)
	s.setRole(p, coordinator.Partition{Leader: 1, LeaderEpoch: 3, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, State: "Online"})
	for range n {
		if _, err := p.append(testBatch(t, "v")); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []int32{2, 3} {
		p.recordFollowerFetch(f, int64(n), 0, time.Now())
	}
	if hw := p.highWatermark(); hw != int64(n) {
		t.Fatalf("high watermark %d after the followers fetched, want %d", hw, n)
	}
	return p
}

func TestDeleteRecordsOnLeader(t *testing.T) {
	s, _ := testServer(t, &coordinator.Snapshot{Brokers: liveBrokers(1, 2, 3)})
	p := leadUserPartition(t, s, config.Topic{}, 10)

	for _, tc := range []struct {
		offset int64
		want   error
	}{{11, kerr.OffsetOutOfRange}, {-2, kerr.OffsetOutOfRange}} {
		if _, err := p.deleteRecords(tc.offset); !errors.Is(err, tc.want) {
			t.Errorf("delete below %d: %v, want %v", tc.offset, err, tc.want)
		}
	}
	if got, err := p.deleteRecords(4); err != nil || got != 4 || p.log.LogStartOffset() != 4 {
		t.Fatalf("delete below 4: %d, %v; log start %d", got, err, p.log.LogStartOffset())
	}
	// The followers have not deleted yet.
	if lw, err := p.lowWatermark(s.isLive); err != nil || lw != 0 {
		t.Fatalf("low watermark before the followers follow: %d, %v; want 0", lw, err)
	}
	if got, err := p.deleteRecords(-1); err != nil || got != 10 || p.log.LogStartOffset() != 10 {
		t.Fatalf("delete below the high watermark (-1): %d, %v; log start %d", got, err, p.log.LogStartOffset())
	}

	compacted := leadUserPartition(t, s, config.Topic{"cleanup.policy": "compact"}, 2)
	if _, err := compacted.deleteRecords(1); !errors.Is(err, kerr.PolicyViolation) {
		t.Errorf("delete on a compacted topic: %v, want POLICY_VIOLATION", err)
	}
	s.setRole(compacted, coordinator.Partition{Leader: -1, LeaderEpoch: 4, State: "Offline"})
	if _, err := compacted.deleteRecords(1); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("delete on a replica that no longer leads: %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
	if _, err := compacted.lowWatermark(s.isLive); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("low watermark on a replica that no longer leads: %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
}

func TestDeleteRecordsAnswersOnceEveryLiveReplicaDeleted(t *testing.T) {
	// Broker 3 is a replica but not registered: it does not hold the answer.
	s, _ := testServer(t, &coordinator.Snapshot{Brokers: liveBrokers(1, 2)})
	p := leadUserPartition(t, s, config.Topic{}, 10)
	if _, err := p.deleteRecords(6); err != nil {
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
	p.recordFollowerFetch(2, 10, 0, time.Now())
	p.recordFollowerFetch(2, 10, 6, time.Now())
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
	p := leadUserPartition(t, s, config.Topic{}, 10)
	if _, err := p.deleteRecords(6); err != nil {
		t.Fatal(err)
	}
	p.recordFollowerFetch(2, 10, 6, time.Now())
	out := kmsg.NewDeleteRecordsResponseTopicPartition()
	s.awaitLowWatermarks(context.Background(), []recordDeletion{{p: p, offset: 6, out: &out}}, 0)
	// Follower 3 is still at 0.
	if out.ErrorCode != kerr.RequestTimedOut.Code || out.LowWatermark != 0 {
		t.Errorf("answer: low watermark %d, %v; want 0 and REQUEST_TIMED_OUT", out.LowWatermark, kerr.ErrorForCode(out.ErrorCode))
	}
}
