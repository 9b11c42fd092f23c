package broker

import (
	"sync"

	"github.com/sirupsen/logrus"
)

// ReplicationHealth counts the partitions in trouble, as this broker sees
// them.
type ReplicationHealth struct {
	// UnderReplicated counts the partitions this broker leads whose ISR is
	// smaller than their replica set.
	UnderReplicated int
	// Offline counts the partitions of the cluster view without a leader.
	Offline int
}

// healthTracker keeps the latest ReplicationHealth in one place (for a
// metrics endpoint) and logs it when it changes.
type healthTracker struct {
	mu      sync.Mutex
	current ReplicationHealth
	// offline is the count of partitions without a leader in the view
	// applied last, which the metadata goroutine sets (setOffline).
	offline int
}

// setOffline records the count of partitions without a leader in the view
// just applied.
func (h *healthTracker) setOffline(n int) {
	h.mu.Lock()
	h.offline = n
	h.mu.Unlock()
}

// Health returns the broker's latest replication health counts.
func (s *Server) Health() ReplicationHealth {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	return s.health.current
}

// update takes the counts from the replica manager and the view applied
// last, which both keep them as they change: neither walks the partitions.
func (h *healthTracker) update(s *Server) {
	next := ReplicationHealth{UnderReplicated: s.replicas.UnderReplicatedCount()}
	h.mu.Lock()
	next.Offline = h.offline
	prev := h.current
	h.current = next
	h.mu.Unlock()
	if next != prev {
		s.logger.WithFields(logrus.Fields{"under_replicated": next.UnderReplicated, "offline": next.Offline}).Info("replication health changed")
	}
}
