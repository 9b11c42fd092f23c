package quota

import (
	"math"
	"testing"
	"time"
)

// t0 is an arbitrary start; tests move time by adding to it.
var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want)) }

func TestDefaultSettings(t *testing.T) {
	if s := DefaultSettings(); s.Samples != 11 || s.SampleWindow != time.Second {
		t.Fatalf("DefaultSettings() = %+v, want Kafka's 11 × 1s", s)
	}
}

func TestRateFirstWindowCountsAsIfEarlierWindowsWereEmpty(t *testing.T) {
	r := NewRate(DefaultSettings())
	r.Record(1000, at(0))
	// 0 s elapsed, but at least 10 whole windows: 1000 B / 10 s.
	if got := r.Measure(at(0)); !near(got, 100) {
		t.Fatalf("rate at once = %v, want 100", got)
	}
	if got := r.Measure(at(500 * time.Millisecond)); !near(got, 1000/10.5) {
		t.Fatalf("rate after 0.5 s = %v, want 1000/10.5 (0.5 s + 10 assumed windows)", got)
	}
	r.Record(1000, at(1500*time.Millisecond)) // a second sample
	if got := r.Measure(at(1500 * time.Millisecond)); !near(got, 2000/10.5) {
		t.Fatalf("rate after 1.5 s = %v, want 2000/10.5 (1 full window + 0.5 s + 9 assumed)", got)
	}
}

func TestRateKafkaTwoSampleExample(t *testing.T) {
	// The example in Kafka's Rate.windowSize comment: 2 samples of 1 s,
	// events at T, T+30ms, T+60ms.
	r := NewRate(Settings{Samples: 2, SampleWindow: time.Second})
	r.Record(1, at(0))
	r.Record(1, at(30*time.Millisecond))
	r.Record(1, at(60*time.Millisecond))
	if got := r.Measure(at(60 * time.Millisecond)); !near(got, 3/1.06) {
		t.Fatalf("rate = %v, want 3/1.06", got)
	}
}

func TestRateSteadyStateAndRollOver(t *testing.T) {
	r := NewRate(DefaultSettings())
	// 10 units at the start of every second for 21 s: samples start at 0..20;
	// only the 11 newest are kept, so at 20 s samples 10..20 remain.
	for i := 0; i <= 20; i++ {
		r.Record(10, at(time.Duration(i)*time.Second))
	}
	// Kafka counts all 11 samples over the 10 s since the oldest started.
	if got := r.Measure(at(20 * time.Second)); !near(got, 110.0/10) {
		t.Fatalf("rate at 20 s = %v, want 11", got)
	}
	if got := r.Measure(at(20*time.Second + 500*time.Millisecond)); !near(got, 110/10.5) {
		t.Fatalf("rate at 20.5 s = %v, want 110/10.5", got)
	}
	// At 21 s the sample started at 10 s is 11 windows old: it no longer counts.
	if got := r.Measure(at(21 * time.Second)); !near(got, 100.0/10) {
		t.Fatalf("rate at 21 s = %v, want 10", got)
	}
}

func TestRateRecyclesSlots(t *testing.T) {
	r := NewRate(Settings{Samples: 3, SampleWindow: time.Second})
	for i := 0; i < 10; i++ {
		r.Record(1, at(time.Duration(i)*time.Second))
		if len(r.samples) > 3 {
			t.Fatalf("after %d records %d samples kept, want at most 3", i+1, len(r.samples))
		}
	}
	// Samples at 7, 8, 9 s: 3 units over 2 s (9 s - 7 s, = Samples-1 windows).
	if got := r.Measure(at(9 * time.Second)); !near(got, 1.5) {
		t.Fatalf("rate = %v, want 1.5", got)
	}
}

func TestRateIdleGapLongerThanWindow(t *testing.T) {
	r := NewRate(DefaultSettings())
	r.Record(1000, at(0))
	if got := r.Measure(at(11*time.Second - time.Millisecond)); !near(got, 1000/10.999) {
		t.Fatalf("rate just inside the window = %v, want 1000/10.999", got)
	}
	if got := r.Measure(at(11 * time.Second)); got != 0 {
		t.Fatalf("rate once the sample is 11 windows old = %v, want 0", got)
	}
	// After a long silence the old bytes are gone and the new ones are
	// measured as a first window.
	r.Record(500, at(30*time.Second))
	if got := r.Measure(at(30 * time.Second)); !near(got, 50) {
		t.Fatalf("rate after an idle gap = %v, want 500/10 s", got)
	}
	if got := r.Throttle(40, at(30*time.Second)); got != 2500*time.Millisecond {
		t.Fatalf("throttle after an idle gap = %v, want (50-40)/40 × 10 s = 2.5 s", got)
	}
}

func TestRateEmpty(t *testing.T) {
	r := NewRate(DefaultSettings())
	if got := r.Measure(at(0)); got != 0 {
		t.Fatalf("empty rate = %v", got)
	}
	if got := r.Throttle(1, at(0)); got != 0 {
		t.Fatalf("empty rate throttle = %v", got)
	}
	var zero Settings // invalid settings fall back to the defaults
	r = NewRate(zero)
	r.Record(100, at(0))
	if got := r.Measure(at(0)); !near(got, 10) {
		t.Fatalf("rate with zero Settings = %v, want the defaults' 100/10 s", got)
	}
}

func TestThrottleKIP219(t *testing.T) {
	// Quota 100 B/s, default windows. 2100 B at once: observed 210 B/s over
	// the 10 s window, so X = (210-100)/100 × 10 s = 11 s.
	r := NewRate(DefaultSettings())
	r.Record(2100, at(0))
	if got := r.Throttle(100, at(0)); got != 11*time.Second {
		t.Fatalf("throttle = %v, want 11s", got)
	}
	// Check: had the client waited 11 s without sending, the rate over the
	// (then 11 s) window is back at the bound.
	if got := r.Measure(at(11*time.Second - time.Nanosecond)); math.Abs(got-2100/11.0) > 1e-6 {
		t.Fatalf("rate after the throttle = %v", got)
	}
	// Within or exactly at bound: no throttle.
	r = NewRate(DefaultSettings())
	r.Record(1000, at(0))
	if got := r.Throttle(100, at(0)); got != 0 {
		t.Fatalf("throttle at bound = %v, want 0", got)
	}
	if got := r.Throttle(1000, at(0)); got != 0 {
		t.Fatalf("throttle below bound = %v, want 0", got)
	}
	// In steady state the window is the time since the oldest sample started:
	// samples at 2.5 s .. 12.5 s, measured at 12.75 s, span 10.25 s.
	r = NewRate(DefaultSettings())
	for i := 0; i <= 10; i++ {
		r.Record(200, at(2500*time.Millisecond+time.Duration(i)*time.Second))
	}
	// at 12.75 s: 11 samples × 200 = 2200 over 10.25 s = 214.63 B/s;
	// X = (214.63-100)/100 × 10.25 s = 11.75 s.
	if got := r.Throttle(100, at(12750*time.Millisecond)); got != 11750*time.Millisecond {
		t.Fatalf("throttle = %v, want 11.75s", got)
	}
}

func TestThrottleRoundsToMilliseconds(t *testing.T) {
	r := NewRate(Settings{Samples: 2, SampleWindow: time.Second})
	r.Record(1001.0004, at(0)) // 1001.0004 over 1 s, bound 1000: X = 1.0004 ms
	if got := r.Throttle(1000, at(0)); got != time.Millisecond {
		t.Fatalf("throttle = %v, want 1ms (rounded)", got)
	}
}

func TestThrottleCappedAtProtocolMaximum(t *testing.T) {
	r := NewRate(DefaultSettings())
	r.Record(1e18, at(0))
	if got := r.Throttle(1, at(0)); got != maxThrottle {
		t.Fatalf("huge overshoot throttle = %v, want %v", got, maxThrottle)
	}
	if got := r.Throttle(0, at(0)); got != maxThrottle {
		t.Fatalf("zero bound throttle = %v, want %v", got, maxThrottle)
	}
}

func TestRateSingleSample(t *testing.T) {
	// quota.window.num=1: no whole window is assumed; the first instant is
	// measured over a millisecond rather than dividing by zero.
	r := NewRate(Settings{Samples: 1, SampleWindow: time.Second})
	r.Record(5, at(0))
	if got := r.Measure(at(0)); !near(got, 5000) {
		t.Fatalf("rate = %v, want 5/1ms", got)
	}
	if got := r.Measure(at(500 * time.Millisecond)); !near(got, 10) {
		t.Fatalf("rate = %v, want 5/0.5s", got)
	}
	if got := r.Measure(at(time.Second)); got != 0 {
		t.Fatalf("rate after one window = %v, want 0", got)
	}
}

func TestRateUsesMonotonicClock(t *testing.T) {
	// time.Now carries a monotonic reading; Sub prefers it, so the windows
	// are measured on it. Stripping it (Round(0)) must give the same result
	// when the wall clock does not jump.
	now := time.Now()
	a, b := NewRate(DefaultSettings()), NewRate(DefaultSettings())
	a.Record(100, now)
	b.Record(100, now.Round(0))
	later := now.Add(3 * time.Second)
	if ga, gb := a.Measure(later), b.Measure(later.Round(0)); !near(ga, gb) {
		t.Fatalf("monotonic %v != wall %v", ga, gb)
	}
}

func TestRecordAndThrottleIsRecordThenThrottle(t *testing.T) {
	a, b := NewRate(DefaultSettings()), NewRate(DefaultSettings())
	for i := 0; i < 30; i++ {
		now := at(time.Duration(i) * 700 * time.Millisecond)
		a.Record(150, now)
		want := a.Throttle(100, now)
		if got := b.RecordAndThrottle(150, 100, now); got != want {
			t.Fatalf("step %d: RecordAndThrottle = %v, Record+Throttle = %v", i, got, want)
		}
	}
}
