package broker

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/coordinator"
)

// leaderState is what a partition's leader knows of its replication.
type leaderState struct {
	self     int32 // this broker
	epoch    int32
	replicas []int32
	// isr is the ISR as last written at partitionEpoch (the state znode's
	// version); pending is the one being written, nil when none. Until a
	// write lands, the high watermark is computed over their union (the
	// maximal ISR): a member being removed still counts, one being added
	// already does.
	isr            []int32
	pending        []int32
	partitionEpoch int32
	// epochStartOffset is where this leader's epoch begins: a follower
	// joins the ISR only once it has everything before it (KAFKA-7128).
	epochStartOffset int64
	followers        map[int32]*replica.Follower
}

// maximalISR is the ISR the high watermark is computed over.
func (l *leaderState) maximalISR() []int32 {
	out := slices.Clone(l.isr)
	for _, id := range l.pending {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// effectiveISR is the smaller of the written and pending ISR: what
// min.insync.replicas is checked against.
func (l *leaderState) effectiveISR() []int32 {
	if l.pending != nil && len(l.pending) < len(l.isr) {
		return l.pending
	}
	return l.isr
}

// minISR is the partition's min.insync.replicas.
func (p *partition) minISR() int { return p.cfg.Load().MinInsyncReplicas() }

// advanceHighWatermarkLocked moves the leader's high watermark to the
// smallest log end offset over the ISR, if that is further. p.mu must be
// held.
func (p *partition) advanceHighWatermarkLocked() bool {
	l := p.leader
	if l == nil {
		return false
	}
	current := p.log.HighWatermark()
	hw := replica.HighWatermark(current, p.log.LogEndOffset(), l.self, l.maximalISR(), l.followers, p.minISR())
	if len(l.effectiveISR()) < p.minISR() {
		hw = current
	}
	if hw <= current {
		return false
	}
	p.log.SetHighWatermark(hw)
	return true
}

// isrSize is the size of the ISR while we lead (0 otherwise).
func (p *partition) isrSize() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader == nil {
		return 0
	}
	return len(p.leader.effectiveISR())
}

// recordFollowerFetch updates the leader's view of follower after its fetch
// from fetchOffset with its log start offset logStart, advances the high
// watermark, and reports whether the follower may now join the ISR.
func (p *partition) recordFollowerFetch(follower int32, fetchOffset, logStart int64, now time.Time) (canJoin bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.leader
	if l == nil || !slices.Contains(l.replicas, follower) {
		return false
	}
	f := l.followers[follower]
	if f == nil {
		f = replica.NewFollower(false, now)
		l.followers[follower] = f
	}
	f.RecordFetch(fetchOffset, p.log.LogEndOffset(), now)
	startMoved := logStart != f.LogStartOffset
	f.LogStartOffset = logStart
	// A moved follower start may complete a DeleteRecords waiting on the
	// low watermark.
	if p.advanceHighWatermarkLocked() || startMoved {
		defer p.wakeWaiters()
	}
	return !slices.Contains(l.isr, follower) && replica.CanJoinISR(f, p.log.HighWatermark(), l.epochStartOffset)
}

// setRole applies the state znode st to p: leader at its epoch when it
// names us leader of an Online partition, follower of its leader when it
// names another, neither otherwise. The caller holds no partition lock.
func (s *Server) setRole(p *partition, st coordinator.Partition) {
	me := s.cfg.ID
	online := st.State == "Online" && st.Leader >= 0
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()

	switch {
	case online && st.Leader == me && st.LeaderEpoch > p.fencedEpoch:
		if l := p.leader; l != nil && l.epoch == st.LeaderEpoch {
			// Same leadership: adopt what others wrote since (the
			// controller removing a dead broker from the ISR).
			if st.PartitionEpoch > l.partitionEpoch && l.pending == nil {
				l.isr, l.partitionEpoch = slices.Clone(st.ISR), st.PartitionEpoch
			}
			l.replicas = slices.Clone(st.Replicas)
			return
		}
		s.becomeLeaderLocked(p, st)
	case online && st.Leader != me:
		s.resignLocked(p)
		target := followTarget{leader: st.Leader, epoch: st.LeaderEpoch}
		if p.following != target {
			p.following = target
			s.fetchers.add(p, target)
			s.partitionLog(p).WithFields(logrus.Fields{"leader": st.Leader, "leader_epoch": st.LeaderEpoch}).Info("following leader")
		}
	default:
		s.resignLocked(p)
		if p.following.leader >= 0 {
			p.following = followTarget{leader: -1, epoch: -1}
			s.fetchers.remove(p)
		}
	}
}

// becomeLeaderLocked makes p leader at st's epoch. The epoch's start is
// recorded in the log before any append at it (KAFKA-7415). The high
// watermark stays what this replica knew: records beyond it are kept but
// become visible only once the ISR has them. appendMu and mu are held.
func (s *Server) becomeLeaderLocked(p *partition, st coordinator.Partition) {
	if p.following.leader >= 0 {
		p.following = followTarget{leader: -1, epoch: -1}
		s.fetchers.remove(p)
	}
	leo := p.log.LogEndOffset()
	if err := p.log.AssignEpochStartOffset(st.LeaderEpoch, leo); err != nil {
		s.partitionLog(p).WithError(err).WithField("leader_epoch", st.LeaderEpoch).Error("cannot start leading")
		s.resignLocked(p)
		return
	}
	now := time.Now()
	l := &leaderState{
		self:             s.cfg.ID,
		epoch:            st.LeaderEpoch,
		replicas:         slices.Clone(st.Replicas),
		isr:              slices.Clone(st.ISR),
		partitionEpoch:   st.PartitionEpoch,
		epochStartOffset: leo,
		followers:        make(map[int32]*replica.Follower),
	}
	for _, id := range st.Replicas {
		if id != s.cfg.ID {
			l.followers[id] = replica.NewFollower(slices.Contains(st.ISR, id), now)
		}
	}
	p.leader = l
	p.leaderEpoch.Store(st.LeaderEpoch)
	p.advanceHighWatermarkLocked()
	s.startCoordinating(p, st.LeaderEpoch)
	s.partitionLog(p).WithFields(logrus.Fields{
		"leader_epoch": st.LeaderEpoch, "isr": st.ISR, "epoch_start_offset": leo, "high_watermark": p.log.HighWatermark(),
	}).Info("became leader")
	go p.wakeWaiters()
}

// resignLocked stops p acting as leader. mu is held.
func (s *Server) resignLocked(p *partition) {
	if p.leader == nil {
		return
	}
	s.partitionLog(p).WithField("leader_epoch", p.leader.epoch).Info("no longer leader")
	s.stopCoordinating(p, p.leader.epoch)
	p.leader = nil
	p.leaderEpoch.Store(-1)
	// Waiting producers and fetches find out at once.
	go p.wakeWaiters()
}

func (s *Server) partitionLog(p *partition) logrus.FieldLogger {
	return s.log.WithFields(logrus.Fields{"topic": p.tp.Topic, "partition": p.tp.Partition})
}

// isrCheckInterval is how often the ISR manager looks for lagging
// followers when nothing else wakes it: half the allowed lag, as Kafka does.
func (s *Server) isrCheckInterval() time.Duration {
	return max(s.cfg.ReplicaLagTimeMax/2, 10*time.Millisecond)
}

// isrUpdateTimeout bounds one ISR write to ZooKeeper.
const isrUpdateTimeout = 10 * time.Second

// runISRManager shrinks and expands the ISRs of the partitions this broker
// leads until ctx is done: periodically for lagging followers, and when a
// fetch says a follower may join.
func (s *Server) runISRManager(ctx context.Context) {
	ticker := time.NewTicker(s.isrCheckInterval())
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-s.isrWake:
		}
		for _, p := range s.partitions.all() {
			if ctx.Err() != nil {
				return
			}
			s.maybeUpdateISR(ctx, p)
		}
		s.health.update(s)
	}
}

// wakeISRManager asks the ISR manager for a pass without waiting for it.
func (s *Server) wakeISRManager() {
	select {
	case s.isrWake <- struct{}{}:
	default:
	}
}

// maybeUpdateISR writes p's new ISR when followers lag or caught up.
func (s *Server) maybeUpdateISR(ctx context.Context, p *partition) {
	snap := s.meta.Snapshot() // the freshest liveness
	p.mu.Lock()
	l := p.leader
	if l == nil || l.pending != nil {
		p.mu.Unlock()
		return
	}
	me := s.cfg.ID
	lagging := replica.Lagging(me, l.isr, l.followers, time.Now(), s.cfg.ReplicaLagTimeMax)
	now := time.Now()
	joining := replica.Joining(l.replicas, l.isr, l.followers, p.log.HighWatermark(), l.epochStartOffset, func(id int32) bool {
		_, live := snap.Brokers[id]
		return live
	}, now, s.cfg.ReplicaLagTimeMax)
	if len(lagging) == 0 && len(joining) == 0 {
		p.mu.Unlock()
		return
	}
	next := make([]int32, 0, len(l.isr)+len(joining))
	for _, id := range l.isr {
		if !slices.Contains(lagging, id) {
			next = append(next, id)
		}
	}
	next = append(next, joining...)
	l.pending = next
	epoch, partitionEpoch, old := l.epoch, l.partitionEpoch, l.isr
	p.mu.Unlock()

	writeCtx, cancel := context.WithTimeout(ctx, isrUpdateTimeout)
	version, err := s.meta.UpdateISR(writeCtx, p.tp.Topic, p.tp.Partition, epoch, partitionEpoch, next)
	cancel()

	fields := logrus.Fields{"leader_epoch": epoch, "old_isr": old, "isr": next}
	p.appendMu.Lock()
	p.mu.Lock()
	defer func() {
		p.mu.Unlock()
		p.appendMu.Unlock()
	}()
	if p.leader != l {
		return // leadership changed meanwhile
	}
	l.pending = nil
	switch {
	case err == nil:
		l.isr, l.partitionEpoch = next, version
		what := "ISR expanded"
		if len(lagging) > 0 {
			what = "ISR shrunk"
		}
		s.partitionLog(p).WithFields(fields).WithField("partition_epoch", version).Info(what)
		s.traffic.ISRChanged(len(lagging) > 0, len(joining) > 0)
		if p.advanceHighWatermarkLocked() {
			go p.wakeWaiters()
		}
	case errors.Is(err, coordinator.ErrFencedLeaderEpoch):
		// Another leader was elected: stop acting as one at this epoch,
		// whatever a view that has not caught up yet says.
		p.fencedEpoch = max(p.fencedEpoch, epoch)
		s.partitionLog(p).WithFields(fields).WithError(err).Warn("ISR update fenced: another broker leads now")
		s.resignLocked(p)
	default:
		// A stale partition epoch, or ZooKeeper out of reach: the next
		// view brings the current state, and the next pass tries again.
		s.partitionLog(p).WithFields(fields).WithError(err).Warn("ISR update failed")
	}
}
