package console

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// pagesSnapshot is a cluster of three brokers with topic "big" of
// partitions partitions (every tenth under-replicated) and small topics
// more, each of 10 partitions.
func pagesSnapshot(partitions, small int) *coordinator.Snapshot {
	snap := &coordinator.Snapshot{
		ControllerID: 1, ControllerEpoch: 3,
		Brokers: map[int32]coordinator.Broker{
			1: {ID: 1, Host: "h1", Port: 9092}, 2: {ID: 2, Host: "h2", Port: 9092}, 3: {ID: 3, Host: "h3", Port: 9092},
		},
		Topics: map[string]*coordinator.Topic{},
	}
	add := func(name string, n int) {
		t := &coordinator.Topic{Name: name, Configs: map[string]string{}}
		for i := range n {
			r := []int32{int32(i%3 + 1), int32((i+1)%3 + 1), int32((i+2)%3 + 1)}
			isr := r
			if i%10 == 0 {
				isr = r[:2]
			}
			t.Partitions = append(t.Partitions, coordinator.Partition{Topic: name, Partition: int32(i),
				State: zkpaths.StateOnline, Leader: r[0], LeaderEpoch: 1, Replicas: r, ISR: isr})
		}
		snap.Topics[name] = t
	}
	add("big", partitions)
	for i := range small {
		add(fmt.Sprintf("topic-%04d", i), 10)
	}
	return snap
}

// benchReader is the fake reader over a big cluster: 1,000 partitions in
// one topic, 300 more topics, 50 groups of 20 partitions each, and an
// hour of lag history (120 samples) per group.
func benchReader() *fakeReader {
	fr := newFakeReader()
	fr.state.Snap = pagesSnapshot(1000, 300)
	fr.state.Stats.Groups = nil
	for g := range 50 {
		gr := GroupReport{Group: fmt.Sprintf("group-%02d", g), State: "Stable", Coordinator: int32(g%3 + 1)}
		for m := range 4 {
			gr.Members = append(gr.Members, MemberReport{MemberID: fmt.Sprintf("m-%d", m), ClientID: "c"})
		}
		for p := range 20 {
			gr.Offsets = append(gr.Offsets, OffsetReport{TopicPartition: zkpaths.TopicPartition{Topic: "big", Partition: int32(p)},
				Committed: 100, End: 150, Lag: 50})
		}
		fr.state.Stats.Groups = append(fr.state.Stats.Groups, gr)
	}
	offsets := map[int32]PartitionReport{}
	for p := range 1000 {
		offsets[int32(p)] = PartitionReport{TopicPartition: zkpaths.TopicPartition{Topic: "big", Partition: int32(p)},
			Leader: true, LogStart: 10, LogEnd: 1e6}
	}
	fr.offsets["big"] = offsets
	fr.lag = make([]Point, 120)
	for i := range fr.lag {
		fr.lag[i] = Point{Time: fixtureNow.Add(time.Duration(i-120) * 30 * time.Second), Value: float64(i * 10)}
	}
	return fr
}

// BenchmarkConsolePages measures the response time of the pages an
// operator opens most, at 1,000 partitions and 50 groups; ms/page is the
// figure to quote.
func BenchmarkConsolePages(b *testing.B) {
	fr := benchReader()
	h := newTestHandler(fr, &fakeSource{})
	for _, c := range []struct{ name, path string }{
		{"cluster", "/"},
		{"topics", "/topics"},
		{"topic-1000-partitions", "/topics/big"},
		{"groups-50", "/groups"},
		{"group", "/groups/group-07"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, c.path, nil)
			var bytes int
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: status %d", c.path, rec.Code)
				}
				bytes = rec.Body.Len()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/page")
			b.ReportMetric(float64(bytes), "bytes/page")
		})
	}
}
