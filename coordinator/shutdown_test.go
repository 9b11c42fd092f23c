package coordinator

import (
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
