package replica

import (
	"context"
	"errors"
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
	// inFetch is the number of the last request the partition was in
	// (fetcher.requests): an answer applies to the partitions of its own
	// request only.
	inFetch uint64
}

type fetcher struct {
	source int32
	cancel context.CancelFunc

	mu    sync.Mutex
	parts map[zkpaths.TopicPartition]*fetchedPartition
	wake  chan struct{}

	// Only the fetcher's goroutine uses these (under mu while building a
	// request, as the partitions are read then).
	//
	// requests numbers the fetcher's requests (see fetchedPartition.inFetch).
	requests uint64
	// session is the incremental fetch session held with the leader.
	session followerSession
}

// followerSession is a follower's side of an incremental fetch session
// (KIP-227), as Kafka's FetchSessionHandler: the session id and the epoch
// of the next request, and what the leader's session holds of each
// partition. A request then carries only the partitions whose position
// moved, and forgets those no longer fetched; the leader answers only the
// partitions with news.
type followerSession struct {
	// id is the session's (0: none: the next request is a full one that
	// asks for a session, closing closeID's on the leader if set).
	id      int32
	closeID int32
	epoch   int32
	// held is what the leader's session holds, as of the last answer;
	// pending what it will hold once the request out is answered.
	held, pending map[zkpaths.TopicPartition]fetchPosition
	// forgotten are the partitions the request out drops.
	forgotten []zkpaths.TopicPartition
	// full: the request out is a full one.
	full bool
}

// fetchPosition is where a follower asks to read a partition from.
type fetchPosition struct {
	leaderEpoch      int32
	fetchOffset      int64
	lastFetchedEpoch int32
	logStartOffset   int64
}

// reset drops the session: the next request is a full one, which also
// closes the old session on the leader.
func (s *followerSession) reset() {
	if s.id != 0 {
		s.closeID = s.id
	}
	s.id, s.epoch = 0, 0
	clear(s.held)
}

// answered moves the session on after an answer to the request out with
// the given session id.
func (s *followerSession) answered(sessionID int32) {
	if s.full {
		s.held, s.pending = s.pending, s.held
		clear(s.pending)
		s.closeID = 0
		s.id = sessionID
		if s.id == 0 {
			clear(s.held) // no session: every request is full
			return
		}
		s.epoch = 1
		return
	}
	for tp, pos := range s.pending {
		s.held[tp] = pos
	}
	clear(s.pending)
	for _, tp := range s.forgotten {
		delete(s.held, tp)
	}
	s.epoch++
	if s.epoch < 0 {
		s.epoch = 1 // past the largest epoch, as Kafka's nextEpoch
	}
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
		req, fetching, next := m.buildReplicaFetch(f)
		if fetching == 0 {
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
			f.session.reset() // whether the leader saw the request is unknown
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
		if resp.ErrorCode != 0 {
			// FETCH_SESSION_ID_NOT_FOUND (the leader evicted the session
			// or restarted) or INVALID_FETCH_SESSION_EPOCH: start a new one.
			f.session.reset()
			logger.WithError(kerr.ErrorForCode(resp.ErrorCode)).Debug("fetch session lost: fetching in full")
			continue
		}
		f.session.answered(resp.SessionID)
		m.applyReplicaFetch(f, resp)
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
// returns the request, how many partitions it fetches (in it, or held in
// the session), and, when none is ready, when the earliest delayed one will
// be. Partitions the follower quota holds back (followerHeldBack) are left
// out and looked at again within followerThrottleRecheck.
//
// With a session (followerSession), the request carries only the ready
// partitions whose position differs from what the leader's session holds,
// and forgets those the session holds that are no longer ready; without
// one, it carries every ready partition and asks for a session.
func (m *Manager) buildReplicaFetch(f *fetcher) (*kmsg.FetchRequest, int, time.Time) {
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.ReplicaID = m.cfg.BrokerID
	req.MaxWaitMillis = int32(m.cfg.Fetch.WaitMax / time.Millisecond)
	req.MinBytes = m.cfg.Fetch.MinBytes
	req.MaxBytes = max(m.cfg.Fetch.MaxBytes, 10<<20)
	fs := &f.session
	if fs.held == nil {
		fs.held = make(map[zkpaths.TopicPartition]fetchPosition)
		fs.pending = make(map[zkpaths.TopicPartition]fetchPosition)
	}
	fs.full = fs.id == 0
	if fs.full {
		req.SessionID, req.SessionEpoch = fs.closeID, 0 // a new session, closing closeID's
	} else {
		req.SessionID, req.SessionEpoch = fs.id, fs.epoch
	}
	clear(fs.pending)
	fs.forgotten = fs.forgotten[:0]

	now := time.Now()
	var next time.Time
	later := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	exceeded := sync.OnceValue(m.quotas.follower.Exceeded)
	topics := make(map[string]int)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	fetching := 0
	for tp, fp := range f.parts {
		ready := false
		switch {
		case fp.paused:
		case fp.retryAt.After(now):
			later(fp.retryAt)
		case followerHeldBack(fp, exceeded):
			later(now.Add(followerThrottleRecheck))
		default:
			ready = true
		}
		if !ready {
			if _, held := fs.held[tp]; held && !fs.full {
				fs.forgotten = append(fs.forgotten, tp)
			}
			continue
		}
		fetching++
		fp.inFetch = f.requests
		fp.fetchOffset = fp.p.log.LogEndOffset()
		pos := fetchPosition{
			leaderEpoch:      fp.target.epoch,
			fetchOffset:      fp.fetchOffset,
			lastFetchedEpoch: fp.p.log.LatestEpoch(),
			logStartOffset:   fp.p.log.LogStartOffset(),
		}
		if held, ok := fs.held[tp]; ok && held == pos && !fs.full {
			continue // the leader's session has it as it is
		}
		fs.pending[tp] = pos
		i, ok := topics[tp.Topic]
		if !ok {
			i = len(req.Topics)
			topics[tp.Topic] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic = tp.Topic
			req.Topics = append(req.Topics, t)
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = tp.Partition
		rp.CurrentLeaderEpoch = pos.leaderEpoch
		rp.FetchOffset = pos.fetchOffset
		rp.LastFetchedEpoch = pos.lastFetchedEpoch
		rp.LogStartOffset = pos.logStartOffset
		rp.PartitionMaxBytes = m.cfg.Fetch.MaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	if !fs.full {
		for tp := range fs.held {
			if f.parts[tp] == nil {
				fs.forgotten = append(fs.forgotten, tp)
			}
		}
		forgotten := make(map[string]int)
		for _, tp := range fs.forgotten {
			i, ok := forgotten[tp.Topic]
			if !ok {
				i = len(req.ForgottenTopics)
				forgotten[tp.Topic] = i
				t := kmsg.NewFetchRequestForgottenTopic()
				t.Topic = tp.Topic
				req.ForgottenTopics = append(req.ForgottenTopics, t)
			}
			req.ForgottenTopics[i].Partitions = append(req.ForgottenTopics[i].Partitions, tp.Partition)
		}
	}
	if fetching == 0 && len(fs.forgotten) > 0 {
		// Nothing to fetch, but the session still holds partitions: drop
		// the session rather than keep it for nothing.
		fs.reset()
	}
	return req, fetching, next
}

// applyReplicaFetch writes what the leader answered into each partition of
// the request: those in the answer (an incremental answer leaves out those
// with nothing new).
func (m *Manager) applyReplicaFetch(f *fetcher, resp *kmsg.FetchResponse) {
	var throttled int64
	for i := range resp.Topics {
		t := &resp.Topics[i]
		for j := range t.Partitions {
			rp := &t.Partitions[j]
			tp := zkpaths.TopicPartition{Topic: t.Topic, Partition: rp.Partition}
			f.mu.Lock()
			fp := f.parts[tp]
			f.mu.Unlock()
			if fp == nil || fp.inFetch != f.requests {
				continue // not fetched by this request (any more)
			}
			if fp.p.throttled.Load()&throttledAsFollower != 0 {
				throttled += int64(len(rp.RecordBatches))
			}
			m.applyFetchedAnswer(f, fp, rp)
		}
	}
	m.recordThrottledFetched(throttled)
}

// applyFetchedAnswer applies one partition's answer, and on an error delays
// the partition's next fetch or pauses it.
func (m *Manager) applyFetchedAnswer(f *fetcher, fp *fetchedPartition, rp *kmsg.FetchResponseTopicPartition) {
	err := m.applyFetchedPartition(fp, rp)
	if err == errStaleAnswer {
		// Nothing of the answer was applied: name the partition in the
		// next request, for the leader to answer it again in full.
		delete(f.session.held, fp.p.tp)
		return
	}
	if err == nil {
		fp.caughtUp = rp.HighWatermark >= 0 && fp.p.log.LogEndOffset() >= rp.HighWatermark
		return
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

// errStaleAnswer is applyFetchedPartition's answer to a partition's answer
// that no longer applies: its role or log changed while the fetch was out.
var errStaleAnswer = errors.New("the answer no longer applies to the partition")

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
		return errStaleAnswer // the role changed while the fetch was out
	}
	if p.log.LogEndOffset() != fp.fetchOffset {
		return errStaleAnswer // the partition moved to another fetcher, which wrote meanwhile
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
		// A new follower, or one whose log ends where its last epoch ends
		// on the leader, truncates no record, only epoch history: worth a
		// line only at debug level, as at 100,000 partitions a restart
		// sees tens of thousands of them.
		level := logrus.InfoLevel
		if offset >= leo {
			level = logrus.DebugLevel
		}
		m.partitionLogger(p).WithFields(logrus.Fields{
			"leader": fp.target.leader, "leader_epoch": fp.target.epoch,
			"diverging_epoch": rp.DivergingEpoch.Epoch, "diverging_end_offset": rp.DivergingEpoch.EndOffset,
			"log_end_offset": leo, "truncate_to": offset,
		}).Log(level, "log diverges from the leader's: truncating")
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
