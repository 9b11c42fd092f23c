package console

import (
	"container/list"
	"time"
)

// ring keeps the last cap values pushed: memory is fixed at creation.
type ring[T any] struct {
	buf  []T
	next int // where the next push goes
	full bool
}

func newRing[T any](capacity int) *ring[T] {
	return &ring[T]{buf: make([]T, capacity)}
}

func (r *ring[T]) push(v T) {
	if len(r.buf) == 0 {
		return
	}
	r.buf[r.next] = v
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
}

func (r *ring[T]) len() int {
	if r.full {
		return len(r.buf)
	}
	return r.next
}

// oldestFirst copies the values out, oldest first.
func (r *ring[T]) oldestFirst() []T {
	out := make([]T, 0, r.len())
	if r.full {
		out = append(out, r.buf[r.next:]...)
	}
	return append(out, r.buf[:r.next]...)
}

// newestFirst copies the values out, newest first.
func (r *ring[T]) newestFirst() []T {
	out := r.oldestFirst()
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// sample is one point of a throughput series.
type sample struct {
	Time    time.Time
	In, Out float64
}

// keyedSeries is a bounded set of keyed rings: at most max keys, the least
// recently recorded evicted first, each ring of capacity points. Its
// memory is thus bounded by max × capacity samples whatever is fed to it.
type keyedSeries[K comparable, V any] struct {
	max, capacity int
	byKey         map[K]*list.Element
	// lru orders the keys, most recently recorded at the front.
	lru *list.List
}

type keyedEntry[K comparable, V any] struct {
	key    K
	points *ring[V]
}

func newKeyedSeries[K comparable, V any](maxKeys, capacity int) *keyedSeries[K, V] {
	return &keyedSeries[K, V]{max: maxKeys, capacity: capacity, byKey: make(map[K]*list.Element), lru: list.New()}
}

func (s *keyedSeries[K, V]) record(key K, v V) {
	el, ok := s.byKey[key]
	if ok {
		s.lru.MoveToFront(el)
	} else {
		if s.lru.Len() >= s.max {
			oldest := s.lru.Back()
			s.lru.Remove(oldest)
			delete(s.byKey, oldest.Value.(*keyedEntry[K, V]).key)
		}
		el = s.lru.PushFront(&keyedEntry[K, V]{key: key, points: newRing[V](s.capacity)})
		s.byKey[key] = el
	}
	el.Value.(*keyedEntry[K, V]).points.push(v)
}

// get returns key's points, oldest first (nil for an unknown key).
func (s *keyedSeries[K, V]) get(key K) []V {
	el, ok := s.byKey[key]
	if !ok {
		return nil
	}
	return el.Value.(*keyedEntry[K, V]).points.oldestFirst()
}

// keys is how many keys are tracked; points how many points they hold.
func (s *keyedSeries[K, V]) size() (keys, points int) {
	for el := s.lru.Front(); el != nil; el = el.Next() {
		points += el.Value.(*keyedEntry[K, V]).points.len()
	}
	return s.lru.Len(), points
}

// history is what the charts draw: each group's total lag every
// LagSampleInterval over LagHistory, each broker's and each topic's
// throughput every tick over ThroughputWindow. It is bounded: at most
// MaxTrackedGroups groups and MaxTrackedTopics topics (and as many
// brokers), the least recently seen forgotten first.
type history struct {
	lagInterval, lagWindow time.Duration
	tick                   time.Duration
	lastLagSample          time.Time
	groups                 *keyedSeries[string, Point]
	brokers                *keyedSeries[int32, sample]
	topics                 *keyedSeries[string, sample]
}

func newHistory(cfg Config) *history {
	lagPoints := int(cfg.LagHistory / cfg.LagSampleInterval)
	tickPoints := int(ThroughputWindow / cfg.Tick)
	return &history{
		lagInterval: cfg.LagSampleInterval,
		lagWindow:   cfg.LagHistory,
		tick:        cfg.Tick,
		groups:      newKeyedSeries[string, Point](cfg.MaxTrackedGroups, max(lagPoints, 1)),
		brokers:     newKeyedSeries[int32, sample](cfg.MaxTrackedTopics, max(tickPoints, 1)),
		topics:      newKeyedSeries[string, sample](cfg.MaxTrackedTopics, max(tickPoints, 1)),
	}
}

// record adds one tick's figures. A group's lag is sampled only once per
// LagSampleInterval; its total is the sum of the lags known (a partition
// whose end offset could not be read counts nothing).
func (h *history) record(stats ClusterStats) {
	t := stats.Time
	for id, b := range stats.Brokers {
		if b.Reachable {
			h.brokers.record(id, sample{Time: t, In: b.BytesInPerSec, Out: b.BytesOutPerSec})
		}
	}
	for name, ts := range stats.Topics {
		h.topics.record(name, sample{Time: t, In: ts.BytesInPerSec, Out: ts.BytesOutPerSec})
	}
	// Ticks come a little early or late: half a tick's slack keeps a
	// sample every interval rather than every interval plus a tick.
	if !h.lastLagSample.IsZero() && t.Sub(h.lastLagSample) < h.lagInterval-h.tick/2 {
		return
	}
	h.lastLagSample = t
	for _, g := range stats.Groups {
		h.groups.record(g.Group, Point{Time: t, Value: float64(totalLag(g))})
	}
}

// totalLag sums a group's known lags.
func totalLag(g GroupReport) int64 {
	var total int64
	for _, o := range g.Offsets {
		if o.Lag > 0 {
			total += o.Lag
		}
	}
	return total
}

// lag returns group's points within the lag window before now.
func (h *history) lag(group string, now time.Time) []Point {
	since := now.Add(-h.lagWindow)
	var out []Point
	for _, p := range h.groups.get(group) {
		if !p.Time.Before(since) {
			out = append(out, p)
		}
	}
	return out
}

// throughput returns broker id's (topic "") or topic's series within the
// throughput window before now.
func (h *history) throughput(id int32, topic string, now time.Time) (in, out []Point) {
	var samples []sample
	if topic == "" {
		samples = h.brokers.get(id)
	} else {
		samples = h.topics.get(topic)
	}
	since := now.Add(-ThroughputWindow)
	for _, s := range samples {
		if s.Time.Before(since) {
			continue
		}
		in = append(in, Point{Time: s.Time, Value: s.In})
		out = append(out, Point{Time: s.Time, Value: s.Out})
	}
	return in, out
}
