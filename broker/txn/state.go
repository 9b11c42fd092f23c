package txn

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
)

// txnState is the state of a transactional id, numbered as Kafka numbers
// it in the status byte of __transaction_state values.
type txnState int8

const (
	stateEmpty             txnState = 0
	stateOngoing           txnState = 1
	statePrepareCommit     txnState = 2
	statePrepareAbort      txnState = 3
	stateCompleteCommit    txnState = 4
	stateCompleteAbort     txnState = 5
	stateDead              txnState = 6
	statePrepareEpochFence txnState = 7
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

// String is the state's name as DescribeTransactions and ListTransactions
// show it (Kafka's names).
func (s txnState) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("Unknown(%d)", int8(s))
	}
	return stateNames[s]
}

func (s txnState) valid() bool { return s >= 0 && int(s) < len(stateNames) }

// stateByName is the inverse of String, for ListTransactions' filters.
func stateByName(name string) (txnState, bool) {
	for i, n := range stateNames {
		if n == name {
			return txnState(i), true
		}
	}
	return 0, false
}

// validPrevious lists, for each state, the states it may be entered from:
// Kafka's transition table. Every prepared transition is checked against it.
var validPrevious = map[txnState][]txnState{
	stateEmpty:             {stateEmpty, stateCompleteCommit, stateCompleteAbort},
	stateOngoing:           {stateOngoing, stateEmpty, stateCompleteCommit, stateCompleteAbort},
	statePrepareCommit:     {stateOngoing},
	statePrepareAbort:      {stateOngoing, statePrepareEpochFence},
	stateCompleteCommit:    {statePrepareCommit},
	stateCompleteAbort:     {statePrepareAbort},
	stateDead:              {stateEmpty, stateCompleteCommit, stateCompleteAbort},
	statePrepareEpochFence: {stateOngoing},
}

func canTransition(from, to txnState) bool { return slices.Contains(validPrevious[to], from) }

// expirable reports whether an id in state s may expire (no transaction
// is open).
func (s txnState) expirable() bool {
	return s == stateEmpty || s == stateCompleteCommit || s == stateCompleteAbort
}

// Kafka's sentinels for "no producer id" and "no epoch".
const (
	noProducerID    int64 = -1
	noProducerEpoch int16 = -1
)

// epochExhausted reports whether epoch leaves no room for a client epoch
// and a fencing bump after it: as Kafka, a client never gets
// math.MaxInt16, so that the coordinator can always fence it by one.
func epochExhausted(epoch int16) bool { return epoch >= math.MaxInt16-1 }

// txnMeta is the coordinator's view of one transactional id: what its
// last record in __transaction_state says, plus what Kafka keeps in memory
// only (the previous producer id and epoch, for KIP-360 retries).
//
// Invariant: the fields other than pending change only in complete, once
// the record of the transition is in the log; pending is set while a
// transition's record is being written, and no other transition may be
// prepared meanwhile (requests get CONCURRENT_TRANSACTIONS).
type txnMeta struct {
	id                string
	producerID        int64
	lastProducerID    int64
	producerEpoch     int16
	lastProducerEpoch int16
	timeout           time.Duration
	state             txnState
	partitions        map[zkpaths.TopicPartition]struct{}
	// startTime is when the open transaction began (its first partition
	// was added); zero when none is open.
	startTime time.Time
	// lastUpdate is the time of the last transition, for expiration.
	lastUpdate time.Time

	pending *transit
}

// transit is a prepared transition: the whole metadata as it will be once
// the transition's record is written (Kafka's TxnTransitMetadata).
type transit struct {
	producerID        int64
	lastProducerID    int64
	producerEpoch     int16
	lastProducerEpoch int16
	timeout           time.Duration
	state             txnState
	partitions        map[zkpaths.TopicPartition]struct{}
	startTime         time.Time
	lastUpdate        time.Time
}

// newMeta is a transactional id seen for the first time, before its first
// record: Empty with no epoch yet, so that the first InitProducerID bumps
// the epoch to 0.
func newMeta(id string, producerID int64, timeout time.Duration, now time.Time) *txnMeta {
	return &txnMeta{
		id:                id,
		producerID:        producerID,
		lastProducerID:    noProducerID,
		producerEpoch:     noProducerEpoch,
		lastProducerEpoch: noProducerEpoch,
		timeout:           timeout,
		state:             stateEmpty,
		partitions:        map[zkpaths.TopicPartition]struct{}{},
		lastUpdate:        now,
	}
}

// errIllegalTransition is a coordinator bug: a transition the state table
// forbids. Callers check states first, so it is never a client's fault.
type errIllegalTransition struct{ from, to txnState }

func (e errIllegalTransition) Error() string {
	return fmt.Sprintf("illegal transaction state transition from %s to %s", e.from, e.to)
}

// base is a transit that changes nothing yet: the fields as they are.
func (m *txnMeta) base(now time.Time) transit {
	return transit{
		producerID: m.producerID,
		// As Kafka: every transition remembers the producer id it
		// leaves, so that a rotation's retry is recognized.
		lastProducerID:    m.producerID,
		producerEpoch:     m.producerEpoch,
		lastProducerEpoch: m.lastProducerEpoch,
		timeout:           m.timeout,
		state:             m.state,
		partitions:        maps.Clone(m.partitions),
		startTime:         m.startTime,
		lastUpdate:        now,
	}
}

// prepare records t as the pending transition after checking it against
// the state table; the metadata itself does not change.
func (m *txnMeta) prepare(t transit) (*transit, error) {
	if m.pending != nil {
		return nil, fmt.Errorf("transition to %s while one to %s is pending", t.state, m.pending.state)
	}
	if !canTransition(m.state, t.state) {
		return nil, errIllegalTransition{m.state, t.state}
	}
	m.pending = &t
	return m.pending, nil
}

// prepareEpochBump is InitProducerID on an id with no open transaction:
// Empty with the next epoch. expected is the epoch the client has
// (KIP-360, InitProducerID v3+), or nil. A retry of a bump already made
// (expected is the epoch before it) gets the current epoch again;
// any other epoch is fenced.
func (m *txnMeta) prepareEpochBump(timeout time.Duration, expected *int16, now time.Time) (t *transit, fenced bool, err error) {
	next := m.base(now)
	next.state = stateEmpty
	next.timeout = timeout
	next.partitions = map[zkpaths.TopicPartition]struct{}{}
	next.startTime = time.Time{}
	switch {
	case expected == nil:
		next.producerEpoch, next.lastProducerEpoch = m.producerEpoch+1, noProducerEpoch
	case m.producerEpoch == noProducerEpoch || *expected == m.producerEpoch:
		next.producerEpoch, next.lastProducerEpoch = m.producerEpoch+1, m.producerEpoch
	case *expected == m.lastProducerEpoch:
		// A retry of a bump the client never heard of: answer it again.
		next.producerEpoch, next.lastProducerEpoch = m.producerEpoch, m.lastProducerEpoch
	default:
		return nil, true, nil
	}
	if next.producerEpoch != m.producerEpoch && epochExhausted(m.producerEpoch) {
		return nil, false, fmt.Errorf("producer id %d has no epochs left", m.producerID)
	}
	t, err = m.prepare(next)
	return t, false, err
}

// prepareRotation is InitProducerID on an id whose epochs are exhausted: a
// new producer id at epoch 0. keepLastEpoch records the old epoch, so that
// a KIP-360 client's retry is recognized.
func (m *txnMeta) prepareRotation(producerID int64, timeout time.Duration, keepLastEpoch bool, now time.Time) (*transit, error) {
	next := m.base(now)
	next.state = stateEmpty
	next.producerID, next.lastProducerID = producerID, m.producerID
	next.producerEpoch, next.lastProducerEpoch = 0, noProducerEpoch
	if keepLastEpoch {
		next.lastProducerEpoch = m.producerEpoch
	}
	next.timeout = timeout
	next.partitions = map[zkpaths.TopicPartition]struct{}{}
	next.startTime = time.Time{}
	return m.prepare(next)
}

// prepareAddPartitions adds partitions to the transaction, opening it (and
// stamping its start) from Empty or Complete*.
func (m *txnMeta) prepareAddPartitions(add []zkpaths.TopicPartition, now time.Time) (*transit, error) {
	next := m.base(now)
	next.state = stateOngoing
	if m.state != stateOngoing {
		next.startTime = now
	}
	for _, tp := range add {
		next.partitions[tp] = struct{}{}
	}
	return m.prepare(next)
}

// prepareEnd is EndTxn from Ongoing: PrepareCommit or PrepareAbort.
func (m *txnMeta) prepareEnd(commit bool, now time.Time) (*transit, error) {
	next := m.base(now)
	next.state = statePrepareAbort
	if commit {
		next.state = statePrepareCommit
	}
	return m.prepare(next)
}

// prepareFenceAbort aborts the open transaction with the epoch bumped,
// fencing the producer that has it (a new InitProducerID, or a timeout).
// Kafka takes this in two steps, Ongoing to PrepareEpochFence (the epoch
// bumped in memory) then PrepareAbort written; here the two are one
// pending transition, so that a failed write leaves the epoch as it was
// and a later fence bumps from the same base (Kafka's hasFailedEpochFence
// flag exists only because its in-memory bump outlives a failed write).
func (m *txnMeta) prepareFenceAbort(now time.Time) (*transit, error) {
	if m.pending != nil {
		return nil, fmt.Errorf("fence while a transition to %s is pending", m.pending.state)
	}
	if !canTransition(m.state, statePrepareEpochFence) || !canTransition(statePrepareEpochFence, statePrepareAbort) {
		return nil, errIllegalTransition{m.state, statePrepareEpochFence}
	}
	if m.producerEpoch == math.MaxInt16 {
		return nil, fmt.Errorf("producer id %d cannot be fenced past epoch %d", m.producerID, m.producerEpoch)
	}
	next := m.base(now)
	next.state = statePrepareAbort
	next.producerEpoch = m.producerEpoch + 1
	next.lastProducerEpoch = noProducerEpoch
	m.pending = &next
	return m.pending, nil
}

// prepareComplete is the end of a transaction whose markers are written:
// CompleteCommit or CompleteAbort, no partitions.
func (m *txnMeta) prepareComplete(now time.Time) (*transit, error) {
	next := m.base(now)
	switch m.state {
	case statePrepareCommit:
		next.state = stateCompleteCommit
	case statePrepareAbort:
		next.state = stateCompleteAbort
	default:
		return nil, errIllegalTransition{m.state, stateCompleteCommit}
	}
	next.partitions = map[zkpaths.TopicPartition]struct{}{}
	return m.prepare(next)
}

// prepareDead is the expiration of an idle id; its record is a tombstone.
func (m *txnMeta) prepareDead(now time.Time) (*transit, error) {
	next := m.base(m.lastUpdate)
	next.state = stateDead
	next.partitions = map[zkpaths.TopicPartition]struct{}{}
	return m.prepare(next)
}

// complete applies the pending transition t once its record is written.
func (m *txnMeta) complete(t *transit) error {
	if m.pending != t {
		return fmt.Errorf("completing a transition to %s that is not the pending one", t.state)
	}
	m.pending = nil
	m.producerID, m.lastProducerID = t.producerID, t.lastProducerID
	m.producerEpoch, m.lastProducerEpoch = t.producerEpoch, t.lastProducerEpoch
	m.timeout = t.timeout
	m.state = t.state
	m.partitions = t.partitions
	m.startTime = t.startTime
	if t.lastUpdate.After(m.lastUpdate) {
		m.lastUpdate = t.lastUpdate
	}
	return nil
}

// abandon drops the pending transition t after its write failed: the
// metadata stays as it was.
func (m *txnMeta) abandon(t *transit) {
	if m.pending == t {
		m.pending = nil
	}
}

// sortedPartitions returns ps in topic, partition order.
func sortedPartitions(ps map[zkpaths.TopicPartition]struct{}) []zkpaths.TopicPartition {
	out := slices.Collect(maps.Keys(ps))
	slices.SortFunc(out, func(a, b zkpaths.TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition) - int(b.Partition)
	})
	return out
}
