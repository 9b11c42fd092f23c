package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
)

// peer is another broker's console: a Console over a stubSource served by
// its own /api/broker handler.
type peer struct {
	src *stubSource
	srv *httptest.Server
}

func newPeer(t testing.TB, id int32) *peer {
	t.Helper()
	src := &stubSource{id: id}
	c := New(src, Config{})
	srv := httptest.NewServer(http.HandlerFunc(c.serveBrokerReport))
	t.Cleanup(srv.Close)
	return &peer{src: src, srv: srv}
}

func (p *peer) addr() string { return p.srv.Listener.Addr().String() }

// withConsoles returns snap with broker id's console at addr.
func withConsole(snap *coordinator.Snapshot, id int32, addr string) {
	b := snap.Brokers[id]
	b.ID, b.Console = id, addr
	snap.Brokers[id] = b
}

func reportAt(at time.Time, in, out int64, topics ...TopicReport) BrokerReport {
	return BrokerReport{Time: at, BytesIn: in, BytesOut: out, Topics: topics}
}

func groupAt(name string, coordinator int32, lag int64) GroupReport {
	g := groupWithLag(name, lag)
	g.Coordinator = coordinator
	return g
}

func TestGatherRatesAndSums(t *testing.T) {
	clock := &fakeClock{now: t0}
	self := &stubSource{id: 1}
	p2, p3 := newPeer(t, 2), newPeer(t, 3)
	snap := baseSnapshot()
	withConsole(snap, 1, "self-is-not-fetched-over-http:1")
	withConsole(snap, 2, p2.addr())
	withConsole(snap, 3, p3.addr())
	snap.Brokers[4] = coordinator.Broker{ID: 4, Host: "127.0.0.1", Port: 9094} // serves no console
	c := New(self, Config{Now: clock.Now, PeerTimeout: 5 * time.Second})
	c.Observe(snap)

	self.set(reportAt(t0, 1000, 100, TopicReport{Topic: "orders", BytesIn: 1000, BytesOut: 100, SizeBytes: 10}), nil)
	p2.src.set(reportAt(t0, 5000, 0, TopicReport{Topic: "orders", BytesIn: 5000, SizeBytes: 20}, TopicReport{Topic: "logs", SizeBytes: 7}), nil)
	p3.src.set(reportAt(t0, 800, 800, TopicReport{Topic: "orders", BytesIn: 800, BytesOut: 800, SizeBytes: 30}), nil)
	first := c.gather(context.Background(), snap)
	if !first.Time.Equal(t0) {
		t.Errorf("stats time %v", first.Time)
	}
	for id := int32(1); id <= 3; id++ {
		if b := first.Brokers[id]; !b.Reachable || b.BytesInPerSec != 0 || b.BytesOutPerSec != 0 {
			t.Errorf("broker %d on the first tick: %+v, want reachable at rate 0", id, b)
		}
	}
	if b := first.Brokers[4]; b.Reachable || !strings.Contains(b.Err, "no console") {
		t.Errorf("broker 4 without a console: %+v", b)
	}
	if ts := first.Topics["orders"]; ts.SizeBytes != 60 || ts.BytesInPerSec != 0 {
		t.Errorf("orders on the first tick: %+v", ts)
	}
	if ts := first.Topics["logs"]; ts.SizeBytes != 7 {
		t.Errorf("logs: %+v", ts)
	}

	// Ten seconds later; broker 3 restarted meanwhile: its counters start
	// again from 0.
	at := t0.Add(10 * time.Second)
	clock.advance(10 * time.Second)
	self.set(reportAt(at, 3000, 600, TopicReport{Topic: "orders", BytesIn: 3000, BytesOut: 600, SizeBytes: 10}), nil)
	p2.src.set(reportAt(at, 6000, 0, TopicReport{Topic: "orders", BytesIn: 6000, SizeBytes: 20}), nil)
	p3.src.set(reportAt(at, 50, 10, TopicReport{Topic: "orders", BytesIn: 50, BytesOut: 10, SizeBytes: 30}), nil)
	second := c.gather(context.Background(), snap)
	want := map[int32][2]float64{1: {200, 50}, 2: {100, 0}, 3: {0, 0}}
	for id, w := range want {
		if b := second.Brokers[id]; b.BytesInPerSec != w[0] || b.BytesOutPerSec != w[1] {
			t.Errorf("broker %d: %v in, %v out per second, want %v", id, b.BytesInPerSec, b.BytesOutPerSec, w)
		}
	}
	if ts := second.Topics["orders"]; ts.BytesInPerSec != 300 || ts.BytesOutPerSec != 50 || ts.SizeBytes != 60 {
		t.Errorf("orders: %+v, want 300 in and 50 out per second (broker 3's restart counts 0), 60 bytes", ts)
	}
}

func TestGatherMergesGroups(t *testing.T) {
	self := &stubSource{id: 1}
	p2 := newPeer(t, 2)
	snap := baseSnapshot()
	withConsole(snap, 2, p2.addr())
	delete(snap.Brokers, 3)
	c := New(self, Config{})
	c.Observe(snap)
	rep := reportAt(t0, 0, 0)
	rep.Groups = []GroupReport{groupAt("zeta", 1, 1), groupAt("moving", 1, 5)}
	self.set(rep, nil)
	rep2 := reportAt(t0, 0, 0)
	rep2.Groups = []GroupReport{groupAt("alpha", 2, 2), groupAt("moving", 2, 6)}
	p2.src.set(rep2, nil)

	stats := c.gather(context.Background(), snap)
	var got []string
	for _, g := range stats.Groups {
		got = append(got, fmt.Sprintf("%s@%d", g.Group, g.Coordinator))
	}
	if fmt.Sprint(got) != "[alpha@2 moving@1 zeta@1]" {
		t.Errorf("groups %v, want sorted by id, the moving group's first report (lowest broker id) kept", got)
	}
}

func TestGatherUnreachablePeers(t *testing.T) {
	self := &stubSource{id: 1}
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer hang.Close()
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"broker":3,"topics":[{"topic":"`)
		chunk := strings.Repeat("a", 1<<20)
		for range 17 {
			fmt.Fprint(w, chunk)
		}
		fmt.Fprint(w, `"}]}`)
	}))
	defer huge.Close()
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "this broker's report is unavailable: shutting down", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	impostor := newPeer(t, 9)

	snap := baseSnapshot()
	withConsole(snap, 2, hang.Listener.Addr().String())
	withConsole(snap, 3, huge.Listener.Addr().String())
	withConsole(snap, 4, failing.Listener.Addr().String())
	withConsole(snap, 5, impostor.addr())
	withConsole(snap, 6, "127.0.0.1:1") // nothing listens
	self.set(reportAt(t0, 1, 1), nil)
	c := New(self, Config{PeerTimeout: 300 * time.Millisecond})

	start := time.Now()
	stats := c.gather(context.Background(), snap)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gather took %v with a PeerTimeout of 300ms", took)
	}
	if !stats.Brokers[1].Reachable {
		t.Errorf("this broker: %+v", stats.Brokers[1])
	}
	wantErr := map[int32]string{
		2: "deadline exceeded",
		3: "decoding its report",
		4: "503 Service Unavailable: this broker's report is unavailable: shutting down",
		5: "answered as broker 9, not 5",
		6: "127.0.0.1:1",
	}
	for id, want := range wantErr {
		if b := stats.Brokers[id]; b.Reachable || !strings.Contains(b.Err, want) {
			t.Errorf("broker %d: %+v, want unreachable with %q", id, b, want)
		}
	}

	// This broker's own report failing is an error like any other.
	self.set(BrokerReport{}, fmt.Errorf("the broker is stopping"))
	if b := c.gather(context.Background(), nil).Brokers[1]; b.Reachable || !strings.Contains(b.Err, "the broker is stopping") {
		t.Errorf("this broker with a failing report: %+v", b)
	}
}

func TestTopicPartitionsFromLeaders(t *testing.T) {
	self := &stubSource{id: 1}
	p2 := newPeer(t, 2)
	snap := baseSnapshot()
	withConsole(snap, 2, p2.addr())
	withConsole(snap, 3, "127.0.0.1:1") // down
	snap.Topics["orders"] = onlineTopic("orders", [][]int32{{1, 2}, {2, 1}, {3, 1}, {2, 3}})
	snap.Topics["orders"].Partitions[3].Leader = -1
	c := New(self, Config{PeerTimeout: time.Second})
	if got := c.TopicPartitions(context.Background(), "orders"); got != nil {
		t.Errorf("before any view: %v", got)
	}
	c.Observe(snap)

	pr := func(p int32, leader bool, end int64) PartitionReport {
		return PartitionReport{TopicPartition: zkpaths.TopicPartition{Topic: "orders", Partition: p}, Leader: leader, LogEnd: end}
	}
	rep1 := reportAt(t0, 0, 0)
	rep1.Partitions = []PartitionReport{pr(0, true, 10), pr(1, false, 1), pr(2, false, 1)}
	self.set(rep1, nil)
	rep2 := reportAt(t0, 0, 0)
	rep2.Partitions = []PartitionReport{pr(0, false, 1), pr(1, true, 20), pr(3, false, 1)}
	p2.src.set(rep2, nil)

	got := c.TopicPartitions(context.Background(), "orders")
	if len(got) != 2 || got[0].LogEnd != 10 || got[1].LogEnd != 20 {
		t.Errorf("partitions %+v, want 0 from broker 1 and 1 from broker 2 (2's leader is down, 3 has none)", got)
	}
	if self.topics[len(self.topics)-1] != "orders" || p2.src.topics[len(p2.src.topics)-1] != "orders" {
		t.Errorf("topic asked of the leaders: %q and %q", self.topics, p2.src.topics)
	}
	if got := c.TopicPartitions(context.Background(), "missing"); got != nil {
		t.Errorf("unknown topic: %v", got)
	}
}

// TestRunTicksUntilCancelled: Run gathers at once and every tick, each
// tick grows the version and wakes subscribers; it returns when its
// context ends.
func TestRunTicksUntilCancelled(t *testing.T) {
	self := &stubSource{id: 1}
	self.set(reportAt(t0, 1, 1, TopicReport{Topic: "orders", SizeBytes: 5}), nil)
	c := New(self, Config{Tick: 10 * time.Millisecond})
	c.Observe(baseSnapshot())
	versions, cancelSub, ok := c.Subscribe()
	if !ok {
		t.Fatal("Subscribe refused")
	}
	defer cancelSub()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	poll.Until(t, 10*time.Second, "three ticks", func() bool { return c.State().Version >= 4 })
	if v := <-versions; v < 2 {
		t.Errorf("subscriber got version %d", v)
	}
	s := c.State()
	if s.Stats.Time.IsZero() || s.Stats.Topics["orders"].SizeBytes != 5 || !s.Stats.Brokers[1].Reachable {
		t.Errorf("stats after ticks: %+v", s.Stats)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// TestRunReturnsWhileAPeerHangs: shutdown does not wait for PeerTimeout.
func TestRunReturnsWhileAPeerHangs(t *testing.T) {
	self := &stubSource{id: 1, blockOn: make(chan struct{})}
	c := New(self, Config{Tick: time.Hour, PeerTimeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	poll.Until(t, 10*time.Second, "the first report asked", func() bool {
		self.mu.Lock()
		defer self.mu.Unlock()
		return self.calls > 0
	})
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return while its report hung")
	}
	if v := c.State().Version; v != 0 {
		t.Errorf("a round cut short by shutdown changed the version to %d", v)
	}
}

// TestRunLeavesNothingRunning: once Run returned and the peers closed,
// no goroutine of the console's (ticker, fetches, idle connections) is
// left.
func TestRunLeavesNothingRunning(t *testing.T) {
	before := runtime.NumGoroutine()
	self := &stubSource{id: 1}
	self.set(reportAt(t0, 1, 1), nil)
	p2 := httptest.NewServer(http.HandlerFunc(New(&stubSource{id: 2}, Config{}).serveBrokerReport))
	snap := baseSnapshot()
	withConsole(snap, 2, p2.Listener.Addr().String())
	delete(snap.Brokers, 3)
	c := New(self, Config{Tick: 5 * time.Millisecond})
	c.Observe(snap)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	poll.Until(t, 10*time.Second, "ticks with broker 2 reachable", func() bool {
		s := c.State()
		return s.Version >= 5 && s.Stats.Brokers[2].Reachable
	})
	cancel()
	<-done
	p2.Close()
	poll.UntilSaw(t, 10*time.Second, "the goroutines to end", func() (bool, string) {
		n := runtime.NumGoroutine()
		return n <= before, fmt.Sprintf("%d goroutines, %d before", n, before)
	})
}
