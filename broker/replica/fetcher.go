package replica

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/peer"
	"github.com/kzoo/kzoo/zkpaths"
)

// fetchRetryBackoff is how long a fetcher waits after a failed request, and
// before fetching again a partition that got an error.
const fetchRetryBackoff = 200 * time.Millisecond

// FetchConfig configures the follower fetchers.
type FetchConfig struct {
	// ClientID names the fetchers to their leaders.
	ClientID string
	// Security secures the fetchers' connections to their leaders.
	Security peer.Security
	// WaitMax, MinBytes and MaxBytes are replica.fetch.wait.max.ms,
	// replica.fetch.min.bytes and replica.fetch.max.bytes.
	WaitMax  time.Duration
	MinBytes int32
	MaxBytes int32
	// SocketTimeout is replica.socket.timeout.ms; a fetch may take it on
	// top of WaitMax.
	SocketTimeout time.Duration
	// MaxResponseBytes bounds a fetch response.
	MaxResponseBytes int32
}

// fetcherManager owns num.replica.fetchers fetchers per source broker,
// which together carry every partition this broker follows from that
// source; a partition goes to the one its topic and number hash to.
type fetcherManager struct {
	mgr *Manager
	ctx context.Context // the server's: fetchers stop with it

	mu sync.Mutex
	// count is num.replica.fetchers, at least 1; setCount changes it.
	count    int
	fetchers map[fetcherKey]*fetcher
	wg       sync.WaitGroup
}

// fetcherKey names a fetcher: its source broker and its index among that
// source's fetchers.
type fetcherKey struct {
	source int32
	index  int
}

// fetcherIndex is the fetcher, of count, that copies tp.
func fetcherIndex(tp zkpaths.TopicPartition, count int) int {
	h := fnv.New32a()
	h.Write([]byte(tp.Topic))
	return int((uint64(h.Sum32()) + uint64(uint32(tp.Partition))) % uint64(count))
}

// fetchedPartition is one partition a fetcher copies, at a leader epoch.
// Only the fetcher that holds it changes it after it is placed; a
// partition moving to another fetcher gets a new one.
type fetchedPartition struct {
	p      *Partition
	target followTarget
	// retryAt delays the next fetch of the partition after an error.
	retryAt time.Time
	// paused stops fetching until the view changes (a fenced epoch).
	paused bool
	// fetchOffset is the offset the fetcher last asked for; an answer
	// applies only while the log still ends there, so that the answer of
	// a fetcher the partition moved off cannot race the new fetcher's.
	fetchOffset int64
	// caughtUp is whether the log reached the leader's high watermark as
	// of the last answer: Kafka's measure of a follower in sync, which the
	// follower quota never holds back. Only the fetcher goroutine uses it.
	caughtUp bool
}

type fetcher struct {
	source int32
	cancel context.CancelFunc

	mu    sync.Mutex
	parts map[zkpaths.TopicPartition]*fetchedPartition
	wake  chan struct{}
}

// add makes the fetcher of target.leader copy p at target.epoch, moving it
// off any other fetcher. p.mu is held by the caller.
func (m *fetcherManager) add(p *Partition, target followTarget) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(p.tp)
	m.placeLocked(&fetchedPartition{p: p, target: target})
}

// placeLocked gives fp to the fetcher it hashes to, starting that fetcher
// if needed. m.mu is held.
func (m *fetcherManager) placeLocked(fp *fetchedPartition) {
	key := fetcherKey{source: fp.target.leader, index: fetcherIndex(fp.p.tp, max(m.count, 1))}
	f := m.fetchers[key]
	if f == nil {
		ctx, cancel := context.WithCancel(m.ctx)
		f = &fetcher{source: key.source, cancel: cancel, parts: make(map[zkpaths.TopicPartition]*fetchedPartition), wake: make(chan struct{}, 1)}
		m.fetchers[key] = f
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.mgr.runFetcher(ctx, f)
		}()
	}
	f.mu.Lock()
	f.parts[fp.p.tp] = fp
	f.mu.Unlock()
	f.signal()
}

// setCount changes the number of fetchers per source broker
// (num.replica.fetchers, a dynamic broker config), moving the partitions
// whose fetcher changes and stopping the fetchers left without any.
func (m *fetcherManager) setCount(count int) {
	count = max(count, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if count == m.count {
		return
	}
	m.count = count
	var moving []*fetchedPartition
	for key, f := range m.fetchers {
		f.mu.Lock()
		for tp, fp := range f.parts {
			if fetcherIndex(tp, count) != key.index {
				delete(f.parts, tp)
				moving = append(moving, &fetchedPartition{p: fp.p, target: fp.target, retryAt: fp.retryAt, paused: fp.paused})
			}
		}
		empty := len(f.parts) == 0
		f.mu.Unlock()
		if empty {
			f.cancel()
			delete(m.fetchers, key)
		}
	}
	for _, fp := range moving {
		m.placeLocked(fp)
	}
}

// remove stops fetching p.
func (m *fetcherManager) remove(p *Partition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.removeLocked(p.tp)
}

func (m *fetcherManager) removeLocked(tp zkpaths.TopicPartition) {
	for id, f := range m.fetchers {
		f.mu.Lock()
		delete(f.parts, tp)
		empty := len(f.parts) == 0
		f.mu.Unlock()
		if empty {
			f.cancel()
			delete(m.fetchers, id)
		}
	}
}

// wait waits for every fetcher to stop (after the server's context ended).
func (m *fetcherManager) wait() { m.wg.Wait() }

func (f *fetcher) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// runFetcher fetches from f.source until ctx is done.
func (m *Manager) runFetcher(ctx context.Context, f *fetcher) {
	logger := m.logger.WithField("source_broker", f.source)
	var pc *peer.Conn
	defer func() {
		if pc != nil {
			pc.Close()
		}
	}()
	failures := 0
	for ctx.Err() == nil {
		req, batch, next := m.buildReplicaFetch(f)
		if len(batch) == 0 {
			wait := time.Duration(-1)
			if !next.IsZero() {
				wait = time.Until(next)
			}
			if !sleepOrWake(ctx, f.wake, wait) {
				return
			}
			continue
		}
		if pc == nil {
			var err error
			if pc, err = m.dialLeader(ctx, f.source); err != nil {
				failures++
				if failures == 1 || failures%50 == 0 {
					logger.WithError(err).Warn("cannot connect to leader")
				}
				if !sleepOrWake(ctx, nil, fetchRetryBackoff) {
					return
				}
				continue
			}
		}
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		if err := pc.Request(req, resp); err != nil {
			pc.Close()
			pc = nil
			failures++
			if ctx.Err() == nil && (failures == 1 || failures%50 == 0) {
				logger.WithError(err).Warn("fetch from leader failed")
			}
			if !sleepOrWake(ctx, nil, fetchRetryBackoff) {
				return
			}
			continue
		}
		failures = 0
		m.applyReplicaFetch(f, batch, resp)
	}
}

// sleepOrWake waits for d (forever if negative), a wake-up or ctx; it
// reports whether ctx is still live.
func sleepOrWake(ctx context.Context, wake <-chan struct{}, d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-timeout:
	}
	return true
}

// dialLeader connects to broker id's inter-broker listener.
func (m *Manager) dialLeader(ctx context.Context, id int32) (*peer.Conn, error) {
	if !m.cfg.Cluster.Live(id) {
		return nil, fmt.Errorf("broker %d is not live", id)
	}
	addr, err := m.cfg.Cluster.ReplicationAddr(id)
	if err != nil {
		return nil, err
	}
	f := m.cfg.Fetch
	return peer.Dial(ctx, addr, f.ClientID, f.SocketTimeout+f.WaitMax, f.MaxResponseBytes, f.Security)
}

// buildReplicaFetch builds the next Fetch of f's ready partitions. It
// returns the request, the partitions in it (in request order), and, when
// none is ready, when the earliest delayed one will be. Partitions the
// follower quota holds back (followerHeldBack) are left out and looked at
// again within followerThrottleRecheck.
func (m *Manager) buildReplicaFetch(f *fetcher) (*kmsg.FetchRequest, []*fetchedPartition, time.Time) {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = m.cfg.BrokerID
	req.MaxWaitMillis = int32(m.cfg.Fetch.WaitMax / time.Millisecond)
	req.MinBytes = m.cfg.Fetch.MinBytes
	req.MaxBytes = max(m.cfg.Fetch.MaxBytes, 10<<20)
	req.SessionEpoch = -1 // no fetch session (KIP-227)

	now := time.Now()
	var batch []*fetchedPartition
	var next time.Time
	later := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	exceeded := sync.OnceValue(m.quotas.follower.Exceeded)
	topics := make(map[string]int)
	// byTopic[i] holds the partitions of req.Topics[i], so that the batch
	// comes out in request order without a search per partition.
	var byTopic [][]*fetchedPartition
	f.mu.Lock()
	defer f.mu.Unlock()
	for tp, fp := range f.parts {
		if fp.paused {
			continue
		}
		if fp.retryAt.After(now) {
			later(fp.retryAt)
			continue
		}
		if followerHeldBack(fp, exceeded) {
			later(now.Add(followerThrottleRecheck))
			continue
		}
		i, ok := topics[tp.Topic]
		if !ok {
			i = len(req.Topics)
			topics[tp.Topic] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic = tp.Topic
			req.Topics = append(req.Topics, t)
			byTopic = append(byTopic, nil)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = tp.Partition
		rp.CurrentLeaderEpoch = fp.target.epoch
		fp.fetchOffset = fp.p.log.LogEndOffset()
		rp.FetchOffset = fp.fetchOffset
		rp.LastFetchedEpoch = fp.p.log.LatestEpoch()
		rp.LogStartOffset = fp.p.log.LogStartOffset()
		rp.PartitionMaxBytes = m.cfg.Fetch.MaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		byTopic[i] = append(byTopic[i], fp)
	}
	for _, fps := range byTopic {
		batch = append(batch, fps...)
	}
	return req, batch, next
}

// applyReplicaFetch writes what the leader answered into each partition.
func (m *Manager) applyReplicaFetch(f *fetcher, batch []*fetchedPartition, resp *kmsg.FetchResponse) {
	byTP := make(map[zkpaths.TopicPartition]*kmsg.FetchResponseTopicPartition)
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			byTP[zkpaths.TopicPartition{Topic: t.Topic, Partition: t.Partitions[j].Partition}] = &t.Partitions[j]
		}
	}
	var throttled int64
	for _, fp := range batch {
		rp := byTP[fp.p.tp]
		if rp == nil {
			continue
		}
		if fp.p.throttled.Load()&throttledAsFollower != 0 {
			throttled += int64(len(rp.RecordBatches))
		}
		err := m.applyFetchedPartition(fp, rp)
		if err == nil {
			fp.caughtUp = rp.HighWatermark >= 0 && fp.p.log.LogEndOffset() >= rp.HighWatermark
			continue
		}
		logger := m.partitionLogger(fp.p).WithFields(logrus.Fields{"leader": fp.target.leader, "leader_epoch": fp.target.epoch})
		f.mu.Lock()
		if f.parts[fp.p.tp] == fp {
			if err == kerr.FencedLeaderEpoch {
				// The leader is at a newer epoch than our view: wait for
				// the view that brings it.
				fp.paused = true
			} else {
				// NOT_LEADER and UNKNOWN_LEADER_EPOCH happen while the
				// leader has not applied the view we act on: retry.
				fp.retryAt = time.Now().Add(fetchRetryBackoff)
			}
		}
		f.mu.Unlock()
		logger.WithError(err).Debug("replica fetch returned an error")
	}
	m.recordThrottledFetched(throttled)
}

// applyFetchedPartition applies one partition's answer: truncation at a
// divergence, or the records as the leader wrote them, then the follower's
// high watermark.
func (m *Manager) applyFetchedPartition(fp *fetchedPartition, rp *kmsg.FetchResponseTopicPartition) error {
	// OFFSET_OUT_OF_RANGE comes with the leader's log start, needed below.
	if rp.ErrorCode != 0 && rp.ErrorCode != kerr.OffsetOutOfRange.Code {
		return kerr.ErrorForCode(rp.ErrorCode)
	}
	p := fp.p
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	p.mu.Lock()
	current := p.following
	p.mu.Unlock()
	if current != fp.target {
		return nil // the role changed while the fetch was out
	}
	if p.log.LogEndOffset() != fp.fetchOffset {
		return nil // stale: the partition moved to another fetcher, which wrote meanwhile
	}
	if leo, leaderStart := p.log.LogEndOffset(), rp.LogStartOffset; leaderStart > leo {
		// Retention on the leader deleted the records that would follow
		// ours (the leader answers OFFSET_OUT_OF_RANGE, or a divergence
		// when it no longer knows our last epoch). Nothing we hold can be
		// continued: empty the log and copy from the leader's log start,
		// as Kafka's truncateFullyAndStartAt.
		m.partitionLogger(p).WithFields(logrus.Fields{
			"leader": fp.target.leader, "leader_epoch": fp.target.epoch,
			"log_end_offset": leo, "leader_log_start_offset": leaderStart,
		}).Warn("log ends below the leader's log start: emptying it to copy from there")
		if err := p.log.TruncateFullyAndStartAt(leaderStart); err != nil {
			return fmt.Errorf("restart at the leader's log start %d: %w", leaderStart, err)
		}
		return nil
	}
	if rp.ErrorCode != 0 {
		return kerr.ErrorForCode(rp.ErrorCode)
	}
	if rp.DivergingEpoch.EndOffset >= 0 {
		leo := p.log.LogEndOffset()
		foundEpoch, end, ok := p.log.EndOffsetForEpoch(rp.DivergingEpoch.Epoch)
		offset := TruncationOffset(rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset,
			EpochEnd{Epoch: foundEpoch, EndOffset: end, Found: ok}, leo)
		m.partitionLogger(p).WithFields(logrus.Fields{
			"leader": fp.target.leader, "leader_epoch": fp.target.epoch,
			"diverging_epoch": rp.DivergingEpoch.Epoch, "diverging_end_offset": rp.DivergingEpoch.EndOffset,
			"log_end_offset": leo, "truncate_to": offset,
		}).Info("log diverges from the leader's: truncating")
		if err := p.log.TruncateTo(offset); err != nil {
			return fmt.Errorf("truncate to %d: %w", offset, err)
		}
		p.log.SetHighWatermark(min(p.log.HighWatermark(), p.log.LogEndOffset()))
		return nil
	}
	if len(rp.RecordBatches) > 0 {
		if _, err := p.log.AppendAsFollower(rp.RecordBatches); err != nil {
			m.partitionLogger(p).WithError(err).Error("cannot append the leader's records")
			return err
		}
	}
	if hw := min(p.log.LogEndOffset(), rp.HighWatermark); hw > p.log.HighWatermark() {
		p.log.SetHighWatermark(hw)
	}
	// DeleteRecords (or retention) moved the leader's log start: follow it,
	// as far as our high watermark, which the start may not pass. Our next
	// fetch tells the leader, whose DeleteRecords waits for it.
	if start := min(rp.LogStartOffset, p.log.HighWatermark()); start > p.log.LogStartOffset() {
		if _, err := p.log.AdvanceLogStartOffset(start); err != nil {
			return fmt.Errorf("follow the leader's log start %d: %w", start, err)
		}
	}
	return nil
}
