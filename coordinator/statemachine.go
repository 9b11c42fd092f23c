package coordinator

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kzoo/kzoo/zkpaths"
)

// The partition state machine: which transitions are valid, and the next step
// of each partition of a live topic or of one being deleted. Everything here is
// pure: the controller feeds it what it read from ZooKeeper and writes back what
// it returns. The leaders and ISRs it picks come from election_rules.go.

// errStaleController: a state znode carries a controller epoch newer than ours,
// so another controller has taken over and we must not touch the partition.
var errStaleController = errors.New("partition was written by a newer controller")

// validPrevious lists, for each target state, the states a partition may move
// to it from.
var validPrevious = map[zkpaths.PartitionStatus][]zkpaths.PartitionStatus{
	zkpaths.StateNew:         {zkpaths.StateNonExistent},
	zkpaths.StateOnline:      {zkpaths.StateNew, zkpaths.StateOnline, zkpaths.StateOffline},
	zkpaths.StateOffline:     {zkpaths.StateNew, zkpaths.StateOnline, zkpaths.StateOffline},
	zkpaths.StateNonExistent: {zkpaths.StateOffline},
}

// checkTransition fails unless a partition may move from one state to the other.
func checkTransition(from, to zkpaths.PartitionStatus) error {
	if !slices.Contains(validPrevious[to], from) {
		return fmt.Errorf("invalid partition state transition %s -> %s", from, to)
	}
	return nil
}

// partitionPlanInput is what the controller knows about one partition.
type partitionPlanInput struct {
	Replicas []int32
	// Current is the state znode's content; nil when there is none
	// (NonExistent).
	Current         *zkpaths.PartitionState
	ControllerEpoch int32
	Live            func(int32) bool
	// UncleanAllowed is asked only when no clean leader exists (it may read
	// the topic's configuration).
	UncleanAllowed func() bool
	// ShuttingDown tells the live brokers that asked for a controlled
	// shutdown: they are not elected, lose their leaderships to other ISR
	// members and leave the ISRs (never emptying one). Nil means none.
	ShuttingDown func(int32) bool
	// FailuresOnly restricts the plan to partitions affected by brokers that are
	// not live: New and Offline partitions are left alone. It is used while a
	// bounced broker is treated as failed before being treated as started.
	FailuresOnly bool
}

func (in partitionPlanInput) shuttingDown(id int32) bool {
	return in.ShuttingDown != nil && in.ShuttingDown(id)
}

// eligible tells whether a broker may be elected leader.
func (in partitionPlanInput) eligible(id int32) bool {
	return in.Live(id) && !in.shuttingDown(id)
}

// elect runs the offline election, asking about unclean election only when no
// clean leader exists.
func (in partitionPlanInput) elect(current leaderAndISR) (result leaderAndISR, ok, uncleanUsed bool) {
	result, ok, _ = electOfflinePartition(in.Replicas, current, in.eligible, false)
	if ok || in.UncleanAllowed == nil || !in.UncleanAllowed() {
		return result, ok, false
	}
	return electOfflinePartition(in.Replicas, current, in.eligible, true)
}

// partitionPlan is the next write for one partition.
type partitionPlan struct {
	From, To zkpaths.PartitionStatus
	Next     zkpaths.PartitionState // meaningless when To is NonExistent
	Unclean  bool                   // the leader was elected uncleanly
}

func stateOf(s *zkpaths.PartitionState) zkpaths.PartitionStatus {
	if s == nil {
		return zkpaths.StateNonExistent
	}
	return s.State
}

// planPartition decides the next step of one partition of a live topic, or
// ok=false when there is nothing to do. Applying a plan and planning again walks
// a partition through several steps (NonExistent -> New -> Online).
func planPartition(in partitionPlanInput) (plan partitionPlan, ok bool, err error) {
	from := stateOf(in.Current)
	if in.Current != nil && in.Current.ControllerEpoch > in.ControllerEpoch {
		return partitionPlan{}, false, fmt.Errorf("%w (epoch %d, ours %d)", errStaleController, in.Current.ControllerEpoch, in.ControllerEpoch)
	}
	next := func(to zkpaths.PartitionStatus, l leaderAndISR) partitionPlan {
		return partitionPlan{From: from, To: to, Next: zkpaths.PartitionState{
			ControllerEpoch: in.ControllerEpoch,
			Leader:          l.Leader,
			LeaderEpoch:     l.LeaderEpoch,
			ISR:             l.ISR,
			State:           to,
		}}
	}

	switch from {
	case zkpaths.StateNonExistent:
		if in.FailuresOnly {
			return partitionPlan{}, false, nil
		}
		plan = next(zkpaths.StateNew, leaderAndISR{Leader: zkpaths.NoLeader, LeaderEpoch: -1, ISR: []int32{}})

	case zkpaths.StateNew:
		if in.FailuresOnly {
			return partitionPlan{}, false, nil
		}
		l, elected := electNewPartition(in.Replicas, in.eligible, in.Current.LeaderEpoch)
		if !elected {
			return partitionPlan{}, false, nil
		}
		plan = next(zkpaths.StateOnline, l)

	case zkpaths.StateOnline:
		current := leaderAndISR{Leader: in.Current.Leader, LeaderEpoch: in.Current.LeaderEpoch, ISR: in.Current.ISR}
		if leader := in.Current.Leader; leader >= 0 && in.Live(leader) {
			if in.shuttingDown(leader) {
				if l, elected := electControlledShutdown(in.Replicas, current, in.Live, in.shuttingDown); elected {
					plan = next(zkpaths.StateOnline, l)
					break
				}
			}
			// The ISR keeps its live members that are not shutting down, and
			// the leader in any case.
			keep := func(id int32) bool { return id == leader || in.eligible(id) }
			l, changed := shrinkISR(current, keep)
			if !changed {
				return partitionPlan{}, false, nil
			}
			plan = next(zkpaths.StateOnline, l)
			break
		}
		// The leader is gone: the partition goes Offline and, in the same
		// write, Online again if someone can lead it.
		if err := checkTransition(from, zkpaths.StateOffline); err != nil {
			return partitionPlan{}, false, err
		}
		l, elected, unclean := in.elect(current)
		if elected {
			plan = next(zkpaths.StateOnline, l)
			plan.Unclean = unclean
		} else {
			plan = next(zkpaths.StateOffline, l)
		}

	case zkpaths.StateOffline:
		if in.FailuresOnly {
			return partitionPlan{}, false, nil
		}
		current := leaderAndISR{Leader: in.Current.Leader, LeaderEpoch: in.Current.LeaderEpoch, ISR: in.Current.ISR}
		l, elected, unclean := in.elect(current)
		if !elected {
			// Still no one to lead: leave the znode as it is.
			return partitionPlan{}, false, nil
		}
		plan = next(zkpaths.StateOnline, l)
		plan.Unclean = unclean

	default:
		return partitionPlan{}, false, fmt.Errorf("unknown partition state %q", from)
	}

	if err := checkTransition(plan.From, plan.To); err != nil {
		return partitionPlan{}, false, err
	}
	return plan, true, nil
}

// planDeletion decides the next step of one partition of a topic being deleted:
// Offline first, then NonExistent. ok is false once there is no state znode.
func planDeletion(current *zkpaths.PartitionState, controllerEpoch int32) (plan partitionPlan, ok bool, err error) {
	from := stateOf(current)
	if from == zkpaths.StateNonExistent {
		return partitionPlan{}, false, nil
	}
	if current.ControllerEpoch > controllerEpoch {
		return partitionPlan{}, false, fmt.Errorf("%w (epoch %d, ours %d)", errStaleController, current.ControllerEpoch, controllerEpoch)
	}
	if from == zkpaths.StateOffline && current.Leader == zkpaths.NoLeader {
		plan = partitionPlan{From: from, To: zkpaths.StateNonExistent}
	} else {
		plan = partitionPlan{From: from, To: zkpaths.StateOffline, Next: zkpaths.PartitionState{
			ControllerEpoch: controllerEpoch,
			Leader:          zkpaths.NoLeader,
			LeaderEpoch:     current.LeaderEpoch + 1,
			ISR:             current.ISR,
			State:           zkpaths.StateOffline,
		}}
	}
	if err := checkTransition(plan.From, plan.To); err != nil {
		return partitionPlan{}, false, err
	}
	return plan, true, nil
}
