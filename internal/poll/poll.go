// Package poll is how tests wait for a condition: they poll it until it
// holds or a deadline passes, never sleeping a fixed time and hoping. Every
// test package of the repository waits through it.
package poll

import (
	"testing"
	"time"
)

// Interval bounds: the first retry comes soon, so that a condition that
// holds almost at once costs almost nothing; later ones back off so that a
// long wait does not spin.
const (
	firstInterval = time.Millisecond
	maxInterval   = 50 * time.Millisecond
)

// Until polls cond until it holds, failing t after timeout with what it was
// waiting for.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	UntilSaw(t, timeout, what, func() (bool, string) { return cond(), "" })
}

// UntilSaw is Until for a condition that can say what it saw instead: the
// failure after timeout reports the last thing it said.
func UntilSaw(t testing.TB, timeout time.Duration, what string, cond func() (ok bool, saw string)) {
	t.Helper()
	if saw, ok := Wait(timeout, cond); !ok {
		if saw == "" {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		t.Fatalf("timed out after %v waiting for %s; last saw: %s", timeout, what, saw)
	}
}

// Wait polls cond until it holds or timeout passes, without failing
// anything: for a test that decides itself what a timeout means. It reports
// whether cond held and the last thing cond said.
func Wait(timeout time.Duration, cond func() (ok bool, saw string)) (string, bool) {
	deadline := time.Now().Add(timeout)
	interval := firstInterval
	for {
		ok, saw := cond()
		if ok {
			return saw, true
		}
		if !time.Now().Before(deadline) {
			return saw, false
		}
		time.Sleep(min(interval, time.Until(deadline)))
		interval = min(2*interval, maxInterval)
	}
}
