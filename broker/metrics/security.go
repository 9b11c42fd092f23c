package metrics

import "github.com/prometheus/client_golang/prometheus"

// Security counts authentications and denied operations, by listener, as
// Kafka's failed-authentication-total and the authorizer's denied counts.
// The labels are bounded: listeners, mechanisms, ACL operations and
// resource types; never a principal or a resource name, which go to the
// log instead.
type Security struct {
	authentications *prometheus.CounterVec
	denied          *prometheus.CounterVec
}

// NewSecurity returns the counters, with a zero series for each listener's
// failed authentications so that a dashboard sees them before the first.
func NewSecurity(listeners []string) *Security {
	s := &Security{
		authentications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kzoo_authentications_total",
			Help: "Client authentications by listener, mechanism (SSL for a TLS handshake) and result (success, failure).",
		}, []string{"listener", "mechanism", "result"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kzoo_authorization_denied_total",
			Help: "Operations the ACL authorizer denied, by listener, operation and resource type.",
		}, []string{"listener", "operation", "resource_type"}),
	}
	for _, l := range listeners {
		s.authentications.WithLabelValues(l, "", "failure")
	}
	return s
}

// Authenticated counts one authentication on listener. A nil s counts
// nothing.
func (s *Security) Authenticated(listener, mechanism string, ok bool) {
	if s == nil {
		return
	}
	result := "failure"
	if ok {
		result = "success"
	}
	s.authentications.WithLabelValues(listener, mechanism, result).Inc()
}

// Denied counts one denied operation. A nil s counts nothing.
func (s *Security) Denied(listener, operation, resourceType string) {
	if s == nil {
		return
	}
	s.denied.WithLabelValues(listener, operation, resourceType).Inc()
}

// Describe implements prometheus.Collector.
func (s *Security) Describe(ch chan<- *prometheus.Desc) {
	if s == nil {
		return
	}
	s.authentications.Describe(ch)
	s.denied.Describe(ch)
}

// Collect implements prometheus.Collector.
func (s *Security) Collect(ch chan<- prometheus.Metric) {
	if s == nil {
		return
	}
	s.authentications.Collect(ch)
	s.denied.Collect(ch)
}
