package coordinator

import (
	"fmt"
	"slices"
)

// The replica state machine. The controller keeps the state of each replica in
// memory (as Kafka does) and derives it again after a failover from what
// ZooKeeper shows: which brokers are live, and which confirmed the removal of
// their replicas of a topic being deleted. Everything here is pure.

// replicaState is the controller's view of one replica.
type replicaState int8

const (
	replicaNonExistent replicaState = iota
	replicaNew
	replicaOnline
	replicaOffline
	replicaDeletionStarted
	replicaDeletionSuccessful
	replicaDeletionIneligible
)

var replicaStateNames = [...]string{
	replicaNonExistent:        "NonExistent",
	replicaNew:                "New",
	replicaOnline:             "Online",
	replicaOffline:            "Offline",
	replicaDeletionStarted:    "DeletionStarted",
	replicaDeletionSuccessful: "DeletionSuccessful",
	replicaDeletionIneligible: "DeletionIneligible",
}

func (s replicaState) String() string {
	if s < 0 || int(s) >= len(replicaStateNames) {
		return fmt.Sprintf("replicaState(%d)", int8(s))
	}
	return replicaStateNames[s]
}

// validReplicaPrevious lists, for each target state, the states a replica may
// move to it from.
var validReplicaPrevious = map[replicaState][]replicaState{
	replicaNew:                {replicaNonExistent},
	replicaOnline:             {replicaNew, replicaOnline, replicaOffline, replicaDeletionIneligible},
	replicaOffline:            {replicaNew, replicaOnline, replicaOffline, replicaDeletionIneligible},
	replicaDeletionStarted:    {replicaOffline},
	replicaDeletionSuccessful: {replicaDeletionStarted},
	replicaDeletionIneligible: {replicaOffline, replicaDeletionStarted},
	replicaNonExistent:        {replicaDeletionSuccessful},
}

// checkReplicaTransition fails unless a replica may move from one state to the
// other.
func checkReplicaTransition(from, to replicaState) error {
	if !slices.Contains(validReplicaPrevious[to], from) {
		return fmt.Errorf("invalid replica state transition %s -> %s", from, to)
	}
	return nil
}

// initialReplicaState is the state a controller gives a replica it has not
// tracked yet (after its election, or when a topic appears): Online on a live
// broker, else DeletionIneligible when its topic is being deleted (Kafka's
// choice, which makes the deletion wait for the broker) and Offline otherwise.
func initialReplicaState(live, deleting bool) replicaState {
	switch {
	case live:
		return replicaOnline
	case deleting:
		return replicaDeletionIneligible
	default:
		return replicaOffline
	}
}

// deletionStep is the next state of a replica of a topic being deleted, given
// whether its broker is live and whether that broker confirmed the removal of
// its replicas of the topic; ok is false when the replica stays where it is.
//
// Every replica goes Offline first (its partition has no leader any more),
// then DeletionStarted: its broker is expected to remove the files. A
// confirmation makes it DeletionSuccessful. A replica whose broker is dead
// and has not confirmed is DeletionIneligible, which holds the topic's
// deletion back until the broker is back (or has confirmed), when it goes
// Offline and round again.
func deletionStep(current replicaState, live, confirmed bool) (next replicaState, ok bool) {
	switch current {
	case replicaNew, replicaOnline:
		return replicaOffline, true
	case replicaOffline:
		if live || confirmed {
			return replicaDeletionStarted, true
		}
		return replicaDeletionIneligible, true
	case replicaDeletionStarted:
		switch {
		case confirmed:
			return replicaDeletionSuccessful, true
		case !live:
			return replicaDeletionIneligible, true
		}
	case replicaDeletionIneligible:
		if live || confirmed {
			return replicaOffline, true
		}
	}
	return current, false
}

// advanceDeletion applies deletionStep until the replica settles, returning
// every state it passed through after current. Each step is a valid
// transition; an invalid one (a bug) is returned as an error.
func advanceDeletion(current replicaState, live, confirmed bool) ([]replicaState, error) {
	var path []replicaState
	// A replica settles within five steps (DeletionIneligible -> Offline ->
	// DeletionStarted -> DeletionSuccessful); the bound guards the loop.
	for range 8 {
		next, ok := deletionStep(current, live, confirmed)
		if !ok {
			return path, nil
		}
		if err := checkReplicaTransition(current, next); err != nil {
			return path, err
		}
		path = append(path, next)
		current = next
	}
	return path, fmt.Errorf("replica deletion did not settle: %v", path)
}
