package quota

import (
	"math"
	"time"
)

// tokenBucket is how Kafka bounds controller mutations (KIP-599, its
// TokenBucket stat): credits refill at the bound per second up to a burst of
// bound × Samples × SampleWindow, each mutation takes its partitions, and
// a client is over quota while the credits are below zero, for as long as
// they take to refill to zero. Unlike the sampled Rate, a single large burst
// does not hold the client over quota until its sample leaves the window.
// It starts full. Not safe for concurrent use.
type tokenBucket struct {
	window  time.Duration // Samples × SampleWindow: the burst in seconds of the bound
	tokens  float64
	last    time.Time
	started bool
}

func newTokenBucket(s Settings) *tokenBucket {
	s = s.orDefault()
	return &tokenBucket{window: time.Duration(s.Samples) * s.SampleWindow}
}

func (b *tokenBucket) refill(bound float64, now time.Time) {
	burst := bound * b.window.Seconds()
	switch {
	case !b.started:
		b.tokens, b.last, b.started = burst, now, true
	case now.After(b.last):
		b.tokens = math.Min(burst, b.tokens+bound*now.Sub(b.last).Seconds())
		b.last = now
	default: // no time has passed (or the clock stepped back): only a lowered bound's burst applies
		b.tokens = math.Min(burst, b.tokens)
	}
}

func (b *tokenBucket) record(value, bound float64, now time.Time) {
	b.refill(bound, now)
	b.tokens = math.Min(bound*b.window.Seconds(), b.tokens-value) // a negative value (an undo) cannot overfill it
}

// throttle is how long until the credits are back at zero: -tokens/bound.
func (b *tokenBucket) throttle(bound float64, now time.Time) time.Duration {
	b.refill(bound, now)
	if b.tokens >= 0 {
		return 0
	}
	ms := math.Round(-b.tokens / bound * 1000)
	if bound <= 0 || math.IsNaN(ms) || ms >= float64(maxThrottle/time.Millisecond) {
		return maxThrottle
	}
	return time.Duration(ms) * time.Millisecond
}
