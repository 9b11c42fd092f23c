package replica

import (
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
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
	followers        map[int32]*Follower
}

// setRole applies the state znode st to p: leader at its epoch when it
// names us leader of an Online partition, follower of its leader when it
// names another, neither otherwise. The caller holds no partition lock.
func (m *Manager) setRole(p *Partition, st coordinator.Partition) {
	me := m.cfg.BrokerID
	online := st.State == zkpaths.StateOnline && st.Leader >= 0
	p.followerInISR.Store(slices.Contains(st.ISR, me))
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
		m.becomeLeaderLocked(p, st)
	case online && st.Leader != me:
		m.resignLocked(p)
		target := followTarget{leader: st.Leader, epoch: st.LeaderEpoch}
		if p.following != target {
			p.following = target
			m.fetchers.add(p, target)
			m.partitionLogger(p).WithFields(logrus.Fields{"leader": st.Leader, "leader_epoch": st.LeaderEpoch}).Info("following leader")
		}
	default:
		m.resignLocked(p)
		if p.following.leader >= 0 {
			p.following = noTarget
			m.fetchers.remove(p)
		}
	}
}

// becomeLeaderLocked makes p leader at st's epoch. The epoch's start is
// recorded in the log before any append at it (KAFKA-7415). The high
// watermark stays what this replica knew: records beyond it are kept but
// become visible only once the ISR has them. appendMu and mu are held.
func (m *Manager) becomeLeaderLocked(p *Partition, st coordinator.Partition) {
	if p.following.leader >= 0 {
		p.following = noTarget
		m.fetchers.remove(p)
	}
	leo := p.log.LogEndOffset()
	if err := p.log.AssignEpochStartOffset(st.LeaderEpoch, leo); err != nil {
		m.partitionLogger(p).WithError(err).WithField("leader_epoch", st.LeaderEpoch).Error("cannot start leading")
		m.resignLocked(p)
		return
	}
	now := m.cfg.Now()
	l := &leaderState{
		self:             m.cfg.BrokerID,
		epoch:            st.LeaderEpoch,
		replicas:         slices.Clone(st.Replicas),
		isr:              slices.Clone(st.ISR),
		partitionEpoch:   st.PartitionEpoch,
		epochStartOffset: leo,
		followers:        make(map[int32]*Follower),
	}
	for _, id := range st.Replicas {
		if id != m.cfg.BrokerID {
			l.followers[id] = NewFollower(slices.Contains(st.ISR, id), now)
		}
	}
	p.leader = l
	p.leaderEpoch.Store(st.LeaderEpoch)
	p.advanceHighWatermarkLocked()
	m.cfg.OnLeadershipChange(p, st.LeaderEpoch, true)
	m.partitionLogger(p).WithFields(logrus.Fields{
		"leader_epoch": st.LeaderEpoch, "isr": st.ISR, "epoch_start_offset": leo, "high_watermark": p.log.HighWatermark(),
	}).Info("became leader")
	go p.wakeWaiters()
}

// resignLocked stops p acting as leader. mu is held.
func (m *Manager) resignLocked(p *Partition) {
	if p.leader == nil {
		return
	}
	m.partitionLogger(p).WithField("leader_epoch", p.leader.epoch).Info("no longer leader")
	m.cfg.OnLeadershipChange(p, p.leader.epoch, false)
	p.leader = nil
	p.leaderEpoch.Store(-1)
	// Waiting producers and fetches find out at once.
	go p.wakeWaiters()
}
