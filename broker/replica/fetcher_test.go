package replica

import (
	"context"
	"io"
	"testing"

	"github.com/kzoo/kzoo/zkpaths"
	"github.com/sirupsen/logrus"
)

func TestFetcherCountChangesAtRunTime(t *testing.T) {
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the fetchers stop at once: this test looks at placement only
	mgr := New(Config{Logger: logger}, 1)
	mgr.StartFetchers(ctx)
	m := &mgr.fetchers
	var parts []*Partition
	for i := range int32(16) {
		p := &Partition{tp: zkpaths.TopicPartition{Topic: "t", Partition: i}}
		parts = append(parts, p)
		m.add(p, followTarget{leader: 2 + i/8, epoch: 1})
	}
	check := func(count int) {
		t.Helper()
		m.mu.Lock()
		defer m.mu.Unlock()
		seen := 0
		for key, f := range m.fetchers {
			if key.index >= count {
				t.Errorf("fetcher %d of source %d exists with num.replica.fetchers=%d", key.index, key.source, count)
			}
			for tp, fp := range f.parts {
				seen++
				if fetcherIndex(tp, count) != key.index || fp.target.leader != key.source || f.source != key.source {
					t.Errorf("%v is on fetcher %d of source %d", tp, key.index, key.source)
				}
			}
		}
		if seen != len(parts) {
			t.Errorf("%d partitions fetched, want %d", seen, len(parts))
		}
		if want := 2 * count; len(m.fetchers) != want {
			t.Errorf("%d fetchers for 2 sources with num.replica.fetchers=%d, want %d", len(m.fetchers), count, want)
		}
	}
	check(1)
	m.setCount(4)
	check(4)
	m.setCount(1)
	check(1)
	m.wait()
}
