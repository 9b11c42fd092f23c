package console

import (
	"fmt"
	"testing"
	"time"
)

func TestRing(t *testing.T) {
	r := newRing[int](3)
	if got := r.oldestFirst(); len(got) != 0 {
		t.Errorf("empty ring holds %v", got)
	}
	for i := 1; i <= 5; i++ {
		r.push(i)
	}
	if got := fmt.Sprint(r.oldestFirst(), r.newestFirst(), r.len()); got != "[3 4 5] [5 4 3] 3" {
		t.Errorf("ring after 5 pushes into 3: %s", got)
	}
}

func groupWithLag(name string, lags ...int64) GroupReport {
	g := GroupReport{Group: name}
	for i, l := range lags {
		o := OffsetReport{Committed: 0, End: l, Lag: l}
		o.Topic, o.Partition = "t", int32(i)
		g.Offsets = append(g.Offsets, o)
	}
	return g
}

func TestLagSampledEveryIntervalOverTheWindow(t *testing.T) {
	cfg := Config{Tick: 5 * time.Second}.withDefaults()
	h := newHistory(cfg)
	now := t0
	// Two hours of ticks every 5 s: a sample every 30 s, kept an hour.
	for i := range 2 * 720 {
		lag := int64(i)
		h.record(ClusterStats{Time: now, Groups: []GroupReport{groupWithLag("g", lag, 10, -1)}})
		if i < 2*720-1 {
			now = now.Add(5 * time.Second)
		}
	}
	pts := h.lag("g", now)
	if len(pts) != 120 {
		t.Fatalf("%d points, want 120 (an hour every 30 s)", len(pts))
	}
	for i := 1; i < len(pts); i++ {
		if d := pts[i].Time.Sub(pts[i-1].Time); d != 30*time.Second {
			t.Fatalf("points %d and %d are %v apart, want 30s", i-1, i, d)
		}
	}
	if last := pts[len(pts)-1]; !last.Time.Equal(t0.Add(1434 * 5 * time.Second)) {
		t.Errorf("newest point at %v, want the tick of 1434 (the last multiple of 30 s)", last.Time)
	}
	// The total is the sum of the known lags (-1: end offset unknown).
	if last := pts[len(pts)-1]; last.Value != float64(1434+10) {
		t.Errorf("newest total lag %v, want %d", last.Value, 1434+10)
	}
	// A group gone silent ages out of the window.
	if pts := h.lag("g", now.Add(2*time.Hour)); len(pts) != 0 {
		t.Errorf("%d points older than the window returned", len(pts))
	}
}

// TestHistoryMemoryIsBounded feeds far more groups, topics and samples
// than the limits and counts what is kept.
func TestHistoryMemoryIsBounded(t *testing.T) {
	cfg := Config{Tick: 5 * time.Second, MaxTrackedGroups: 50, MaxTrackedTopics: 40}.withDefaults()
	h := newHistory(cfg)
	now := t0
	for tick := range 2000 {
		stats := ClusterStats{Time: now, Brokers: map[int32]BrokerStats{}, Topics: map[string]TopicStats{}}
		for b := range int32(3) {
			stats.Brokers[b] = BrokerStats{Reachable: true, BytesInPerSec: 1}
		}
		// 10 new groups and topics every tick: 20,000 of each in all.
		for k := range 10 {
			name := fmt.Sprintf("n-%d-%d", tick, k)
			stats.Groups = append(stats.Groups, groupWithLag(name, 5))
			stats.Topics[name] = TopicStats{BytesInPerSec: 1}
		}
		stats.Groups = append(stats.Groups, groupWithLag("steady", 1))
		h.record(stats)
		now = now.Add(30 * time.Second) // every tick a lag sample
	}
	groups, groupPoints := h.groups.size()
	topics, topicPoints := h.topics.size()
	brokers, brokerPoints := h.brokers.size()
	if groups != 50 || groupPoints > 50*120 {
		t.Errorf("groups: %d keys, %d points; want 50 keys, at most %d points", groups, groupPoints, 50*120)
	}
	if topics != 40 || topicPoints > 40*180 {
		t.Errorf("topics: %d keys, %d points; want 40, at most %d", topics, topicPoints, 40*180)
	}
	if brokers != 3 || brokerPoints != 3*180 {
		t.Errorf("brokers: %d keys, %d points; want 3 and %d", brokers, brokerPoints, 3*180)
	}
	// The group seen every tick is never the least recently seen.
	if got := h.groups.get("steady"); len(got) != 120 {
		t.Errorf("the steady group kept %d points, want 120", len(got))
	}
	if got := h.groups.get("n-0-0"); got != nil {
		t.Errorf("the first group was not evicted: %d points", len(got))
	}
}

func TestThroughputHistory(t *testing.T) {
	clock := &fakeClock{now: t0}
	c := New(&stubSource{id: 1}, Config{Now: clock.Now, Tick: 5 * time.Second})
	for i := range 200 {
		c.mu.Lock()
		c.history.record(ClusterStats{
			Time:    clock.Now(),
			Brokers: map[int32]BrokerStats{1: {Reachable: true, BytesInPerSec: float64(i), BytesOutPerSec: 2 * float64(i)}, 2: {Err: "down"}},
			Topics:  map[string]TopicStats{"orders": {BytesInPerSec: 3}},
		})
		c.mu.Unlock()
		clock.advance(5 * time.Second)
	}
	in, out := c.ThroughputHistory(1, "")
	if len(in) != 180 || len(out) != 180 {
		t.Fatalf("broker 1: %d and %d points, want 180 (15 min every 5 s)", len(in), len(out))
	}
	if in[179].Value != 199 || out[179].Value != 398 || !in[0].Time.Before(in[179].Time) {
		t.Errorf("broker 1 newest point in %v out %v; oldest at %v", in[179], out[179], in[0].Time)
	}
	if in, _ := c.ThroughputHistory(2, ""); len(in) != 0 {
		t.Errorf("an unreachable broker has %d points", len(in))
	}
	if in, out := c.ThroughputHistory(-1, "orders"); len(in) != 180 || in[0].Value != 3 || out[0].Value != 0 {
		t.Errorf("topic: %d points, first %v/%v", len(in), in[0], out[0])
	}
	if in, _ := c.ThroughputHistory(-1, "missing"); in != nil {
		t.Errorf("unknown topic: %v", in)
	}
}

// TestLagSampleToleratesEarlyTicks: ticks a little early still give a
// sample every interval, not every interval plus a tick.
func TestLagSampleToleratesEarlyTicks(t *testing.T) {
	h := newHistory(Config{Tick: 5 * time.Second}.withDefaults())
	now := t0
	for range 60 { // 5 minutes of ticks, each 100 ms early
		h.record(ClusterStats{Time: now, Groups: []GroupReport{groupWithLag("g", 1)}})
		now = now.Add(5*time.Second - 100*time.Millisecond)
	}
	if got := len(h.lag("g", now)); got != 10 {
		t.Errorf("%d samples over 60 ticks, want 10 (one every 6 ticks)", got)
	}
}

// TestLagFirstSampleAtOnce: a group that appears gets a point the tick it
// is first seen, whatever the other groups' schedule.
func TestLagFirstSampleAtOnce(t *testing.T) {
	h := newHistory(Config{Tick: 5 * time.Second}.withDefaults())
	h.record(ClusterStats{Time: t0, Groups: []GroupReport{groupWithLag("old", 1)}})
	at := t0.Add(5 * time.Second)
	h.record(ClusterStats{Time: at, Groups: []GroupReport{groupWithLag("old", 2), groupWithLag("new", 7)}})
	if pts := h.lag("new", at); len(pts) != 1 || pts[0].Value != 7 || !pts[0].Time.Equal(at) {
		t.Errorf("the new group's points %v, want one of 7 at %v", pts, at)
	}
	if pts := h.lag("old", at); len(pts) != 1 {
		t.Errorf("the old group sampled again after 5 s: %v", pts)
	}
	if v, ok := newRing[int](2).newest(); ok || v != 0 {
		t.Errorf("an empty ring's newest: %v %v", v, ok)
	}
}

// TestHistoryBeyondTheLimitIsStable: with more topics and groups than are
// tracked, the same ones are recorded tick after tick (the busiest, then
// by name), rather than histories evicted and re-created every tick.
func TestHistoryBeyondTheLimitIsStable(t *testing.T) {
	h := newHistory(Config{Tick: 5 * time.Second, MaxTrackedGroups: 10, MaxTrackedTopics: 20}.withDefaults())
	now := t0
	for range 50 {
		stats := ClusterStats{Time: now, Topics: map[string]TopicStats{}}
		for i := range 500 {
			stats.Topics[fmt.Sprintf("t-%04d", i)] = TopicStats{}
			stats.Groups = append(stats.Groups, groupWithLag(fmt.Sprintf("g-%04d", i), 0))
		}
		stats.Topics["t-0499"] = TopicStats{BytesInPerSec: 1}
		stats.Groups[300] = groupWithLag("g-0300", 9)
		h.record(stats)
		now = now.Add(30 * time.Second)
	}
	if keys, points := h.topics.size(); keys != 20 || points != 20*50 {
		t.Errorf("topics: %d keys, %d points; want 20 keys of 50 points each", keys, points)
	}
	for _, name := range []string{"t-0499", "t-0000", "t-0018"} {
		if got := len(h.topics.get(name)); got != 50 {
			t.Errorf("%s has %d points, want 50", name, got)
		}
	}
	if got := h.topics.get("t-0019"); got != nil {
		t.Errorf("t-0019 tracked beyond the limit: %d points", len(got))
	}
	if keys, points := h.groups.size(); keys != 10 || points != 10*50 {
		t.Errorf("groups: %d keys, %d points; want 10 keys of 50 points each", keys, points)
	}
	if got := len(h.groups.get("g-0300")); got != 50 {
		t.Errorf("the lagging group has %d points, want 50", got)
	}
}
