package replica

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/coordinator"
)

// minISR is the partition's min.insync.replicas.
func (p *Partition) minISR() int { return p.cfg.Load().MinInsyncReplicas() }

// advanceHighWatermarkLocked moves the leader's high watermark to the
// smallest log end offset over the ISR, if that is further. p.mu must be
// held.
func (p *Partition) advanceHighWatermarkLocked() bool {
	l := p.leader
	if l == nil {
		return false
	}
	current := p.log.HighWatermark()
	hw := HighWatermark(current, p.log.LogEndOffset(), l.self, MaximalISR(l.isr, l.pending), l.followers, p.minISR())
	if len(EffectiveISR(l.isr, l.pending)) < p.minISR() {
		hw = current
	}
	if hw <= current {
		return false
	}
	p.log.SetHighWatermark(hw)
	return true
}

// isrSize is the size of the ISR while we lead (0 otherwise).
func (p *Partition) isrSize() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leader == nil {
		return 0
	}
	return len(EffectiveISR(p.leader.isr, p.leader.pending))
}

// recordFollowerFetch updates the leader's view of follower after its fetch
// from fetchOffset with its log start offset logStart, advances the high
// watermark, and reports whether the follower may now join the ISR.
func (p *Partition) recordFollowerFetch(follower int32, fetchOffset, logStart int64, now time.Time) (canJoin bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.leader
	if l == nil || !slices.Contains(l.replicas, follower) {
		return false
	}
	f := l.followers[follower]
	if f == nil {
		f = NewFollower(false, now)
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
	return !slices.Contains(l.isr, follower) && CanJoinISR(f, p.log.HighWatermark(), l.epochStartOffset)
}

// isrCheckInterval is how often the ISR manager looks for lagging
// followers when nothing else wakes it: half the allowed lag, as Kafka does.
func (m *Manager) isrCheckInterval() time.Duration {
	return max(m.cfg.ReplicaLagTimeMax/2, 10*time.Millisecond)
}

// isrUpdateTimeout bounds one ISR write to ZooKeeper.
const isrUpdateTimeout = 10 * time.Second

// RunISRManager shrinks and expands the ISRs of the partitions this broker
// leads until ctx is done: periodically for lagging followers, and when a
// fetch says a follower may join.
func (m *Manager) RunISRManager(ctx context.Context) {
	ticker := time.NewTicker(m.isrCheckInterval())
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-m.isrWake:
		}
		m.UpdateISRs(ctx)
	}
}

// UpdateISRs makes one pass of the ISR manager now: it writes the new ISR
// of every partition this broker leads whose followers lag or caught up.
func (m *Manager) UpdateISRs(ctx context.Context) {
	for _, p := range m.partitions.all() {
		if ctx.Err() != nil {
			return
		}
		m.maybeUpdateISR(ctx, p)
	}
	m.cfg.OnISRPass()
}

// wakeISRManager asks the ISR manager for a pass without waiting for it.
func (m *Manager) wakeISRManager() {
	select {
	case m.isrWake <- struct{}{}:
	default:
	}
}

// maybeUpdateISR writes p's new ISR when followers lag or caught up.
func (m *Manager) maybeUpdateISR(ctx context.Context, p *Partition) {
	p.mu.Lock()
	l := p.leader
	if l == nil || l.pending != nil {
		p.mu.Unlock()
		return
	}
	me := m.cfg.BrokerID
	now := m.cfg.Now()
	lagging := Lagging(me, l.isr, l.followers, now, m.cfg.ReplicaLagTimeMax)
	joining := Joining(l.replicas, l.isr, l.followers, p.log.HighWatermark(), l.epochStartOffset, m.cfg.Cluster.Live, now, m.cfg.ReplicaLagTimeMax)
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
	version, err := m.cfg.Cluster.UpdateISR(writeCtx, p.tp.Topic, p.tp.Partition, epoch, partitionEpoch, next)
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
		m.partitionLogger(p).WithFields(fields).WithField("partition_epoch", version).Info(what)
		m.cfg.OnISRChange(len(lagging) > 0, len(joining) > 0)
		if p.advanceHighWatermarkLocked() {
			go p.wakeWaiters()
		}
	case errors.Is(err, coordinator.ErrFencedLeaderEpoch):
		// Another leader was elected: stop acting as one at this epoch,
		// whatever a view that has not caught up yet says.
		p.fencedEpoch = max(p.fencedEpoch, epoch)
		m.partitionLogger(p).WithFields(fields).WithError(err).Warn("ISR update fenced: another broker leads now")
		m.resignLocked(p)
	default:
		// A stale partition epoch, or ZooKeeper out of reach: the next
		// view brings the current state, and the next pass tries again.
		m.partitionLogger(p).WithFields(fields).WithError(err).Warn("ISR update failed")
	}
}
