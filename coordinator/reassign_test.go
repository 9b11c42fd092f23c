package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kzoo/kzoo/coordinator/placement"
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
	// The new replica joins the ISR through its leader, once it has caught
	// up; the controller waits for that, never adding it itself.
	if plan, ok := sim.step(t, target, all); ok {
		t.Fatalf("went on before broker 4 joined the ISR: %+v", plan)
	}
	// A target broker that is down holds the reassignment: it never joins.
	if plan, ok := planReassignment(reassignInput{Replicas: sim.replicas, Adding: sim.adding, Removing: sim.removing,
		Target: target, Current: &sim.state, ControllerEpoch: 7, Eligible: liveSet(1, 2, 3)}); ok {
		t.Fatalf("went on without broker 4: %+v", plan)
	}
	sim.state.ISR = []int32{1, 2, 3, 4} // the leader's write
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
		if !ok && !slices.Contains(sim.state.ISR, 1) {
			// Broker 1 left the ISR meanwhile: its leader adds it back
			// once it has caught up.
			sim.state.ISR = append(sim.state.ISR, 1)
			continue
		}
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

func testReassignment(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	sessions := env.startBrokers(t, 4)
	ctx := context.Background()
	for _, name := range []string{"r", "stuck", "cancel"} {
		if err := sessions[1].CreateTopic(ctx, name, [][]int32{{1, 2, 3}}, nil); err != nil {
			t.Fatal(err)
		}
		waitForState(t, in, name, 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2, 3}, State: zkpaths.StateOnline})
	}
	waitFor(t, "broker 4's snapshot to show the topics and brokers", func() (bool, string) {
		snap := sessions[4].Snapshot()
		return len(snap.Topics) == 3 && len(snap.Brokers) == 4, fmt.Sprint(snap.LiveBrokerIDs())
	})

	results, err := sessions[4].AlterReassignments(ctx, map[zkpaths.TopicPartition][]int32{
		{Topic: "r", Partition: 0}:      {2, 3, 4},
		{Topic: "r", Partition: 1}:      {1},
		{Topic: "nope", Partition: 0}:   {1},
		{Topic: "cancel", Partition: 0}: {1, 1},
		{Topic: "stuck", Partition: 0}:  {1, 9},
	})
	if err != nil {
		t.Fatal(err)
	}
	for tp, want := range map[zkpaths.TopicPartition]error{
		{Topic: "r", Partition: 0}: nil, {Topic: "r", Partition: 1}: ErrUnknownTopic, {Topic: "nope", Partition: 0}: ErrUnknownTopic,
		{Topic: "cancel", Partition: 0}: placement.ErrInvalidReplicaAssignment, {Topic: "stuck", Partition: 0}: placement.ErrInvalidReplicaAssignment,
	} {
		if got := results[tp]; !errors.Is(got, want) || (got == nil) != (want == nil) {
			t.Errorf("AlterReassignments result for %v = %v, want %v", tp, got, want)
		}
	}
	joinISR(t, in, sessions, "r", 0, 4)
	waitForAssignment(t, in, "r", `{"0":[2,3,4]} {} {}`)
	waitFor(t, "the request to be pruned and the leader to move", func() (bool, string) {
		state, _, _ := in.partitionState("r", 0)
		return !in.exists(zkpaths.ReassignPartitionsPath) && slices.Contains([]int32{2, 3, 4}, state.Leader) &&
			reflect.DeepEqual(state.ISR, []int32{2, 3, 4}), fmt.Sprintf("%+v", state)
	})
	waitFor(t, "broker 1's snapshot to show the new replicas", func() (bool, string) {
		p := viewPartition(sessions[1], "r", 0)
		return reflect.DeepEqual(p.Replicas, []int32{2, 3, 4}) && len(p.AddingReplicas) == 0 && len(p.RemovingReplicas) == 0,
			fmt.Sprintf("%+v", p)
	})

	// A legacy tool asks for broker 5, which is not running: the reassignment
	// starts and waits for it, across a controller failover.
	legacy := `{"version":1,"partitions":[{"topic":"stuck","partition":0,"replicas":[5,2]},{"topic":"cancel","partition":0,"replicas":[6,2,3]}]}`
	if _, err := in.conn.Create(in.chroot+zkpaths.ReassignPartitionsPath, []byte(legacy), 0, openACL); err != nil {
		t.Fatal(err)
	}
	waitForAssignment(t, in, "stuck", `{"0":[5,2,1,3]} {"0":[5]} {"0":[1,3]}`)
	waitForAssignment(t, in, "cancel", `{"0":[6,2,3,1]} {"0":[6]} {"0":[1]}`)
	waitFor(t, "broker 2's snapshot to show the reassignment in progress", func() (bool, string) {
		p := viewPartition(sessions[2], "stuck", 0)
		return reflect.DeepEqual(p.AddingReplicas, []int32{5}) && reflect.DeepEqual(p.RemovingReplicas, []int32{1, 3}), fmt.Sprintf("%+v", p)
	})
	controller, _ := in.controller()
	if err := sessions[controller].Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new controller", func() (bool, string) {
		id, _ := in.controller()
		return id > 0 && id != controller, fmt.Sprint(id)
	})
	sessions[controller] = env.start(t, env.config(controller))

	results, err = sessions[2].AlterReassignments(ctx, map[zkpaths.TopicPartition][]int32{
		{Topic: "cancel", Partition: 0}: nil, {Topic: "r", Partition: 0}: nil,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(results[zkpaths.TopicPartition{Topic: "r", Partition: 0}], ErrNoReassignmentInProgress) ||
		results[zkpaths.TopicPartition{Topic: "cancel", Partition: 0}] != nil {
		t.Errorf("cancellations: %v", results)
	}
	// As in Kafka, the original replicas are the stored ones without those
	// being added; their order follows the target's.
	waitForAssignment(t, in, "cancel", `{"0":[2,3,1]} {} {}`)
	// Broker 1 left the ISR when its session closed; as an original replica
	// it rejoins through the leader, which the cancellation waits for.
	joinISR(t, in, sessions, "cancel", 0, 1)

	sessions[5] = env.start(t, env.config(5))
	joinISR(t, in, sessions, "stuck", 0, 5)
	waitForAssignment(t, in, "stuck", `{"0":[5,2]} {} {}`)
	waitFor(t, "the request to be gone", func() (bool, string) {
		state, _, _ := in.partitionState("stuck", 0)
		return !in.exists(zkpaths.ReassignPartitionsPath) && reflect.DeepEqual(state.ISR, []int32{2, 5}) &&
			(state.Leader == 2 || state.Leader == 5), fmt.Sprintf("%+v", state)
	})
	state, _, _ := in.partitionState("cancel", 0)
	if !slices.Contains([]int32{1, 2, 3}, state.Leader) || !containsAll(state.ISR, []int32{1, 2, 3}) || len(state.ISR) != 3 {
		t.Errorf("the cancelled partition: %+v", state)
	}
}

// joinISR does what the leader of a partition being reassigned does once its
// new replicas have caught up: it adds them to the ISR. The controller waits
// for that before it goes on.
func joinISR(t *testing.T, in *inspector, sessions map[int32]*Session, topic string, partition int32, joining ...int32) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the leader of %s-%d to add %v to its ISR", topic, partition, joining), func() (bool, string) {
		state, stat, ok := in.partitionState(topic, partition)
		if !ok || state.Leader < 0 || sessions[state.Leader] == nil {
			return false, fmt.Sprintf("%+v", state)
		}
		if containsAll(state.ISR, joining) {
			return true, ""
		}
		isr := append(slices.Clone(state.ISR), minus(joining, state.ISR)...)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		// The leader's session must see the new replicas first; until it
		// does, the write is refused and tried again.
		_, err := sessions[state.Leader].UpdateISR(ctx, topic, partition, state.LeaderEpoch, stat.Version, isr)
		return err == nil, fmt.Sprint(err)
	})
}

// waitForAssignment waits until a topic znode holds exactly want.
func waitForAssignment(t *testing.T, in *inspector, topic, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the assignment of %s to be %s", topic, want), func() (bool, string) {
		data, _, err := in.get(zkpaths.TopicPath(topic))
		if err != nil {
			return false, err.Error()
		}
		var a struct {
			Partitions json.RawMessage `json:"partitions"`
			Adding     json.RawMessage `json:"adding_replicas"`
			Removing   json.RawMessage `json:"removing_replicas"`
		}
		if err := json.Unmarshal(data, &a); err != nil {
			return false, err.Error()
		}
		got := fmt.Sprintf("%s %s %s", a.Partitions, a.Adding, a.Removing)
		return got == want, got
	})
}
