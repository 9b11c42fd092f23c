package replica

import (
	"sync"
	"sync/atomic"

	"github.com/kzoo/kzoo/zkpaths"
)

// partitionTable maps topic-partitions to the replicas this broker holds.
// Reads (every produce and fetch) take no lock and allocate nothing
// (sync.Map's reads are lock-free); the metadata goroutine adds and removes
// entries one at a time, so applying a change costs what changed, never a
// copy of every partition held.
type partitionTable struct {
	m     sync.Map // zkpaths.TopicPartition -> *Partition
	count atomic.Int64
}

func (t *partitionTable) get(tp zkpaths.TopicPartition) *Partition {
	v, ok := t.m.Load(tp)
	if !ok {
		return nil
	}
	return v.(*Partition)
}

// add holds p, replacing any replica of the same partition.
func (t *partitionTable) add(p *Partition) {
	if _, replaced := t.m.Swap(p.tp, p); !replaced {
		t.count.Add(1)
	}
}

// remove drops tp and returns the replica that was held, nil if none.
func (t *partitionTable) remove(tp zkpaths.TopicPartition) *Partition {
	v, ok := t.m.LoadAndDelete(tp)
	if !ok {
		return nil
	}
	t.count.Add(-1)
	return v.(*Partition)
}

// each calls fn with every replica held until fn returns false. A replica
// added or removed meanwhile may or may not be seen.
func (t *partitionTable) each(fn func(*Partition) bool) {
	t.m.Range(func(_, v any) bool { return fn(v.(*Partition)) })
}

func (t *partitionTable) len() int { return int(t.count.Load()) }
