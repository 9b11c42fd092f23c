package poll

import (
	"strconv"
	"testing"
	"time"
)

func TestWaitReturnsOnceCondHolds(t *testing.T) {
	calls := 0
	saw, ok := Wait(time.Minute, func() (bool, string) {
		calls++
		return calls == 3, strconv.Itoa(calls)
	})
	if !ok || saw != "3" || calls != 3 {
		t.Fatalf("Wait = %q, %v after %d calls; want \"3\", true after 3", saw, ok, calls)
	}
}

func TestWaitGivesUpAtTheDeadline(t *testing.T) {
	start := time.Now()
	saw, ok := Wait(30*time.Millisecond, func() (bool, string) { return false, "not yet" })
	if ok || saw != "not yet" {
		t.Fatalf("Wait = %q, %v; want \"not yet\", false", saw, ok)
	}
	if elapsed := time.Since(start); elapsed < 30*time.Millisecond {
		t.Fatalf("Wait gave up after %v, before its 30ms deadline", elapsed)
	}
}

func TestWaitAsksOnceMoreAtTheDeadline(t *testing.T) {
	// A condition that holds by the deadline counts, however the sleeps
	// fall.
	deadline := time.Now().Add(20 * time.Millisecond)
	_, ok := Wait(20*time.Millisecond, func() (bool, string) { return !time.Now().Before(deadline), "" })
	if !ok {
		t.Fatal("Wait missed a condition that held at its deadline")
	}
}
