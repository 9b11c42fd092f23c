package coordinator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/zkpaths"
)

// Topic deletion. DeleteTopic (admin.go) requests it by creating
// /admin/delete_topics/<t>. The controller then moves the topic's partitions
// Offline and walks every replica through the replica state machine
// (replicastate.go) until each broker holding one has confirmed the removal
// of its files (ConfirmReplicasDeleted); a broker that is down holds the
// deletion back until it returns. Last, one fenced multi deletes the topic's
// znodes, its config and the request.

// ErrTopicNotBeingDeleted: ConfirmReplicasDeleted named a topic that exists
// and whose deletion was not requested.
var ErrTopicNotBeingDeleted = errors.New("topic is not being deleted")

// ConfirmReplicasDeleted tells the controller that this broker has removed its
// replicas of a topic being deleted (Topic.Deleting), by creating
// /admin/delete_topics/<t>/<id>. The controller removes the topic's znodes once
// every broker holding a replica has confirmed. Confirming twice, or after
// the deletion finished, is not an error.
func (s *Session) ConfirmReplicasDeleted(ctx context.Context, topic string) error {
	if err := placement.ValidateTopicName(topic); err != nil {
		return fmt.Errorf("confirm replicas of %s deleted: %w: %w", topic, ErrUnknownTopic, err)
	}
	epoch := []byte(strconv.FormatInt(s.BrokerEpoch(), 10))
	err := awaitErr(ctx, s, func() error {
		_, err := s.zk.create(zkpaths.DeleteTopicConfirmationPath(topic, s.cfg.BrokerID), epoch, zk.FlagPersistent)
		switch {
		case err == nil || errors.Is(err, zk.ErrNodeExists):
			return nil
		case !errors.Is(err, zk.ErrNoNode):
			return err
		}
		// No deletion request: either the deletion is over, or there was none.
		exists, _, err := s.zk.exists(zkpaths.TopicPath(topic))
		switch {
		case err != nil:
			return err
		case exists:
			return ErrTopicNotBeingDeleted
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("confirm replicas of %s deleted: %w", topic, err)
	}
	s.log.WithFields(logrus.Fields{"topic": topic}).Info("confirmed the removal of this broker's replicas of a deleted topic")
	return nil
}

// reconcileDeletions carries out the deletions requested under
// /admin/delete_topics.
func (s *Session) reconcileDeletions() error {
	for name := range s.ctrl.replicaStates {
		if !s.view.deleting[name] {
			delete(s.ctrl.replicaStates, name)
			delete(s.ctrl.deletionWaitLogged, name)
		}
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(s.view.deleting)) {
		err := s.deleteTopic(name)
		if errors.Is(err, errNotController) {
			return err
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("delete topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// maxDeleteOpsPerMulti bounds the deletes of one multi of a topic deletion:
// a delete is a path and a version, so this stays far below 1 MB.
const maxDeleteOpsPerMulti = 2 * maxOpsPerMulti

// deleteTopic moves a topic's partitions Offline, then deletes their state
// znodes (NonExistent), the topic's znodes, its config and the request.
func (s *Session) deleteTopic(name string) error {
	v := s.view
	t := v.topics[name]
	if t == nil {
		return s.dropDeletionRequest(name)
	}

	var offline []plannedWrite
	for _, p := range slices.Sorted(maps.Keys(t.states)) {
		plan, ok, err := planDeletion(t.states[p].current(), s.ctrl.epoch)
		if err != nil {
			return fmt.Errorf("partition %d: %w", p, err)
		}
		if ok && plan.To == zkpaths.StateOffline {
			offline = append(offline, plannedWrite{partition: p, plan: plan})
		}
	}
	if len(offline) > 0 {
		if err := s.writePartitionStates(name, offline); err != nil {
			return err
		}
	}
	done, err := s.advanceReplicaDeletion(name, t)
	if err != nil || !done {
		return err
	}

	paths, err := s.zk.descendants(zkpaths.TopicPath(name))
	if err != nil {
		v.dirty.topics[name] = true
		return err
	}
	var ops []any
	for _, p := range paths {
		version := int32(-1)
		if topic, partition, ok := zkpaths.ParsePartitionStatePath(p); ok && topic == name {
			if entry := t.states[partition]; entry.exists {
				if err := checkTransition(entry.state.State, zkpaths.StateNonExistent); err != nil {
					v.dirty.states[zkpaths.TopicPartition{Topic: name, Partition: partition}] = true
					return fmt.Errorf("partition %d: %w", partition, err)
				}
				version = entry.version
			}
		}
		ops = append(ops, s.zk.deleteOp(p, version))
	}
	failed := func(err error) error {
		v.dirty.topics[name], v.dirty.deletions = true, true
		for p := range t.states {
			v.dirty.states[zkpaths.TopicPartition{Topic: name, Partition: p}] = true
		}
		return err
	}
	// A topic of thousands of partitions has more znodes below it than one
	// multi may carry (ZooKeeper's 1 MB request limit): they go first, in
	// multis of their own, children before parents, and the topic, its
	// config and the request last, together. A controller that stops in
	// between leaves the topic marked for deletion, and the next one
	// finishes it.
	for len(ops) > maxDeleteOpsPerMulti {
		if _, err := s.fencedMulti(ops[:maxDeleteOpsPerMulti]...); err != nil {
			return failed(err)
		}
		ops = ops[maxDeleteOpsPerMulti:]
	}
	ops = append(ops, s.zk.deleteOp(zkpaths.TopicPath(name), t.version))
	configOps, err := s.deleteIfExistsOps(zkpaths.TopicConfigPath(name))
	if err != nil {
		return err
	}
	ops = append(ops, configOps...)
	requestOps, err := s.deleteTreeOps(zkpaths.DeleteTopicPath(name))
	if err != nil {
		return err
	}
	ops = append(ops, requestOps...)
	if _, err := s.fencedMulti(ops...); err != nil {
		return failed(err)
	}
	v.removeTopic(name)
	delete(v.deleting, name)
	delete(v.confirmed, name)
	// Every replica goes DeletionSuccessful -> NonExistent with the znodes.
	delete(s.ctrl.replicaStates, name)
	delete(s.ctrl.deletionWaitLogged, name)
	v.changed = true
	s.log.WithFields(logrus.Fields{"topic": name, "partitions": len(t.replicas), "epoch": s.ctrl.epoch}).Info("deleted topic")
	return nil
}

// replicaKey names one replica.
type replicaKey struct {
	partition int32
	broker    int32
}

// advanceReplicaDeletion moves every replica of a topic being deleted through
// the replica state machine; done is true when all of them are
// DeletionSuccessful, i.e. every broker holding one has confirmed.
func (s *Session) advanceReplicaDeletion(name string, t *topicEntry) (done bool, err error) {
	if s.ctrl.replicaStates == nil {
		s.ctrl.replicaStates = make(map[string]map[replicaKey]replicaState)
	}
	states := s.ctrl.replicaStates[name]
	if states == nil {
		states = make(map[replicaKey]replicaState)
		s.ctrl.replicaStates[name] = states
	}
	confirmed := s.view.confirmed[name]
	done = true
	var waitingFor []int32
	for p, replicas := range t.replicas {
		for _, r := range replicas {
			key := replicaKey{int32(p), r}
			_, live := s.view.brokers[r]
			current, tracked := states[key]
			if !tracked {
				current = initialReplicaState(live, true)
			}
			path, err := advanceDeletion(current, live, confirmed[r])
			if err != nil {
				return false, fmt.Errorf("replica %d of partition %d: %w", r, p, err)
			}
			for _, next := range path {
				s.log.WithFields(logrus.Fields{"topic": name, "partition": p, "replica": r, "from": current, "to": next}).
					Debug("replica state change")
				current = next
			}
			states[key] = current
			if current != replicaDeletionSuccessful {
				done = false
				if current == replicaDeletionIneligible && !slices.Contains(waitingFor, r) {
					waitingFor = append(waitingFor, r)
				}
			}
		}
	}
	if len(waitingFor) > 0 && !slices.Equal(waitingFor, s.ctrl.deletionWaitLogged[name]) {
		if s.ctrl.deletionWaitLogged == nil {
			s.ctrl.deletionWaitLogged = make(map[string][]int32)
		}
		s.ctrl.deletionWaitLogged[name] = waitingFor
		s.log.WithFields(logrus.Fields{"topic": name, "brokers": waitingFor}).
			Info("topic deletion waits for brokers that are down to come back and remove their replicas")
	}
	return done, nil
}

// dropDeletionRequest removes a deletion request for a topic that does not
// exist, with any leftover config.
func (s *Session) dropDeletionRequest(name string) error {
	exists, _, err := s.zk.exists(zkpaths.TopicPath(name))
	if err != nil {
		return err
	}
	if exists {
		// The view is behind: its watch is on the way.
		s.view.dirty.topicList = true
		return nil
	}
	ops, err := s.deleteIfExistsOps(zkpaths.TopicConfigPath(name))
	if err != nil {
		return err
	}
	requestOps, err := s.deleteTreeOps(zkpaths.DeleteTopicPath(name))
	if err != nil {
		return err
	}
	ops = append(ops, requestOps...)
	if _, err := s.fencedMulti(ops...); err != nil && !errors.Is(err, zk.ErrNoNode) {
		s.view.dirty.deletions = true
		return err
	}
	delete(s.view.deleting, name)
	s.view.touchTopic(name)
	s.log.WithField("topic", name).Info("dropped deletion request for a topic that does not exist")
	return nil
}

// deleteTreeOps returns the ops deleting a znode and everything below it, or
// nothing when it does not exist.
func (s *Session) deleteTreeOps(p string) ([]any, error) {
	below, err := s.zk.descendants(p)
	if errors.Is(err, zk.ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ops := make([]any, 0, len(below)+1)
	for _, child := range below {
		ops = append(ops, s.zk.deleteOp(child, -1))
	}
	return append(ops, s.zk.deleteOp(p, -1)), nil
}

func (s *Session) deleteIfExistsOps(p string) ([]any, error) {
	exists, _, err := s.zk.exists(p)
	if err != nil || !exists {
		return nil, err
	}
	return []any{s.zk.deleteOp(p, -1)}, nil
}
