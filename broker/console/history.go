package console

import (
	"cmp"
	"container/list"
	"slices"
	"strings"
	"time"
)

// ring keeps the last capacity values pushed. Its buffer grows as values
// come, up to capacity, so a key seen briefly costs little.
type ring[T any] struct {
	buf      []T
	capacity int
	next     int // where the next push goes once the buffer is full
	full     bool
}

func newRing[T any](capacity int) *ring[T] {
	return &ring[T]{capacity: capacity}
}

func (r *ring[T]) push(v T) {
	if r.capacity <= 0 {
		return
	}
	if !r.full {
		r.buf = append(r.buf, v)
		if len(r.buf) == r.capacity {
			r.full = true
		}
		return
	}
	r.buf[r.next] = v
	r.next = (r.next + 1) % r.capacity
}

func (r *ring[T]) len() int { return len(r.buf) }

// newest returns the value pushed last.
func (r *ring[T]) newest() (T, bool) {
	if r.len() == 0 {
		var zero T
		return zero, false
	}
	if !r.full {
		return r.buf[len(r.buf)-1], true
	}
	return r.buf[(r.next-1+len(r.buf))%len(r.buf)], true
}

// oldestFirst copies the values out, oldest first.
func (r *ring[T]) oldestFirst() []T {
	out := make([]T, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}

// newestFirst copies the values out, newest first.
func (r *ring[T]) newestFirst() []T {
	out := r.oldestFirst()
	slices.Reverse(out)
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

// last returns key's newest point.
func (s *keyedSeries[K, V]) last(key K) (V, bool) {
	el, ok := s.byKey[key]
	if !ok {
		var zero V
		return zero, false
	}
	return el.Value.(*keyedEntry[K, V]).points.newest()
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

// record adds one tick's figures. A group's lag is sampled the first tick
// it is seen (its chart has a point at once), then once per
// LagSampleInterval; its total is the sum of the lags known (a partition
// whose end offset could not be read counts nothing).
func (h *history) record(stats ClusterStats) {
	t := stats.Time
	for id, b := range stats.Brokers {
		if b.Reachable {
			h.brokers.record(id, sample{Time: t, In: b.BytesInPerSec, Out: b.BytesOutPerSec})
		}
	}
	for _, name := range busiestTopics(stats.Topics, h.topics.max) {
		ts := stats.Topics[name]
		h.topics.record(name, sample{Time: t, In: ts.BytesInPerSec, Out: ts.BytesOutPerSec})
	}
	for _, g := range laggingGroups(stats.Groups, h.groups.max) {
		// Ticks come a little early or late: half a tick's slack keeps
		// a sample every interval rather than every interval plus a
		// tick.
		if last, ok := h.groups.last(g.Group); ok && t.Sub(last.Time) < h.lagInterval-h.tick/2 {
			continue
		}
		h.groups.record(g.Group, Point{Time: t, Value: float64(totalLag(g))})
	}
}

// busiestTopics picks the topics whose history to record, all of them
// when they fit: beyond n, the n with the most traffic, ties by name. The
// choice is stable from tick to tick (quiet topics by name), so a cluster
// with more topics than are tracked does not evict and re-create
// histories every tick.
func busiestTopics(topics map[string]TopicStats, n int) []string {
	type busy struct {
		name string
		rate float64
	}
	all := make([]busy, 0, len(topics))
	for name, ts := range topics {
		all = append(all, busy{name, ts.BytesInPerSec + ts.BytesOutPerSec})
	}
	if len(all) > n {
		slices.SortFunc(all, func(a, b busy) int {
			if c := cmp.Compare(b.rate, a.rate); c != 0 {
				return c
			}
			return strings.Compare(a.name, b.name)
		})
		all = all[:n]
	}
	names := make([]string, len(all))
	for i, b := range all {
		names[i] = b.name
	}
	return names
}

// laggingGroups picks the groups whose lag to record, as busiestTopics
// does: beyond n, the n with the most lag, ties by id.
func laggingGroups(groups []GroupReport, n int) []GroupReport {
	if len(groups) <= n {
		return groups
	}
	sorted := slices.Clone(groups)
	lags := make(map[string]int64, len(groups))
	for _, g := range groups {
		lags[g.Group] = totalLag(g)
	}
	slices.SortFunc(sorted, func(a, b GroupReport) int {
		if c := cmp.Compare(lags[b.Group], lags[a.Group]); c != 0 {
			return c
		}
		return strings.Compare(a.Group, b.Group)
	})
	return sorted[:n]
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
