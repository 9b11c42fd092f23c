package quota

import (
	"testing"
	"time"
)

func TestTokenBucketKIP599Example(t *testing.T) {
	// The example of Kafka's TokenBucket: quota 5/s, 100 samples of 1 s, so
	// a burst of 500. 560 mutations at once leave -60 credits: 12 s to refill.
	b := newTokenBucket(Settings{Samples: 100, SampleWindow: time.Second})
	b.record(560, 5, at(0))
	if got := b.throttle(5, at(0)); got != 12*time.Second {
		t.Fatalf("throttle = %v, want 12s", got)
	}
	if got := b.throttle(5, at(6*time.Second)); got != 6*time.Second {
		t.Fatalf("throttle after 6 s = %v, want 6s", got)
	}
	if got := b.throttle(5, at(12*time.Second)); got != 0 {
		t.Fatalf("throttle after 12 s = %v, want 0", got)
	}
	// Credits never exceed the burst, however long the idle time.
	b.record(0, 5, at(time.Hour))
	if b.tokens != 500 {
		t.Fatalf("tokens after an hour = %v, want the burst 500", b.tokens)
	}
}

func TestTokenBucketStartsFullAndFollowsTheBound(t *testing.T) {
	b := newTokenBucket(DefaultSettings()) // burst = bound × 11 s
	b.record(110, 10, at(0))
	if got := b.throttle(10, at(0)); got != 0 {
		t.Fatalf("the first burst of 110 within 10/s × 11 s: throttled %v", got)
	}
	b.record(5, 10, at(0))
	if got := b.throttle(10, at(0)); got != 500*time.Millisecond {
		t.Fatalf("5 over: throttle = %v, want 500ms", got)
	}
	// A lower bound lowers the burst and refills slower.
	b2 := newTokenBucket(DefaultSettings())
	b2.record(0, 10, at(0)) // full: 110
	if got := b2.throttle(1, at(0)); got != 0 || b2.tokens != 11 {
		t.Fatalf("after lowering the bound: tokens %v throttle %v, want 11 and 0", b2.tokens, got)
	}
}
