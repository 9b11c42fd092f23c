package coordinator

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/kzoo/kzoo/zkpaths"
)

func TestPlanPartitionControlledShutdown(t *testing.T) {
	tests := []struct {
		name     string
		current  *zkpaths.PartitionState
		live     []int32
		shutting []int32
		ok       bool
		want     zkpaths.PartitionState
	}{
		{"the leader shutting down hands over", state(zkpaths.StateOnline, 1, 4, 1, 2, 3), []int32{1, 2, 3}, []int32{1}, true,
			zkpaths.PartitionState{ControllerEpoch: 5, Leader: 2, LeaderEpoch: 5, ISR: []int32{2, 3}, State: zkpaths.StateOnline}},
		{"a follower shutting down leaves the ISR", state(zkpaths.StateOnline, 1, 4, 1, 2, 3), []int32{1, 2, 3}, []int32{3}, true,
			zkpaths.PartitionState{ControllerEpoch: 5, Leader: 1, LeaderEpoch: 5, ISR: []int32{1, 2}, State: zkpaths.StateOnline}},
		{"a lone leader shutting down keeps its partition", state(zkpaths.StateOnline, 1, 4, 1), []int32{1, 2, 3}, []int32{1}, false,
			zkpaths.PartitionState{}},
		{"a leader shutting down without successor still sheds a dead follower", state(zkpaths.StateOnline, 1, 4, 1, 2), []int32{1, 3}, []int32{1}, true,
			zkpaths.PartitionState{ControllerEpoch: 5, Leader: 1, LeaderEpoch: 5, ISR: []int32{1}, State: zkpaths.StateOnline}},
		{"a broker shutting down is not elected for a new partition", state(zkpaths.StateNew, -1, -1), []int32{1, 2, 3}, []int32{1}, true,
			zkpaths.PartitionState{ControllerEpoch: 5, Leader: 2, LeaderEpoch: 0, ISR: []int32{2, 3}, State: zkpaths.StateOnline}},
		{"nor for an offline one", state(zkpaths.StateOffline, -1, 4, 1, 2), []int32{1, 2}, []int32{1}, true,
			zkpaths.PartitionState{ControllerEpoch: 5, Leader: 2, LeaderEpoch: 5, ISR: []int32{2}, State: zkpaths.StateOnline}},
	}
	for _, tt := range tests {
		plan, ok, err := planPartition(partitionPlanInput{
			Replicas:        []int32{1, 2, 3},
			Current:         tt.current,
			ControllerEpoch: 5,
			Live:            liveSet(tt.live...),
			ShuttingDown:    liveSet(tt.shutting...),
		})
		if err != nil || ok != tt.ok || (ok && !reflect.DeepEqual(plan.Next, tt.want)) {
			t.Errorf("%s: got %+v, %v, %v; want %+v", tt.name, plan.Next, ok, err, tt.want)
		}
	}
}

func TestLeadershipsToMove(t *testing.T) {
	snap := &Snapshot{
		Brokers:      map[int32]Broker{1: {ID: 1}, 2: {ID: 2}, 3: {ID: 3}},
		shuttingDown: map[int32]bool{1: true, 3: true},
		Topics: map[string]*Topic{"t": {Name: "t", Partitions: []Partition{
			{Partition: 0, Leader: 1, ISR: []int32{1, 2}}, // movable to 2
			{Partition: 1, Leader: 1, ISR: []int32{1}},    // alone
			{Partition: 2, Leader: 1, ISR: []int32{1, 3}}, // 3 is shutting down too
			{Partition: 3, Leader: 1, ISR: []int32{1, 4}}, // 4 is dead
			{Partition: 4, Leader: 2, ISR: []int32{2, 1}}, // not ours
		}}},
	}
	got := leadershipsToMove(snap, 1)
	if want := []zkpaths.TopicPartition{{Topic: "t", Partition: 0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("leadershipsToMove = %v, want %v", got, want)
	}
}

// testControlledShutdown: a broker shutting down hands its leaderships to other
// ISR members and leaves the ISRs before it goes.
func testControlledShutdown(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	sessions := env.startBrokers(t, 3)
	ctx := context.Background()
	if err := sessions[2].CreateTopic(ctx, "rf3", [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := sessions[2].CreateTopic(ctx, "solo", [][]int32{{1}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "rf3", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2, 3}, State: zkpaths.StateOnline})
	waitForState(t, in, "rf3", 2, zkpaths.PartitionState{Leader: 3, LeaderEpoch: 0, ISR: []int32{3, 1, 2}, State: zkpaths.StateOnline})
	waitForState(t, in, "solo", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1}, State: zkpaths.StateOnline})
	waitFor(t, "broker 1's snapshot to show the topics online", func() (bool, string) {
		snap := sessions[1].Snapshot()
		return snap.Topics["rf3"] != nil && snap.Topics["rf3"].Partitions[0].Leader == 1 && snap.Topics["solo"] != nil &&
			snap.Topics["solo"].Partitions[0].Leader == 1, fmt.Sprintf("%+v", snap.Topics)
	})

	shutdownCtx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if err := sessions[1].ControlledShutdown(shutdownCtx); err != nil {
		t.Fatal(err)
	}
	// When it returns, its own snapshot already shows the moves.
	rf3 := sessions[1].Snapshot().Topics["rf3"]
	if p := rf3.Partitions[0]; p.Leader != 2 || p.LeaderEpoch != 1 || !reflect.DeepEqual(p.ISR, []int32{2, 3}) {
		t.Errorf("rf3-0 after the controlled shutdown: %+v", p)
	}
	waitForState(t, in, "rf3", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 1, ISR: []int32{2, 3}, State: zkpaths.StateOnline})
	waitForState(t, in, "rf3", 1, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 1, ISR: []int32{2, 3}, State: zkpaths.StateOnline})
	waitForState(t, in, "rf3", 2, zkpaths.PartitionState{Leader: 3, LeaderEpoch: 1, ISR: []int32{3, 2}, State: zkpaths.StateOnline})
	// Nobody can take "solo" over: it stays with broker 1 until it is gone.
	waitForState(t, in, "solo", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1}, State: zkpaths.StateOnline})

	if err := sessions[1].Close(); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "solo", 0, zkpaths.PartitionState{Leader: -1, LeaderEpoch: 1, ISR: []int32{1}, State: zkpaths.StateOffline})
	// Broker 1 comes back as an ordinary broker: it may lead again.
	env.start(t, env.config(1))
	waitForState(t, in, "solo", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 2, ISR: []int32{1}, State: zkpaths.StateOnline})
	waitForState(t, in, "rf3", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 1, ISR: []int32{2, 3}, State: zkpaths.StateOnline})
}
