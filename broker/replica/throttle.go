package replica

import (
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/quota"
)

// Replication quotas (KIP-73). A topic's leader.replication.throttled.replicas
// and follower.replication.throttled.replicas name replicas as
// partition:broker; this broker's replica of a partition is throttled as
// leader, as follower, or both, when they name it (partitionThrottles). A
// throttled replica is held back only while it is outside the ISR and its
// side's quota (leader.replication.throttled.rate or
// follower.replication.throttled.rate) is exceeded: Kafka's
// shouldLeaderThrottle and shouldFollowerThrottle. So ISR members never are,
// and a follower catching up never leaves the ISR because of the throttle;
// a throttled follower copies at the quota's rate and joins the ISR under
// the usual rules once it has caught up.

// The sides of a replica a topic's lists may throttle, as bits of
// Partition.throttled.
const (
	throttledAsLeader uint32 = 1 << iota
	throttledAsFollower
)

// followerThrottleRecheck is how soon a fetcher whose every partition is
// held back by the follower quota looks again; the quota is measured over
// one-second windows, so this is fine-grained enough to keep the copy at
// the bound.
const followerThrottleRecheck = 100 * time.Millisecond

// partitionThrottles are the sides on which cfg throttles broker self's
// replica of partition.
func partitionThrottles(cfg config.Topic, partition, self int32) uint32 {
	var sides uint32
	if cfg.LeaderThrottledReplicas().Names(partition, self) {
		sides |= throttledAsLeader
	}
	if cfg.FollowerThrottledReplicas().Names(partition, self) {
		sides |= throttledAsFollower
	}
	return sides
}

// replicationQuotas are the broker's two replication quotas and the bytes
// of throttled replicas counted against each.
type replicationQuotas struct {
	leader, follower *quota.ReplicationQuota
	// leaderBytes and followerBytes count the bytes of throttled replicas
	// sent as leader and received as follower (in the ISR or not): what
	// the quotas measure.
	leaderBytes, followerBytes atomic.Int64

	mu  sync.Mutex // serializes SetReplicationThrottle
	set config.ReplicationThrottle
}

func newReplicationQuotas(s quota.Settings, now func() time.Time) *replicationQuotas {
	unlimited := config.ReplicationThrottle{Leader: math.Inf(1), Follower: math.Inf(1)}
	return &replicationQuotas{leader: quota.NewReplicationQuota(s, now), follower: quota.NewReplicationQuota(s, now), set: unlimited}
}

// SetReplicationThrottle puts the broker's replication quotas in effect:
// leader.replication.throttled.rate and follower.replication.throttled.rate,
// +Inf being unlimited. A rate of 0 lets almost nothing through (one fetch's
// worth per quota window span), as Kafka's bound of 0 does. The broker calls
// it with every cluster view.
func (m *Manager) SetReplicationThrottle(t config.ReplicationThrottle) {
	q := m.quotas
	q.mu.Lock()
	defer q.mu.Unlock()
	if t == q.set {
		return
	}
	q.leader.SetRate(quotaBound(t.Leader))
	q.follower.SetRate(quotaBound(t.Follower))
	q.set = t
	m.logger.WithFields(logrus.Fields{
		"leader_replication_throttled_rate": t.Leader, "follower_replication_throttled_rate": t.Follower,
	}).Info("replication throttle changed")
}

// quotaBound is ReplicationQuota's bound for a configured rate: 0 (its
// unlimited) for +Inf, and at least 1 B/s, as its <= 0 is unlimited too.
func quotaBound(rate float64) float64 {
	if math.IsInf(rate, 1) || math.IsNaN(rate) {
		return 0
	}
	return max(rate, 1)
}

// RecordThrottledSent counts bytes sent to followers of partitions Read
// marked ReadResult.Throttled, once the answer holding them is final,
// against the leader quota (Kafka records them as the response is sent).
func (m *Manager) RecordThrottledSent(bytes int64) {
	if bytes <= 0 {
		return
	}
	m.quotas.leaderBytes.Add(bytes)
	m.quotas.leader.Record(int(min(bytes, math.MaxInt32)))
}

// ThrottledBytes returns the bytes of throttled replicas this broker has
// sent as leader and received as follower: what the replication quotas
// measure, whether they held anything back or not.
func (m *Manager) ThrottledBytes() (leader, follower int64) {
	return m.quotas.leaderBytes.Load(), m.quotas.followerBytes.Load()
}

// leaderHoldsBack reports whether a follower's read of p, which is
// throttled as leader here, gets no records: the leader quota is exceeded
// and the follower is outside the ISR. (Read checks p's throttled sides
// first: one atomic load is all a partition no list names costs.)
func (m *Manager) leaderHoldsBack(p *Partition, follower int32) bool {
	return m.quotas.leader.Exceeded() && !p.inISR(follower)
}

// inISR reports whether follower is in the ISR of the partition this
// broker leads, or joining it (a pending write adding it).
func (p *Partition) inISR(follower int32) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.leader
	return l != nil && (slices.Contains(l.isr, follower) || slices.Contains(l.pending, follower))
}

// followerHeldBack reports whether fp stays out of its fetcher's next
// fetch: its partition is throttled as follower here, this replica is not
// in sync -- neither in the ISR as the cluster view has it, nor caught up
// with the leader's high watermark as of its last fetch (Kafka's measure) --
// and exceeded, evaluated at most once per fetch built, says the follower
// quota is exceeded.
func followerHeldBack(fp *fetchedPartition, exceeded func() bool) bool {
	if fp.p.throttled.Load()&throttledAsFollower == 0 || fp.caughtUp || fp.p.followerInISR.Load() {
		return false
	}
	return exceeded()
}

// recordThrottledFetched counts bytes received of partitions throttled as
// follower against the follower quota.
func (m *Manager) recordThrottledFetched(bytes int64) {
	if bytes <= 0 {
		return
	}
	m.quotas.followerBytes.Add(bytes)
	m.quotas.follower.Record(int(min(bytes, math.MaxInt32)))
}
