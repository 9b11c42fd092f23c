package replica

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/kzoo/kzoo/zkpaths"
)

// partitionTable maps topic-partitions to the replicas this broker holds.
// Reads (every produce and fetch) load an immutable map without locking;
// the metadata goroutine replaces it copy-on-write.
type partitionTable struct {
	mu sync.Mutex // serializes writers
	m  atomic.Pointer[map[zkpaths.TopicPartition]*Partition]
}

func (t *partitionTable) init() {
	empty := map[zkpaths.TopicPartition]*Partition{}
	t.m.Store(&empty)
}

func (t *partitionTable) get(tp zkpaths.TopicPartition) *Partition { return (*t.m.Load())[tp] }

func (t *partitionTable) all() map[zkpaths.TopicPartition]*Partition { return *t.m.Load() }

func (t *partitionTable) update(fn func(m map[zkpaths.TopicPartition]*Partition)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	next := maps.Clone(*t.m.Load())
	fn(next)
	t.m.Store(&next)
}
