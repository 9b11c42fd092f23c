package coordinator

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/kzoo/kzoo/zkpaths"
)

// testDeletionWithBrokerDown deletes a topic while one of its replicas' brokers
// is down: the topic stays in deletion, also across a controller failover,
// until that broker is back and confirms.
func testDeletionWithBrokerDown(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	s1 := env.start(t, env.config(1))
	waitForController(t, in, 1)
	s2 := env.start(t, env.config(2))
	s3 := env.start(t, env.config(3))
	ctx := context.Background()
	if err := s1.CreateTopic(ctx, "gone", [][]int32{{1, 2, 3}, {3, 2, 1}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "gone", 1, zkpaths.PartitionState{Leader: 3, LeaderEpoch: 0, ISR: []int32{3, 2, 1}, State: zkpaths.StateOnline})

	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s2.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Session{s1, s2} {
		if err := s.ConfirmReplicasDeleted(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the deletion to wait for broker 3", func() (bool, string) {
		snap := s2.Snapshot()
		return reflect.DeepEqual(snap.PendingDeletion["gone"], []int32{3}), fmt.Sprint(snap.PendingDeletion)
	})
	for p := range int32(2) {
		waitFor(t, "the partitions to be offline", func() (bool, string) {
			state, _, ok := in.partitionState("gone", p)
			return ok && state.State == zkpaths.StateOffline && state.Leader == -1, fmt.Sprintf("%+v", state)
		})
	}
	if !in.exists("/brokers/topics/gone") {
		t.Fatal("the topic was deleted while broker 3 still holds replicas")
	}

	// A new controller takes the deletion over.
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	waitForController(t, in, 2)
	if !in.exists("/brokers/topics/gone") {
		t.Fatal("the new controller deleted the topic while broker 3 still holds replicas")
	}

	s3 = env.start(t, env.config(3))
	topic := s3.Snapshot().Topics["gone"]
	if topic == nil || !topic.Deleting || !reflect.DeepEqual(s3.Snapshot().PendingDeletion["gone"], []int32{3}) {
		t.Fatalf("the returning broker sees %+v, pending %v", topic, s3.Snapshot().PendingDeletion)
	}
	if err := s3.ConfirmReplicasDeleted(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	waitForTopicGone(t, in, "gone")
	waitFor(t, "broker 3's snapshot to drop the topic", func() (bool, string) {
		snap := s3.Snapshot()
		return snap.Topics["gone"] == nil && len(snap.PendingDeletion) == 0, fmt.Sprint(snap.PendingDeletion)
	})
}

// testLargeTopicDeletion deletes a topic whose znodes do not fit in one
// multi of the deletion (two per partition): it goes all the same, and a
// topic of the same name can be created again.
func testLargeTopicDeletion(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	s1 := env.start(t, env.config(1))
	ctx := context.Background()
	const partitions = maxDeleteOpsPerMulti // twice as many znodes below the topic
	assignment := make([][]int32, partitions)
	for p := range assignment {
		assignment[p] = []int32{1}
	}
	if err := s1.CreateTopic(ctx, "big", assignment, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every partition online", func() (bool, string) {
		online := 0
		for p := range int32(partitions) {
			if viewPartition(s1, "big", p).State == zkpaths.StateOnline {
				online++
			}
		}
		return online == partitions, fmt.Sprint(online)
	})
	if err := s1.DeleteTopic(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	if err := s1.ConfirmReplicasDeleted(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	waitForTopicGone(t, in, "big")
	if !in.exists(zkpaths.TopicsPath) || len(in.children(zkpaths.TopicsPath)) != 0 {
		t.Errorf("topics left: %v", in.children(zkpaths.TopicsPath))
	}
	if err := s1.CreateTopic(ctx, "big", assignment[:3], nil); err != nil {
		t.Fatalf("create the topic again: %v", err)
	}
	waitForState(t, in, "big", 2, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1}, State: zkpaths.StateOnline})
}
