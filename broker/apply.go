package broker

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/broker/config"
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
	// The console sees each view once it is applied (Serve applied the
	// first before starting this goroutine); Observe never blocks.
	observed := last
	s.observeConsole(last)
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
		if last != observed {
			observed = last
			s.observeConsole(last)
		}
	}
}

// appliedView is what the metadata goroutine last handed the replica
// manager, against which it finds what the next cluster view changes. Only
// the metadata goroutine uses it.
type appliedView struct {
	// snap is the view applied last (nil before the first).
	snap *coordinator.Snapshot
	// topicDefaults are the topic config defaults snap was applied with:
	// when they change, every partition's config may have.
	topicDefaults map[string]string
	// retry holds the partitions the replica manager could not apply,
	// applied again with the next view.
	retry map[zkpaths.TopicPartition]struct{}
	// offline counts the partitions of snap without a leader.
	offline int
}

// applyMetadata makes this broker's replicas match snap: the replica
// manager opens the logs of partitions assigned to it, leads those whose
// state znode names it leader while Online, follows the others, and applies
// config changes; then the logs of partitions no longer assigned to it and
// of topics being deleted are removed, and the deletions confirmed to the
// controller. It reports whether everything was applied; the caller retries
// otherwise.
//
// It hands the replica manager only what changed since the view applied
// last (diffViews), so that its cost follows the change, not the size of
// the cluster.
func (s *Server) applyMetadata(ctx context.Context, snap *coordinator.Snapshot) bool {
	me := s.cfg.ID
	s.applyQuotas(snap) // before the view is swapped in: it compares with the previous one
	effective := s.effectiveConfig(snap)
	s.applyRuntime(effective.Values.Runtime())

	av := &s.appliedView
	// When the topic defaults change, so may every partition's config.
	all := av.snap == nil || !maps.Equal(av.topicDefaults, effective.TopicDefaults)
	diff := diffViews(me, av.snap, snap, all, topicConfigs(effective), av.retry)
	removed, failed := s.replicas.Apply(diff.changed, diff.unassigned)
	av.snap, av.topicDefaults = snap, effective.TopicDefaults
	av.offline += diff.offline
	av.retry = make(map[zkpaths.TopicPartition]struct{}, len(failed))
	for _, tp := range failed {
		av.retry[tp] = struct{}{}
	}
	complete := len(failed) == 0

	previous := s.applied.Swap(snap)
	s.forgetDeletedTopics(snap)
	s.forgetGroupOffsets(previous, snap)
	// Logs on disk that were never opened in this run are ours to remove
	// too when their topic is being deleted or their partition moved away
	// (a broker that was down meanwhile). Those of topics absent from the
	// view are left alone: a deletion cannot finish without this broker's
	// confirmation, so such a log is not one it knows anything about.
	stray := removed
	for _, tp := range s.logs.Existing() {
		if t := snap.Topics[tp.Topic]; t != nil && !hostedBy(t, tp.Partition, me) {
			stray = append(stray, tp)
		}
	}
	// Only now that nothing serves them, remove the logs that are no longer
	// ours, then confirm deletions to the controller.
	removeFailed := s.removeLogs(snap, stray)
	if len(removeFailed) > 0 {
		complete = false
	}
	if !s.confirmDeletions(ctx, snap, removeFailed) {
		complete = false
	}
	s.health.setOffline(av.offline)
	s.health.update(s)
	return complete
}

// topicConfigs resolves topics' configs over the broker's effective
// config; the topics without overrides (most, often) share one resolved
// config rather than each holding a copy.
func topicConfigs(effective *config.Broker) func(*coordinator.Topic) config.Topic {
	var defaults config.Topic
	return func(t *coordinator.Topic) config.Topic {
		if len(t.Configs) > 0 {
			return effective.ResolveTopic(t.Configs)
		}
		if defaults == nil {
			defaults = effective.ResolveTopic(nil)
		}
		return defaults
	}
}

// hostedBy reports whether broker id holds (or is being given, by a
// reassignment) a replica of partition of t, a topic not being deleted.
func hostedBy(t *coordinator.Topic, partition int32, id int32) bool {
	if t.Deleting || partition < 0 || int(partition) >= len(t.Partitions) {
		return false
	}
	p := &t.Partitions[partition]
	return slices.Contains(p.Replicas, id) || slices.Contains(p.AddingReplicas, id)
}

// viewDiff is what a new cluster view changes for one broker.
type viewDiff struct {
	// changed holds the partitions assigned to the broker that are new to
	// it or whose state or config changed.
	changed map[zkpaths.TopicPartition]replica.Assignment
	// unassigned names the partitions it no longer holds.
	unassigned []zkpaths.TopicPartition
	// offline is how the count of partitions without a leader moved from
	// prev (nil: none) to next.
	offline int
}

// diffViews finds what next changes for broker me since prev (nil: nothing
// applied yet), plus the partitions of retry that next still assigns to it.
// With all, every partition next assigns to it counts as changed (their
// configs may all have). configOf resolves a topic's config.
//
// A topic next shares with prev (the same *Topic: the coordinator keeps
// those of unchanged topics) is skipped whole; the partitions of the
// others are compared one by one. The cost is thus one pointer comparison
// per topic plus the partitions of the topics that changed.
func diffViews(me int32, prev, next *coordinator.Snapshot, all bool, configOf func(*coordinator.Topic) config.Topic, retry map[zkpaths.TopicPartition]struct{}) viewDiff {
	d := viewDiff{changed: make(map[zkpaths.TopicPartition]replica.Assignment)}
	for name, t := range next.Topics {
		var pt *coordinator.Topic
		if prev != nil {
			pt = prev.Topics[name]
		}
		if pt == t && !all {
			continue
		}
		d.offline += offlineIn(t) - offlineIn(pt)
		sameTopic := !all && pt != nil && pt.ID == t.ID && pt.Deleting == t.Deleting && maps.Equal(pt.Configs, t.Configs)
		var cfg config.Topic
		for i := range t.Partitions {
			p := &t.Partitions[i]
			mine := hostedBy(t, p.Partition, me)
			wasMine := pt != nil && hostedBy(pt, p.Partition, me)
			tp := zkpaths.TopicPartition{Topic: name, Partition: p.Partition}
			switch {
			case mine && (!wasMine || !sameTopic || !samePartition(&pt.Partitions[i], p)):
				if cfg == nil {
					cfg = configOf(t)
				}
				d.changed[tp] = replica.Assignment{State: *p, Config: cfg}
			case !mine && wasMine:
				d.unassigned = append(d.unassigned, tp)
			}
		}
		if pt != nil {
			for i := len(t.Partitions); i < len(pt.Partitions); i++ {
				if hostedBy(pt, int32(i), me) {
					d.unassigned = append(d.unassigned, zkpaths.TopicPartition{Topic: name, Partition: int32(i)})
				}
			}
		}
	}
	if prev != nil {
		for name, pt := range prev.Topics {
			if next.Topics[name] != nil {
				continue
			}
			d.offline -= offlineIn(pt)
			for i := range pt.Partitions {
				if hostedBy(pt, int32(i), me) {
					d.unassigned = append(d.unassigned, zkpaths.TopicPartition{Topic: name, Partition: int32(i)})
				}
			}
		}
	}
	for tp := range retry {
		if _, ok := d.changed[tp]; ok {
			continue
		}
		if t := next.Topics[tp.Topic]; t != nil && hostedBy(t, tp.Partition, me) {
			d.changed[tp] = replica.Assignment{State: t.Partitions[tp.Partition], Config: configOf(t)}
		}
	}
	return d
}

// samePartition reports whether two states of a partition are the same to
// the replica manager.
func samePartition(a, b *coordinator.Partition) bool {
	return a.Leader == b.Leader && a.LeaderEpoch == b.LeaderEpoch && a.State == b.State &&
		a.PartitionEpoch == b.PartitionEpoch && a.ControllerEpoch == b.ControllerEpoch &&
		slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR) &&
		slices.Equal(a.AddingReplicas, b.AddingReplicas) && slices.Equal(a.RemovingReplicas, b.RemovingReplicas)
}

// offlineIn counts the partitions of t (nil: none) without a leader, as
// the health check and kzoo_offline_partitions count them: a topic being
// deleted counts none.
func offlineIn(t *coordinator.Topic) int {
	if t == nil || t.Deleting {
		return 0
	}
	n := 0
	for i := range t.Partitions {
		if t.Partitions[i].Offline() {
			n++
		}
	}
	return n
}

// removeLogs removes the local logs of partitions this broker no longer
// holds: deleted topics' and those a reassignment moved away. It returns
// the topics of the logs it could not remove. It logs one line per apply
// (a deleted topic may have thousands of partitions here), each partition
// at debug level.
func (s *Server) removeLogs(snap *coordinator.Snapshot, stray []zkpaths.TopicPartition) map[string]bool {
	failed := make(map[string]bool)
	var removed, moved, notRemoved int
	var firstErr error
	for _, tp := range stray {
		reason := "topic deleted"
		if t := snap.Topics[tp.Topic]; t != nil && !t.Deleting {
			reason = "replica moved to other brokers"
		}
		logger := s.logger.WithField("topic", tp.Topic).WithField("partition", tp.Partition).WithField("reason", reason)
		if err := s.logs.Remove(tp); err != nil {
			logger.WithError(err).Debug("cannot remove partition log")
			if notRemoved == 0 {
				firstErr = fmt.Errorf("remove the log of %s: %w", tp, err)
			}
			notRemoved++
			failed[tp.Topic] = true
			continue
		}
		logger.Debug("removed partition log")
		if reason == "topic deleted" {
			removed++
		} else {
			moved++
		}
	}
	if removed+moved > 0 {
		s.logger.WithFields(logrus.Fields{"of_deleted_topics": removed, "moved_away": moved}).Info("removed partition logs")
	}
	if notRemoved > 0 {
		s.logger.WithError(firstErr).WithField("partitions", notRemoved).Error("cannot remove partition logs; retrying")
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
