package coordinator

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kzoo/kzoo/zkpaths"
)

// The partition state machine and the leader election rules. Everything here is
// pure: the controller feeds it what it read from ZooKeeper and writes back what
// it returns.

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

// leaderAndISR is what an election decides.
type leaderAndISR struct {
	Leader      int32
	LeaderEpoch int32
	ISR         []int32
}

// electNewPartition chooses the first leader of a partition: its first live
// replica in assignment order, with every live replica in the ISR. ok is false
// when no replica is live.
func electNewPartition(replicas []int32, live func(int32) bool, currentEpoch int32) (result leaderAndISR, ok bool) {
	var isr []int32
	for _, r := range replicas {
		if live(r) && !slices.Contains(isr, r) {
			isr = append(isr, r)
		}
	}
	if len(isr) == 0 {
		return leaderAndISR{}, false
	}
	return leaderAndISR{Leader: isr[0], LeaderEpoch: currentEpoch + 1, ISR: isr}, true
}

// electOfflinePartition elects a leader for a partition whose leader is gone or
// that has none. The leader is the first replica in assignment order that is live
// and in the ISR, and the ISR becomes its live members. When no such replica
// exists and unclean election is allowed, the first live replica leads alone
// (uncleanUsed is true). Otherwise ok is false and the result has no leader and
// keeps the ISR as it is: an ISR is never emptied, so that the replicas holding
// every committed record stay known. The leader epoch always increases.
func electOfflinePartition(replicas []int32, current leaderAndISR, live func(int32) bool, uncleanAllowed bool) (result leaderAndISR, ok, uncleanUsed bool) {
	epoch := current.LeaderEpoch + 1
	for _, r := range replicas {
		if live(r) && slices.Contains(current.ISR, r) {
			isr := make([]int32, 0, len(current.ISR))
			for _, m := range current.ISR {
				if live(m) && slices.Contains(replicas, m) && !slices.Contains(isr, m) {
					isr = append(isr, m)
				}
			}
			return leaderAndISR{Leader: r, LeaderEpoch: epoch, ISR: isr}, true, false
		}
	}
	if uncleanAllowed {
		for _, r := range replicas {
			if live(r) {
				return leaderAndISR{Leader: r, LeaderEpoch: epoch, ISR: []int32{r}}, true, true
			}
		}
	}
	return leaderAndISR{Leader: zkpaths.NoLeader, LeaderEpoch: epoch, ISR: slices.Clone(current.ISR)}, false, false
}

// shrinkISR drops the members that are not live from the ISR of a partition
// whose leader is live. changed is false when there is nothing to drop, or when
// dropping would empty the ISR.
func shrinkISR(current leaderAndISR, live func(int32) bool) (result leaderAndISR, changed bool) {
	isr := make([]int32, 0, len(current.ISR))
	for _, m := range current.ISR {
		if live(m) {
			isr = append(isr, m)
		}
	}
	if len(isr) == len(current.ISR) || len(isr) == 0 {
		return current, false
	}
	return leaderAndISR{Leader: current.Leader, LeaderEpoch: current.LeaderEpoch + 1, ISR: isr}, true
}

// electControlledShutdown moves the leadership of a partition away from a
// broker that is shutting down: the new leader is the first replica in
// assignment order that is live, in the ISR and not shutting down, and the ISR
// loses the brokers shutting down (it keeps the new leader, so it is never
// emptied). ok is false when no replica can take over; the partition then
// keeps its leader until the broker is gone.
func electControlledShutdown(replicas []int32, current leaderAndISR, live, shuttingDown func(int32) bool) (result leaderAndISR, ok bool) {
	eligible := func(id int32) bool { return live(id) && !shuttingDown(id) }
	for _, r := range replicas {
		if !eligible(r) || !slices.Contains(current.ISR, r) {
			continue
		}
		isr := make([]int32, 0, len(current.ISR))
		for _, m := range current.ISR {
			if eligible(m) && !slices.Contains(isr, m) {
				isr = append(isr, m)
			}
		}
		return leaderAndISR{Leader: r, LeaderEpoch: current.LeaderEpoch + 1, ISR: isr}, true
	}
	return current, false
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
