package coordinator

import (
	"reflect"
	"testing"
)

var allReplicaStates = []replicaState{
	replicaNonExistent, replicaNew, replicaOnline, replicaOffline,
	replicaDeletionStarted, replicaDeletionSuccessful, replicaDeletionIneligible,
}

func TestCheckReplicaTransitionExhaustive(t *testing.T) {
	valid := map[[2]replicaState]bool{
		{replicaNonExistent, replicaNew}: true,

		{replicaNew, replicaOnline}:                true,
		{replicaOnline, replicaOnline}:             true,
		{replicaOffline, replicaOnline}:            true,
		{replicaDeletionIneligible, replicaOnline}: true,

		{replicaNew, replicaOffline}:                true,
		{replicaOnline, replicaOffline}:             true,
		{replicaOffline, replicaOffline}:            true,
		{replicaDeletionIneligible, replicaOffline}: true,

		{replicaOffline, replicaDeletionStarted}:            true,
		{replicaDeletionStarted, replicaDeletionSuccessful}: true,
		{replicaOffline, replicaDeletionIneligible}:         true,
		{replicaDeletionStarted, replicaDeletionIneligible}: true,
		{replicaDeletionSuccessful, replicaNonExistent}:     true,
	}
	states := append(allReplicaStates, replicaState(-1), replicaState(42))
	for _, from := range states {
		for _, to := range states {
			err := checkReplicaTransition(from, to)
			if want := valid[[2]replicaState{from, to}]; (err == nil) != want {
				t.Errorf("checkReplicaTransition(%s, %s) = %v, want valid=%v", from, to, err, want)
			}
		}
	}
}

func TestReplicaStateString(t *testing.T) {
	if got := replicaDeletionIneligible.String(); got != "DeletionIneligible" {
		t.Errorf("String = %q", got)
	}
	if got := replicaState(42).String(); got != "replicaState(42)" {
		t.Errorf("String of an unknown state = %q", got)
	}
}

func TestInitialReplicaState(t *testing.T) {
	for _, tt := range []struct {
		live, deleting bool
		want           replicaState
	}{
		{true, false, replicaOnline},
		{true, true, replicaOnline},
		{false, false, replicaOffline},
		{false, true, replicaDeletionIneligible},
	} {
		if got := initialReplicaState(tt.live, tt.deleting); got != tt.want {
			t.Errorf("initialReplicaState(live=%v, deleting=%v) = %s, want %s", tt.live, tt.deleting, got, tt.want)
		}
	}
}

func TestAdvanceDeletion(t *testing.T) {
	S := func(states ...replicaState) []replicaState { return states }
	tests := []struct {
		from            replicaState
		live, confirmed bool
		want            []replicaState
	}{
		// A live broker's replica is started and waits for the confirmation.
		{replicaOnline, true, false, S(replicaOffline, replicaDeletionStarted)},
		{replicaDeletionStarted, true, false, nil},
		{replicaDeletionStarted, true, true, S(replicaDeletionSuccessful)},
		{replicaOnline, true, true, S(replicaOffline, replicaDeletionStarted, replicaDeletionSuccessful)},
		{replicaNew, true, false, S(replicaOffline, replicaDeletionStarted)},
		// A dead broker's replica makes the deletion wait.
		{replicaOnline, false, false, S(replicaOffline, replicaDeletionIneligible)},
		{replicaOffline, false, false, S(replicaDeletionIneligible)},
		{replicaDeletionStarted, false, false, S(replicaDeletionIneligible)},
		{replicaDeletionIneligible, false, false, nil},
		// ... until it is back, or its removal was confirmed before it died.
		{replicaDeletionIneligible, true, false, S(replicaOffline, replicaDeletionStarted)},
		{replicaDeletionIneligible, true, true, S(replicaOffline, replicaDeletionStarted, replicaDeletionSuccessful)},
		{replicaDeletionIneligible, false, true, S(replicaOffline, replicaDeletionStarted, replicaDeletionSuccessful)},
		{replicaDeletionStarted, false, true, S(replicaDeletionSuccessful)},
		// Done, or not part of a deletion.
		{replicaDeletionSuccessful, true, true, nil},
		{replicaDeletionSuccessful, false, false, nil},
		{replicaNonExistent, true, true, nil},
	}
	for _, tt := range tests {
		got, err := advanceDeletion(tt.from, tt.live, tt.confirmed)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("advanceDeletion(%s, live=%v, confirmed=%v) = %v, %v; want %v", tt.from, tt.live, tt.confirmed, got, err, tt.want)
		}
	}
}
