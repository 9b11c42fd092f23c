package metrics

import "github.com/prometheus/client_golang/prometheus"

// AcceptErrors counts, per listener, the connections a broker failed to
// accept: mostly for want of file descriptors, which a broker with many
// partitions and clients can run out of. The listener keeps trying, so the
// count is how often clients found it deaf, not how often it stopped. It is
// a prometheus.Collector for the broker's registry; a nil *AcceptErrors
// counts nothing.
type AcceptErrors struct {
	errors *prometheus.CounterVec
}

// NewAcceptErrors returns the counters of the named listeners, whose series
// exist from the start, at zero.
func NewAcceptErrors(listeners []string) *AcceptErrors {
	a := &AcceptErrors{errors: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kzoo_listener_accept_errors_total",
		Help: "Failed accepts of connections (out of file descriptors, connections aborted before accepted), by listener.",
	}, []string{"listener"})}
	for _, name := range listeners {
		a.errors.WithLabelValues(name)
	}
	return a
}

// Listener returns the counter of the named listener, or nil if a is nil.
func (a *AcceptErrors) Listener(name string) prometheus.Counter {
	if a == nil {
		return nil
	}
	return a.errors.WithLabelValues(name)
}

// Describe implements prometheus.Collector.
func (a *AcceptErrors) Describe(ch chan<- *prometheus.Desc) {
	if a != nil {
		a.errors.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (a *AcceptErrors) Collect(ch chan<- prometheus.Metric) {
	if a != nil {
		a.errors.Collect(ch)
	}
}
