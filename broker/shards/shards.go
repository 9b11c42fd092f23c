// Package shards keeps the partitions of a coordinator's internal topic that
// this broker leads — the group coordinator's __consumer_offsets, the
// transaction coordinator's __transaction_state — each as a shard of the
// coordinator's own kind, and applies the rules both coordinators share:
//
//   - Hand-overs apply in leader-epoch order. A partition's leadership may
//     move away and back while an older hand-over is still queued; one whose
//     epoch is below the highest seen for its partition (taken or given
//     back) is ignored, and a newer one replaces the shard held.
//   - A shard loads its partition in the background, retried with backoff
//     until it succeeds or the shard is dropped; the coordinator answers
//     COORDINATOR_LOAD_IN_PROGRESS meanwhile (the shard knows when it is
//     loaded).
//   - Dropping a shard cancels its context, under which it loads, writes
//     and does its other work, then unloads it. Close drops every shard and
//     waits for the goroutines the table started.
package shards

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Retries of a load that failed back off from loadRetryMin to loadRetryMax.
const (
	loadRetryMin = 100 * time.Millisecond
	loadRetryMax = 5 * time.Second
)

// Shard is one partition a coordinator holds.
type Shard interface {
	// Load reads the partition and starts serving it. A failed Load
	// (nothing served) is called again after a backoff, until it succeeds
	// or ctx, the shard's context, ends.
	Load(ctx context.Context) error
	// Unload stops serving the partition: its requests get NOT_COORDINATOR
	// from then on. It is called once, after the shard's context ended,
	// possibly while Load runs.
	Unload()
}

// Table is the set of shards a coordinator holds, by partition. Its methods
// are safe for concurrent use.
type Table[S Shard] struct {
	kind   string // what one partition is, for the log: "offsets partition"
	logger logrus.FieldLogger
	ctx    context.Context // the parent of every shard's context; Close cancels it
	cancel context.CancelFunc
	wg     sync.WaitGroup // the goroutines of loads and of Go

	mu     sync.Mutex
	held   map[int32]heldShard[S]
	epochs map[int32]int32 // the highest leader epoch seen per partition
	closed bool
}

type heldShard[S Shard] struct {
	shard  S
	epoch  int32
	cancel context.CancelFunc
}

func (h heldShard[S]) drop() {
	h.cancel()
	h.shard.Unload()
}

// NewTable returns an empty table of shards of kind (for the log, e.g.
// "offsets partition").
func NewTable[S Shard](kind string, logger logrus.FieldLogger) *Table[S] {
	ctx, cancel := context.WithCancel(context.Background())
	return &Table[S]{
		kind: kind, logger: logger, ctx: ctx, cancel: cancel,
		held: make(map[int32]heldShard[S]), epochs: make(map[int32]int32),
	}
}

// Lead takes partition, which this broker now leads at epoch: unless the
// hand-over is stale or the table closed, it makes the partition's shard
// with newShard, passing the shard's context, replaces the shard held at an
// older epoch, and loads the new one in the background.
func (t *Table[S]) Lead(partition, epoch int32, newShard func(ctx context.Context) S) {
	logger := t.logger.WithFields(logrus.Fields{"kind": t.kind, "partition": partition, "epoch": epoch})
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	if seen, ok := t.epochs[partition]; ok && epoch < seen {
		t.mu.Unlock()
		logger.WithField("current_epoch", seen).Info("ignoring a stale hand-over of a coordinator partition")
		return
	}
	old, replacing := t.held[partition]
	if replacing && old.epoch >= epoch {
		t.mu.Unlock()
		return
	}
	t.epochs[partition] = epoch
	ctx, cancel := context.WithCancel(t.ctx)
	s := newShard(ctx)
	t.held[partition] = heldShard[S]{shard: s, epoch: epoch, cancel: cancel}
	t.wg.Add(1)
	t.mu.Unlock()

	if replacing {
		old.drop()
	}
	logger.Info("loading a coordinator partition")
	go func() {
		defer t.wg.Done()
		load(ctx, s, logger)
	}()
}

// load calls s.Load until it succeeds or ctx ends.
func load(ctx context.Context, s Shard, logger logrus.FieldLogger) {
	backoff := loadRetryMin
	for {
		err := s.Load(ctx)
		if err == nil || ctx.Err() != nil {
			return
		}
		logger.WithError(err).Error("loading a coordinator partition failed; retrying")
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, loadRetryMax)
	}
}

// Resign gives back partition, which this broker no longer leads at epoch
// or any lower epoch: the shard held at such an epoch is dropped.
func (t *Table[S]) Resign(partition, epoch int32) {
	t.mu.Lock()
	if seen, ok := t.epochs[partition]; !ok || epoch > seen {
		t.epochs[partition] = epoch
	}
	h, ok := t.held[partition]
	if !ok || h.epoch > epoch {
		t.mu.Unlock()
		return
	}
	delete(t.held, partition)
	t.mu.Unlock()
	h.drop()
	t.logger.WithFields(logrus.Fields{"kind": t.kind, "partition": partition, "epoch": epoch}).Info("unloaded a coordinator partition")
}

// Close drops every shard, refuses later hand-overs and waits for the
// table's goroutines; it is called once, when the broker stops.
func (t *Table[S]) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	held := t.held
	t.held = make(map[int32]heldShard[S])
	t.mu.Unlock()
	for _, h := range held {
		h.drop()
	}
	t.cancel()
	t.wg.Wait()
}

// Closed reports whether Close was called.
func (t *Table[S]) Closed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// Get returns the shard held for partition.
func (t *Table[S]) Get(partition int32) (S, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.held[partition]
	return h.shard, ok
}

// All returns the shards held now, in partition order.
func (t *Table[S]) All() []S {
	t.mu.Lock()
	partitions := make([]int32, 0, len(t.held))
	for p := range t.held {
		partitions = append(partitions, p)
	}
	sort.Slice(partitions, func(i, j int) bool { return partitions[i] < partitions[j] })
	out := make([]S, len(partitions))
	for i, p := range partitions {
		out[i] = t.held[p].shard
	}
	t.mu.Unlock()
	return out
}

// Go runs f in a goroutine Close waits for: a shard's background work
// (writes, markers), which ends with the shard's context.
func (t *Table[S]) Go(f func()) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		f()
	}()
}
