package replica

import (
	"fmt"
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

// roleChange is what setRole did to a replica.
type roleChange int

const (
	noRoleChange     roleChange = iota
	becameLeader                // leads at a new epoch
	becameFollower              // follows a new leader or epoch (and no longer leads)
	resigned                    // no longer leads, follows nobody
	stoppedFollowing            // no longer follows, leads nothing
)

// setRole applies the state znode st to p: leader at its epoch when it
// names us leader of an Online partition, follower of its leader when it
// names another, neither otherwise. It returns what changed, and an error
// when it could not take the leadership st gives (p then neither leads nor
// follows). The caller holds no partition lock.
func (m *Manager) setRole(p *Partition, st coordinator.Partition) (roleChange, error) {
	me := m.cfg.BrokerID
	online := st.State == zkpaths.StateOnline && st.Leader >= 0
	p.followerInISR.Store(slices.Contains(st.ISR, me))
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	defer m.trackCounts(p)()

	switch {
	case online && st.Leader == me && st.LeaderEpoch > p.fencedEpoch:
		if l := p.leader; l != nil && l.epoch == st.LeaderEpoch {
			// Same leadership: adopt what others wrote since (the
			// controller removing a dead broker from the ISR).
			if st.PartitionEpoch > l.partitionEpoch && l.pending == nil {
				l.isr, l.partitionEpoch = slices.Clone(st.ISR), st.PartitionEpoch
			}
			if !slices.Equal(l.replicas, st.Replicas) {
				l.replicas = slices.Clone(st.Replicas)
			}
			return noRoleChange, nil
		}
		if err := m.becomeLeaderLocked(p, st); err != nil {
			return resigned, err
		}
		return becameLeader, nil
	case online && st.Leader != me:
		wasLeader := m.resignLocked(p)
		target := followTarget{leader: st.Leader, epoch: st.LeaderEpoch}
		if p.following == target {
			if wasLeader {
				return resigned, nil
			}
			return noRoleChange, nil
		}
		p.following = target
		m.fetchers.add(p, target)
		if m.debugEnabled() {
			m.partitionLogger(p).WithFields(logrus.Fields{"leader": st.Leader, "leader_epoch": st.LeaderEpoch}).Debug("following leader")
		}
		return becameFollower, nil
	default:
		if m.resignLocked(p) {
			return resigned, nil
		}
		if p.following.leader >= 0 {
			p.following = noTarget
			m.fetchers.remove(p)
			return stoppedFollowing, nil
		}
		return noRoleChange, nil
	}
}

// trackCounts notes whether p counts as led and as under-replicated, and
// returns the function that, called once p's role or ISR changed, moves the
// manager's counts by the difference. p.mu is held across both.
func (m *Manager) trackCounts(p *Partition) func() {
	leading, under := p.leader != nil, p.underReplicatedLocked()
	return func() {
		nowLeading, nowUnder := p.leader != nil, p.underReplicatedLocked()
		m.leading.Add(delta(leading, nowLeading))
		m.underReplicated.Add(delta(under, nowUnder))
	}
}

// delta is how a count of things that are moves when one thing goes from
// was to is.
func delta(was, is bool) int64 {
	switch {
	case was == is:
		return 0
	case is:
		return 1
	default:
		return -1
	}
}

// becomeLeaderLocked makes p leader at st's epoch. The epoch's start is
// recorded in the log before any append at it (KAFKA-7415); when that
// fails p neither leads nor follows and the error is returned. The high
// watermark stays what this replica knew: records beyond it are kept but
// become visible only once the ISR has them. appendMu and mu are held.
func (m *Manager) becomeLeaderLocked(p *Partition, st coordinator.Partition) error {
	if p.following.leader >= 0 {
		p.following = noTarget
		m.fetchers.remove(p)
	}
	leo := p.log.LogEndOffset()
	if err := p.log.AssignEpochStartOffset(st.LeaderEpoch, leo); err != nil {
		m.resignLocked(p)
		return fmt.Errorf("cannot start leading at epoch %d: %w", st.LeaderEpoch, err)
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
	if m.debugEnabled() {
		m.partitionLogger(p).WithFields(logrus.Fields{
			"leader_epoch": st.LeaderEpoch, "isr": st.ISR, "epoch_start_offset": leo, "high_watermark": p.log.HighWatermark(),
		}).Debug("became leader")
	}
	// The wake-up is non-blocking sends: done here, not on a goroutine of
	// its own (a failover moving 33k leaderships would start 33k).
	p.wakeWaiters()
	return nil
}

// resignLocked stops p acting as leader, and reports whether it was. mu is
// held.
func (m *Manager) resignLocked(p *Partition) bool {
	if p.leader == nil {
		return false
	}
	if m.debugEnabled() {
		m.partitionLogger(p).WithField("leader_epoch", p.leader.epoch).Debug("no longer leader")
	}
	m.cfg.OnLeadershipChange(p, p.leader.epoch, false)
	p.leader = nil
	p.leaderEpoch.Store(-1)
	// Waiting producers and fetches find out at once.
	p.wakeWaiters()
	return true
}
