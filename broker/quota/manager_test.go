package quota

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
)

// clock is a settable clock safe for concurrent use.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(t0.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func newTestManager() (*Manager, *clock) {
	c := newClock()
	return NewManager(DefaultSettings(), c.Now), c
}
func entity(user, client string) zkpaths.QuotaEntity {
	return zkpaths.QuotaEntity{User: user, ClientID: client}
}

const def = zkpaths.DefaultConfigEntity

func TestPrecedenceAllEightLevels(t *testing.T) {
	m, _ := newTestManager()
	who := Identity{User: "alice", ClientID: "app"}
	levels := []zkpaths.QuotaEntity{
		entity("alice", "app"),
		entity("alice", def),
		entity("alice", ""),
		entity(def, "app"),
		entity(def, def),
		entity(def, ""),
		entity("", "app"),
		entity("", def),
	}
	// Entities of other users and clients never match.
	others := map[zkpaths.QuotaEntity]map[string]string{
		entity("bob", "app"):   {ProducerByteRate: "1"},
		entity("bob", ""):      {ProducerByteRate: "1"},
		entity("alice", "web"): {ProducerByteRate: "1"},
		entity("", "web"):      {ProducerByteRate: "1"},
	}
	for first := range levels {
		entities := map[zkpaths.QuotaEntity]map[string]string{}
		for e, c := range others {
			entities[e] = c
		}
		for i := first; i < len(levels); i++ {
			entities[levels[i]] = map[string]string{ProducerByteRate: fmt.Sprint(1000 + i)}
		}
		m.SetClientQuotas(entities)
		bound, from, ok := m.Quota(Produce, who)
		if !ok || from != levels[first] || bound != float64(1000+first) {
			t.Errorf("with levels %d.. configured: Quota = %v from %+v (%v), want %d from %+v",
				first+1, bound, from, ok, 1000+first, levels[first])
		}
	}
	m.SetClientQuotas(others)
	if _, from, ok := m.Quota(Produce, who); ok {
		t.Errorf("only other entities configured: quota from %+v, want none", from)
	}
}

func TestPrecedenceIsPerKind(t *testing.T) {
	m, _ := newTestManager()
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{
		entity("alice", "app"): {ConsumerByteRate: "10"},
		entity("alice", ""):    {ProducerByteRate: "20", RequestPercentage: "50"},
		entity(def, ""):        {ControllerMutationRate: "2.5", ProducerByteRate: "99"},
	})
	who := Identity{User: "alice", ClientID: "app"}
	for _, c := range []struct {
		kind  Kind
		bound float64
		from  zkpaths.QuotaEntity
	}{
		{Fetch, 10, entity("alice", "app")},
		{Produce, 20, entity("alice", "")},
		{Request, 50, entity("alice", "")},
		{ControllerMutation, 2.5, entity(def, "")},
	} {
		bound, from, ok := m.Quota(c.kind, who)
		if !ok || bound != c.bound || from != c.from {
			t.Errorf("%v: %v from %+v (%v), want %v from %+v", c.kind, bound, from, ok, c.bound, c.from)
		}
	}
}

func TestEmptyClientIDMatchesOnlyDefaults(t *testing.T) {
	m, _ := newTestManager()
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{
		entity("alice", ""):  {ProducerByteRate: "1"}, // must not be taken for users/alice/clients/""
		entity("", def):      {ProducerByteRate: "2"},
		entity("alice", def): {ConsumerByteRate: "3"},
	})
	who := Identity{User: "alice"}
	if b, from, _ := m.Quota(Produce, who); b != 1 || from != entity("alice", "") {
		t.Errorf("produce: %v from %+v, want users/alice", b, from)
	}
	if b, from, _ := m.Quota(Fetch, who); b != 3 || from != entity("alice", def) {
		t.Errorf("fetch: %v from %+v, want users/alice/clients/<default>", b, from)
	}
	if b, from, _ := m.Quota(Produce, Identity{User: "bob"}); b != 2 || from != entity("", def) {
		t.Errorf("bob produce: %v from %+v, want clients/<default>", b, from)
	}
}

func TestSetClientQuotasIgnoresOtherKeysAndBadValues(t *testing.T) {
	m, _ := newTestManager()
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{
		entity("alice", ""): {"SCRAM-SHA-256": "salt=...,iterations=4096", ProducerByteRate: "fast", ConsumerByteRate: "-5"},
		entity("", ""):      {ProducerByteRate: "7"}, // not an entity
		entity("", def):     {RequestPercentage: "25"},
	})
	who := Identity{User: "alice", ClientID: "c"}
	for _, k := range []Kind{Produce, Fetch, ControllerMutation} {
		if b, from, ok := m.Quota(k, who); ok {
			t.Errorf("%v: quota %v from %+v, want none", k, b, from)
		}
	}
	if b, _, ok := m.Quota(Request, who); !ok || b != 25 {
		t.Errorf("request: %v %v, want 25", b, ok)
	}
	if d := m.Record(Produce, who, 1e12); d != 0 {
		t.Errorf("Record without a produce quota throttled %v", d)
	}
	if n := len(m.ClientStats()); n != 0 {
		t.Errorf("%d rates kept with no quota of the kind, want 0", n)
	}
}

func TestRecordThrottlesAsKIP219(t *testing.T) {
	m, _ := newTestManager()
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{entity("alice", ""): {ProducerByteRate: "100"}})
	who := Identity{User: "alice", ClientID: "app"}
	if d := m.Record(Produce, who, 1000); d != 0 {
		t.Fatalf("1000 B in a 10 s window at 100 B/s: throttled %v, want 0", d)
	}
	// 2100 B in all: 210 B/s over 10 s, (210-100)/100 × 10 s = 11 s.
	if d := m.Record(Produce, who, 1100); d != 11*time.Second {
		t.Fatalf("throttle = %v, want 11s", d)
	}
	// Fetch has no quota: not throttled, whatever the produce rate.
	if d := m.Record(Fetch, who, 1e9); d != 0 {
		t.Fatalf("fetch throttled %v without a fetch quota", d)
	}
	st := m.ClientStats()
	if len(st) != 1 {
		t.Fatalf("stats = %+v, want one rate", st)
	}
	s := st[0]
	if s.Kind != Produce || s.User != "alice" || s.ClientID != "" || s.Entity != entity("alice", "") ||
		s.Rate != 210 || s.Bound != 100 || s.Throttled != 11*time.Second {
		t.Fatalf("stat = %+v", s)
	}
}

func TestRequestQuotaInPercent(t *testing.T) {
	m, _ := newTestManager()
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{entity("", def): {RequestPercentage: "10"}})
	who := Identity{User: "u", ClientID: "c"}
	// 1.5 s of handler time = 150 percent-seconds over 10 s = 15 %:
	// (15-10)/10 × 10 s = 5 s.
	if d := m.Record(Request, who, 150); d != 5*time.Second {
		t.Fatalf("throttle = %v, want 5s", d)
	}
}

func TestSharedAndSeparateRates(t *testing.T) {
	// A bound of 100 B/s; each client sends 600 B (60 B/s over 10 s,
	// within bound alone); two clients sharing one rate reach 120 B/s.
	const bytes = 600
	for _, c := range []struct {
		name   string
		entity zkpaths.QuotaEntity
		a, b   Identity
		shared bool
	}{
		{"named user: all its clients share", entity("alice", ""), Identity{"alice", "a1"}, Identity{"alice", "a2"}, true},
		{"named client: all its users share", entity("", "app"), Identity{"alice", "app"}, Identity{"bob", "app"}, true},
		{"named user and client: shared by nobody else", entity("alice", "app"), Identity{"alice", "app"}, Identity{"alice", "app"}, true},
		{"default user: one rate per user", entity(def, ""), Identity{"alice", "a1"}, Identity{"bob", "a1"}, false},
		{"default user: one user's clients share", entity(def, ""), Identity{"alice", "a1"}, Identity{"alice", "a2"}, true},
		{"default client: one rate per client id", entity("", def), Identity{"alice", "a1"}, Identity{"alice", "a2"}, false},
		{"default client: one client id's users share", entity("", def), Identity{"alice", "a1"}, Identity{"bob", "a1"}, true},
		{"named user, default client: one rate per client", entity("alice", def), Identity{"alice", "a1"}, Identity{"alice", "a2"}, false},
		{"default user, named client: one rate per user", entity(def, "app"), Identity{"alice", "app"}, Identity{"bob", "app"}, false},
		{"both default: one rate per user and client", entity(def, def), Identity{"alice", "a1"}, Identity{"alice", "a2"}, false},
		{"both default, other user", entity(def, def), Identity{"alice", "a1"}, Identity{"bob", "a1"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := newTestManager()
			m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{c.entity: {ProducerByteRate: "100"}})
			if d := m.Record(Produce, c.a, bytes); d != 0 {
				t.Fatalf("first client throttled %v", d)
			}
			d := m.Record(Produce, c.b, bytes)
			if c.shared && d != 2*time.Second { // (120-100)/100 × 10 s
				t.Fatalf("second client throttled %v, want 2s (shared rate)", d)
			}
			if !c.shared && d != 0 {
				t.Fatalf("second client throttled %v, want 0 (own rate)", d)
			}
			want := 2
			if c.shared {
				want = 1
			}
			if n := len(m.ClientStats()); n != want {
				t.Fatalf("%d rates, want %d: %+v", n, want, m.ClientStats())
			}
		})
	}
}

func TestMetricTagsFollowKafka(t *testing.T) {
	m, _ := newTestManager()
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{
		entity(def, "app"): {ProducerByteRate: "100"},
		entity("", def):    {ConsumerByteRate: "100"},
		entity("bob", ""):  {ConsumerByteRate: "100"},
	})
	m.Record(Produce, Identity{"alice", "app"}, 1)
	m.Record(Fetch, Identity{"alice", "app"}, 1)
	m.Record(Fetch, Identity{"bob", "app"}, 1)
	got := m.ClientStats()
	want := []struct {
		kind         Kind
		user, client string
		from         zkpaths.QuotaEntity
	}{
		{Produce, "alice", "app", entity(def, "app")},
		{Fetch, "", "app", entity("", def)},
		{Fetch, "bob", "", entity("bob", "")},
	}
	if len(got) != len(want) {
		t.Fatalf("stats %+v", got)
	}
	for i, w := range want {
		if g := got[i]; g.Kind != w.kind || g.User != w.user || g.ClientID != w.client || g.Entity != w.from {
			t.Errorf("stat %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestQuotaChangeKeepsTheRateAndAppliesTheNewBound(t *testing.T) {
	m, _ := newTestManager()
	who := Identity{"alice", "app"}
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{entity("alice", ""): {ProducerByteRate: "1000"}})
	if d := m.Record(Produce, who, 2000); d != 0 {
		t.Fatalf("throttled %v within bound", d)
	}
	// The bound drops: the 200 B/s already measured now exceeds it.
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{entity("alice", ""): {ProducerByteRate: "100"}})
	if d := m.Record(Produce, who, 100); d != 11*time.Second { // 210 B/s: (210-100)/100 × 10 s
		t.Fatalf("after lowering the quota: throttled %v, want 11s", d)
	}
	// Removed: no quota, no throttle.
	m.SetClientQuotas(nil)
	if d := m.Record(Produce, who, 1e9); d != 0 {
		t.Fatalf("after removing the quota: throttled %v", d)
	}
	if _, _, ok := m.Quota(Produce, who); ok {
		t.Fatal("Quota still found after removal")
	}
}

func TestIdleRatesExpire(t *testing.T) {
	m, c := newTestManager()
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{entity("", def): {ProducerByteRate: "100"}})
	m.SetTopicQuotas(map[string]TopicQuota{"t": {Produce: 100}})
	for i := range 100 {
		m.Record(Produce, Identity{"u", fmt.Sprint("client-", i)}, 2000)
	}
	m.RecordTopic(Produce, "t", 2000)
	if n := len(m.ClientStats()); n != 100 {
		t.Fatalf("%d rates, want 100", n)
	}
	// One client keeps going; the others fall silent for an hour.
	for range 60 {
		c.Advance(time.Minute)
		m.Record(Produce, Identity{"u", "client-0"}, 1)
	}
	st := m.ClientStats()
	if len(st) != 1 || st[0].ClientID != "client-0" {
		t.Fatalf("after an hour: stats %+v, want only client-0's rate", st)
	}
	if n := len(m.TopicStats()); n != 0 {
		t.Fatalf("idle topic rate kept: %+v", m.TopicStats())
	}
	bindings := 0
	m.bindings.Range(func(any, any) bool { bindings++; return true })
	if bindings != 1 {
		t.Fatalf("%d bindings kept, want 1", bindings)
	}
	// A client back after its rate expired starts afresh, not throttled for
	// the bytes of an hour ago (they had left the window anyway).
	if d := m.Record(Produce, Identity{"u", "client-5"}, 500); d != 0 {
		t.Fatalf("returning client throttled %v", d)
	}
}

func TestRecordToExpiredMeterRetries(t *testing.T) {
	m, c := newTestManager()
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{entity("alice", ""): {ProducerByteRate: "100"}})
	who := Identity{"alice", "app"}
	m.Record(Produce, who, 50)
	// Expire the meter behind the binding's back, as a sweep racing a
	// recorder would.
	c.Advance(2 * time.Hour)
	m.expireAll()
	if d := m.Record(Produce, who, 2100); d != 11*time.Second {
		t.Fatalf("throttle = %v, want 11s from a fresh rate", d)
	}
	if st := m.ClientStats(); len(st) != 1 || st[0].Throttled != 11*time.Second {
		t.Fatalf("stats %+v", st)
	}
}

// expireAll runs the sweep's meter expiry without its binding cleanup.
func (m *Manager) expireAll() {
	for _, meters := range []*sync.Map{&m.meters, &m.topicRates} {
		meters.Range(func(k, v any) bool {
			mt := v.(*meter)
			mt.mu.Lock()
			meters.CompareAndDelete(k, v)
			mt.expired = true
			mt.mu.Unlock()
			return true
		})
	}
}

func TestTopicQuotas(t *testing.T) {
	m, _ := newTestManager()
	if d := m.RecordTopic(Produce, "t", 1e12); d != 0 {
		t.Fatalf("no topic quotas: throttled %v", d)
	}
	m.SetTopicQuotas(map[string]TopicQuota{"t": {Produce: 100}, "u": {Fetch: 1000}, "none": {Produce: -1}})
	if d := m.RecordTopic(Produce, "t", 2100); d != 11*time.Second {
		t.Fatalf("t produce throttled %v, want 11s", d)
	}
	if d := m.RecordTopic(Fetch, "t", 1e9); d != 0 {
		t.Fatalf("t has no fetch quota: throttled %v", d)
	}
	if d := m.RecordTopic(Produce, "none", 1e9); d != 0 {
		t.Fatalf("negative quota is none: throttled %v", d)
	}
	if d := m.RecordTopic(Fetch, "u", 20000); d != 10*time.Second { // 2000 B/s: (2000-1000)/1000 × 10 s
		t.Fatalf("u fetch throttled %v, want 10s", d)
	}
	if d := m.RecordTopic(Request, "t", 1e9); d != 0 {
		t.Fatalf("a topic has no request quota: throttled %v", d)
	}
	st := m.TopicStats()
	if len(st) != 2 || st[0].Topic != "t" || st[0].Kind != Produce || st[0].Throttled != 11*time.Second || st[0].Bound != 100 ||
		st[1].Topic != "u" || st[1].Kind != Fetch || st[1].Rate != 2000 {
		t.Fatalf("topic stats %+v", st)
	}
	m.SetTopicQuotas(nil)
	if d := m.RecordTopic(Produce, "t", 1e9); d != 0 {
		t.Fatalf("quotas removed: throttled %v", d)
	}
}

func TestInvalidKind(t *testing.T) {
	m, _ := newTestManager()
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{entity("", def): {ProducerByteRate: "1"}})
	for _, k := range []Kind{-1, numKinds, 100} {
		if d := m.Record(k, Identity{"u", "c"}, 1e9); d != 0 {
			t.Errorf("Record(%d) = %v", k, d)
		}
		if _, _, ok := m.Quota(k, Identity{"u", "c"}); ok {
			t.Errorf("Quota(%d) found", k)
		}
		if k.String() != "unknown" || k.Key() != "" {
			t.Errorf("kind %d: %q %q", k, k.String(), k.Key())
		}
	}
	for k, want := range map[Kind]string{Produce: ProducerByteRate, Fetch: ConsumerByteRate, Request: RequestPercentage, ControllerMutation: ControllerMutationRate} {
		if k.Key() != want {
			t.Errorf("%v.Key() = %q, want %q", k, k.Key(), want)
		}
	}
}

// TestConcurrentRecordAndChanges records from many goroutines while the
// quotas change and sweeps run; no byte may be lost from a shared rate.
// Run with -race.
func TestConcurrentRecordAndChanges(t *testing.T) {
	m, c := newTestManager()
	m.every = time.Nanosecond // sweep on every Record the clock allows
	quotas := []map[zkpaths.QuotaEntity]map[string]string{
		{entity("alice", ""): {ProducerByteRate: "1e12"}},
		{entity("alice", ""): {ProducerByteRate: "2e12"}, entity("", def): {ProducerByteRate: "1e12"}},
	}
	m.SetClientQuotas(quotas[0])
	const workers, perWorker = 8, 2000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var changer sync.WaitGroup
	changer.Add(1)
	go func() {
		defer changer.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m.SetClientQuotas(quotas[i%2])
			m.SetTopicQuotas(map[string]TopicQuota{"t": {Produce: float64(1e12 + i)}})
			m.ClientStats()
			m.TopicStats()
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				m.Record(Produce, Identity{"alice", fmt.Sprint("c", w, "-", i%7)}, 1)
				m.Record(Produce, Identity{"bob", fmt.Sprint("c", w)}, 1)
				m.RecordTopic(Produce, "t", 1)
				if i%500 == 0 {
					c.Advance(time.Nanosecond) // lets sweeps run, expires nothing
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	changer.Wait()
	var alice float64
	for _, s := range m.ClientStats() {
		if s.User == "alice" && s.Kind == Produce {
			alice = s.Rate
		}
	}
	// Every record happened within the first window: rate = bytes / 10 s.
	if want := float64(workers*perWorker) / 10; alice < want*0.999999 || alice > want*1.000001 {
		t.Fatalf("alice's shared rate = %v, want %v: records lost", alice, want)
	}
}

func TestControllerMutationQuotaIsATokenBucket(t *testing.T) {
	m, c := newTestManager()
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{entity("", def): {ControllerMutationRate: "10"}})
	who := Identity{"admin", "tool"}
	if d := m.Throttled(ControllerMutation, who); d != 0 {
		t.Fatalf("before any mutation: throttled %v", d)
	}
	// Burst 10/s × 11 s = 110 partitions at once: not throttled.
	if d := m.Record(ControllerMutation, who, 110); d != 0 {
		t.Fatalf("110 partitions within the burst: throttled %v", d)
	}
	// 20 more: -20 credits, 2 s at 10/s.
	if d := m.Record(ControllerMutation, who, 20); d != 2*time.Second {
		t.Fatalf("20 over the burst: throttled %v, want 2s", d)
	}
	c.Advance(time.Second)
	if d := m.Throttled(ControllerMutation, who); d != time.Second {
		t.Fatalf("a second later: throttled %v, want 1s", d)
	}
	c.Advance(time.Second)
	if d := m.Throttled(ControllerMutation, who); d != 0 {
		t.Fatalf("refilled: throttled %v", d)
	}
	// The sampled rate still feeds the metrics: 130 partitions over 10 s.
	if st := m.ClientStats(); len(st) != 1 || st[0].Rate != 13 || st[0].Throttled != 2*time.Second {
		t.Fatalf("stats %+v", st)
	}
}

func TestThrottledPeeksWithoutRecording(t *testing.T) {
	m, _ := newTestManager()
	who := Identity{"alice", "app"}
	if d := m.Throttled(Produce, who); d != 0 {
		t.Fatalf("no quota: %v", d)
	}
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{entity("alice", ""): {ProducerByteRate: "100"}})
	if d := m.Throttled(Produce, who); d != 0 {
		t.Fatalf("nothing recorded: %v", d)
	}
	m.Record(Produce, who, 2100)
	for range 3 { // peeking twice changes nothing
		if d := m.Throttled(Produce, who); d != 11*time.Second {
			t.Fatalf("Throttled = %v, want 11s", d)
		}
	}
	if d := m.Throttled(Produce, Identity{"bob", "app"}); d != 0 {
		t.Fatalf("bob has no quota: %v", d)
	}
	if d := m.Throttled(Kind(42), who); d != 0 {
		t.Fatalf("invalid kind: %v", d)
	}
}

func TestUnrecordTakesBytesBack(t *testing.T) {
	m, _ := newTestManager()
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{entity("", def): {ConsumerByteRate: "100", ControllerMutationRate: "1"}})
	m.SetTopicQuotas(map[string]TopicQuota{"t": {Fetch: 100}})
	who := Identity{"u", "c"}
	m.Record(Fetch, who, 1000)
	// A fetch of 1100 more is throttled; Kafka then answers it empty and
	// takes its bytes back out.
	if d := m.Record(Fetch, who, 1100); d != 11*time.Second {
		t.Fatalf("throttle = %v, want 11s", d)
	}
	m.Unrecord(Fetch, who, 1100)
	if d := m.Throttled(Fetch, who); d != 0 {
		t.Fatalf("after the unrecord: throttled %v, want 0 (back at 100 B/s)", d)
	}
	if st := m.ClientStats(); len(st) != 1 || st[0].Rate != 100 || st[0].Throttled != 11*time.Second {
		t.Fatalf("stats %+v: the throttle given stays counted, the bytes do not", st)
	}
	if d := m.RecordTopic(Fetch, "t", 2100); d != 11*time.Second {
		t.Fatalf("topic throttle = %v", d)
	}
	m.UnrecordTopic(Fetch, "t", 1100)
	if st := m.TopicStats(); len(st) != 1 || st[0].Rate != 100 {
		t.Fatalf("topic stats %+v", st)
	}
	// The token bucket is not overfilled by an undo.
	m.Unrecord(ControllerMutation, who, 1e6)
	if d := m.Record(ControllerMutation, who, 12); d != time.Second {
		t.Fatalf("mutation throttle = %v, want 1s (burst 11, 12 taken)", d)
	}
	// No quota: nothing happens.
	m.Unrecord(Produce, who, 5)
	m.UnrecordTopic(Produce, "t", 5)
}

func TestMaxInWindow(t *testing.T) {
	m, _ := newTestManager()
	who := Identity{"u", "c"}
	if _, ok := m.MaxInWindow(Fetch, who); ok {
		t.Fatal("no quota: ok")
	}
	m.SetClientQuotas(map[zkpaths.QuotaEntity]map[string]string{entity("u", ""): {ConsumerByteRate: "1000"}})
	if max, ok := m.MaxInWindow(Fetch, who); !ok || max != 10000 {
		t.Fatalf("MaxInWindow = %v %v, want 1000 B/s × 10 s", max, ok)
	}
	// Exactly that much after a silence is not throttled.
	if d := m.Record(Fetch, who, 10000); d != 0 {
		t.Fatalf("throttled %v", d)
	}
}
