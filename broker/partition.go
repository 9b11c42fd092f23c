package broker

import (
	"context"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/coordinator"
)

// partition is one partition replica held by this broker: as leader it
// serves clients and tracks its followers; as follower one of the broker's
// fetchers copies the leader's log into it.
//
// Invariant: the high watermark (kept by the log) <= log end offset.
// Consumers read below the high watermark only.
type partition struct {
	tp  storage.TopicPartition
	log *storage.Log
	// cfg is the topic's config in effect; the metadata goroutine replaces it.
	cfg atomic.Pointer[config.Topic]

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
}

// followTarget names the leader a follower fetches from, at an epoch.
type followTarget struct {
	leader int32
	epoch  int32
}

func (p *partition) isLeader() bool { return p.leaderEpoch.Load() >= 0 }

// highWatermark is the offset below which consumers may read.
func (p *partition) highWatermark() int64 { return p.log.HighWatermark() }

// checkLeader returns the error a client gets for a partition request: none
// when we lead it at the epoch the client knows (clientEpoch -1 means the
// client does not say), NOT_LEADER_OR_FOLLOWER when we do not lead it, and
// the KIP-320 fencing errors when the client's epoch differs from ours.
func (p *partition) checkLeader(clientEpoch int32) error {
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

// append writes records as leader. The high watermark moves when the ISR
// has the records, which is at once only when the leader is alone in it.
func (p *partition) append(records []byte) (storage.AppendResult, error) {
	return p.appendAt(records, -1)
}

// appendAt is append at leader epoch want, or at the current one when want
// is -1: a writer that holds on to the epoch it was given (the group
// coordinator) is refused with NOT_LEADER_OR_FOLLOWER once it moved.
func (p *partition) appendAt(records []byte, want int32) (storage.AppendResult, error) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	epoch := p.leaderEpoch.Load()
	if epoch < 0 || (want >= 0 && epoch != want) {
		return storage.AppendResult{}, kerr.NotLeaderForPartition
	}
	res, err := p.log.AppendAsLeader(records, epoch)
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

// addWaiter registers ch to receive a non-blocking send when the high
// watermark moves; the registration is dropped after one wake-up.
func (p *partition) addWaiter(ch chan<- struct{}) {
	p.waitersMu.Lock()
	p.waiters = append(p.waiters, ch)
	p.waitersMu.Unlock()
}

func (p *partition) removeWaiter(ch chan<- struct{}) {
	p.waitersMu.Lock()
	defer p.waitersMu.Unlock()
	for i, w := range p.waiters {
		if w == ch {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return
		}
	}
}

func (p *partition) wakeWaiters() {
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

// partitionTable maps topic-partitions to the replicas this broker holds.
// Reads (every produce and fetch) load an immutable map without locking;
// the metadata goroutine replaces it copy-on-write.
type partitionTable struct {
	mu sync.Mutex // serializes writers
	m  atomic.Pointer[map[storage.TopicPartition]*partition]
}

func (t *partitionTable) init() {
	empty := map[storage.TopicPartition]*partition{}
	t.m.Store(&empty)
}

func (t *partitionTable) get(topic string, p int32) *partition {
	return (*t.m.Load())[storage.TopicPartition{Topic: topic, Partition: p}]
}

func (t *partitionTable) all() map[storage.TopicPartition]*partition { return *t.m.Load() }

func (t *partitionTable) update(fn func(m map[storage.TopicPartition]*partition)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	next := make(map[storage.TopicPartition]*partition, len(old))
	for k, v := range old {
		next[k] = v
	}
	fn(next)
	t.m.Store(&next)
}

func (t *partitionTable) closeAll() {
	t.update(func(m map[storage.TopicPartition]*partition) {
		for tp, p := range m {
			p.leaderEpoch.Store(-1)
			p.wakeWaiters()
			delete(m, tp)
		}
	})
}

// metadataRetryInterval is how soon the broker applies the cluster view
// again when part of applying it failed (a log that would not open, a
// deletion it could not confirm), even if nothing changes meanwhile.
const metadataRetryInterval = time.Second

// followMetadata applies every new cluster view until ctx is done, and
// applies the latest one again every metadataRetryInterval while applying
// it leaves work undone (pending says the first one did).
func (s *Server) followMetadata(ctx context.Context, pending bool) {
	retry := time.NewTimer(metadataRetryInterval)
	defer retry.Stop()
	if !pending {
		retry.Stop()
	}
	last := s.snapshot()
	for {
		select {
		case <-ctx.Done():
			return
		case snap, ok := <-s.meta.Changes():
			if !ok {
				return
			}
			last = snap
		case <-retry.C:
		}
		if s.applyMetadata(ctx, last) {
			retry.Stop()
		} else {
			retry.Reset(metadataRetryInterval)
		}
	}
}

// applyMetadata makes this broker's replicas match snap: it opens the logs
// of partitions assigned to it, leads those whose state znode names it
// leader while Online, stops leading the others, applies config changes,
// and removes the logs of partitions no longer assigned to it and of
// topics being deleted, confirming the deletion to the controller. It
// reports whether everything was applied; the caller retries otherwise.
func (s *Server) applyMetadata(ctx context.Context, snap *coordinator.Snapshot) bool {
	me := s.cfg.ID
	complete := true
	current := s.partitions.all()
	effective := s.effectiveConfig(snap)
	s.applyRuntime(effective.Values.Runtime())
	assigned := make(map[storage.TopicPartition]coordinator.Partition)
	for _, t := range snap.Topics {
		if t.Deleting {
			continue
		}
		for _, p := range t.Partitions {
			if slices.Contains(p.Replicas, me) || slices.Contains(p.AddingReplicas, me) {
				assigned[storage.TopicPartition{Topic: t.Name, Partition: p.Partition}] = p
			}
		}
	}

	// Open what is new outside the table lock: opening may recover a log.
	opened := make(map[storage.TopicPartition]*partition)
	for tp := range assigned {
		if _, ok := current[tp]; ok {
			continue
		}
		p, err := s.openPartition(tp, effective.ResolveTopic(snap.Topics[tp.Topic].Configs))
		if err != nil {
			s.log.WithError(err).WithField("topic", tp.Topic).WithField("partition", tp.Partition).Error("cannot open partition")
			complete = false
			continue
		}
		opened[tp] = p
	}

	var removed []*partition
	s.partitions.update(func(m map[storage.TopicPartition]*partition) {
		for tp, p := range opened {
			m[tp] = p
		}
		for tp, p := range m {
			st, ok := assigned[tp]
			if !ok {
				removed = append(removed, p)
				delete(m, tp)
				continue
			}
			s.setRole(p, st)
			s.updateConfig(p, effective.ResolveTopic(snap.Topics[tp.Topic].Configs))
		}
	})
	previous := s.applied.Swap(snap)
	s.forgetDeletedTopics(snap)
	s.forgetGroupOffsets(previous, snap)
	stray := make([]storage.TopicPartition, 0, len(removed))
	for _, p := range removed {
		s.setRole(p, coordinator.Partition{Leader: -1, State: "Offline"})
		p.wakeWaiters()
		stray = append(stray, p.tp)
	}
	// Logs on disk that were never opened in this run are ours to remove
	// too when their topic is being deleted or their partition moved away
	// (a broker that was down meanwhile). Those of topics absent from the
	// view are left alone: a deletion cannot finish without this broker's
	// confirmation, so such a log is not one it knows anything about.
	for _, tp := range s.logs.Existing() {
		if _, mine := assigned[tp]; !mine && snap.Topics[tp.Topic] != nil {
			stray = append(stray, tp)
		}
	}
	// Only now that nothing serves them, remove the logs that are no longer
	// ours, then confirm deletions to the controller.
	failed := s.removeLogs(snap, stray)
	if len(failed) > 0 {
		complete = false
	}
	if !s.confirmDeletions(ctx, snap, failed) {
		complete = false
	}
	s.health.update(s)
	return complete
}

// removeLogs removes the local logs of partitions this broker no longer
// holds: deleted topics' and those a reassignment moved away. It returns
// the topics of the logs it could not remove.
func (s *Server) removeLogs(snap *coordinator.Snapshot, stray []storage.TopicPartition) map[string]bool {
	failed := make(map[string]bool)
	for _, tp := range stray {
		reason := "topic deleted"
		if t := snap.Topics[tp.Topic]; t != nil && !t.Deleting {
			reason = "replica moved to other brokers"
		}
		log := s.log.WithField("topic", tp.Topic).WithField("partition", tp.Partition).WithField("reason", reason)
		if err := s.logs.Remove(tp); err != nil {
			log.WithError(err).Error("cannot remove partition log")
			failed[tp.Topic] = true
			continue
		}
		log.Info("removed partition log")
	}
	return failed
}

// confirmDeletions tells the controller that this broker has removed its
// replicas of every topic being deleted that still waits for it, except
// the topics whose logs it failed to remove.
func (s *Server) confirmDeletions(ctx context.Context, snap *coordinator.Snapshot, failed map[string]bool) bool {
	ok := true
	for topic, pending := range snap.PendingDeletion {
		if !slices.Contains(pending, s.cfg.ID) {
			continue
		}
		if failed[topic] {
			ok = false
			continue
		}
		confirmCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.meta.ConfirmReplicasDeleted(confirmCtx, topic)
		cancel()
		if err != nil {
			s.log.WithError(err).WithField("topic", topic).Warn("cannot confirm the deletion of local replicas")
			ok = false
			continue
		}
		s.log.WithField("topic", topic).Info("confirmed the deletion of local replicas")
	}
	return ok
}

// updateConfig applies a topic's config, when it changed, to p's log.
func (s *Server) updateConfig(p *partition, cfg config.Topic) {
	if maps.Equal(*p.cfg.Load(), cfg) {
		return
	}
	p.log.UpdateConfig(cfg.Storage())
	p.cfg.Store(&cfg)
	s.log.WithField("topic", p.tp.Topic).WithField("partition", p.tp.Partition).Info("applied a config change")
}

func (s *Server) openPartition(tp storage.TopicPartition, cfg config.Topic) (*partition, error) {
	l, err := s.logs.GetOrCreate(tp, cfg.Storage())
	if err != nil {
		return nil, err
	}
	p := &partition{tp: tp, log: l, following: followTarget{leader: -1, epoch: -1}, fencedEpoch: -1}
	p.cfg.Store(&cfg)
	p.leaderEpoch.Store(-1)
	return p, nil
}
