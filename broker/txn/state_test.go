package txn

import (
	"math"
	"testing"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
)

// Every pair of states against Kafka's transition table.
func TestTransitionTable(t *testing.T) {
	legal := map[[2]txnState]bool{}
	for to, froms := range map[txnState][]txnState{
		stateEmpty:             {stateEmpty, stateCompleteCommit, stateCompleteAbort},
		stateOngoing:           {stateOngoing, stateEmpty, stateCompleteCommit, stateCompleteAbort},
		statePrepareCommit:     {stateOngoing},
		statePrepareAbort:      {stateOngoing, statePrepareEpochFence},
		stateCompleteCommit:    {statePrepareCommit},
		stateCompleteAbort:     {statePrepareAbort},
		stateDead:              {stateEmpty, stateCompleteCommit, stateCompleteAbort},
		statePrepareEpochFence: {stateOngoing},
	} {
		for _, from := range froms {
			legal[[2]txnState{from, to}] = true
		}
	}
	for from := stateEmpty; from <= statePrepareEpochFence; from++ {
		for to := stateEmpty; to <= statePrepareEpochFence; to++ {
			if got := canTransition(from, to); got != legal[[2]txnState{from, to}] {
				t.Errorf("%s -> %s: allowed %v", from, to, got)
			}
		}
	}
}

func metaIn(st txnState, epoch int16) *txnMeta {
	m := newMeta("id", 7, time.Minute, time.UnixMilli(0))
	m.state, m.producerEpoch = st, epoch
	if st == stateOngoing || st == statePrepareCommit || st == statePrepareAbort {
		m.partitions[tp("a", 0)] = struct{}{}
		m.startTime = time.UnixMilli(10)
	}
	return m
}

// Each prepare from each state: refused where the table forbids it, and
// the metadata unchanged until complete.
func TestPrepareFromEveryState(t *testing.T) {
	now := time.UnixMilli(1000)
	ops := map[string]struct {
		to      txnState
		prepare func(m *txnMeta) (*transit, error)
	}{
		"bump": {stateEmpty, func(m *txnMeta) (*transit, error) {
			t, _, err := m.prepareEpochBump(time.Minute, nil, now)
			return t, err
		}},
		"add":       {stateOngoing, func(m *txnMeta) (*transit, error) { return m.prepareAddPartitions(nil, now) }},
		"commit":    {statePrepareCommit, func(m *txnMeta) (*transit, error) { return m.prepareEnd(true, now) }},
		"abort":     {statePrepareAbort, func(m *txnMeta) (*transit, error) { return m.prepareEnd(false, now) }},
		"fence":     {statePrepareEpochFence, func(m *txnMeta) (*transit, error) { return m.prepareFenceAbort(now) }},
		"complete":  {-1, func(m *txnMeta) (*transit, error) { return m.prepareComplete(now) }},
		"dead":      {stateDead, func(m *txnMeta) (*transit, error) { return m.prepareDead(now) }},
		"rotateTo9": {stateEmpty, func(m *txnMeta) (*transit, error) { return m.prepareRotation(9, time.Minute, false, now) }},
	}
	for from := stateEmpty; from <= stateCompleteAbort; from++ {
		for name, op := range ops {
			m := metaIn(from, 3)
			before := *m
			tr, err := op.prepare(m)
			want := op.to >= 0 && canTransition(from, op.to) ||
				op.to < 0 && (from == statePrepareCommit || from == statePrepareAbort)
			if (err == nil) != want {
				t.Errorf("%s from %s: err %v, want allowed %v", name, from, err, want)
				continue
			}
			if err != nil {
				if m.pending != nil {
					t.Errorf("%s from %s: refused but pending set", name, from)
				}
				continue
			}
			if m.state != before.state || m.producerEpoch != before.producerEpoch || m.pending != tr {
				t.Errorf("%s from %s: metadata changed before complete", name, from)
			}
			if _, err := op.prepare(m); err == nil {
				t.Errorf("%s from %s: a second transition prepared while one is pending", name, from)
			}
			if err := m.complete(tr); err != nil {
				t.Fatal(err)
			}
			if m.state != tr.state || m.producerEpoch != tr.producerEpoch || m.pending != nil {
				t.Errorf("%s from %s: complete gave %s epoch %d", name, from, m.state, m.producerEpoch)
			}
		}
	}
}

func TestPrepareEffects(t *testing.T) {
	now := time.UnixMilli(5000)
	m := metaIn(stateOngoing, 3)
	tr, _ := m.prepareFenceAbort(now)
	if tr.state != statePrepareAbort || tr.producerEpoch != 4 || len(tr.partitions) != 1 {
		t.Errorf("fence: %+v", tr)
	}

	m = metaIn(stateCompleteCommit, 3)
	tr, _ = m.prepareAddPartitions([]zkpaths.TopicPartition{tp("b", 1)}, now)
	if !tr.startTime.Equal(now) || tr.state != stateOngoing {
		t.Errorf("add from CompleteCommit: start %v", tr.startTime)
	}
	m = metaIn(stateOngoing, 3)
	tr, _ = m.prepareAddPartitions([]zkpaths.TopicPartition{tp("b", 1)}, now)
	if !tr.startTime.Equal(time.UnixMilli(10)) || len(tr.partitions) != 2 {
		t.Errorf("add to Ongoing: start %v, partitions %v", tr.startTime, tr.partitions)
	}

	m = metaIn(statePrepareCommit, 3)
	tr, _ = m.prepareComplete(now)
	if tr.state != stateCompleteCommit || len(tr.partitions) != 0 {
		t.Errorf("complete: %+v", tr)
	}

	// Exhausted epochs are not bumped; the fence bump may reach MaxInt16.
	m = metaIn(stateEmpty, math.MaxInt16-1)
	if _, _, err := m.prepareEpochBump(time.Minute, nil, now); err == nil {
		t.Error("bumped an exhausted epoch")
	}
	m = metaIn(stateOngoing, math.MaxInt16-1)
	if tr, err := m.prepareFenceAbort(now); err != nil || tr.producerEpoch != math.MaxInt16 {
		t.Errorf("fence at %d: %v", m.producerEpoch, err)
	}
}

func TestEpochBumpKIP360(t *testing.T) {
	now := time.UnixMilli(0)
	epoch := func(e int16) *int16 { return &e }
	cases := []struct {
		name                string
		current, last       int16
		expected            *int16
		wantEpoch, wantLast int16
		fenced              bool
	}{
		{"no expected epoch", 3, -1, nil, 4, -1, false},
		{"expected is current", 3, -1, epoch(3), 4, 3, false},
		{"retry of a bump", 4, 3, epoch(3), 4, 3, false},
		{"stale epoch", 4, 3, epoch(1), 0, 0, true},
		{"new id", -1, -1, epoch(5), 0, -1, false},
	}
	for _, c := range cases {
		m := metaIn(stateEmpty, c.current)
		m.lastProducerEpoch = c.last
		tr, fenced, err := m.prepareEpochBump(time.Minute, c.expected, now)
		if err != nil || fenced != c.fenced {
			t.Errorf("%s: fenced %v, err %v", c.name, fenced, err)
			continue
		}
		if !fenced && (tr.producerEpoch != c.wantEpoch || tr.lastProducerEpoch != c.wantLast) {
			t.Errorf("%s: epoch %d last %d, want %d %d", c.name, tr.producerEpoch, tr.lastProducerEpoch, c.wantEpoch, c.wantLast)
		}
	}
}
