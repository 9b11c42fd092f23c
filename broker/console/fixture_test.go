package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// The fixed cluster the handler tests render: three live brokers (1, 2, 3)
// and a gone one (4); topic orders (3 partitions, RF 3, partition 1
// under-replicated), lonely (its only replica on broker 4: Offline), events
// (partition 0 reassigned from 1,2 to 2,3), fresh (New and NonExistent),
// doomed (being deleted, Offline: not counted as offline); groups payments,
// <b>x</b> and a/b.

var fixtureNow = time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)

func part(topic string, id int32, state zkpaths.PartitionStatus, leader, epoch int32, replicas, isr []int32) coordinator.Partition {
	return coordinator.Partition{Topic: topic, Partition: id, State: state, Leader: leader, LeaderEpoch: epoch,
		Replicas: replicas, ISR: isr, ControllerEpoch: 9}
}

func fixtureSnapshot() *coordinator.Snapshot {
	on, off := zkpaths.StateOnline, zkpaths.StateOffline
	events := part("events", 0, on, 2, 2, []int32{2, 3, 1}, []int32{1, 2})
	events.AddingReplicas, events.RemovingReplicas = []int32{3}, []int32{1}
	topics := map[string]*coordinator.Topic{
		"orders": {Name: "orders", Partitions: []coordinator.Partition{
			part("orders", 0, on, 1, 5, []int32{1, 2, 3}, []int32{1, 2, 3}),
			part("orders", 1, on, 2, 3, []int32{2, 3, 1}, []int32{2, 3}),
			part("orders", 2, on, 3, 1, []int32{3, 1, 2}, []int32{3, 1, 2}),
		}},
		"lonely": {Name: "lonely", Partitions: []coordinator.Partition{
			part("lonely", 0, off, -1, 7, []int32{4}, []int32{4}),
		}},
		"events": {Name: "events", Partitions: []coordinator.Partition{events}},
		"fresh": {Name: "fresh", Partitions: []coordinator.Partition{
			part("fresh", 0, zkpaths.StateNew, -1, 0, []int32{1, 2}, []int32{1, 2}),
			part("fresh", 1, zkpaths.StateNonExistent, -1, -1, []int32{2, 3}, nil),
		}},
		"doomed": {Name: "doomed", Deleting: true, Partitions: []coordinator.Partition{
			part("doomed", 0, off, -1, 4, []int32{2}, nil),
		}},
	}
	for _, t := range topics {
		t.Configs = map[string]string{}
	}
	return &coordinator.Snapshot{
		ClusterID:       "cluster-Xy",
		ControllerID:    2,
		ControllerEpoch: 9,
		Brokers: map[int32]coordinator.Broker{
			1: {ID: 1, Host: "10.0.0.1", Port: 9092, Rack: "r1", Console: "10.0.0.1:9645"},
			2: {ID: 2, Host: "10.0.0.2", Port: 9092, Rack: "r2", Console: "10.0.0.2:9645"},
			3: {ID: 3, Host: "10.0.0.3", Port: 9092, Console: "10.0.0.3:9645"},
		},
		Topics: topics,
	}
}

func fixtureState() State {
	tp := func(t string, p int32) zkpaths.TopicPartition { return zkpaths.TopicPartition{Topic: t, Partition: p} }
	return State{
		Now:    fixtureNow,
		Broker: 1,
		Snap:   fixtureSnapshot(),
		ZooKeeper: coordinator.ZooKeeperStatus{
			Servers:   []string{"zk1:2181", "zk2:2181", "zk3:2181"},
			Connected: "zk2:2181",
			State:     "StateHasSession",
			SessionID: 0x1234,
		},
		Stats: ClusterStats{
			Time: fixtureNow.Add(-2 * time.Second),
			Brokers: map[int32]BrokerStats{
				1: {Reachable: true, BytesInPerSec: 1536, BytesOutPerSec: 3 << 20},
				2: {Reachable: false, Err: "timeout"},
				3: {Reachable: true},
			},
			Topics: map[string]TopicStats{
				"orders": {BytesInPerSec: 1536, BytesOutPerSec: 512, SizeBytes: 5 << 20},
			},
			Groups: []GroupReport{
				{Group: "payments", State: "Stable", ProtocolType: "consumer", Protocol: "range", Coordinator: 2,
					Members: []MemberReport{
						{MemberID: "m-1", ClientID: "c1", Host: "/10.0.0.9", Assignment: []zkpaths.TopicPartition{tp("orders", 0)}},
						{MemberID: "m-2", ClientID: "c2", Host: "/10.0.0.8", Assignment: []zkpaths.TopicPartition{tp("orders", 1)}},
					},
					Offsets: []OffsetReport{
						{TopicPartition: tp("orders", 0), Committed: 10, End: 25, Lag: 15},
						{TopicPartition: tp("orders", 1), Committed: 5, End: 5, Lag: 0},
					}},
				{Group: "<b>x</b>", State: "Empty", Coordinator: 1, Offsets: []OffsetReport{
					{TopicPartition: tp("orders", 2), Committed: 0, End: 1000, Lag: 1000},
				}},
				{Group: "a/b", State: "Empty", Coordinator: 3, Offsets: []OffsetReport{
					{TopicPartition: tp("orders", 0), Committed: 3, End: -1, Lag: -1},
				}},
			},
		},
		StateEvents: []Event{
			{Time: fixtureNow.Add(-time.Second), Kind: EventPartition, Partition: tp("lonely", 0),
				From: zkpaths.StateOnline, To: zkpaths.StateOffline, PrevLeader: 4, Leader: -1, LeaderEpoch: 7, Cause: "broker 4 went away"},
			{Time: fixtureNow.Add(-time.Minute), Kind: EventPartition, Partition: tp("orders", 0),
				From: zkpaths.StateOnline, To: zkpaths.StateOnline, PrevLeader: 2, Leader: 1, LeaderEpoch: 5, Cause: "preferred leader election"},
		},
		ControllerEvents: []Event{
			{Time: fixtureNow.Add(-time.Second), Kind: EventController, Text: "broker 4 left"},
			{Time: fixtureNow.Add(-time.Hour), Kind: EventController, Text: "broker 2 became controller (epoch 9)"},
		},
		Version: 42,
	}
}

// fakeReader is a fixed console view.
type fakeReader struct {
	mu      sync.Mutex
	state   State
	offsets map[string]map[int32]PartitionReport
	// lag, when set, is every group's lag history.
	lag []Point
	// subs receives the channel each Subscribe hands out; full refuses.
	full      bool
	versions  chan uint64
	cancelled chan struct{}
}

func newFakeReader() *fakeReader {
	return &fakeReader{
		state: fixtureState(),
		offsets: map[string]map[int32]PartitionReport{
			"orders": {
				0: {TopicPartition: zkpaths.TopicPartition{Topic: "orders", Partition: 0}, Leader: true, LogStart: 100, LogEnd: 2500},
				1: {TopicPartition: zkpaths.TopicPartition{Topic: "orders", Partition: 1}, Leader: true, LogStart: 0, LogEnd: 77},
			},
		},
		versions:  make(chan uint64, 1),
		cancelled: make(chan struct{}),
	}
}

func (f *fakeReader) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func series3(base float64) []Point {
	return []Point{
		{Time: fixtureNow.Add(-10 * time.Second), Value: base},
		{Time: fixtureNow.Add(-5 * time.Second), Value: 2 * base},
		{Time: fixtureNow, Value: 3 * base},
	}
}

func (f *fakeReader) LagHistory(group string) []Point {
	if f.lag != nil {
		return f.lag
	}
	if group == "payments" {
		return series3(5)
	}
	return nil
}

func (f *fakeReader) ThroughputHistory(id int32, topic string) (in, out []Point) {
	return series3(1024), series3(512)
}

func (f *fakeReader) TopicPartitions(ctx context.Context, topic string) map[int32]PartitionReport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.offsets[topic]
}

func (f *fakeReader) Subscribe() (<-chan uint64, func(), bool) {
	if f.full {
		return nil, func() {}, false
	}
	var once sync.Once
	return f.versions, func() { once.Do(func() { close(f.cancelled) }) }, true
}

// fakeSource is a fixed broker.
type fakeSource struct {
	mu        sync.Mutex
	authErr   error
	elected   []string
	gotCreds  Credentials
	electErr  error
	configErr error
}

func (s *fakeSource) BrokerID() int32                        { return 1 }
func (s *fakeSource) ZooKeeper() coordinator.ZooKeeperStatus { return coordinator.ZooKeeperStatus{} }
func (s *fakeSource) Report(context.Context, string) (BrokerReport, error) {
	return BrokerReport{}, errors.New("not in the handler tests")
}

func (s *fakeSource) TopicConfigs(ctx context.Context, topic string) ([]ConfigEntry, error) {
	if s.configErr != nil {
		return nil, s.configErr
	}
	str := func(v string) *string { return &v }
	return []ConfigEntry{
		{Name: "retention.ms", Value: str("86400000"), Source: "DYNAMIC_TOPIC_CONFIG"},
		{Name: "cleanup.policy", Value: str("delete"), Source: "DEFAULT_CONFIG"},
		{Name: "secret.thing", Value: nil, Source: "STATIC_BROKER_CONFIG", Sensitive: true},
	}, nil
}

func (s *fakeSource) ElectPreferred(ctx context.Context, topic string) (map[int32]error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.elected = append(s.elected, topic)
	if s.electErr != nil {
		return nil, s.electErr
	}
	return map[int32]error{1: errors.New("preferred replica 2 is not in the ISR")}, nil
}

func (s *fakeSource) Authorize(ctx context.Context, creds Credentials, action Action, topic string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gotCreds = creds
	if action != ActionElectPreferred {
		return "", fmt.Errorf("unexpected action %q", action)
	}
	if s.authErr != nil {
		return "", s.authErr
	}
	if creds.Present {
		return "User:" + creds.User, nil
	}
	return "User:ANONYMOUS", nil
}

var _ Source = (*fakeSource)(nil)

// testAPI stands for /api/broker in the handler tests.
func testAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"broker":1}`))
}

func newTestHandler(r *fakeReader, src *fakeSource) http.Handler {
	return newHandler(r, src, testAPI, nil)
}

// get requests path and returns the answer and the parsed page.
func get(t testing.TB, h http.Handler, path string, header ...string) (*httptest.ResponseRecorder, *doc) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, parseDoc(t, rec.Body.String())
}

// post sends form to path with the headers given (name, value pairs).
func post(t testing.TB, h http.Handler, path, form string, header ...string) (*httptest.ResponseRecorder, *doc) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec, parseDoc(t, rec.Body.String())
}
