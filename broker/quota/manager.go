package quota

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
)

const (
	// idleExpiry is how long a rate nobody records to is kept: Kafka drops a
	// client's quota sensors after an hour without traffic, which bounds the
	// memory many short-lived client ids take.
	idleExpiry = time.Hour
	// sweepInterval is how often a Record call looks for idle rates to drop.
	sweepInterval = time.Minute
	// touchGranularity is how stale a binding's last use may get before a
	// Record writes it again: writing it on every request would bounce its
	// cache line between the cores serving one client.
	touchGranularity = time.Second
)

// Manager accounts client and topic traffic to the quotas that apply and
// says how long to throttle. It is safe for concurrent use, and the data
// path takes no lock but the mutex of the one rate it records to:
//
//   - the quotas in force are an immutable value behind an atomic pointer,
//     replaced whole by SetClientQuotas and SetTopicQuotas; with no quota of
//     a kind configured, Record costs that one atomic load;
//   - which entity's quota applies to an identity (Kafka's precedence) is
//     resolved once per identity and quota version and cached ("bindings");
//   - the rates ("meters") live in a concurrent map, each with its own mutex;
//     they outlive quota changes (a changed bound applies to the rate
//     measured so far, as in Kafka) and are dropped after an hour unused.
type Manager struct {
	settings Settings
	now      func() time.Time
	idle     time.Duration // idleExpiry; a field so that tests can shorten it
	every    time.Duration // sweepInterval; likewise

	clients atomic.Pointer[clientQuotas]
	topics  atomic.Pointer[topicQuotas]
	version atomic.Uint64 // numbers client quota sets, so bindings can tell theirs is stale

	bindings   sync.Map // bindKey → *binding
	meters     sync.Map // meterKey → *meter: client quota rates
	topicRates sync.Map // topicKey → *meter
	nextSweep  atomic.Int64
}

// clientQuotas is one immutable set of client quotas.
type clientQuotas struct {
	version uint64
	bounds  [numKinds]map[zkpaths.QuotaEntity]float64 // nil: no quota of that kind
}

// topicQuotas is one immutable set of topic quotas.
type topicQuotas struct {
	bounds [numKinds]map[string]float64 // only Produce and Fetch; nil: none of that kind
}

// TopicQuota is a topic's quotas on this broker, in bytes/s; 0: none.
type TopicQuota struct{ Produce, Fetch float64 }

// NewManager returns a manager with no quotas, measuring over s's windows
// with the clock now (time.Now if nil).
func NewManager(s Settings, now func() time.Time) *Manager {
	if now == nil {
		now = time.Now
	}
	m := &Manager{settings: s.orDefault(), now: now, idle: idleExpiry, every: sweepInterval}
	m.clients.Store(&clientQuotas{})
	m.topics.Store(&topicQuotas{})
	return m
}

// SetClientQuotas replaces every client quota entity; keys that are not
// client quota keys (e.g. SCRAM credentials under /config/users) and
// unparsable values are ignored.
func (m *Manager) SetClientQuotas(entities map[zkpaths.QuotaEntity]map[string]string) {
	q := &clientQuotas{version: m.version.Add(1)}
	for e, config := range entities {
		if e.User == "" && e.ClientID == "" {
			continue // not an entity
		}
		for key, value := range config {
			kind, ok := kindOfKey(key)
			if !ok {
				continue
			}
			bound, err := ParseClientQuota(key, value)
			if err != nil {
				continue // the API refuses such values; one written by hand means no quota
			}
			if q.bounds[kind] == nil {
				q.bounds[kind] = make(map[zkpaths.QuotaEntity]float64)
			}
			q.bounds[kind][e] = bound
		}
	}
	m.clients.Store(q)
}

// SetTopicQuotas replaces every topic quota; a rate <= 0 is none.
func (m *Manager) SetTopicQuotas(topics map[string]TopicQuota) {
	q := &topicQuotas{}
	add := func(kind Kind, topic string, bound float64) {
		if bound <= 0 {
			return
		}
		if q.bounds[kind] == nil {
			q.bounds[kind] = make(map[string]float64)
		}
		q.bounds[kind][topic] = bound
	}
	for topic, tq := range topics {
		add(Produce, topic, tq.Produce)
		add(Fetch, topic, tq.Fetch)
	}
	m.topics.Store(q)
}

// Quota returns the quota of kind in effect for who and the entity it comes
// from.
func (m *Manager) Quota(kind Kind, who Identity) (bound float64, from zkpaths.QuotaEntity, ok bool) {
	if !kind.valid() {
		return 0, zkpaths.QuotaEntity{}, false
	}
	return m.clients.Load().resolve(kind, who)
}

// precedence is Kafka's order of the client quota entities that may apply
// to a user u and client id c (ZooKeeper mode's DefaultQuotaCallback): the
// first entity that has the kind's key wins.
var precedence = [8]struct{ user, client part }{
	{named, named},  // /config/users/<u>/clients/<c>
	{named, deflt},  // /config/users/<u>/clients/<default>
	{named, absent}, // /config/users/<u>
	{deflt, named},  // /config/users/<default>/clients/<c>
	{deflt, deflt},  // /config/users/<default>/clients/<default>
	{deflt, absent}, // /config/users/<default>
	{absent, named}, // /config/clients/<c>
	{absent, deflt}, // /config/clients/<default>
}

type part int8

const (
	absent part = iota // the entity has no such part
	named              // the part names this identity's user or client id
	deflt              // <default>
)

func (p part) name(own string) (string, bool) {
	switch p {
	case named:
		// An empty name (a client that sent no client id) cannot be a named
		// entity: only the <default> entities match it.
		return own, own != ""
	case deflt:
		return zkpaths.DefaultConfigEntity, true
	}
	return "", true
}

// resolve finds the quota of kind for who by Kafka's precedence.
func (q *clientQuotas) resolve(kind Kind, who Identity) (float64, zkpaths.QuotaEntity, bool) {
	bounds := q.bounds[kind]
	if bounds == nil {
		return 0, zkpaths.QuotaEntity{}, false
	}
	for _, p := range precedence {
		user, ok1 := p.user.name(who.User)
		client, ok2 := p.client.name(who.ClientID)
		if !ok1 || !ok2 {
			continue
		}
		e := zkpaths.QuotaEntity{User: user, ClientID: client}
		if bound, ok := bounds[e]; ok {
			return bound, e, true
		}
	}
	return 0, zkpaths.QuotaEntity{}, false
}

// bindKey is one identity's use of one kind of quota.
type bindKey struct {
	kind Kind
	who  Identity
}

// meterKey names a client quota rate as Kafka tags its quota sensors: the
// identity's user if the entity has a user part, its client id if it has a
// client part. So clients matched through the same named entity share one
// rate (users/alice: user=alice, client-id="" for all of alice's clients),
// and clients matched through a <default> part each have their own (the
// default is a bound per user or per client id).
type meterKey struct {
	kind         Kind
	user, client string
}

type topicKey struct {
	kind  Kind
	topic string
}

// binding is the cached resolution of a bindKey under one quota set. It is
// immutable but for lastUsed.
type binding struct {
	version  uint64
	bound    float64
	from     zkpaths.QuotaEntity
	meter    *meter // nil: no quota of the kind applies to the identity
	lastUsed atomic.Int64
}

func (b *binding) touch(t int64) {
	if t-b.lastUsed.Load() >= int64(touchGranularity) {
		b.lastUsed.Store(t)
	}
}

// meter is one rate and what it has cost its clients.
type meter struct {
	mu   sync.Mutex
	rate *Rate
	// bucket decides controller mutation throttles, as Kafka's token bucket
	// does; rate then only feeds the metrics. nil for other kinds.
	bucket    *tokenBucket
	bound     float64             // the bound applied at the last record
	from      zkpaths.QuotaEntity // the entity that bound came from (client rates)
	throttled time.Duration       // throttle time handed out, in total
	lastUsed  int64               // UnixNano of the last record
	expired   bool                // dropped from its map: record to a fresh meter instead
}

func newMeter(s Settings, kind Kind, t int64) *meter {
	mt := &meter{rate: NewRate(s), lastUsed: t}
	if kind == ControllerMutation {
		mt.bucket = newTokenBucket(s)
	}
	return mt
}

// record adds value, returning the throttle time, or false if the meter has
// expired and the caller must look up a fresh one. With undo it takes value
// back out instead, throttling nobody.
func (mt *meter) record(value, bound float64, from zkpaths.QuotaEntity, now time.Time, undo bool, limit time.Duration) (time.Duration, bool) {
	mt.mu.Lock()
	defer mt.mu.Unlock()
	if mt.expired {
		return 0, false
	}
	mt.lastUsed = now.UnixNano()
	if undo {
		mt.rate.Record(-value, now)
		if mt.bucket != nil {
			mt.bucket.record(-value, bound, now)
		}
		return 0, true
	}
	var d time.Duration
	if mt.bucket != nil {
		mt.rate.Record(value, now)
		mt.bucket.record(value, bound, now)
		d = mt.bucket.throttle(bound, now)
	} else {
		d = min(mt.rate.RecordAndThrottle(value, bound, now), limit)
	}
	mt.throttled += d
	mt.bound, mt.from = bound, from
	return d, true
}

// throttle is the meter's current throttle time; 0 once expired (a fresh
// meter has recorded nothing).
func (mt *meter) throttle(bound float64, now time.Time) time.Duration {
	mt.mu.Lock()
	defer mt.mu.Unlock()
	switch {
	case mt.expired:
		return 0
	case mt.bucket != nil:
		return mt.bucket.throttle(bound, now)
	default:
		return mt.rate.Throttle(bound, now)
	}
}

// Record accounts value to the quota entity of kind that applies to who, and
// returns how long the client is throttled (0 within quota or when no quota
// applies). Value: bytes for Produce/Fetch, percent-seconds of a handler
// thread for Request (handler time in seconds × 100), partitions for
// ControllerMutation. When no quota of kind is configured it costs one
// atomic load.
func (m *Manager) Record(kind Kind, who Identity, value float64) time.Duration {
	return m.account(kind, who, value, false)
}

// Unrecord takes value back out of the rate Record put it in (nothing when
// no quota applies). Kafka does this for a fetch it throttles: the client
// gets an empty response, so the bytes it would have carried must not count
// against it (KafkaApis' unrecordQuotaSensor).
func (m *Manager) Unrecord(kind Kind, who Identity, value float64) {
	m.account(kind, who, value, true)
}

func (m *Manager) account(kind Kind, who Identity, value float64, undo bool) time.Duration {
	if !kind.valid() || m.clients.Load().bounds[kind] == nil {
		return 0 // the data path's common case: one atomic load
	}
	for {
		q, b, now := m.lookup(kind, who)
		if q == nil {
			return 0
		}
		// Sweeps run while quotas of a kind are configured, so that the
		// bindings of identities no quota applies to do not pile up.
		m.sweepIfDue(now)
		if b == nil {
			return 0
		}
		if d, ok := b.meter.record(value, b.bound, b.from, now, undo, m.throttleLimit(kind)); ok {
			return d
		}
		// The meter expired between the lookup and the record: bind anew,
		// which finds or makes a live one.
		m.bindings.CompareAndDelete(bindKey{kind: kind, who: who}, b)
	}
}

// lookup returns the quotas in force and who's binding for kind in them,
// with the time it was looked up at. q is nil when no quota of kind is
// configured, which costs one atomic load; b is nil when none applies to
// who. Bindings are cached, so Kafka's precedence is resolved once per
// identity and quota set.
func (m *Manager) lookup(kind Kind, who Identity) (q *clientQuotas, b *binding, now time.Time) {
	q = m.clients.Load()
	if !kind.valid() || q.bounds[kind] == nil {
		return nil, nil, time.Time{}
	}
	now = m.now()
	if b = m.bind(q, bindKey{kind: kind, who: who}, now); b.meter == nil {
		return q, nil, now
	}
	return q, b, now
}

// throttleLimit bounds the throttle one request earns: Kafka bounds the
// request quota's at one sample window (a client cannot pay back a burst of
// handler time it did not choose), and no other.
func (m *Manager) throttleLimit(kind Kind) time.Duration {
	if kind == Request {
		return m.settings.SampleWindow
	}
	return maxThrottle
}

// MaxInWindow is the most of kind who can send in one go without being
// throttled for it even after a silence: the bound over one window (see
// Rate.windowSize; Kafka's is over Samples-1 windows). Kafka caps the bytes
// of a fetch response at this for clients with a fetch quota
// (getMaxValueInQuotaWindow), so that one response cannot overshoot the
// quota on its own. ok is false when no quota of kind applies to who.
func (m *Manager) MaxInWindow(kind Kind, who Identity) (limit float64, ok bool) {
	if _, b, _ := m.lookup(kind, who); b != nil {
		return b.bound * m.settings.SampleWindow.Seconds(), true
	}
	return 0, false
}

// Throttled returns how long who is throttled for kind right now, recording
// nothing: 0 within quota, when no quota applies, or before anything was
// recorded. Kafka's strict controller mutation quota (KIP-599: CreateTopics
// v6+, CreatePartitions v3+ and DeleteTopics v5+ refuse the work with
// THROTTLING_QUOTA_EXCEEDED while the client is over its quota) checks this
// before each topic, then Records the partitions of those it accepts.
func (m *Manager) Throttled(kind Kind, who Identity) time.Duration {
	if _, b, now := m.lookup(kind, who); b != nil {
		return b.meter.throttle(b.bound, now)
	}
	return 0
}

// bind returns key's binding under q, resolving it if there is none yet or
// it was made under another quota set.
func (m *Manager) bind(q *clientQuotas, key bindKey, now time.Time) *binding {
	t := now.UnixNano()
	if v, ok := m.bindings.Load(key); ok {
		if b := v.(*binding); b.version == q.version {
			b.touch(t)
			return b
		}
	}
	b := &binding{version: q.version}
	b.lastUsed.Store(t)
	if bound, from, ok := q.resolve(key.kind, key.who); ok {
		b.bound, b.from = bound, from
		mk := meterKey{kind: key.kind}
		if from.User != "" {
			mk.user = key.who.User
		}
		if from.ClientID != "" {
			mk.client = key.who.ClientID
		}
		b.meter = m.meter(&m.meters, mk, key.kind, t)
	}
	m.bindings.Store(key, b)
	return b
}

// meter returns the live meter of key in meters, making it if need be.
func (m *Manager) meter(meters *sync.Map, key any, kind Kind, t int64) *meter {
	if v, ok := meters.Load(key); ok {
		return v.(*meter)
	}
	v, _ := meters.LoadOrStore(key, newMeter(m.settings, kind, t))
	return v.(*meter)
}

// RecordTopic accounts bytes to topic's quota of kind (Produce or Fetch) and
// returns how long the client is throttled (0 within quota or when the topic
// has none). When no topic has a quota of kind it costs one atomic load.
func (m *Manager) RecordTopic(kind Kind, topic string, bytes float64) time.Duration {
	return m.accountTopic(kind, topic, bytes, false)
}

// UnrecordTopic takes bytes back out of topic's rate, as Unrecord does for
// a client's.
func (m *Manager) UnrecordTopic(kind Kind, topic string, bytes float64) {
	m.accountTopic(kind, topic, bytes, true)
}

func (m *Manager) accountTopic(kind Kind, topic string, bytes float64, undo bool) time.Duration {
	if kind != Produce && kind != Fetch {
		return 0
	}
	bounds := m.topics.Load().bounds[kind]
	if bounds == nil {
		return 0
	}
	bound, ok := bounds[topic]
	if !ok {
		return 0
	}
	now := m.now()
	m.sweepIfDue(now)
	key := topicKey{kind: kind, topic: topic}
	for {
		// An expired meter is out of the map before it is marked, so the
		// next lookup finds a live one.
		if d, ok := m.meter(&m.topicRates, key, kind, now.UnixNano()).record(bytes, bound, zkpaths.QuotaEntity{}, now, undo, m.throttleLimit(kind)); ok {
			return d
		}
	}
}

// sweepIfDue drops idle bindings and meters once every m.every; the caller
// that wins the race to move the deadline does the work.
func (m *Manager) sweepIfDue(now time.Time) {
	t := now.UnixNano()
	next := m.nextSweep.Load()
	if t < next || !m.nextSweep.CompareAndSwap(next, t+int64(m.every)) {
		return
	}
	m.sweep(t)
}

func (m *Manager) sweep(t int64) {
	current := m.clients.Load().version
	m.bindings.Range(func(k, v any) bool {
		if b := v.(*binding); b.version != current || t-b.lastUsed.Load() >= int64(m.idle) {
			m.bindings.CompareAndDelete(k, v)
		}
		return true
	})
	expire := func(meters *sync.Map) {
		meters.Range(func(k, v any) bool {
			mt := v.(*meter)
			mt.mu.Lock()
			if t-mt.lastUsed >= int64(m.idle) {
				// Out of the map first, then marked, both under the
				// meter's lock: a recorder that still holds it retries and
				// can only find a new one.
				meters.CompareAndDelete(k, v)
				mt.expired = true
			}
			mt.mu.Unlock()
			return true
		})
	}
	expire(&m.meters)
	expire(&m.topicRates)
}

// ClientStat is one client quota rate as the metrics report it.
type ClientStat struct {
	Kind Kind
	// User and ClientID tag the rate as Kafka tags its quota sensors: ""
	// where the entity has no such part, i.e. the rate is shared by all
	// users or client ids of that entity.
	User, ClientID string
	Entity         zkpaths.QuotaEntity // where the bound comes from
	Rate           float64             // per second, at the time of the call
	Bound          float64             // the bound applied at the last record
	Throttled      time.Duration       // throttle time handed out, in total
}

// TopicStat is one topic quota rate as the metrics report it.
type TopicStat struct {
	Kind      Kind
	Topic     string
	Rate      float64
	Bound     float64
	Throttled time.Duration
}

// ClientStats returns every live client quota rate, ordered by kind, user
// and client id.
func (m *Manager) ClientStats() []ClientStat {
	now := m.now()
	var out []ClientStat
	m.meters.Range(func(k, v any) bool {
		key, mt := k.(meterKey), v.(*meter)
		mt.mu.Lock()
		if !mt.expired {
			out = append(out, ClientStat{
				Kind: key.kind, User: key.user, ClientID: key.client, Entity: mt.from,
				Rate: mt.rate.Measure(now), Bound: mt.bound, Throttled: mt.throttled,
			})
		}
		mt.mu.Unlock()
		return true
	})
	slices.SortFunc(out, func(a, b ClientStat) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.User, b.User), cmp.Compare(a.ClientID, b.ClientID))
	})
	return out
}

// TopicStats returns every live topic quota rate, ordered by topic and kind.
func (m *Manager) TopicStats() []TopicStat {
	now := m.now()
	var out []TopicStat
	m.topicRates.Range(func(k, v any) bool {
		key, mt := k.(topicKey), v.(*meter)
		mt.mu.Lock()
		if !mt.expired {
			out = append(out, TopicStat{
				Kind: key.kind, Topic: key.topic,
				Rate: mt.rate.Measure(now), Bound: mt.bound, Throttled: mt.throttled,
			})
		}
		mt.mu.Unlock()
		return true
	})
	slices.SortFunc(out, func(a, b TopicStat) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Kind, b.Kind))
	})
	return out
}
