package coordinator

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/kzoo/kzoo/zkpaths"
)

var allStates = []zkpaths.PartitionStatus{zkpaths.StateNonExistent, zkpaths.StateNew, zkpaths.StateOnline, zkpaths.StateOffline}

func TestCheckTransitionExhaustive(t *testing.T) {
	valid := map[[2]zkpaths.PartitionStatus]bool{
		{zkpaths.StateNonExistent, zkpaths.StateNew}:     true,
		{zkpaths.StateNew, zkpaths.StateOnline}:          true,
		{zkpaths.StateOnline, zkpaths.StateOnline}:       true,
		{zkpaths.StateOffline, zkpaths.StateOnline}:      true,
		{zkpaths.StateNew, zkpaths.StateOffline}:         true,
		{zkpaths.StateOnline, zkpaths.StateOffline}:      true,
		{zkpaths.StateOffline, zkpaths.StateOffline}:     true,
		{zkpaths.StateOffline, zkpaths.StateNonExistent}: true,
	}
	for _, from := range append(allStates, "", "Bogus") {
		for _, to := range append(allStates, "", "Bogus") {
			err := checkTransition(from, to)
			if want := valid[[2]zkpaths.PartitionStatus{from, to}]; (err == nil) != want {
				t.Errorf("checkTransition(%q, %q) = %v, want valid=%v", from, to, err, want)
			}
		}
	}
}

func state(s zkpaths.PartitionStatus, leader, leaderEpoch int32, isr ...int32) *zkpaths.PartitionState {
	return &zkpaths.PartitionState{ControllerEpoch: 3, Leader: leader, LeaderEpoch: leaderEpoch, ISR: isr, State: s}
}

func TestPlanPartition(t *testing.T) {
	const epoch = 5
	replicas := []int32{1, 2, 3}
	type want struct {
		ok      bool
		from    zkpaths.PartitionStatus
		to      zkpaths.PartitionStatus
		leader  int32
		lEpoch  int32
		isr     []int32
		unclean bool
	}
	tests := []struct {
		name         string
		current      *zkpaths.PartitionState
		live         []int32
		unclean      bool
		failuresOnly bool
		want         want
	}{
		{"no state znode: New", nil, []int32{1, 2, 3}, false, false,
			want{true, zkpaths.StateNonExistent, zkpaths.StateNew, -1, -1, []int32{}, false}},
		{"no state znode, no live replica: New all the same", nil, nil, false, false,
			want{true, zkpaths.StateNonExistent, zkpaths.StateNew, -1, -1, []int32{}, false}},
		{"no state znode, failures only", nil, []int32{1}, false, true, want{}},
		{"New with live replicas: Online at epoch 0", state(zkpaths.StateNew, -1, -1), []int32{2, 3}, false, false,
			want{true, zkpaths.StateNew, zkpaths.StateOnline, 2, 0, []int32{2, 3}, false}},
		{"New without live replicas stays New", state(zkpaths.StateNew, -1, -1), []int32{7}, true, false, want{}},
		{"New, failures only", state(zkpaths.StateNew, -1, -1), []int32{1}, false, true, want{}},
		{"Online and healthy: nothing", state(zkpaths.StateOnline, 1, 4, 1, 2, 3), []int32{1, 2, 3}, false, false, want{}},
		{"Online, follower dead: ISR shrinks", state(zkpaths.StateOnline, 1, 4, 1, 2, 3), []int32{1, 3}, false, false,
			want{true, zkpaths.StateOnline, zkpaths.StateOnline, 1, 5, []int32{1, 3}, false}},
		{"Online, dead follower not in ISR: nothing", state(zkpaths.StateOnline, 1, 4, 1, 3), []int32{1, 3}, false, false, want{}},
		{"Online, leader dead: next ISR member leads", state(zkpaths.StateOnline, 1, 4, 1, 2, 3), []int32{2, 3}, false, true,
			want{true, zkpaths.StateOnline, zkpaths.StateOnline, 2, 5, []int32{2, 3}, false}},
		{"Online, leader dead, no live ISR member: Offline, ISR kept", state(zkpaths.StateOnline, 1, 4, 1), []int32{2, 3}, false, false,
			want{true, zkpaths.StateOnline, zkpaths.StateOffline, -1, 5, []int32{1}, false}},
		{"Online, leader dead, unclean allowed", state(zkpaths.StateOnline, 1, 4, 1), []int32{3, 2}, true, false,
			want{true, zkpaths.StateOnline, zkpaths.StateOnline, 2, 5, []int32{2}, true}},
		{"Online without leader is elected", state(zkpaths.StateOnline, -1, 4, 2), []int32{2}, false, false,
			want{true, zkpaths.StateOnline, zkpaths.StateOnline, 2, 5, []int32{2}, false}},
		{"Offline, ISR member back: Online with a higher epoch", state(zkpaths.StateOffline, -1, 5, 1), []int32{1, 2}, false, false,
			want{true, zkpaths.StateOffline, zkpaths.StateOnline, 1, 6, []int32{1}, false}},
		{"Offline, only non-ISR replicas live: stays", state(zkpaths.StateOffline, -1, 5, 1), []int32{2, 3}, false, false, want{}},
		{"Offline, only non-ISR replicas live, unclean", state(zkpaths.StateOffline, -1, 5, 1), []int32{3}, true, false,
			want{true, zkpaths.StateOffline, zkpaths.StateOnline, 3, 6, []int32{3}, true}},
		{"Offline, failures only", state(zkpaths.StateOffline, -1, 5, 1), []int32{1}, false, true, want{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, ok, err := planPartition(partitionPlanInput{
				Replicas:        replicas,
				Current:         tt.current,
				ControllerEpoch: epoch,
				Live:            liveSet(tt.live...),
				UncleanAllowed:  func() bool { return tt.unclean },
				FailuresOnly:    tt.failuresOnly,
			})
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.want.ok {
				t.Fatalf("ok = %v, want %v (plan %+v)", ok, tt.want.ok, plan)
			}
			if !ok {
				return
			}
			got := want{ok, plan.From, plan.To, plan.Next.Leader, plan.Next.LeaderEpoch, plan.Next.ISR, plan.Unclean}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if plan.Next.ControllerEpoch != epoch || plan.Next.State != plan.To {
				t.Errorf("controller epoch %d, state %q", plan.Next.ControllerEpoch, plan.Next.State)
			}
		})
	}
}

func TestPlanPartitionAsksUncleanOnlyWithoutCleanLeader(t *testing.T) {
	asked := 0
	in := partitionPlanInput{
		Replicas:        []int32{1, 2},
		Current:         state(zkpaths.StateOnline, 1, 0, 1, 2),
		ControllerEpoch: 3,
		Live:            liveSet(2),
		UncleanAllowed:  func() bool { asked++; return true },
	}
	if _, ok, err := planPartition(in); err != nil || !ok {
		t.Fatalf("plan: %v %v", ok, err)
	}
	if asked != 0 {
		t.Errorf("asked about unclean election %d times with a clean leader available", asked)
	}
}

func TestPlanPartitionRefusesNewerController(t *testing.T) {
	newer := state(zkpaths.StateOnline, 1, 0, 1)
	newer.ControllerEpoch = 9
	_, ok, err := planPartition(partitionPlanInput{Replicas: []int32{1}, Current: newer, ControllerEpoch: 8, Live: liveSet()})
	if !errors.Is(err, errStaleController) || ok {
		t.Fatalf("got ok=%v err=%v, want errStaleController", ok, err)
	}
	if _, _, err := planDeletion(newer, 8); !errors.Is(err, errStaleController) {
		t.Fatalf("planDeletion: %v, want errStaleController", err)
	}
	bogus := state("Bogus", 1, 0, 1)
	if _, _, err := planPartition(partitionPlanInput{Replicas: []int32{1}, Current: bogus, ControllerEpoch: 8, Live: liveSet(1)}); err == nil {
		t.Fatal("planned a partition in an unknown state")
	}
}

func TestPlanDeletion(t *testing.T) {
	tests := []struct {
		current *zkpaths.PartitionState
		ok      bool
		to      zkpaths.PartitionStatus
	}{
		{nil, false, ""},
		{state(zkpaths.StateNew, -1, -1), true, zkpaths.StateOffline},
		{state(zkpaths.StateOnline, 2, 7, 2, 3), true, zkpaths.StateOffline},
		{state(zkpaths.StateOffline, -1, 7, 2), true, zkpaths.StateNonExistent},
	}
	for _, tt := range tests {
		plan, ok, err := planDeletion(tt.current, 4)
		if err != nil || ok != tt.ok || plan.To != tt.to {
			t.Errorf("planDeletion(%+v) = %+v, %v, %v", tt.current, plan, ok, err)
			continue
		}
		if ok && plan.To == zkpaths.StateOffline {
			if plan.Next.Leader != -1 || plan.Next.LeaderEpoch != tt.current.LeaderEpoch+1 || plan.Next.ControllerEpoch != 4 ||
				!reflect.DeepEqual(plan.Next.ISR, tt.current.ISR) {
				t.Errorf("Offline step = %+v", plan.Next)
			}
		}
	}
}

// TestPartitionLifecycle walks one partition through creation, the failure and
// return of its brokers, checking that the leader epoch only grows and that
// every step is a valid transition.
func TestPartitionLifecycle(t *testing.T) {
	replicas := []int32{1, 2}
	var current *zkpaths.PartitionState
	lastEpoch := int32(-2)
	advance := func(live ...int32) {
		t.Helper()
		for range 3 {
			plan, ok, err := planPartition(partitionPlanInput{
				Replicas: replicas, Current: current, ControllerEpoch: 1, Live: liveSet(live...),
				UncleanAllowed: func() bool { return false },
			})
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				return
			}
			if err := checkTransition(plan.From, plan.To); err != nil {
				t.Fatal(err)
			}
			if plan.Next.LeaderEpoch <= lastEpoch {
				t.Fatalf("leader epoch went from %d to %d", lastEpoch, plan.Next.LeaderEpoch)
			}
			lastEpoch = plan.Next.LeaderEpoch
			next := plan.Next
			current = &next
		}
		t.Fatal("partition does not settle")
	}
	expect := func(status zkpaths.PartitionStatus, leader int32, isr ...int32) {
		t.Helper()
		got := fmt.Sprintf("%s %d %v", current.State, current.Leader, current.ISR)
		if want := fmt.Sprintf("%s %d %v", status, leader, isr); got != want {
			t.Fatalf("partition is %s, want %s", got, want)
		}
	}

	advance()
	expect(zkpaths.StateNew, -1)
	advance(2)
	expect(zkpaths.StateOnline, 2, 2)
	advance(1, 2) // 1 joins the ISR through the leader, not the controller
	expect(zkpaths.StateOnline, 2, 2)
	current.ISR = []int32{2, 1}
	advance(1)
	expect(zkpaths.StateOnline, 1, 1)
	advance()
	expect(zkpaths.StateOffline, -1, 1)
	advance(2) // 2 is out of the ISR: no clean leader
	expect(zkpaths.StateOffline, -1, 1)
	advance(1, 2)
	expect(zkpaths.StateOnline, 1, 1)
}
