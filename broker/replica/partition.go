package replica

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/zkpaths"
)

// Partition is one partition replica held by this broker: as leader it
// serves clients and tracks its followers; as follower one of the manager's
// fetchers copies the leader's log into it.
//
// Invariant: the high watermark (kept by the log) <= log end offset.
// Consumers read below the high watermark only.
type Partition struct {
	tp  zkpaths.TopicPartition
	log *storage.Log
	// cfg is the topic's config in effect; the metadata goroutine replaces it.
	cfg atomic.Pointer[config.Topic]
	// throttled holds the sides (throttledAsLeader, throttledAsFollower) on
	// which the topic's throttled replicas lists name this replica; the
	// metadata goroutine sets it with cfg. One atomic load tells a read or
	// a fetch that no replication quota applies.
	throttled atomic.Uint32
	// followerInISR is whether this broker is in the partition's ISR as the
	// cluster view has it: a follower in it is never held back by the
	// follower quota.
	followerInISR atomic.Bool

	// leaderEpoch is the epoch of the state znode we lead at; -1 when this
	// broker is not the leader.
	leaderEpoch atomic.Int32

	// appendMu serializes every change of the log's contents (leader
	// appends, follower appends and truncations) with role changes, so a
	// fetcher never writes into a partition this broker has started to
	// lead, and a leader's epoch is recorded before its first append.
	appendMu sync.Mutex

	// mu guards the replication state. Lock order: appendMu, then mu.
	mu sync.Mutex
	// leader holds the leader-side state while leaderEpoch >= 0.
	leader *leaderState
	// following is the leader and epoch this replica fetches from (leader
	// -1: none).
	following followTarget
	// fencedEpoch is the highest leader epoch at which an ISR write found
	// us replaced: we do not lead at it again, whatever a stale view says.
	fencedEpoch int32

	waitersMu sync.Mutex
	waiters   []chan<- struct{}

	// isrChecks is the manager's queue of partitions whose followers may
	// join the ISR (nil for a partition outside a manager's table);
	// isrQueued is set while p is in it.
	isrChecks *isrCheckQueue
	isrQueued atomic.Bool
}

// followTarget names the leader a follower fetches from, at an epoch.
type followTarget struct {
	leader int32
	epoch  int32
}

// noTarget is the followTarget of a replica that fetches from nobody.
var noTarget = followTarget{leader: -1, epoch: -1}

// newPartition returns a replica of tp over log that neither leads nor
// follows yet.
func newPartition(tp zkpaths.TopicPartition, log *storage.Log, cfg config.Topic) *Partition {
	p := &Partition{tp: tp, log: log, following: noTarget, fencedEpoch: -1}
	p.cfg.Store(&cfg)
	p.leaderEpoch.Store(-1)
	return p
}

// TopicPartition names the partition.
func (p *Partition) TopicPartition() zkpaths.TopicPartition { return p.tp }

// Log is the partition's local log. Its contents change only through the
// manager; readers (ListOffsets, OffsetsForLeaderEpoch, DescribeLogDirs)
// may query it.
func (p *Partition) Log() *storage.Log { return p.log }

// Config is the topic config in effect.
func (p *Partition) Config() config.Topic { return *p.cfg.Load() }

// IsLeader reports whether this broker leads the partition.
func (p *Partition) IsLeader() bool { return p.leaderEpoch.Load() >= 0 }

// LeaderEpoch is the epoch this broker leads the partition at, -1 when it
// does not lead it.
func (p *Partition) LeaderEpoch() int32 { return p.leaderEpoch.Load() }

// HighWatermark is the offset below which consumers may read.
func (p *Partition) HighWatermark() int64 { return p.log.HighWatermark() }

// LastStableOffset is the offset below which every transaction of the
// partition is decided and replicated: what read_committed consumers read up
// to. It moves with the high watermark (and as markers pass it), so waiters
// on the partition wake when it moves.
func (p *Partition) LastStableOffset() int64 { return p.log.LastStableOffset() }

// CheckOffsetsAvailable returns OFFSET_NOT_AVAILABLE while this replica
// leads with a high watermark below the start of its leader epoch. A new
// leader learns the true high watermark from its followers' fetches; until
// then its own may be older than records already acknowledged, and a
// client asking for the end of the log would be sent back in time (Kafka
// answers the same, for the same reason). The client retries.
func (p *Partition) CheckOffsetsAvailable() error {
	p.mu.Lock()
	epochStart := int64(-1)
	if p.leader != nil {
		epochStart = p.leader.epochStartOffset
	}
	p.mu.Unlock()
	if epochStart > p.log.HighWatermark() {
		return kerr.OffsetNotAvailable
	}
	return nil
}

// CheckLeader returns the error a client gets for a partition request: none
// when we lead it at the epoch the client knows (clientEpoch -1 means the
// client does not say), NOT_LEADER_OR_FOLLOWER when we do not lead it, and
// the KIP-320 fencing errors when the client's epoch differs from ours.
func (p *Partition) CheckLeader(clientEpoch int32) error {
	epoch := p.leaderEpoch.Load()
	switch {
	case epoch < 0:
		return kerr.NotLeaderForPartition
	case clientEpoch < 0 || clientEpoch == epoch:
		return nil
	case clientEpoch < epoch:
		return kerr.FencedLeaderEpoch
	default:
		return kerr.UnknownLeaderEpoch
	}
}

// appendAt writes records as leader at leader epoch want, or at the current
// one when want is -1: a writer that holds on to the epoch it was given (the
// group coordinator) is refused with NOT_LEADER_OR_FOLLOWER once it moved.
// The high watermark moves when the ISR has the records, which is at once
// only when the leader is alone in it.
func (p *Partition) appendAt(records []byte, want int32, origin storage.AppendOrigin) (storage.AppendResult, error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	epoch := p.leaderEpoch.Load()
	if epoch < 0 || (want >= 0 && epoch != want) {
		return storage.AppendResult{}, kerr.NotLeaderForPartition
	}
	res, err := p.log.AppendAsLeader(records, epoch, origin)
	if err != nil {
		return res, err
	}
	if !res.Duplicate {
		p.mu.Lock()
		p.advanceHighWatermarkLocked()
		p.mu.Unlock()
		// Followers long-polling for new records wake too.
		p.wakeWaiters()
	}
	return res, nil
}

// Watch registers ch to receive a non-blocking send when the partition
// changes in a way a waiting request may care about: its high watermark
// moves, it is appended to, its leadership changes, its log start moves by
// DeleteRecords, or a follower's log start moves. A waiting Fetch that no
// wake-up reached answers what it read before it waited. The registration is dropped after one wake-up; Unwatch
// drops it before.
func (p *Partition) Watch(ch chan<- struct{}) {
	p.waitersMu.Lock()
	p.waiters = append(p.waiters, ch)
	p.waitersMu.Unlock()
}

// Unwatch drops a registration of Watch, if it is still there.
func (p *Partition) Unwatch(ch chan<- struct{}) {
	p.waitersMu.Lock()
	defer p.waitersMu.Unlock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return
		}
	}
}

func (p *Partition) wakeWaiters() {
	p.waitersMu.Lock()
	waiters := p.waiters
	p.waiters = nil
	p.waitersMu.Unlock()
	for _, w := range waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// DeleteRecords moves the leader's log start offset up to offset (-1: the
// high watermark), as Kafka's Partition.deleteRecordsOnLeader, and returns
// the offset it moved it to. An offset at or below the current start
// changes nothing; one past the high watermark is OFFSET_OUT_OF_RANGE; a
// topic whose cleanup.policy lacks delete refuses with POLICY_VIOLATION, as
// its records go only through compaction.
func (p *Partition) DeleteRecords(offset int64) (int64, error) {
	// Serialized with appends and role changes: the start moves on the
	// leader only.
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	if !p.IsLeader() {
		return -1, kerr.NotLeaderForPartition
	}
	if !p.cfg.Load().Storage().Delete {
		return -1, fmt.Errorf("records of %s cannot be deleted: its cleanup.policy lacks delete: %w", p.tp, kerr.PolicyViolation)
	}
	if offset == -1 {
		offset = p.HighWatermark()
	}
	if offset < 0 {
		return -1, fmt.Errorf("offset %d is not valid: %w", offset, kerr.OffsetOutOfRange)
	}
	if _, err := p.log.AdvanceLogStartOffset(offset); err != nil {
		return -1, err
	}
	// Followers long-polling learn the new start at once (it is news for
	// their fetch sessions), which the DeleteRecords waits for.
	p.wakeWaiters()
	return offset, nil
}

// LowWatermark is the smallest log start offset over this leader and its
// live followers (live says which are): every replica that may serve the
// partition has deleted the records below it. A live follower that has not
// fetched from this leader yet counts as -1, as in Kafka.
func (p *Partition) LowWatermark(live func(int32) bool) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.leader
	if l == nil {
		return -1, kerr.NotLeaderForPartition
	}
	lw := p.log.LogStartOffset()
	for _, id := range l.replicas {
		if id == l.self || !live(id) {
			continue
		}
		f := l.followers[id]
		if f == nil {
			return -1, nil
		}
		lw = min(lw, f.LogStartOffset)
	}
	return lw, nil
}

// underReplicatedLocked reports whether this broker leads p with an ISR
// smaller than its replica set. p.mu is held.
func (p *Partition) underReplicatedLocked() bool {
	l := p.leader
	return l != nil && len(l.isr) < len(l.replicas)
}
