package console

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// stubSource is a Source whose report the test sets.
type stubSource struct {
	id int32

	mu      sync.Mutex
	report  BrokerReport
	err     error
	calls   int
	topics  []string
	blockOn chan struct{} // when set, Report waits on it or its context
}

func (f *stubSource) BrokerID() int32 { return f.id }

func (f *stubSource) ZooKeeper() coordinator.ZooKeeperStatus {
	return coordinator.ZooKeeperStatus{Servers: []string{"127.0.0.1:2181"}, Connected: "127.0.0.1:2181", State: "StateHasSession"}
}

func (f *stubSource) Report(ctx context.Context, topic string) (BrokerReport, error) {
	f.mu.Lock()
	f.calls++
	f.topics = append(f.topics, topic)
	rep, err, block := f.report, f.err, f.blockOn
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return BrokerReport{}, ctx.Err()
		}
	}
	rep.Broker = f.id
	return rep, err
}

func (f *stubSource) set(rep BrokerReport, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.report, f.err = rep, err
}

func (f *stubSource) TopicConfigs(context.Context, string) ([]ConfigEntry, error) { return nil, nil }

func (f *stubSource) ElectPreferred(context.Context, string) (map[int32]error, error) {
	return nil, errors.New("not in this test")
}

func (f *stubSource) Authorize(context.Context, Credentials, Action, string) (string, error) {
	return "User:ANONYMOUS", nil
}

// fakeClock is a Config.Now the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestNewAppliesDefaults(t *testing.T) {
	c := New(&stubSource{id: 1}, Config{})
	cfg := c.cfg
	if cfg.Tick != DefaultTick || cfg.PeerTimeout != DefaultPeerTimeout || cfg.LagHistory != time.Hour ||
		cfg.LagSampleInterval != 30*time.Second || cfg.MaxTrackedGroups != 1000 || cfg.MaxTrackedTopics != 1000 ||
		cfg.Logger == nil || cfg.Now == nil {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	if got := c.history.groups.capacity; got != 120 {
		t.Errorf("lag points per group = %d, want 120 (1 h every 30 s)", got)
	}
	if got := c.history.topics.capacity; got != 180 {
		t.Errorf("throughput points = %d, want 180 (15 min every 5 s)", got)
	}
	s := c.State()
	if s.Snap != nil || s.Version != 0 || s.Broker != 1 || s.ZooKeeper.Connected == "" {
		t.Errorf("State before any view = %+v", s)
	}
}

func TestObserveBaselineThenEvents(t *testing.T) {
	clock := &fakeClock{now: t0}
	c := New(&stubSource{id: 1}, Config{Now: clock.Now})
	first := baseSnapshot()
	c.Observe(first)
	s := c.State()
	if s.Snap != first || s.Version != 1 {
		t.Fatalf("after the first view: snap %p version %d, want %p 1", s.Snap, s.Version, first)
	}
	if len(s.StateEvents) != 0 || len(s.ControllerEvents) != 1 || s.ControllerEvents[0].Text != "console started: view of 1 topics, 3 live brokers, controller 1" {
		t.Fatalf("baseline events: state %v controller %v", describe(s.StateEvents), describe(s.ControllerEvents))
	}

	c.Observe(first) // the same view again: nothing new
	if v := c.State().Version; v != 1 {
		t.Errorf("version after the same view = %d, want 1", v)
	}

	clock.advance(time.Second)
	second := nextView(first)
	delete(second.Brokers, 2)
	changeTopic(second, "orders", func(tp *coordinator.Topic) {
		tp.Partitions[0].ISR = []int32{1, 3}
		p := &tp.Partitions[1]
		p.Leader, p.LeaderEpoch, p.ISR = 3, 1, []int32{3, 1}
	})
	c.Observe(second)
	s = c.State()
	if s.Version != 2 {
		t.Errorf("version = %d, want 2", s.Version)
	}
	want := []string{
		"orders-0 Online→Online leader 1→1 epoch 0: broker 2 went away; ISR shrank: removed 2 (1,2,3 → 1,3)",
		"orders-1 Online→Online leader 2→3 epoch 1: broker 2 went away; leader 2 → 3; ISR shrank: removed 2 (2,3,1 → 3,1)",
	}
	if got := describe(s.StateEvents); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("state events %q, want %q", got, want)
	}
	if got := describe(s.ControllerEvents); len(got) != 2 || got[0] != "controller: broker 2 went away (was at 127.0.0.1:9092)" {
		t.Errorf("controller events, newest first: %q", got)
	}
	if !s.StateEvents[0].Time.Equal(t0.Add(time.Second)) {
		t.Errorf("event time %v", s.StateEvents[0].Time)
	}
}

func TestEventRingsAreBounded(t *testing.T) {
	c := New(&stubSource{id: 1}, Config{})
	snap := baseSnapshot()
	c.Observe(snap)
	for i := range 400 {
		n := nextView(snap)
		changeTopic(n, "orders", func(tp *coordinator.Topic) {
			tp.Partitions[0].LeaderEpoch++
			tp.Partitions[1].LeaderEpoch++
		})
		n.ControllerEpoch++
		c.Observe(n)
		snap = n
		_ = i
	}
	s := c.State()
	if len(s.StateEvents) != maxPartitionEvents || len(s.ControllerEvents) != maxControllerEvents {
		t.Fatalf("kept %d partition and %d controller events, want %d and %d", len(s.StateEvents), len(s.ControllerEvents), maxPartitionEvents, maxControllerEvents)
	}
	// Newest first: the last view's epoch 400 on top, partition 0 before 1.
	if e := s.StateEvents[0]; e.LeaderEpoch != 400 || e.Partition.Partition != 0 {
		t.Errorf("newest event %+v", e)
	}
	if e := s.StateEvents[len(s.StateEvents)-1]; e.LeaderEpoch != 151 || e.Partition.Partition != 1 {
		t.Errorf("oldest kept event %+v, want epoch 151 of partition 1", e)
	}
	if e := s.ControllerEvents[0]; e.Text != "controller epoch 403 → 404 (broker 1)" {
		t.Errorf("newest controller event %q", e.Text)
	}
}

// viewAtScale is a cluster of topics × partitions, three replicas each.
func viewAtScale(topics, partitions int) *coordinator.Snapshot {
	snap := baseSnapshot()
	snap.Topics = make(map[string]*coordinator.Topic, topics)
	assignment := make([][]int32, partitions)
	for p := range assignment {
		assignment[p] = []int32{int32(p%3) + 1, int32((p+1)%3) + 1, int32((p+2)%3) + 1}
	}
	for i := range topics {
		name := fmt.Sprintf("topic-%05d", i)
		snap.Topics[name] = onlineTopic(name, assignment)
	}
	return snap
}

// TestObserveAtScale: at 100,000 partitions a view where one topic
// changed gives that topic's events only, and costs little.
func TestObserveAtScale(t *testing.T) {
	snap := viewAtScale(1000, 100)
	c := New(&stubSource{id: 1}, Config{})
	c.Observe(snap)
	n := nextView(snap)
	changeTopic(n, "topic-00500", func(tp *coordinator.Topic) { tp.Partitions[7].ISR = []int32{2, 3} })
	c.Observe(n)
	got := describe(c.State().StateEvents)
	if len(got) != 1 || got[0] != "topic-00500-7 Online→Online leader 2→2 epoch 0: ISR shrank: removed 1 (2,3,1 → 2,3)" {
		t.Errorf("events %q", got)
	}
}

// TestObserveNeverWaitsForPages: subscribers that never read do not hold
// Observe up.
func TestObserveNeverWaitsForPages(t *testing.T) {
	c := New(&stubSource{id: 1}, Config{})
	for range MaxSubscribers {
		if _, _, ok := c.Subscribe(); !ok {
			t.Fatal("Subscribe refused below the limit")
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		snap := baseSnapshot()
		for range 100 {
			n := nextView(snap)
			n.ControllerEpoch++
			c.Observe(n)
			snap = n
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Observe blocked on subscribers that do not read")
	}
}

func TestPartitionStatusOfAbsentIsNonExistent(t *testing.T) {
	if status(&absent) != zkpaths.StateNonExistent || status(&coordinator.Partition{}) != zkpaths.StateNonExistent {
		t.Error("a partition without a state is NonExistent")
	}
}

// TestStateSharesEventsUntilTheyChange: State called per page per tick
// does not copy the event rings each time.
func TestStateSharesEventsUntilTheyChange(t *testing.T) {
	c := New(&stubSource{id: 1}, Config{})
	snap := baseSnapshot()
	c.Observe(snap)
	n := nextView(snap)
	changeTopic(n, "orders", func(tp *coordinator.Topic) { tp.Partitions[0].LeaderEpoch = 1 })
	c.Observe(n)
	a, b := c.State(), c.State()
	if &a.StateEvents[0] != &b.StateEvents[0] || &a.ControllerEvents[0] != &b.ControllerEvents[0] {
		t.Error("two States without a change between them copied the events")
	}
	if allocs := testing.AllocsPerRun(100, func() { c.State() }); allocs > 2 {
		t.Errorf("State allocates %v times", allocs)
	}
	n2 := nextView(n)
	changeTopic(n2, "orders", func(tp *coordinator.Topic) { tp.Partitions[0].LeaderEpoch = 2 })
	c.Observe(n2)
	if s := c.State(); len(s.StateEvents) != 2 || s.StateEvents[0].LeaderEpoch != 2 || len(a.StateEvents) != 1 {
		t.Errorf("after a change: %q (the earlier State's: %q)", describe(s.StateEvents), describe(a.StateEvents))
	}
}
