package quota

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ReplicationQuota is one side's (leader or follower) replication byte rate
// (KIP-73), shared by all the throttled replicas of that side on a broker:
// leader.replication.throttled.rate or follower.replication.throttled.rate.
//
// Which replica is throttled is the caller's rule (Kafka's): one named by
// its topic's throttled replicas list, NOT in the ISR, while Exceeded. ISR
// members are never held back, so a follower catching up never leaves the
// ISR because of the throttle; the bytes of every named replica count,
// in the ISR or not, as in Kafka.
//
// It measures as Kafka's replication quota managers do, with a SimpleRate:
// over the time since the oldest sample started and at least one window,
// which is how Rate measures (see Rate.windowSize). As they do, it only
// says whether the rate is over the bound: Record never refuses, the caller
// leaves out what it would send or fetch while Exceeded.
//
// Safe for concurrent use. An unlimited quota (the default) costs one
// atomic load in Exceeded and Record; a limited one takes a lock shared by
// its side, which only the throttled replicas' reads and fetches reach.
type ReplicationQuota struct {
	settings Settings
	now      func() time.Time
	// bound is the rate in bytes/s as math.Float64bits, 0 when unlimited.
	bound atomic.Uint64

	mu   sync.Mutex
	rate *Rate
}

// NewReplicationQuota returns an unlimited quota measured over s's windows
// (Kafka's replication.quota.window.num and replication.quota.window.size.seconds,
// whose defaults are DefaultSettings) by the clock now.
func NewReplicationQuota(s Settings, now func() time.Time) *ReplicationQuota {
	s = s.orDefault()
	return &ReplicationQuota{settings: s, now: now, rate: NewRate(s)}
}

// SetRate sets the bound in bytes per second; <= 0 (or +Inf, or NaN) is
// unlimited. A change between two bounds keeps what was measured, as
// Kafka's does; becoming unlimited forgets it, and nothing is measured while
// unlimited, so a throttle set later starts from a clean slate.
func (q *ReplicationQuota) SetRate(bytesPerSecond float64) {
	if !(bytesPerSecond > 0) || math.IsInf(bytesPerSecond, 1) {
		if q.bound.Swap(0) != 0 {
			q.mu.Lock()
			q.rate = NewRate(q.settings)
			q.mu.Unlock()
		}
		return
	}
	q.bound.Store(math.Float64bits(bytesPerSecond))
}

// Exceeded reports whether the rate is over the bound now: throttled
// replicas outside the ISR get nothing while it is.
func (q *ReplicationQuota) Exceeded() bool {
	bits := q.bound.Load()
	if bits == 0 {
		return false
	}
	q.mu.Lock()
	rate := q.rate.Measure(q.now())
	q.mu.Unlock()
	return rate > math.Float64frombits(bits)
}

// Record counts bytes of throttled replicas sent (leader) or received
// (follower), even past the bound.
func (q *ReplicationQuota) Record(bytes int) {
	if bytes <= 0 || q.bound.Load() == 0 {
		return
	}
	q.mu.Lock()
	q.rate.Record(float64(bytes), q.now())
	q.mu.Unlock()
}
