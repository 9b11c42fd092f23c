package storage

import (
	"context"
	"math"
	"sync"
	"time"
)

// throttleWindow is how long the throttle measures a rate over before it
// starts a new measurement, so that an idle spell does not earn a burst.
const throttleWindow = time.Second

// ioThrottle bounds the rate of bytes its users read, together (the log
// cleaner's log.cleaner.io.max.bytes.per.second, shared by its threads). It
// measures over a window and makes whoever finds the rate exceeded sleep
// until it is back at the limit, as Kafka's Throttler does. The zero value
// is unlimited; it is safe for concurrent use.
type ioThrottle struct {
	mu          sync.Mutex
	rate        float64 // bytes per second; 0 or +Inf: unlimited
	windowStart time.Time
	windowBytes float64
}

// setRate changes the limit; it applies from the next wait.
func (t *ioThrottle) setRate(bytesPerSecond float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rate != bytesPerSecond {
		t.rate = bytesPerSecond
		t.windowStart, t.windowBytes = time.Time{}, 0
	}
}

// wait accounts n more bytes and sleeps, while ctx allows, as long as the
// rate since the window started exceeds the limit.
func (t *ioThrottle) wait(ctx context.Context, n int) error {
	pause := t.account(n, time.Now())
	if pause <= 0 {
		return nil
	}
	timer := time.NewTimer(pause)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// account adds n bytes read at now and returns how long to sleep.
func (t *ioThrottle) account(n int, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rate <= 0 || math.IsInf(t.rate, 1) {
		return 0
	}
	if t.windowStart.IsZero() || now.Sub(t.windowStart) > throttleWindow {
		t.windowStart, t.windowBytes = now, 0
	}
	t.windowBytes += float64(n)
	due := t.windowStart.Add(time.Duration(t.windowBytes / t.rate * float64(time.Second)))
	return due.Sub(now)
}
