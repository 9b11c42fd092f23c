package coordinator

import (
	"fmt"
	"maps"
	"slices"

	"github.com/kzoo/kzoo/zkpaths"
)

// The leader and ISR rules: who leads a partition, and who is in its ISR,
// after each kind of election the controller runs, and which ISR a leader may
// propose. Everything here is pure: the partition state machine
// (statemachine.go), the requested and automatic elections (election.go) and
// UpdateISR (isr.go) feed these rules what they read from ZooKeeper and write
// back what they return.

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

// electPreferred makes the preferred replica (the first assigned) the leader,
// keeping the ISR, if it is eligible (live and not shutting down) and in the
// ISR.
func electPreferred(replicas []int32, current leaderAndISR, eligible func(int32) bool) (leaderAndISR, error) {
	if len(replicas) == 0 {
		return current, ErrPreferredLeaderNotAvailable
	}
	preferred := replicas[0]
	switch {
	case current.Leader == preferred:
		return current, ErrElectionNotNeeded
	case !eligible(preferred) || !slices.Contains(current.ISR, preferred):
		return current, ErrPreferredLeaderNotAvailable
	}
	return leaderAndISR{Leader: preferred, LeaderEpoch: current.LeaderEpoch + 1, ISR: slices.Clone(current.ISR)}, nil
}

// electUnclean gives a partition without a live leader the first eligible
// replica in the ISR or, failing that, the first eligible replica at all.
func electUnclean(replicas []int32, current leaderAndISR, eligible func(int32) bool) (result leaderAndISR, uncleanUsed bool, err error) {
	if current.Leader >= 0 && eligible(current.Leader) {
		return current, false, ErrElectionNotNeeded
	}
	result, ok, uncleanUsed := electOfflinePartition(replicas, current, eligible, true)
	if !ok {
		return current, false, ErrEligibleLeadersNotAvailable
	}
	return result, uncleanUsed, nil
}

// electReassignedLeader chooses the leader of a partition being reassigned
// once every target replica is in the ISR: the current (eligible) leader if it
// is a target, else the first target replica in assignment order that is
// eligible and in the ISR. ok is false when there is none.
func electReassignedLeader(target []int32, current int32, isr []int32, eligible func(int32) bool) (leader int32, ok bool) {
	if slices.Contains(target, current) {
		return current, true
	}
	for _, r := range target {
		if eligible(r) && slices.Contains(isr, r) {
			return r, true
		}
	}
	return zkpaths.NoLeader, false
}

// rebalanceCandidate is what the imbalance check needs of one partition.
type rebalanceCandidate struct {
	tp       zkpaths.TopicPartition
	replicas []int32
	leader   int32
	isr      []int32
}

// imbalancedPartitions implements Kafka's auto rebalance check: for each
// broker, the share of the partitions it is the preferred replica of that it
// does not lead; when that share exceeds percentage, the partitions whose
// preferred replica can take over (eligible and in the ISR) are returned for a
// preferred election.
func imbalancedPartitions(partitions []rebalanceCandidate, eligible func(int32) bool, percentage int) []zkpaths.TopicPartition {
	preferredBy := make(map[int32][]rebalanceCandidate)
	for _, p := range partitions {
		if len(p.replicas) > 0 {
			preferredBy[p.replicas[0]] = append(preferredBy[p.replicas[0]], p)
		}
	}
	var out []zkpaths.TopicPartition
	for _, broker := range slices.Sorted(maps.Keys(preferredBy)) {
		prefers := preferredBy[broker]
		var notLed []rebalanceCandidate
		for _, p := range prefers {
			if p.leader != broker {
				notLed = append(notLed, p)
			}
		}
		// notLed/prefers > percentage/100, in integers.
		if len(notLed)*100 <= percentage*len(prefers) || !eligible(broker) {
			continue
		}
		for _, p := range notLed {
			if slices.Contains(p.isr, broker) {
				out = append(out, p.tp)
			}
		}
	}
	slices.SortFunc(out, zkpaths.TopicPartition.Compare)
	return out
}

// validateISR checks an ISR proposed by a partition's leader against the
// partition's replicas and, as KIP-841 requires, the live brokers: the leader
// is in it, and every member is a live replica, listed once.
func validateISR(leader int32, replicas, isr []int32, live func(int32) bool) error {
	if !slices.Contains(isr, leader) {
		return fmt.Errorf("%w: the leader %d is not in it", ErrInvalidISR, leader)
	}
	for i, id := range isr {
		switch {
		case slices.Contains(isr[:i], id):
			return fmt.Errorf("%w: broker %d is listed twice", ErrInvalidISR, id)
		case !slices.Contains(replicas, id):
			return fmt.Errorf("%w: broker %d is not a replica", ErrInvalidISR, id)
		case !live(id):
			return fmt.Errorf("%w: broker %d is not live", ErrInvalidISR, id)
		}
	}
	return nil
}
