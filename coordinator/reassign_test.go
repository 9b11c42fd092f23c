package coordinator

import (
	"reflect"
	"testing"

	"github.com/kzoo/kzoo/zkpaths"
)

// reassignSim applies reassignment plans to an in-memory partition, as the
// controller applies them to ZooKeeper.
type reassignSim struct {
	replicas, adding, removing []int32
	state                      zkpaths.PartitionState
}

func (sim *reassignSim) step(t *testing.T, target []int32, eligible func(int32) bool) (reassignPlan, bool) {
	t.Helper()
	state := sim.state
	plan, ok := planReassignment(reassignInput{
		Replicas: sim.replicas, Adding: sim.adding, Removing: sim.removing, Target: target,
		Current: &state, ControllerEpoch: 7, Eligible: eligible,
	})
	if !ok {
		return plan, false
	}
	switch plan.Kind {
	case reassignAssignment:
		sim.replicas, sim.adding, sim.removing = plan.Replicas, plan.Adding, plan.Removing
	case reassignComplete:
		sim.replicas, sim.adding, sim.removing = plan.Replicas, nil, nil
	case reassignState:
		sim.state = plan.Next
	default:
		t.Fatalf("unknown plan kind %d", plan.Kind)
	}
	return plan, true
}

func TestPlanReassignmentWalk(t *testing.T) {
	sim := &reassignSim{replicas: []int32{1, 2, 3}, state: zkpaths.PartitionState{
		ControllerEpoch: 7, Leader: 1, LeaderEpoch: 3, ISR: []int32{1, 2, 3}, State: zkpaths.StateOnline,
	}}
	all := liveSet(1, 2, 3, 4)
	target := []int32{2, 3, 4}

	plan, ok := sim.step(t, target, all)
	if !ok || plan.Kind != reassignAssignment || !reflect.DeepEqual(sim.replicas, []int32{2, 3, 4, 1}) ||
		!reflect.DeepEqual(sim.adding, []int32{4}) || !reflect.DeepEqual(sim.removing, []int32{1}) {
		t.Fatalf("step 1: %+v, %v; replicas %v adding %v removing %v", plan, ok, sim.replicas, sim.adding, sim.removing)
	}
	// A target broker that is down holds the reassignment.
	if plan, ok := planReassignment(reassignInput{Replicas: sim.replicas, Adding: sim.adding, Removing: sim.removing,
		Target: target, Current: &sim.state, ControllerEpoch: 7, Eligible: liveSet(1, 2, 3)}); ok {
		t.Fatalf("went on without broker 4: %+v", plan)
	}
	plan, ok = sim.step(t, target, all)
	want := zkpaths.PartitionState{ControllerEpoch: 7, Leader: 2, LeaderEpoch: 4, ISR: []int32{2, 3, 4}, State: zkpaths.StateOnline}
	if !ok || plan.Kind != reassignState || !reflect.DeepEqual(sim.state, want) {
		t.Fatalf("steps 2-3: %+v, %v; state %+v", plan, ok, sim.state)
	}
	plan, ok = sim.step(t, target, all)
	if !ok || plan.Kind != reassignComplete || !reflect.DeepEqual(sim.replicas, target) {
		t.Fatalf("step 4: %+v, %v", plan, ok)
	}
	// Completing again is harmless (a request left after a failover).
	if plan, ok := sim.step(t, target, all); !ok || plan.Kind != reassignComplete {
		t.Fatalf("after completion: %+v, %v", plan, ok)
	}
}

func TestPlanReassignmentCancel(t *testing.T) {
	// In flight from {1,2,3} to {2,3,4}, leadership already moved.
	sim := &reassignSim{replicas: []int32{2, 3, 4, 1}, adding: []int32{4}, removing: []int32{1}, state: zkpaths.PartitionState{
		ControllerEpoch: 7, Leader: 4, LeaderEpoch: 4, ISR: []int32{2, 3, 4}, State: zkpaths.StateOnline,
	}}
	original := originalReplicas(sim.replicas, sim.adding)
	if !reflect.DeepEqual(original, []int32{2, 3, 1}) {
		t.Fatalf("originalReplicas = %v", original)
	}
	all := liveSet(1, 2, 3, 4)
	var kinds []reassignKind
	for range 10 {
		plan, ok := sim.step(t, original, all)
		if !ok {
			t.Fatalf("stuck at %+v", sim)
		}
		kinds = append(kinds, plan.Kind)
		if plan.Kind == reassignComplete {
			break
		}
	}
	if want := []reassignKind{reassignAssignment, reassignState, reassignComplete}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("steps %v, want %v", kinds, want)
	}
	want := zkpaths.PartitionState{ControllerEpoch: 7, Leader: 2, LeaderEpoch: 5, ISR: []int32{2, 3, 1}, State: zkpaths.StateOnline}
	if !reflect.DeepEqual(sim.replicas, original) || !reflect.DeepEqual(sim.state, want) {
		t.Errorf("after cancelling: replicas %v, state %+v", sim.replicas, sim.state)
	}
}

func TestPlanReassignmentWaits(t *testing.T) {
	base := reassignInput{Replicas: []int32{2, 1}, Adding: []int32{2}, Removing: []int32{1}, Target: []int32{2}, ControllerEpoch: 7, Eligible: liveSet(1, 2)}
	for name, current := range map[string]*zkpaths.PartitionState{
		"no state znode":    nil,
		"offline":           {Leader: -1, LeaderEpoch: 1, ISR: []int32{1}, State: zkpaths.StateOffline},
		"newer controller":  {ControllerEpoch: 8, Leader: 1, ISR: []int32{1}, State: zkpaths.StateOnline},
		"leader not usable": {ControllerEpoch: 7, Leader: 5, ISR: []int32{5}, State: zkpaths.StateOnline},
	} {
		in := base
		in.Current = current
		if plan, ok := planReassignment(in); ok {
			t.Errorf("%s: planned %+v", name, plan)
		}
	}
}
