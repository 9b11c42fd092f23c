package broker

import (
	"context"
	"slices"
	"time"

	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// metadataRetryInterval is how soon the broker applies the cluster view
// again when part of applying it failed (a log that would not open, a
// deletion it could not confirm), even if nothing changes meanwhile.
const metadataRetryInterval = time.Second

// followMetadata applies every new cluster view until ctx is done, and
// applies the latest one again every metadataRetryInterval while applying
// it leaves work undone (pending says the first one did).
func (s *Server) followMetadata(ctx context.Context, pending bool) {
	retry := time.NewTimer(metadataRetryInterval)
	defer retry.Stop()
	if !pending {
		retry.Stop()
	}
	last := s.snapshot()
	for {
		select {
		case <-ctx.Done():
			return
		case snap, ok := <-s.meta.Changes():
			if !ok {
				return
			}
			last = snap
		case <-retry.C:
		}
		if s.applyMetadata(ctx, last) {
			retry.Stop()
		} else {
			retry.Reset(metadataRetryInterval)
		}
	}
}

// applyMetadata makes this broker's replicas match snap: the replica
// manager opens the logs of partitions assigned to it, leads those whose
// state znode names it leader while Online, follows the others, and applies
// config changes; then the logs of partitions no longer assigned to it and
// of topics being deleted are removed, and the deletions confirmed to the
// controller. It reports whether everything was applied; the caller retries
// otherwise.
func (s *Server) applyMetadata(ctx context.Context, snap *coordinator.Snapshot) bool {
	me := s.cfg.ID
	s.applyQuotas(snap) // before the view is swapped in: it compares with the previous one
	effective := s.effectiveConfig(snap)
	s.applyRuntime(effective.Values.Runtime())
	assigned := make(map[zkpaths.TopicPartition]replica.Assignment)
	for _, t := range snap.Topics {
		if t.Deleting {
			continue
		}
		cfg := effective.ResolveTopic(t.Configs)
		for _, p := range t.Partitions {
			if slices.Contains(p.Replicas, me) || slices.Contains(p.AddingReplicas, me) {
				assigned[zkpaths.TopicPartition{Topic: t.Name, Partition: p.Partition}] = replica.Assignment{State: p, Config: cfg}
			}
		}
	}
	stray, openFailed := s.replicas.Apply(assigned)
	complete := !openFailed
	previous := s.applied.Swap(snap)
	s.forgetDeletedTopics(snap)
	s.forgetGroupOffsets(previous, snap)
	// Logs on disk that were never opened in this run are ours to remove
	// too when their topic is being deleted or their partition moved away
	// (a broker that was down meanwhile). Those of topics absent from the
	// view are left alone: a deletion cannot finish without this broker's
	// confirmation, so such a log is not one it knows anything about.
	for _, tp := range s.logs.Existing() {
		if _, mine := assigned[tp]; !mine && snap.Topics[tp.Topic] != nil {
			stray = append(stray, tp)
		}
	}
	// Only now that nothing serves them, remove the logs that are no longer
	// ours, then confirm deletions to the controller.
	failed := s.removeLogs(snap, stray)
	if len(failed) > 0 {
		complete = false
	}
	if !s.confirmDeletions(ctx, snap, failed) {
		complete = false
	}
	s.health.update(s)
	return complete
}

// removeLogs removes the local logs of partitions this broker no longer
// holds: deleted topics' and those a reassignment moved away. It returns
// the topics of the logs it could not remove.
func (s *Server) removeLogs(snap *coordinator.Snapshot, stray []zkpaths.TopicPartition) map[string]bool {
	failed := make(map[string]bool)
	for _, tp := range stray {
		reason := "topic deleted"
		if t := snap.Topics[tp.Topic]; t != nil && !t.Deleting {
			reason = "replica moved to other brokers"
		}
		logger := s.logger.WithField("topic", tp.Topic).WithField("partition", tp.Partition).WithField("reason", reason)
		if err := s.logs.Remove(tp); err != nil {
			logger.WithError(err).Error("cannot remove partition log")
			failed[tp.Topic] = true
			continue
		}
		logger.Info("removed partition log")
	}
	return failed
}

// confirmDeletions tells the controller that this broker has removed its
// replicas of every topic being deleted that still waits for it, except
// the topics whose logs it failed to remove.
func (s *Server) confirmDeletions(ctx context.Context, snap *coordinator.Snapshot, failed map[string]bool) bool {
	ok := true
	for topic, pending := range snap.PendingDeletion {
		if !slices.Contains(pending, s.cfg.ID) {
			continue
		}
		if failed[topic] {
			ok = false
			continue
		}
		confirmCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := s.meta.ConfirmReplicasDeleted(confirmCtx, topic)
		cancel()
		if err != nil {
			s.logger.WithError(err).WithField("topic", topic).Warn("cannot confirm the deletion of local replicas")
			ok = false
			continue
		}
		s.logger.WithField("topic", topic).Info("confirmed the deletion of local replicas")
	}
	return ok
}
