package storage

import (
	"math"
	"testing"
	"time"
)

func TestIOThrottleAccountsTheRate(t *testing.T) {
	var th ioThrottle
	start := time.Unix(1000, 0)
	if d := th.account(1<<30, start); d != 0 {
		t.Fatalf("unlimited throttle asks for a %v pause", d)
	}
	th.setRate(1000) // bytes per second
	if d := th.account(500, start); d != 500*time.Millisecond {
		t.Errorf("500 bytes at once at 1000 B/s: pause %v, want 500ms", d)
	}
	if d := th.account(500, start.Add(600*time.Millisecond)); d != 400*time.Millisecond {
		t.Errorf("1000 bytes after 600ms: pause %v, want 400ms", d)
	}
	// A new window once the old one is over: no debt carried, no credit.
	if d := th.account(100, start.Add(3*time.Second)); d != 100*time.Millisecond {
		t.Errorf("100 bytes in a fresh window: pause %v, want 100ms", d)
	}
	th.setRate(math.Inf(1))
	if d := th.account(1<<30, start.Add(3*time.Second)); d != 0 {
		t.Errorf("after lifting the limit: pause %v, want none", d)
	}
}
