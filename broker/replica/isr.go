package replica

import (
	"context"
	"errors"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
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
	canJoin = !slices.Contains(l.isr, follower) && CanJoinISR(f, p.log.HighWatermark(), l.epochStartOffset)
	if canJoin && p.isrChecks != nil {
		// The caller wakes the ISR manager, which then looks at the
		// partitions queued rather than every one.
		p.isrChecks.push(p)
	}
	return canJoin
}

// isrCheckQueue holds the partitions whose followers may join the ISR, for
// the ISR manager's next pass: a follower catching up on tens of thousands
// of partitions (after a restart) wakes the manager over and over, and a
// pass over every partition each time would cost the broker a core.
type isrCheckQueue struct {
	mu sync.Mutex
	ps []*Partition
}

// push queues p unless it is queued already.
func (q *isrCheckQueue) push(p *Partition) {
	if p.isrQueued.Swap(true) {
		return
	}
	q.mu.Lock()
	q.ps = append(q.ps, p)
	q.mu.Unlock()
}

// take empties the queue and returns what it held.
func (q *isrCheckQueue) take() []*Partition {
	q.mu.Lock()
	ps := q.ps
	q.ps = nil
	q.mu.Unlock()
	for _, p := range ps {
		p.isrQueued.Store(false)
	}
	return ps
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
	var lastFull time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-m.isrWake:
			// A wake-up looks at the partitions queued, and at every
			// partition at most once per fullPassOnWakeEvery: a queued
			// partition whose follower was not live in the view yet (a
			// broker back from a restart) is then not left for the
			// periodic pass.
			if time.Since(lastFull) < fullPassOnWakeEvery {
				m.updateISRsOf(ctx, m.isrChecks.take())
				continue
			}
		}
		m.isrChecks.take()
		lastFull = time.Now()
		m.UpdateISRs(ctx)
	}
}

// fullPassOnWakeEvery bounds how often a wake-up of the ISR manager makes
// it look at every partition rather than the queued ones.
const fullPassOnWakeEvery = time.Second

// isrWritesInFlight bounds the ISR writes one pass of the ISR manager has
// in flight. ZooKeeper pipelines them over the session's connection, so a
// pass that changes the ISRs of thousands of partitions (a follower back
// after a restart) takes a round trip per batch of them, not one each. The
// coordinator's own pipelined requests keep as many in flight.
const isrWritesInFlight = 128

// UpdateISRs makes one pass of the ISR manager now: it writes the new ISR
// of every partition this broker leads whose followers lag or caught up,
// and waits for those writes.
func (m *Manager) UpdateISRs(ctx context.Context) {
	m.updateISRs(ctx, m.partitions.each)
}

// updateISRsOf makes a pass of the ISR manager over ps alone (those a
// follower's fetch queued), leaving out any no longer held.
func (m *Manager) updateISRsOf(ctx context.Context, ps []*Partition) {
	m.updateISRs(ctx, func(yield func(*Partition) bool) {
		for _, p := range ps {
			if m.partitions.get(p.tp) == p && !yield(p) {
				return
			}
		}
	})
}

// updateISRs makes one pass of the ISR manager over the partitions each
// yields.
func (m *Manager) updateISRs(ctx context.Context, each iter.Seq[*Partition]) {
	var (
		tally isrTally
		wg    sync.WaitGroup
	)
	slots := make(chan struct{}, isrWritesInFlight)
	for p := range each {
		if ctx.Err() != nil {
			break
		}
		if !p.IsLeader() {
			continue
		}
		w, ok := m.proposeISR(p)
		if !ok {
			continue
		}
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			m.writeISR(ctx, p, w, &tally)
		})
	}
	wg.Wait()
	tally.log(m.logger)
	m.cfg.OnISRPass()
}

// wakeISRManager asks the ISR manager for a pass without waiting for it.
func (m *Manager) wakeISRManager() {
	select {
	case m.isrWake <- struct{}{}:
	default:
	}
}

// isrWrite is an ISR change the ISR manager proposes for a partition it
// leads.
type isrWrite struct {
	leader                *leaderState // the leadership it was proposed under
	epoch, partitionEpoch int32
	old, next             []int32
	shrink, expand        bool
}

// proposeISR returns the ISR p's followers call for when it differs from
// the current one, and marks it pending (no other write of p's ISR starts
// until writeISR lands it).
func (m *Manager) proposeISR(p *Partition) (isrWrite, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.leader
	if l == nil || l.pending != nil {
		return isrWrite{}, false
	}
	me := m.cfg.BrokerID
	now := m.cfg.Now()
	lagging := Lagging(me, l.isr, l.followers, now, m.cfg.ReplicaLagTimeMax)
	joining := Joining(l.replicas, l.isr, l.followers, p.log.HighWatermark(), l.epochStartOffset, m.cfg.Cluster.Live, now, m.cfg.ReplicaLagTimeMax)
	if len(lagging) == 0 && len(joining) == 0 {
		return isrWrite{}, false
	}
	next := make([]int32, 0, len(l.isr)+len(joining))
	for _, id := range l.isr {
		if !slices.Contains(lagging, id) {
			next = append(next, id)
		}
	}
	next = append(next, joining...)
	l.pending = next
	return isrWrite{
		leader: l, epoch: l.epoch, partitionEpoch: l.partitionEpoch, old: l.isr, next: next,
		shrink: len(lagging) > 0, expand: len(joining) > 0,
	}, true
}

// writeISR writes the ISR proposeISR proposed for p and applies the
// outcome: the new ISR when the write landed, resignation when another
// leader was elected meanwhile.
func (m *Manager) writeISR(ctx context.Context, p *Partition, w isrWrite, tally *isrTally) {
	writeCtx, cancel := context.WithTimeout(ctx, isrUpdateTimeout)
	version, err := m.cfg.Cluster.UpdateISR(writeCtx, p.tp.Topic, p.tp.Partition, w.epoch, w.partitionEpoch, w.next)
	cancel()

	logger := func() logrus.FieldLogger {
		return m.partitionLogger(p).WithFields(logrus.Fields{"leader_epoch": w.epoch, "old_isr": w.old, "isr": w.next})
	}
	p.appendMu.Lock()
	p.mu.Lock()
	defer func() {
		p.mu.Unlock()
		p.appendMu.Unlock()
	}()
	l := p.leader
	if l != w.leader {
		return // leadership changed meanwhile
	}
	defer m.trackCounts(p)()
	l.pending = nil
	switch {
	case err == nil:
		l.isr, l.partitionEpoch = w.next, version
		what := "ISR expanded"
		if w.shrink {
			what = "ISR shrunk"
		}
		if m.debugEnabled() {
			logger().WithField("partition_epoch", version).Debug(what)
		}
		tally.written(p.tp, w)
		m.cfg.OnISRChange(w.shrink, w.expand)
		if p.advanceHighWatermarkLocked() {
			p.wakeWaiters()
		}
	case errors.Is(err, coordinator.ErrFencedLeaderEpoch):
		// Another leader was elected: stop acting as one at this epoch,
		// whatever a view that has not caught up yet says.
		p.fencedEpoch = max(p.fencedEpoch, w.epoch)
		if m.debugEnabled() {
			logger().WithError(err).Debug("ISR update fenced: another broker leads now")
		}
		tally.failed(p.tp, err, true)
		m.resignLocked(p)
	default:
		// A stale partition epoch, or ZooKeeper out of reach: the next
		// view brings the current state, and the next pass tries again.
		if m.debugEnabled() {
			logger().WithError(err).Debug("ISR update failed")
		}
		tally.failed(p.tp, err, false)
	}
}

// isrTally summarises one pass of the ISR manager for the log: a broker
// back from a restart rejoins the ISRs of tens of thousands of partitions
// in a pass, and one line each would bury everything else. Each write is
// logged at debug level. A pass that shrinks or expands few ISRs logs each
// of them at info level, with its topic and partition, as operators look for
// a shrink; a larger one logs a summary naming the first.
type isrTally struct {
	mu               sync.Mutex
	shrunk, expanded []zkpaths.TopicPartition // up to isrChangesListed each
	nShrunk, nJoined int
	fenced, failures int
	firstFailed      zkpaths.TopicPartition
	firstErr         error
}

// isrChangesListed is the most ISR shrinks (or expansions) of one pass that
// are logged one line each.
const isrChangesListed = 20

func (t *isrTally) written(tp zkpaths.TopicPartition, w isrWrite) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if w.shrink {
		if len(t.shrunk) < isrChangesListed {
			t.shrunk = append(t.shrunk, tp)
		}
		t.nShrunk++
		return
	}
	if len(t.expanded) < isrChangesListed {
		t.expanded = append(t.expanded, tp)
	}
	t.nJoined++
}

func (t *isrTally) failed(tp zkpaths.TopicPartition, err error, fenced bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.fenced+t.failures == 0 {
		t.firstFailed, t.firstErr = tp, err
	}
	if fenced {
		t.fenced++
	} else {
		t.failures++
	}
}

// logChanges logs the n ISR changes of one kind, of which listed are the first.
func logChanges(logger logrus.FieldLogger, what string, listed []zkpaths.TopicPartition, n int) {
	if n > len(listed) {
		logger.WithFields(logrus.Fields{"partitions": n, "first": listed[0].String()}).Info(what)
		return
	}
	for _, tp := range listed {
		logger.WithFields(logrus.Fields{"topic": tp.Topic, "partition": tp.Partition}).Info(what)
	}
}

func (t *isrTally) log(logger logrus.FieldLogger) {
	logChanges(logger, "ISR shrunk", t.shrunk, t.nShrunk)
	logChanges(logger, "ISR expanded", t.expanded, t.nJoined)
	if t.fenced+t.failures > 0 {
		logger.WithError(t.firstErr).WithFields(logrus.Fields{
			"fenced": t.fenced, "failed": t.failures, "first": t.firstFailed.String(),
		}).Warn("ISR updates did not land: fenced ones resigned, failed ones are retried")
	}
}
