package broker

import (
	"sync"

	"github.com/kzoo/kzoo/zkpaths"
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
}

// Health returns the broker's latest replication health counts.
func (s *Server) Health() ReplicationHealth {
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	return s.health.current
}

// update recounts from the partitions this broker leads and its view.
func (h *healthTracker) update(s *Server) {
	var next ReplicationHealth
	next.UnderReplicated = s.replicas.UnderReplicatedCount()
	if snap := s.snapshot(); snap != nil {
		for _, t := range snap.Topics {
			if t.Deleting {
				continue
			}
			for _, p := range t.Partitions {
				if p.State == zkpaths.StateOffline || (p.State == zkpaths.StateOnline && p.Leader < 0) {
					next.Offline++
				}
			}
		}
	}
	h.mu.Lock()
	prev := h.current
	h.current = next
	h.mu.Unlock()
	if next != prev {
		s.logger.WithFields(logrus.Fields{"under_replicated": next.UnderReplicated, "offline": next.Offline}).Info("replication health changed")
	}
}
