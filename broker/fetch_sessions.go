package broker

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/zkpaths"
)

// Incremental fetch sessions (KIP-227). A fetcher that holds a session
// sends only the partitions whose fetch position changed since its last
// request, and the broker answers only the partitions that have something
// new for it: records, an error, a divergence, or a moved high watermark,
// last stable offset or log start offset. An idle follower of thousands of
// partitions then exchanges a few bytes per fetch instead of every
// partition both ways.
//
// The protocol, as Kafka's FetchSession.scala serves it (Fetch v7+):
//   - epoch -1 (FINAL): a full, sessionless fetch; a session id names a
//     session to close first.
//   - epoch 0 (INITIAL): a full fetch that asks for a new session (closing
//     the one a session id names); the answer carries the new session's id,
//     or 0 when none could be made (the fetcher then fetches in full).
//   - epoch > 0: an incremental fetch of the session id, which must carry
//     the epoch the session expects (FETCH_SESSION_ID_NOT_FOUND,
//     INVALID_FETCH_SESSION_EPOCH otherwise). Its partitions are added to
//     the session or update their position; its forgotten topics leave it.
//     The epoch then moves on by one (wrapping to 1).
//
// Omitting a partition from an answer says "nothing changed", so every
// rule that could hide a change errs on the side of sending: a partition
// new to the session, or whose last answer was an error, is sent at once.

// fetchSessionEvictAfter is Kafka's min.incremental.fetch.session.eviction.ms
// default: a session unused for this long may be evicted by any new one,
// and a session younger than it only by a more valuable one.
const fetchSessionEvictAfter = 120 * time.Second

// Kafka's session epochs.
const (
	fetchSessionInitialEpoch = 0
	fetchSessionFinalEpoch   = -1
)

// fetchSessionCache holds the incremental fetch sessions, at most slots
// (max.incremental.fetch.session.cache.slots).
type fetchSessionCache struct {
	slots      int
	evictAfter time.Duration
	// evictions counts the sessions evicted to make room for others.
	evictions atomic.Int64

	mu       sync.Mutex
	sessions map[int32]*fetchSession
}

func newFetchSessionCache(slots int) *fetchSessionCache {
	return &fetchSessionCache{slots: slots, evictAfter: fetchSessionEvictAfter, sessions: make(map[int32]*fetchSession)}
}

// fetchSession is one fetcher's session: the partitions it fetches, where
// from, and what it was last told of each.
type fetchSession struct {
	id int32
	// privileged: an authorized follower's session, which only a stale
	// session or another follower's larger one may evict.
	privileged bool
	created    time.Time

	// lastUsed and size are the cache's, under its mu, for eviction.
	lastUsed time.Time
	size     int

	// mu serializes the requests of the session: the epoch check, the
	// changes a request brings, and each read of it with its answer.
	mu sync.Mutex
	// epoch is the epoch the next incremental request must carry.
	epoch int32
	// closed is set when the session leaves the cache (without fs.mu, so
	// that the cache never waits on a request reading the session): a
	// request still reading it answers as usual, and the fetcher learns on
	// its next request that the session is gone.
	closed atomic.Bool
	parts  []sessionPartition
	index  map[zkpaths.TopicPartition]int // into parts
	// start is where the next read of the session begins: past the last
	// partition that returned records, so that a response budget too small
	// for every partition's records serves them in turn (as Kafka moves the
	// partitions it answered to the end of its session).
	start int
	// reads is the buffer each read of the session fills, kept between
	// requests so that a fetch allocates nothing per idle partition. gen
	// counts the reads and changes of the session: a read is answered
	// after its wait only if it is still the last thing that happened.
	reads []fetchPartition
	gen   uint64
}

// sessionPartition is a partition of a session: where the fetcher last
// said to read it from, and what it was last told.
type sessionPartition struct {
	topic string
	want  kmsg.FetchRequestTopicPartition
	// sent is false until the partition is answered (and again after an
	// error answer): it must be in the next answer whatever changed.
	sent                                      bool
	highWatermark, lastStable, logStartOffset int64
}

func (sp *sessionPartition) tp() zkpaths.TopicPartition {
	return zkpaths.TopicPartition{Topic: sp.topic, Partition: sp.want.Partition}
}

// mustAnswer reports whether fp, read for sp, goes in an incremental answer.
func (sp *sessionPartition) mustAnswer(fp *fetchPartition) bool {
	return !sp.sent || fp.errorCode != 0 || fp.diverging || fp.recordsSize() > 0 ||
		fp.highWatermark != sp.highWatermark || fp.lastStable != sp.lastStable || fp.logStartOffset != sp.logStartOffset
}

// answered records that fp, read for sp, was answered.
func (sp *sessionPartition) answered(fp *fetchPartition) {
	sp.sent = fp.errorCode == 0
	sp.highWatermark, sp.lastStable, sp.logStartOffset = fp.highWatermark, fp.lastStable, fp.logStartOffset
}

// fetchContext is how one Fetch uses the sessions.
type fetchContext struct {
	// session, when not nil, is the session the request reads: all of it
	// for an incremental request, which is answered with the partitions
	// mustAnswer picks; for a full request that made it, the request's
	// partitions, all answered.
	session     *fetchSession
	incremental bool
	// sessionID is the id the answer carries (0: none).
	sessionID int32
	// errorCode is the answer's top-level error: FETCH_SESSION_ID_NOT_FOUND
	// or INVALID_FETCH_SESSION_EPOCH, answered with no partitions.
	errorCode int16
}

// open applies a Fetch's session fields (v7+; older versions have none and
// fetch without a session) and returns how the request is served; a new
// session is privileged (an authorized follower's) as said. A nil cache
// keeps no sessions.
func (c *fetchSessionCache) open(in *kmsg.FetchRequest, privileged bool, now time.Time) fetchContext {
	if c == nil || in.Version < 7 {
		return fetchContext{}
	}
	switch in.SessionEpoch {
	case fetchSessionFinalEpoch:
		if in.SessionID != 0 {
			c.remove(in.SessionID)
		}
		return fetchContext{}
	case fetchSessionInitialEpoch:
		if in.SessionID != 0 {
			c.remove(in.SessionID)
		}
		fs := c.create(privileged, in.Topics, now)
		if fs == nil {
			return fetchContext{}
		}
		return fetchContext{session: fs, sessionID: fs.id}
	}
	c.mu.Lock()
	fs := c.sessions[in.SessionID]
	c.mu.Unlock()
	if fs == nil {
		return fetchContext{errorCode: kerr.FetchSessionIDNotFound.Code}
	}
	fs.mu.Lock()
	if fs.closed.Load() {
		fs.mu.Unlock()
		return fetchContext{errorCode: kerr.FetchSessionIDNotFound.Code}
	}
	if fs.epoch != in.SessionEpoch {
		fs.mu.Unlock()
		return fetchContext{errorCode: kerr.InvalidFetchSessionEpoch.Code}
	}
	fs.update(in.Topics, in.ForgottenTopics)
	fs.gen++
	fs.epoch = nextSessionEpoch(fs.epoch)
	size := len(fs.parts)
	fs.mu.Unlock()
	c.touch(fs, size, now)
	return fetchContext{session: fs, incremental: true, sessionID: fs.id}
}

// nextSessionEpoch follows epoch, wrapping past the largest to 1 (0 and -1
// have their own meanings), as Kafka's JFetchMetadata.nextEpoch.
func nextSessionEpoch(epoch int32) int32 {
	if epoch == math.MaxInt32 {
		return 1
	}
	return epoch + 1
}

// update applies an incremental request to the session: its partitions
// join the session or move their position; its forgotten partitions leave.
// fs.mu is held.
func (fs *fetchSession) update(topics []kmsg.FetchRequestTopic, forgotten []kmsg.FetchRequestForgottenTopic) {
	removed := false
	for _, ft := range forgotten {
		for _, p := range ft.Partitions {
			tp := zkpaths.TopicPartition{Topic: ft.Topic, Partition: p}
			if i, ok := fs.index[tp]; ok {
				fs.parts[i].topic = "" // marked; compacted below
				delete(fs.index, tp)
				removed = true
			}
		}
	}
	if removed {
		kept := fs.parts[:0]
		for _, sp := range fs.parts {
			if sp.topic != "" {
				fs.index[sp.tp()] = len(kept)
				kept = append(kept, sp)
			}
		}
		clear(fs.parts[len(kept):]) // drop the topic names
		fs.parts = kept
		if fs.start >= len(fs.parts) {
			fs.start = 0
		}
	}
	fs.add(topics)
}

// add puts the partitions of topics into the session, or moves the position
// of those already in it. fs.mu is held (or fs is not shared yet).
func (fs *fetchSession) add(topics []kmsg.FetchRequestTopic) {
	for _, t := range topics {
		for _, rp := range t.Partitions {
			tp := zkpaths.TopicPartition{Topic: t.Topic, Partition: rp.Partition}
			if i, ok := fs.index[tp]; ok {
				// A fetcher names a partition again when it moved, or when
				// it could not use the last answer: answer it in full.
				fs.parts[i].want, fs.parts[i].sent = rp, false
				continue
			}
			fs.index[tp] = len(fs.parts)
			fs.parts = append(fs.parts, sessionPartition{topic: t.Topic, want: rp})
		}
	}
}

// create makes a session of topics' partitions, evicting another when the
// cache is full and the rules allow (see evictLocked); nil when there is no
// room, or nothing to keep.
func (c *fetchSessionCache) create(privileged bool, topics []kmsg.FetchRequestTopic, now time.Time) *fetchSession {
	size := 0
	for _, t := range topics {
		size += len(t.Partitions)
	}
	if size == 0 || c.slots <= 0 {
		return nil
	}
	fs := &fetchSession{privileged: privileged, created: now, lastUsed: now, epoch: 1,
		index: make(map[zkpaths.TopicPartition]int, size), parts: make([]sessionPartition, 0, size)}
	fs.add(topics)
	fs.size = len(fs.parts)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sessions) >= c.slots && !c.evictLocked(privileged, fs.size, now) {
		return nil
	}
	for fs.id == 0 || c.sessions[fs.id] != nil {
		fs.id = rand.Int32N(math.MaxInt32) + 1 // 1..MaxInt32: 0 means none
	}
	c.sessions[fs.id] = fs
	return fs
}

// evictLocked makes room for a new session of size partitions, as Kafka's
// FetchSessionCache.tryEvict: the least recently used session goes if it
// has been unused for evictAfter; otherwise the least valuable session
// that may be evicted goes if the new one is worth more. A session younger
// than evictAfter may be evicted only by a follower's, and only when it is
// a consumer's; a follower's session is worth more than a consumer's, and
// between equals the larger is. It reports whether a session was evicted.
// c.mu is held.
func (c *fetchSessionCache) evictLocked(privileged bool, size int, now time.Time) bool {
	var lru, victim *fetchSession
	for _, fs := range c.sessions {
		if lru == nil || fs.lastUsed.Before(lru.lastUsed) {
			lru = fs
		}
		old := now.Sub(fs.created) > c.evictAfter
		if !old && !(privileged && !fs.privileged) {
			continue
		}
		if victim == nil || lessValuable(fs, victim) {
			victim = fs
		}
	}
	if lru != nil && now.Sub(lru.lastUsed) > c.evictAfter {
		c.removeLocked(lru)
		c.evictions.Add(1)
		return true
	}
	if victim == nil {
		return false
	}
	if victim.privileged && !privileged || victim.privileged == privileged && size <= victim.size {
		return false
	}
	c.removeLocked(victim)
	c.evictions.Add(1)
	return true
}

// lessValuable orders sessions for eviction: consumers' first, then the
// smaller, then the less recently used.
func lessValuable(a, b *fetchSession) bool {
	if a.privileged != b.privileged {
		return !a.privileged
	}
	if a.size != b.size {
		return a.size < b.size
	}
	return a.lastUsed.Before(b.lastUsed)
}

// touch records a use of fs, now holding size partitions.
func (c *fetchSessionCache) touch(fs *fetchSession, size int, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fs.lastUsed, fs.size = now, size
}

// remove closes session id, if the cache has it.
func (c *fetchSessionCache) remove(id int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if fs := c.sessions[id]; fs != nil {
		c.removeLocked(fs)
	}
}

// removeLocked takes fs out of the cache; c.mu is held.
func (c *fetchSessionCache) removeLocked(fs *fetchSession) {
	delete(c.sessions, fs.id)
	fs.closed.Store(true)
}

// len is the number of sessions held (a nil cache holds none).
func (c *fetchSessionCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

// partitions is the number of partitions the sessions hold, as of their
// last use.
func (c *fetchSessionCache) partitions() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, fs := range c.sessions {
		n += fs.size
	}
	return n
}

// fetchSessionMetrics are the gauges and counter of the fetch session cache,
// Kafka's NumIncrementalFetchSessions, NumIncrementalFetchPartitionsCached
// and IncrementalFetchSessionEvictionsPerSec.
func (s *Server) fetchSessionMetrics() []prometheus.Collector {
	c := s.fetchSessions
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kzoo_fetch_sessions",
			Help: "Incremental fetch sessions (KIP-227) this broker holds, of max.incremental.fetch.session.cache.slots.",
		}, func() float64 { return float64(c.len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kzoo_fetch_session_partitions",
			Help: "Partitions held by this broker's incremental fetch sessions.",
		}, func() float64 { return float64(c.partitions()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kzoo_fetch_session_evictions_total",
			Help: "Incremental fetch sessions evicted to make room for another.",
		}, func() float64 {
			if c == nil {
				return 0
			}
			return float64(c.evictions.Load())
		}),
	}
}

// answeredAll records, for a session made by a full request, that every
// partition of topics (the request's, all answered) was answered.
func (fs *fetchSession) answeredAll(topics []fetchTopic) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, t := range topics {
		for i := range t.partitions {
			fp := &t.partitions[i]
			if j, ok := fs.index[zkpaths.TopicPartition{Topic: t.name, Partition: fp.partition}]; ok {
				fs.parts[j].answered(fp)
			}
		}
	}
}

// readSession reads every partition of an incremental Fetch's session, from
// where the last answer left off, and when the Fetch is to be answered
// (fetchRead.done) answers the partitions with news for the fetcher
// (sessionPartition.mustAnswer), recording what it is told. Otherwise the
// read stays in fs.reads, for answerRead.
func (s *Server) readSession(fs *fetchSession, fr *fetchRead) fetchPass {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.gen++
	n := len(fs.parts)
	if cap(fs.reads) < n {
		fs.reads = make([]fetchPartition, n)
	}
	reads := fs.reads[:n]
	var total int64
	failed, diverging := false, false
	for k := range n {
		sp := &fs.parts[(fs.start+k)%n]
		fp := &reads[k]
		*fp = fetchPartition{partition: sp.want.Partition, highWatermark: -1, lastStable: -1, logStartOffset: -1}
		limit := min(int64(sp.want.PartitionMaxBytes), fr.budget-total)
		if !fr.readable(sp.topic) {
			fp.errorCode = kerr.TopicAuthorizationFailed.Code
			failed = true
		} else if err := s.readPartition(fr.replicaID, fr.consumer, sp.topic, &sp.want, limit, total == 0, fp); err != nil {
			fp.errorCode = errorCode(err)
			failed = true
		}
		total += fp.recordsSize()
		diverging = diverging || fp.diverging
	}
	if !fr.done(total, failed, diverging) {
		return fetchPass{gen: fs.gen}
	}
	topics := fs.answer(reads)
	clear(reads) // the slices and chunks are the answer's now
	return fetchPass{done: true, topics: topics}
}

// answerRead answers the session's last read if it is read generation gen:
// nothing read or changed the session since.
func (fs *fetchSession) answerRead(gen uint64) ([]fetchTopic, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.gen != gen {
		return nil, false
	}
	fs.gen++
	reads := fs.reads[:len(fs.parts)]
	topics := fs.answer(reads)
	clear(reads)
	return topics, true
}

// answer picks the partitions of reads (the session's, read from fs.start
// on) that have news, records what they are told, and moves fs.start past
// the last one that returned records. fs.mu is held.
func (fs *fetchSession) answer(reads []fetchPartition) []fetchTopic {
	n := len(fs.parts)
	var topics []fetchTopic
	var topicIndex map[string]int
	last := -1
	for k := range reads {
		slot := (fs.start + k) % n
		sp, fp := &fs.parts[slot], &reads[k]
		if !sp.mustAnswer(fp) {
			continue
		}
		sp.answered(fp)
		if fp.recordsSize() > 0 {
			last = slot
		}
		i, ok := -1, false
		if len(topics) > 0 && topics[len(topics)-1].name == sp.topic {
			i, ok = len(topics)-1, true
		} else if topicIndex != nil {
			i, ok = topicIndex[sp.topic]
		}
		if !ok {
			if topicIndex == nil {
				topicIndex = make(map[string]int)
			}
			i = len(topics)
			topicIndex[sp.topic] = i
			topics = append(topics, fetchTopic{name: sp.topic})
		}
		topics[i].partitions = append(topics[i].partitions, *fp)
	}
	if last >= 0 {
		fs.start = (last + 1) % n
	}
	return topics
}
