// The pure rules of replication: no I/O, no locks, no clock of their own.
// The manager feeds them fetches, clocks and epoch-cache answers and carries
// out what they decide; their tests cover them exhaustively.

package replica

import (
	"slices"
	"time"
)

// Follower is the leader's view of one follower, built from its fetches.
type Follower struct {
	// LogEndOffset is the follower's log end offset as of its last fetch
	// (its fetch offset); -1 until it fetches from this leader.
	LogEndOffset int64
	// LogStartOffset is the follower's log start offset as of its last
	// fetch; -1 until it fetches from this leader. DeleteRecords waits for
	// it to pass the offset deleted to (the leader's low watermark).
	LogStartOffset int64
	// LastCaughtUp is the last time the follower had everything the leader
	// had.
	LastCaughtUp time.Time

	lastFetch          time.Time
	lastFetchLeaderLEO int64
}

// NewFollower returns the state of a follower that has not fetched yet.
// An ISR member starts as caught up at now, so that a new leader does not
// drop it before it had a chance to fetch.
func NewFollower(inISR bool, now time.Time) *Follower {
	f := &Follower{LogEndOffset: -1, LogStartOffset: -1, lastFetchLeaderLEO: -1}
	if inISR {
		f.LastCaughtUp = now
	}
	return f
}

// RecordFetch updates f with a fetch from fetchOffset received at now, when
// the leader's log end offset was leaderLEO. A fetch that reaches the
// leader's end catches the follower up now; one that reaches what the
// leader had at the previous fetch caught it up at that previous fetch.
func (f *Follower) RecordFetch(fetchOffset, leaderLEO int64, now time.Time) {
	switch {
	case fetchOffset >= leaderLEO:
		f.LastCaughtUp = now
	case fetchOffset >= f.lastFetchLeaderLEO && f.lastFetch.After(f.LastCaughtUp):
		f.LastCaughtUp = f.lastFetch
	}
	f.LogEndOffset = fetchOffset
	f.lastFetch = now
	f.lastFetchLeaderLEO = leaderLEO
}

// HighWatermark returns the leader's high watermark given its current one,
// its log end offset, and the ISR (which includes the leader) with the
// followers' progress: the smallest log end offset over the ISR. It never
// moves backwards, and it stays put while the ISR is smaller than minISR
// (KAFKA-15583): records written then are not committed yet.
func HighWatermark(current, leaderLEO int64, leader int32, isr []int32, followers map[int32]*Follower, minISR int) int64 {
	if len(isr) < minISR {
		return current
	}
	hw := leaderLEO
	for _, id := range isr {
		if id == leader {
			continue
		}
		f := followers[id]
		if f == nil || f.LogEndOffset < 0 {
			return current
		}
		hw = min(hw, f.LogEndOffset)
	}
	return max(hw, current)
}

// Lagging returns the followers in the ISR that have not been caught up for
// longer than maxLag at now: the ones to drop from it.
func Lagging(leader int32, isr []int32, followers map[int32]*Follower, now time.Time, maxLag time.Duration) []int32 {
	var out []int32
	for _, id := range isr {
		if id == leader {
			continue
		}
		f := followers[id]
		if f == nil || now.Sub(f.LastCaughtUp) > maxLag {
			out = append(out, id)
		}
	}
	return out
}

// CanJoinISR reports whether a follower outside the ISR may join it: it
// must have everything below the high watermark, and everything written
// under earlier leader epochs (KAFKA-7128): a follower that joins with less
// could be elected and lose records the old leader had committed.
func CanJoinISR(f *Follower, highWatermark, epochStartOffset int64) bool {
	return f != nil && f.LogEndOffset >= 0 && f.LogEndOffset >= highWatermark && f.LogEndOffset >= epochStartOffset
}

// Joining returns the replicas outside the ISR that may join it: live ones
// (live reports it) whose progress passes CanJoinISR and that are caught up
// now, within maxLag -- the rule that would drop them again at once. A
// follower that stopped fetching keeps the log end offset of its last fetch,
// which may well pass CanJoinISR while the high watermark stands still
// (below min.insync.replicas it does): without the recency rule a dead
// broker, still registered until its session expires, would rejoin.
func Joining(replicas, isr []int32, followers map[int32]*Follower, highWatermark, epochStartOffset int64, live func(int32) bool, now time.Time, maxLag time.Duration) []int32 {
	var out []int32
	for _, id := range replicas {
		if slices.Contains(isr, id) || !live(id) {
			continue
		}
		f := followers[id]
		if CanJoinISR(f, highWatermark, epochStartOffset) && now.Sub(f.LastCaughtUp) <= maxLag {
			out = append(out, id)
		}
	}
	return out
}

// EpochEnd is an answer of a leader-epoch cache: the largest epoch at or
// below the one asked for, and where it ends. Found is false when the cache
// holds no such epoch.
type EpochEnd struct {
	Epoch     int32
	EndOffset int64
	Found     bool
}

// Divergence is the leader's check of a follower's fetch (KIP-320): the
// follower last fetched lastFetchedEpoch and asks from fetchOffset; local
// is the leader's cache answer for lastFetchedEpoch. When the follower's
// log cannot be a prefix of the leader's, it returns the epoch and end
// offset the follower must truncate by, and diverged true. A follower with
// no epoch (an empty log) never diverges. logStartOffset is the leader's.
func Divergence(lastFetchedEpoch int32, fetchOffset int64, local EpochEnd, logStartOffset int64) (epoch int32, endOffset int64, diverged bool) {
	if lastFetchedEpoch < 0 {
		return -1, -1, false
	}
	if !local.Found {
		// The follower's epoch predates everything the leader knows:
		// nothing of its log is known to match.
		return -1, logStartOffset, true
	}
	if local.Epoch != lastFetchedEpoch || local.EndOffset < fetchOffset {
		return local.Epoch, local.EndOffset, true
	}
	return -1, -1, false
}

// TruncationOffset is the follower's answer to a divergence (KIP-101,
// KIP-279): the leader's epoch leaderEpoch ends at leaderEnd; local is the
// follower's own cache answer for leaderEpoch and leo its log end offset.
// When the follower knows leaderEpoch, the logs agree up to the smaller
// end. When it does not, its largest lower epoch is where agreement can
// end at most; the next fetch (carrying the new last epoch) checks again,
// which resolves a double failover step by step. The result is never above
// leo, and never depends on the high watermark.
func TruncationOffset(leaderEpoch int32, leaderEnd int64, local EpochEnd, leo int64) int64 {
	if leaderEpoch < 0 || !local.Found {
		return max(0, min(leaderEnd, leo))
	}
	if local.Epoch == leaderEpoch {
		return min(leaderEnd, local.EndOffset, leo)
	}
	return min(local.EndOffset, leaderEnd, leo)
}

// MaximalISR is the ISR the high watermark is computed over while the ISR
// written in ZooKeeper (isr) is being changed to pending (nil when no write
// is under way): their union. A member being removed still counts, one
// being added already does, so that the high watermark is safe whichever
// way the write ends. The result may be isr itself: callers only read it
// (every follower fetch computes it, so the common case allocates nothing).
func MaximalISR(isr, pending []int32) []int32 {
	extra := false
	for _, id := range pending {
		if !slices.Contains(isr, id) {
			extra = true
			break
		}
	}
	if !extra {
		return isr
	}
	out := slices.Clone(isr)
	for _, id := range pending {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// EffectiveISR is the smaller of the written ISR and the pending one (nil
// when no write is under way): what min.insync.replicas is checked against,
// so that a shrink counts before it lands.
func EffectiveISR(isr, pending []int32) []int32 {
	if pending != nil && len(pending) < len(isr) {
		return pending
	}
	return isr
}
