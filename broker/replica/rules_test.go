package replica

import (
	"slices"
	"testing"
	"time"
)

var t0 = time.Unix(1000, 0)

func follower(leo int64, caughtUp time.Time) *Follower {
	return &Follower{LogEndOffset: leo, LastCaughtUp: caughtUp, lastFetchLeaderLEO: -1}
}

func TestHighWatermark(t *testing.T) {
	followers := map[int32]*Follower{2: follower(7, t0), 3: follower(5, t0)}
	tests := []struct {
		name    string
		current int64
		isr     []int32
		minISR  int
		want    int64
	}{
		{"min over the ISR", 3, []int32{1, 2, 3}, 1, 5},
		{"a follower outside the ISR does not hold it back", 3, []int32{1, 2}, 1, 7},
		{"leader alone", 3, []int32{1}, 1, 10},
		{"never backwards", 6, []int32{1, 2, 3}, 1, 6},
		{"stays put below min.insync.replicas (KAFKA-15583)", 3, []int32{1}, 2, 3},
	}
	for _, tt := range tests {
		if got := HighWatermark(tt.current, 10, 1, tt.isr, followers, tt.minISR); got != tt.want {
			t.Errorf("%s: HighWatermark = %d, want %d", tt.name, got, tt.want)
		}
	}
	fresh := map[int32]*Follower{2: NewFollower(true, t0)}
	if got := HighWatermark(3, 10, 1, []int32{1, 2}, fresh, 1); got != 3 {
		t.Errorf("with an ISR member that has not fetched: %d, want 3", got)
	}
}

func TestRecordFetchCaughtUp(t *testing.T) {
	f := NewFollower(false, t0)
	f.RecordFetch(5, 10, t0.Add(time.Second))
	if !f.LastCaughtUp.IsZero() {
		t.Fatalf("behind the leader: caught up at %v", f.LastCaughtUp)
	}
	// Reaching what the leader had at the previous fetch caught it up then.
	f.RecordFetch(10, 12, t0.Add(2*time.Second))
	if want := t0.Add(time.Second); !f.LastCaughtUp.Equal(want) {
		t.Fatalf("caught up at %v, want %v", f.LastCaughtUp, want)
	}
	f.RecordFetch(12, 12, t0.Add(3*time.Second))
	if want := t0.Add(3 * time.Second); !f.LastCaughtUp.Equal(want) {
		t.Fatalf("caught up at %v, want %v", f.LastCaughtUp, want)
	}
	if f.LogEndOffset != 12 {
		t.Fatalf("log end offset %d, want 12", f.LogEndOffset)
	}
}

func TestLagging(t *testing.T) {
	followers := map[int32]*Follower{2: follower(5, t0), 3: follower(5, t0.Add(25*time.Second))}
	got := Lagging(1, []int32{1, 2, 3}, followers, t0.Add(31*time.Second), 30*time.Second)
	if len(got) != 1 || got[0] != 2 {
		t.Fatalf("Lagging = %v, want [2]", got)
	}
	if got := Lagging(1, []int32{1, 2, 3}, followers, t0.Add(30*time.Second), 30*time.Second); len(got) != 0 {
		t.Fatalf("Lagging at the limit = %v, want none", got)
	}
}

func TestJoiningNeedsEpochStart(t *testing.T) {
	live := func(id int32) bool { return id != 4 }
	followers := map[int32]*Follower{2: follower(8, t0), 3: follower(10, t0), 4: follower(10, t0)}
	// HW 6, but the leader's epoch starts at 10 (KAFKA-7128): only a
	// follower that has everything of the earlier epochs may join.
	got := Joining([]int32{1, 2, 3, 4}, []int32{1}, followers, 6, 10, live, t0, 30*time.Second)
	if len(got) != 1 || got[0] != 3 {
		t.Fatalf("Joining = %v, want [3] (2 lacks the epoch start, 4 is not live)", got)
	}
	if CanJoinISR(follower(5, t0), 6, 0) {
		t.Fatal("a follower below the high watermark may not join")
	}
	if CanJoinISR(NewFollower(false, t0), 0, 0) {
		t.Fatal("a follower that never fetched may not join")
	}
}

// A follower that stopped fetching keeps its last log end offset, which
// can pass the offset rules while the high watermark stands still (below
// min.insync.replicas): it must not rejoin until it fetches again.
func TestJoiningNeedsARecentFetch(t *testing.T) {
	live := func(int32) bool { return true }
	followers := map[int32]*Follower{2: follower(100, t0), 3: follower(100, t0.Add(20*time.Second))}
	got := Joining([]int32{1, 2, 3}, []int32{1}, followers, 100, 50, live, t0.Add(31*time.Second), 30*time.Second)
	if len(got) != 1 || got[0] != 3 {
		t.Fatalf("Joining = %v, want [3]: 2 has not caught up for 31s", got)
	}
}

func TestDivergence(t *testing.T) {
	tests := []struct {
		name         string
		lastEpoch    int32
		fetchOffset  int64
		local        EpochEnd
		wantEpoch    int32
		wantEnd      int64
		wantDiverged bool
	}{
		{"empty follower", -1, 0, EpochEnd{}, -1, -1, false},
		{"same epoch, within it", 3, 50, EpochEnd{3, 80, true}, -1, -1, false},
		{"same epoch, at its end", 3, 80, EpochEnd{3, 80, true}, -1, -1, false},
		{"same epoch, beyond our end of it", 3, 90, EpochEnd{3, 80, true}, 3, 80, true},
		{"epoch unknown here", 4, 90, EpochEnd{3, 80, true}, 3, 80, true},
		{"epoch below all ours", 1, 10, EpochEnd{Found: false}, -1, 7, true},
	}
	for _, tt := range tests {
		e, end, d := Divergence(tt.lastEpoch, tt.fetchOffset, tt.local, 7)
		if e != tt.wantEpoch || end != tt.wantEnd || d != tt.wantDiverged {
			t.Errorf("%s: Divergence = (%d, %d, %v), want (%d, %d, %v)", tt.name, e, end, d, tt.wantEpoch, tt.wantEnd, tt.wantDiverged)
		}
	}
}

func TestTruncationOffset(t *testing.T) {
	tests := []struct {
		name        string
		leaderEpoch int32
		leaderEnd   int64
		local       EpochEnd
		leo         int64
		want        int64
	}{
		{"same epoch, leader ends first", 3, 80, EpochEnd{3, 90, true}, 100, 80},
		{"same epoch, we end first", 3, 80, EpochEnd{3, 70, true}, 100, 70},
		{"never above the log end", 3, 80, EpochEnd{3, 90, true}, 60, 60},
		{"we do not know the leader's epoch: end of our largest lower one", 4, 120, EpochEnd{2, 95, true}, 100, 95},
		{"nothing known below", 2, 30, EpochEnd{Found: false}, 100, 30},
		{"leader knows no epoch of ours", -1, 0, EpochEnd{Found: false}, 100, 0},
	}
	for _, tt := range tests {
		if got := TruncationOffset(tt.leaderEpoch, tt.leaderEnd, tt.local, tt.leo); got != tt.want {
			t.Errorf("%s: TruncationOffset = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestDoubleFailover walks the KIP-279 case: replica A led epoch 1 and wrote
// offsets 0-9; B (leader of epoch 2, from offset 5, lost before replicating
// offsets 5-9 of epoch 1) wrote 5-7; C now leads at epoch 3 from offset 8
// with B's log. A must end up truncated to where its log and C's agree: 5.
func TestDoubleFailover(t *testing.T) {
	// C's cache: epoch 1 -> [0,5), epoch 2 -> [5,8), epoch 3 -> [8,...).
	leaderCache := func(epoch int32) EpochEnd {
		switch {
		case epoch >= 3:
			return EpochEnd{3, 8, true}
		case epoch == 2:
			return EpochEnd{2, 8, true}
		case epoch >= 0:
			return EpochEnd{1, 5, true}
		}
		return EpochEnd{}
	}
	// A's cache: epoch 1 -> [0,10).
	followerCache := func(epoch int32) EpochEnd {
		if epoch >= 1 {
			return EpochEnd{1, 10, true}
		}
		return EpochEnd{}
	}
	leo, lastEpoch := int64(10), int32(1)
	for range 3 {
		e, end, diverged := Divergence(lastEpoch, leo, leaderCache(lastEpoch), 0)
		if !diverged {
			break
		}
		leo = TruncationOffset(e, end, followerCache(e), leo)
	}
	if leo != 5 {
		t.Fatalf("follower truncated to %d, want 5", leo)
	}
	if _, _, diverged := Divergence(lastEpoch, leo, leaderCache(lastEpoch), 0); diverged {
		t.Fatal("still diverged after truncation")
	}
}

// TestMaximalAndEffectiveISR checks both rules over every pair of ISRs
// drawn from three replicas, with and without a write under way: the
// maximal ISR is exactly the union, the effective one the smaller side.
func TestMaximalAndEffectiveISR(t *testing.T) {
	var sets [][]int32
	for mask := range 1 << 3 {
		var set []int32
		for id := range int32(3) {
			if mask&(1<<id) != 0 {
				set = append(set, id+1)
			}
		}
		sets = append(sets, set)
	}
	for _, isr := range sets {
		if got := MaximalISR(isr, nil); !slices.Equal(got, isr) {
			t.Errorf("MaximalISR(%v, no write) = %v, want the ISR", isr, got)
		}
		if got := EffectiveISR(isr, nil); !slices.Equal(got, isr) {
			t.Errorf("EffectiveISR(%v, no write) = %v, want the ISR", isr, got)
		}
		for _, pending := range sets {
			if pending == nil {
				pending = []int32{} // a write to an empty ISR, not none
			}
			maximal := MaximalISR(isr, pending)
			for id := int32(1); id <= 3; id++ {
				in := slices.Contains(isr, id) || slices.Contains(pending, id)
				if slices.Contains(maximal, id) != in {
					t.Errorf("MaximalISR(%v, %v) = %v: member %d wrong", isr, pending, maximal, id)
				}
			}
			if len(maximal) != len(slices.Compact(slices.Sorted(slices.Values(maximal)))) {
				t.Errorf("MaximalISR(%v, %v) = %v repeats a member", isr, pending, maximal)
			}
			want := isr
			if len(pending) < len(isr) {
				want = pending
			}
			if got := EffectiveISR(isr, pending); !slices.Equal(got, want) {
				t.Errorf("EffectiveISR(%v, %v) = %v, want %v", isr, pending, got, want)
			}
		}
	}
}
