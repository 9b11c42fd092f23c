package broker

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/coordinator"
)

func TestContinueAssignmentFollowsTheTopicsSpread(t *testing.T) {
	live := []int32{3, 1, 2}
	// Partition 0 preferred on broker 2: partitions 2 and 3 continue at 1, 2.
	added, err := continueAssignment(live, 2, 2, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 2 {
		t.Fatalf("added %d partitions, want 2", len(added))
	}
	if added[0][0] != 1 || added[1][0] != 2 {
		t.Errorf("preferred leaders of the new partitions = %d, %d; want 1, 2", added[0][0], added[1][0])
	}
	for i, replicas := range added {
		if len(replicas) != 2 || replicas[0] == replicas[1] {
			t.Errorf("partition %d replicas = %v, want 2 distinct brokers", 2+i, replicas)
		}
	}
}

func TestPlanPartitionsValidation(t *testing.T) {
	snap := &coordinator.Snapshot{
		Brokers: map[int32]coordinator.Broker{1: {ID: 1}, 2: {ID: 2}, 3: {ID: 3}},
		Topics: map[string]*coordinator.Topic{
			"t": {Name: "t", Partitions: []coordinator.Partition{{Partition: 0, Replicas: []int32{1, 2}}, {Partition: 1, Replicas: []int32{2, 3}}}},
			"d": {Name: "d", Deleting: true, Partitions: []coordinator.Partition{{Partition: 0, Replicas: []int32{1}}}},
		},
	}
	var s Server
	assignment := func(replicas ...[]int32) []kmsg.CreatePartitionsRequestTopicAssignment {
		out := make([]kmsg.CreatePartitionsRequestTopicAssignment, len(replicas))
		for i, r := range replicas {
			out[i].Replicas = r
		}
		return out
	}
	for name, tc := range map[string]struct {
		topic      string
		count      int32
		assignment []kmsg.CreatePartitionsRequestTopicAssignment
		want       *kerr.Error
	}{
		"unknown":          {"x", 3, nil, kerr.UnknownTopicOrPartition},
		"deleting":         {"d", 3, nil, kerr.InvalidTopicException},
		"same count":       {"t", 2, nil, kerr.InvalidPartitions},
		"decrease":         {"t", 1, nil, kerr.InvalidPartitions},
		"assignment short": {"t", 4, assignment([]int32{1, 2}), kerr.InvalidReplicaAssignment},
		"wrong rf":         {"t", 3, assignment([]int32{1}), kerr.InvalidReplicaAssignment},
		"duplicate":        {"t", 3, assignment([]int32{1, 1}), kerr.InvalidReplicaAssignment},
		"dead broker":      {"t", 3, assignment([]int32{1, 9}), kerr.InvalidReplicaAssignment},
		"ok given":         {"t", 3, assignment([]int32{3, 1}), nil},
		"ok computed":      {"t", 5, nil, nil},
	} {
		rt := kmsg.CreatePartitionsRequestTopic{Topic: tc.topic, Count: tc.count, Assignment: tc.assignment}
		added, err := s.planPartitions(snap, &rt)
		if tc.want == nil {
			if err != nil || len(added) != int(tc.count)-2 {
				t.Errorf("%s: added %v, err %v; want %d partitions", name, added, err, tc.count-2)
			}
			continue
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
	added, _ := s.planPartitions(snap, &kmsg.CreatePartitionsRequestTopic{Topic: "t", Count: 3, Assignment: assignment([]int32{3, 1})})
	if !reflect.DeepEqual(added, [][]int32{{3, 1}}) {
		t.Errorf("given assignment = %v, want [[3 1]]", added)
	}
}
