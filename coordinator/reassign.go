package coordinator

import (
	"slices"

	"github.com/kzoo/kzoo/zkpaths"
)

// Partition reassignment, as Kafka's controller does it (reference section 2):
// with ORS the original replicas and TRS the target ones,
//
//  1. the topic znode gets RS = TRS + (ORS - TRS), adding = TRS - ORS and
//     removing = ORS - TRS;
//  2. the new replicas join the ISR: their leader adds each once it has
//     caught up, by the ISR rules of broker/replica, and the controller waits
//     for that;
//  3. once TRS is in the ISR, the leader moves into TRS if it is outside it or
//     not eligible, and the removed replicas leave the ISR;
//  4. the topic znode gets RS = TRS with adding and removing empty, and the
//     request is pruned from /admin/reassign_partitions.
//
// ZooKeeper is written before memory at each step, and the stored RS keeps ORS
// recoverable until the last step, so a new controller resumes from what it
// reads: TRS is RS - removing when the request is gone.
//
// The controller never puts a new replica in the ISR itself: before it has
// copied the log it could be elected and lose what the others had, and a
// replication throttle (KIP-73), which only holds back replicas outside the
// ISR, would not apply to the copy. Original replicas a cancellation returns
// to rejoin the same way, if they left the ISR at all.

// reassignKind is the kind of the next reassignment step.
type reassignKind int8

const (
	// reassignAssignment writes RS, adding and removing (step 1; also a
	// changed or cancelled target).
	reassignAssignment reassignKind = iota + 1
	// reassignState writes the partition state (steps 2 and 3).
	reassignState
	// reassignComplete writes RS = TRS and prunes the request (step 4).
	reassignComplete
)

// reassignInput is what the controller knows about one partition being
// reassigned.
type reassignInput struct {
	Replicas, Adding, Removing []int32 // as stored in the topic znode
	Target                     []int32
	// Current is the partition's state znode, nil when it has none.
	Current         *zkpaths.PartitionState
	ControllerEpoch int32
	Eligible        func(int32) bool
}

// reassignPlan is the next step of a reassignment.
type reassignPlan struct {
	Kind reassignKind
	// Replicas, Adding and Removing are the assignment to store (for
	// reassignAssignment and reassignComplete).
	Replicas, Adding, Removing []int32
	// Next is the partition state to write (reassignState).
	Next zkpaths.PartitionState
}

// originalReplicas returns ORS: the stored replicas without those being
// added.
func originalReplicas(replicas, adding []int32) []int32 {
	return slices.DeleteFunc(slices.Clone(replicas), func(r int32) bool { return slices.Contains(adding, r) })
}

// minus returns the members of a that are not in b, in a's order.
func minus(a, b []int32) []int32 {
	out := []int32{}
	for _, x := range a {
		if !slices.Contains(b, x) && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func containsAll(set, members []int32) bool {
	for _, m := range members {
		if !slices.Contains(set, m) {
			return false
		}
	}
	return true
}

// planReassignment decides the next step of a partition's reassignment; ok is
// false while it waits (for a target broker to be live, or for the partition
// to have a leader).
func planReassignment(in reassignInput) (plan reassignPlan, ok bool) {
	target := in.Target
	original := originalReplicas(in.Replicas, in.Adding)
	wantReplicas := append(slices.Clone(target), minus(original, target)...)
	wantAdding, wantRemoving := minus(target, original), minus(original, target)
	if !slices.Equal(in.Replicas, wantReplicas) || !slices.Equal(nonNil(in.Adding), wantAdding) || !slices.Equal(nonNil(in.Removing), wantRemoving) {
		return reassignPlan{Kind: reassignAssignment, Replicas: wantReplicas, Adding: wantAdding, Removing: wantRemoving}, true
	}

	cur := in.Current
	if cur == nil || cur.State != zkpaths.StateOnline || cur.Leader < 0 || !in.Eligible(cur.Leader) || cur.ControllerEpoch > in.ControllerEpoch {
		// Elections are the partition state machine's business; the
		// reassignment goes on once the partition has a leader.
		return reassignPlan{}, false
	}
	if !containsAll(cur.ISR, target) {
		return reassignPlan{}, false // the leader adds the new replicas once they have caught up
	}
	isr := slices.Clone(cur.ISR)

	leader, ok := electReassignedLeader(target, cur.Leader, isr, in.Eligible)
	if !ok {
		return reassignPlan{}, false
	}
	isr = slices.DeleteFunc(isr, func(r int32) bool { return !slices.Contains(target, r) })
	if leader != cur.Leader || !slices.Equal(isr, cur.ISR) {
		return reassignPlan{Kind: reassignState, Next: nextState(cur, leader, isr, in.ControllerEpoch)}, true
	}
	return reassignPlan{Kind: reassignComplete, Replicas: slices.Clone(target)}, true
}

func nextState(cur *zkpaths.PartitionState, leader int32, isr []int32, controllerEpoch int32) zkpaths.PartitionState {
	return zkpaths.PartitionState{
		ControllerEpoch: controllerEpoch,
		Leader:          leader,
		LeaderEpoch:     cur.LeaderEpoch + 1,
		ISR:             isr,
		State:           zkpaths.StateOnline,
	}
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
