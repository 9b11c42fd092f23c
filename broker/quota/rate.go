package quota

import (
	"math"
	"time"
)

// Settings are the sampled windows every quota rate is measured over: the
// broker keys quota.window.num (Samples) and quota.window.size.seconds
// (SampleWindow), Kafka's names and defaults.
type Settings struct {
	Samples      int
	SampleWindow time.Duration
}

// DefaultSettings are Kafka's defaults: 11 samples of 1 s.
func DefaultSettings() Settings {
	return Settings{Samples: 11, SampleWindow: time.Second}
}

// orDefault replaces a non-positive field by its default, so that a zero
// Settings (or a programming error) cannot divide by zero on the data path.
// The broker config refuses such values before they get here.
func (s Settings) orDefault() Settings {
	d := DefaultSettings()
	if s.Samples < 1 {
		s.Samples = d.Samples
	}
	if s.SampleWindow <= 0 {
		s.SampleWindow = d.SampleWindow
	}
	return s
}

// maxThrottle is the longest throttle Throttle returns: throttle_time_ms is
// an int32 on the wire. It also bounds the infinite delay a zero bound
// would ask for.
const maxThrottle = time.Duration(math.MaxInt32) * time.Millisecond

// Rate is a rate measured over Settings' sampled windows, as Kafka's Rate
// over a SampledStat (a windowed sum) does it:
//
//   - values are added to the current sample; a sample is complete once
//     SampleWindow has passed since it started, and the next value starts a
//     new one, recycling the oldest of the Samples kept;
//   - a sample that started Samples × SampleWindow or longer ago no longer
//     counts (it is restarted empty at the time of measuring);
//   - the rate is the sum of the samples divided by the time since the oldest
//     sample started, but never by less than Samples-1 whole windows, so that
//     a first burst (or one after an idle gap) is measured as if the windows
//     before it had been empty rather than as an enormous rate.
//
// Not safe for concurrent use (callers lock).
type Rate struct {
	window  time.Duration // SampleWindow
	samples []sample      // at most n; samples[current] is being filled
	n       int           // Samples
	current int
	// base is the first time the rate saw. Sample starts are offsets from it
	// taken with time.Time.Sub, which uses the monotonic clock reading when
	// both times have one, so a step of the wall clock does not corrupt the
	// windows; and an offset is 8 bytes where a time.Time is 24.
	base    time.Time
	hasBase bool
}

type sample struct {
	start time.Duration // offset from Rate.base
	value float64
}

// NewRate returns an empty rate over s's windows.
func NewRate(s Settings) *Rate {
	s = s.orDefault()
	return &Rate{window: s.SampleWindow, n: s.Samples, samples: make([]sample, 0, s.Samples)}
}

func (r *Rate) offset(now time.Time) time.Duration {
	if !r.hasBase {
		r.base, r.hasBase = now, true
	}
	return now.Sub(r.base)
}

// Record adds value at now.
func (r *Rate) Record(value float64, now time.Time) {
	r.record(value, r.offset(now))
}

func (r *Rate) record(value float64, t time.Duration) {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, sample{start: t})
		r.current = 0
	}
	if t-r.samples[r.current].start >= r.window {
		r.advance(t)
	}
	r.samples[r.current].value += value
}

// advance starts a new current sample at t, in a new slot until n are kept,
// then recycling the oldest.
func (r *Rate) advance(t time.Duration) {
	r.current = (r.current + 1) % r.n
	if r.current >= len(r.samples) {
		r.samples = append(r.samples, sample{start: t})
		return
	}
	r.samples[r.current] = sample{start: t}
}

// purge restarts, empty at t, every sample that started a whole measuring
// window (n samples) or longer before t: its values are out of the window.
func (r *Rate) purge(t time.Duration) {
	expire := time.Duration(r.n) * r.window
	for i := range r.samples {
		if t-r.samples[i].start >= expire {
			r.samples[i] = sample{start: t}
		}
	}
}

// windowSize is the time the rate at t is measured over: from the start of
// the oldest live sample to t, lengthened to at least n-1 whole windows (as
// if the missing earlier windows had been empty). It purges first.
func (r *Rate) windowSize(t time.Duration) time.Duration {
	r.purge(t)
	oldest := t // no samples: as if one started now
	for _, s := range r.samples {
		if s.start < oldest {
			oldest = s.start
		}
	}
	elapsed := t - oldest
	if full, least := int(elapsed/r.window), r.n-1; full < least {
		elapsed += time.Duration(least-full) * r.window
	}
	if elapsed <= 0 {
		// Only with n == 1 at the very start of a sample; Kafka's clock
		// ticks in milliseconds, so it never measures over less than that.
		elapsed = time.Millisecond
	}
	return elapsed
}

// Measure returns the rate at now, per second.
func (r *Rate) Measure(now time.Time) float64 {
	rate, _ := r.measure(r.offset(now))
	return rate
}

// measure returns the rate at t and the window it is measured over.
func (r *Rate) measure(t time.Duration) (rate float64, window time.Duration) {
	window = r.windowSize(t) // purges
	var sum float64
	for _, s := range r.samples {
		sum += s.value
	}
	return sum / window.Seconds(), window
}

// Throttle is how long a client recording at this rate must wait to be back
// within bound (Kafka's QuotaUtils.throttleTime, KIP-219): with O the rate
// observed at now and W the window it is measured over, waiting X brings the
// rate to bound T when O×W/(W+X) = T, so X = (O-T)/T × W. 0 within bound.
// Rounded to the millisecond as Kafka's is, and at most MaxInt32 ms (the
// protocol's throttle_time_ms), which is also what a bound <= 0 yields for a
// rate above it.
func (r *Rate) Throttle(bound float64, now time.Time) time.Duration {
	observed, w := r.measure(r.offset(now))
	return throttleTime(observed, bound, w)
}

// RecordAndThrottle is Record then Throttle at the same instant, measuring
// once: what a quota does on each request (Kafka records the value, then
// checks the quota with it included).
func (r *Rate) RecordAndThrottle(value, bound float64, now time.Time) time.Duration {
	t := r.offset(now)
	r.record(value, t)
	observed, w := r.measure(t)
	return throttleTime(observed, bound, w)
}

func throttleTime(observed, bound float64, window time.Duration) time.Duration {
	if observed <= bound {
		return 0
	}
	ms := math.Round((observed - bound) / bound * float64(window) / float64(time.Millisecond))
	if bound <= 0 || math.IsNaN(ms) || ms >= float64(maxThrottle/time.Millisecond) {
		return maxThrottle
	}
	return time.Duration(ms) * time.Millisecond
}
