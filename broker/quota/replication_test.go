package quota

import (
	"math"
	"sync"
	"testing"
	"time"
)

func newTestQuota(bound float64) (*ReplicationQuota, *clock) {
	clock := newClock()
	q := NewReplicationQuota(DefaultSettings(), clock.Now)
	q.SetRate(bound)
	return q, clock
}

func TestReplicationQuotaUnlimited(t *testing.T) {
	for _, bound := range []float64{0, -1, math.Inf(1), math.NaN()} {
		q, clock := newTestQuota(bound)
		for range 100 {
			q.Record(1 << 30)
			clock.Advance(time.Millisecond)
		}
		if q.Exceeded() {
			t.Errorf("SetRate(%v): exceeded, want unlimited", bound)
		}
	}
}

func TestReplicationQuotaExceededAndRecovers(t *testing.T) {
	q, clock := newTestQuota(1000)
	q.Record(500)
	if q.Exceeded() {
		t.Fatal("500 B in the first window is within 1000 B/s")
	}
	q.Record(600)
	if !q.Exceeded() {
		t.Fatal("1100 B within one window is over 1000 B/s")
	}
	// Measured over at least one window, then over the time since the
	// oldest sample started: 1100 B over 1.2 s is within bound again.
	clock.Advance(1200 * time.Millisecond)
	if q.Exceeded() {
		t.Fatal("1100 B over 1.2 s is within 1000 B/s")
	}
}

// copyThrottled simulates a throttled replica copying: every step it sends
// a chunk unless the quota is exceeded. It returns the bytes sent in each
// second.
func copyThrottled(q *ReplicationQuota, clock *clock, chunk int, step, d time.Duration) []int {
	perSecond := make([]int, int(d/time.Second))
	for at := time.Duration(0); at < d; at += step {
		if !q.Exceeded() {
			q.Record(chunk)
			perSecond[at/time.Second] += chunk
		}
		clock.Advance(step)
	}
	return perSecond
}

func TestReplicationQuotaHoldsACopyToTheBound(t *testing.T) {
	const bound = 1 << 20 // 1 MiB/s
	q, clock := newTestQuota(bound)
	// 64 KiB chunks every 5 ms would be 12.8 MiB/s unthrottled.
	perSecond := copyThrottled(q, clock, 64<<10, 5*time.Millisecond, 60*time.Second)
	total := 0
	for i, n := range perSecond {
		total += n
		// As a SimpleRate: no second carries much more than the bound, the
		// first included (a Rate measured over 10 windows would let about
		// 10 MiB go at once).
		if float64(n) > 1.25*bound {
			t.Errorf("second %d carried %d B, over 1.25 × %d B/s", i, n, bound)
		}
	}
	if avg := float64(total) / 60; avg < 0.95*bound || avg > 1.05*bound {
		t.Errorf("average %.0f B/s over 60 s, want %d B/s ± 5%%", avg, bound)
	}
}

func TestReplicationQuotaStartsFromCleanSlate(t *testing.T) {
	q, clock := newTestQuota(0) // unlimited: nothing is measured
	q.Record(100 << 20)
	q.SetRate(1 << 20)
	if q.Exceeded() {
		t.Fatal("traffic recorded while unlimited counts against a bound set later")
	}
	q.Record(2 << 20)
	if !q.Exceeded() {
		t.Fatal("2 MiB at once is over 1 MiB/s")
	}
	// A new bound keeps what was measured.
	q.SetRate(4 << 20)
	if q.Exceeded() {
		t.Fatal("2 MiB in the first window is within 4 MiB/s")
	}
	q.SetRate(1 << 20)
	if !q.Exceeded() {
		t.Fatal("lowering the bound forgot the 2 MiB measured")
	}
	// Unlimited forgets.
	q.SetRate(0)
	q.SetRate(1 << 20)
	if q.Exceeded() {
		t.Fatal("unlimited did not forget what was measured")
	}
	clock.Advance(time.Second)
}

func TestReplicationQuotaConcurrentUse(t *testing.T) {
	q := NewReplicationQuota(DefaultSettings(), time.Now)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 1000 {
				switch (i + j) % 3 {
				case 0:
					q.Record(1000)
				case 1:
					q.Exceeded()
				default:
					q.SetRate(float64(j % 5 * 1000)) // unlimited every fifth
				}
			}
		})
	}
	wg.Wait()
}
