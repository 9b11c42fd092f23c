package shards

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// testShard records what the table does to it.
type testShard struct {
	epoch int32

	mu       sync.Mutex
	ctx      context.Context
	failures int // loads still to fail
	loads    int
	loaded   chan struct{} // closed once a load succeeded
	unloads  int
}

func newTestShard(ctx context.Context, epoch int32, failures int) *testShard {
	return &testShard{ctx: ctx, epoch: epoch, failures: failures, loaded: make(chan struct{})}
}

func (s *testShard) Load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	if s.failures > 0 {
		s.failures--
		return errors.New("read failed")
	}
	close(s.loaded)
	return nil
}

func (s *testShard) Unload() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctx.Err() == nil {
		panic("unloaded before its context ended")
	}
	s.unloads++
}

func (s *testShard) counts() (loads, unloads int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads, s.unloads
}

func quietLogger() logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return l
}

// lead hands partition to table at epoch and returns the shard it made,
// nil when the hand-over was refused.
func lead(table *Table[*testShard], partition, epoch int32, failures int) *testShard {
	var made *testShard
	table.Lead(partition, epoch, func(ctx context.Context) *testShard {
		made = newTestShard(ctx, epoch, failures)
		return made
	})
	return made
}

func waitLoaded(t *testing.T, s *testShard) {
	t.Helper()
	select {
	case <-s.loaded:
	case <-time.After(10 * time.Second):
		t.Fatal("shard never loaded")
	}
}

func TestHandOversApplyInEpochOrder(t *testing.T) {
	table := NewTable[*testShard]("test partition", quietLogger())
	defer table.Close()

	first := lead(table, 3, 5, 0)
	waitLoaded(t, first)
	if s := lead(table, 3, 4, 0); s != nil {
		t.Fatal("a hand-over at an older epoch made a shard")
	}
	if s := lead(table, 3, 5, 0); s != nil {
		t.Fatal("a repeated hand-over at the same epoch made a shard")
	}
	second := lead(table, 3, 6, 0)
	if second == nil {
		t.Fatal("a newer hand-over was refused")
	}
	if _, unloads := first.counts(); unloads != 1 || first.ctx.Err() == nil {
		t.Errorf("the replaced shard: %d unloads, context %v; want 1 and canceled", unloads, first.ctx.Err())
	}
	if got, _ := table.Get(3); got != second {
		t.Error("Get does not return the newer shard")
	}

	// A resignation at an older epoch leaves the shard; one at its epoch
	// drops it, and a hand-over older than it stays refused.
	table.Resign(3, 5)
	if _, ok := table.Get(3); !ok {
		t.Fatal("a resignation at an older epoch dropped the shard")
	}
	table.Resign(3, 7)
	if _, ok := table.Get(3); ok {
		t.Fatal("the shard survived its resignation")
	}
	if _, unloads := second.counts(); unloads != 1 {
		t.Errorf("resigned shard unloaded %d times, want 1", unloads)
	}
	if s := lead(table, 3, 6, 0); s != nil {
		t.Error("a hand-over older than the resignation made a shard")
	}
	if s := lead(table, 3, 8, 0); s == nil {
		t.Error("a hand-over after the resignation was refused")
	}
}

func TestFailedLoadsAreRetriedUntilOneSucceeds(t *testing.T) {
	table := NewTable[*testShard]("test partition", quietLogger())
	defer table.Close()
	s := lead(table, 0, 1, 2)
	waitLoaded(t, s)
	if loads, _ := s.counts(); loads != 3 {
		t.Errorf("%d loads, want 3 (two failures, then success)", loads)
	}
}

func TestCloseDropsEveryShardAndWaitsForItsWork(t *testing.T) {
	table := NewTable[*testShard]("test partition", quietLogger())
	a, b := lead(table, 0, 1, 0), lead(table, 1, 1, 1<<30) // b never loads
	waitLoaded(t, a)
	if all := table.All(); len(all) != 2 || all[0] != a || all[1] != b {
		t.Fatalf("All = %v, want the two shards in partition order", all)
	}
	workEnded := make(chan struct{})
	table.Go(func() {
		<-a.ctx.Done() // background work ends with its shard's context
		close(workEnded)
	})
	table.Close()
	select {
	case <-workEnded:
	default:
		t.Fatal("Close returned before the shards' work ended")
	}
	for _, s := range []*testShard{a, b} {
		if _, unloads := s.counts(); unloads != 1 {
			t.Errorf("shard unloaded %d times by Close, want 1", unloads)
		}
	}
	if !table.Closed() {
		t.Error("Closed() is false after Close")
	}
	if s := lead(table, 2, 1, 0); s != nil {
		t.Error("a closed table made a shard")
	}
}
