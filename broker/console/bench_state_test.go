package console

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kzoo/kzoo/coordinator"
)

// BenchmarkObserve: the diff's cost at 100,000 partitions when one
// partition changed, as 100,000 topics of one partition, 1,000 of 100 and
// one of 100,000 (the broker's own diffViews costs the same order).
func BenchmarkObserve(b *testing.B) {
	for _, perTopic := range []int{1, 100, 100_000} {
		topics := 100_000 / perTopic
		b.Run(fmt.Sprintf("topics=%d/per_topic=%d", topics, perTopic), func(b *testing.B) {
			snap := viewAtScale(topics, perTopic)
			c := New(&stubSource{id: 1}, Config{})
			c.Observe(snap)
			n := nextView(snap)
			name := fmt.Sprintf("topic-%05d", topics/2)
			changeTopic(n, name, func(tp *coordinator.Topic) { tp.Partitions[0].ISR = []int32{1, 2} })
			views := []*coordinator.Snapshot{snap, n}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				c.Observe(views[(i+1)%2])
			}
		})
	}
}

// BenchmarkTick: one tick over three brokers (this one and two peers
// over HTTP), each reporting 10,000 topics and 100 groups of 100
// partitions, into stats and history.
func BenchmarkTick(b *testing.B) {
	rep := BrokerReport{Time: t0}
	for i := range 10_000 {
		rep.Topics = append(rep.Topics, TopicReport{Topic: fmt.Sprintf("topic-%05d", i), BytesIn: int64(i), BytesOut: int64(i), SizeBytes: 1 << 20})
	}
	for i := range 100 {
		lags := make([]int64, 100)
		for p := range lags {
			lags[p] = int64(p)
		}
		rep.Groups = append(rep.Groups, groupWithLag(fmt.Sprintf("group-%03d", i), lags...))
	}
	self := &stubSource{id: 1}
	self.set(rep, nil)
	snap := baseSnapshot()
	delete(snap.Brokers, 3)
	for id := int32(2); id <= 3; id++ {
		p := newPeer(b, id)
		r := rep
		r.Groups = nil
		p.src.set(r, nil)
		withConsole(snap, id, p.addr())
	}
	clock := &fakeClock{now: t0}
	c := New(self, Config{Now: clock.Now, PeerTimeout: 10 * time.Second})
	c.Observe(snap)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		clock.advance(5 * time.Second)
		c.tick(ctx)
	}
	if s := c.State(); len(s.Stats.Topics) != 10_000 || !s.Stats.Brokers[3].Reachable {
		b.Fatalf("stats: %d topics, broker 3 %+v", len(s.Stats.Topics), s.Stats.Brokers[3])
	}
}
