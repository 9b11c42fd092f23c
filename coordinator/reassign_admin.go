package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/zkpaths"
)

// AlterReassignments starts (replicas non-nil) or cancels (nil) partition
// reassignments by merging them into /admin/reassign_partitions; it returns
// once the request is written, and the controller carries it out. A
// cancellation returns the partition to its original replicas. Per partition
// the result is nil, or an error wrapping ErrUnknownTopic,
// placement.ErrInvalidReplicaAssignment (empty, duplicates, or brokers that
// are not registered) or ErrNoReassignmentInProgress (cancellation of none).
func (s *Session) AlterReassignments(ctx context.Context, targets map[zkpaths.TopicPartition][]int32) (map[zkpaths.TopicPartition]error, error) {
	snap := s.Snapshot()
	results := make(map[zkpaths.TopicPartition]error, len(targets))
	valid := make(map[zkpaths.TopicPartition][]int32, len(targets))
	for tp, replicas := range targets {
		t := snap.Topics[tp.Topic]
		if t == nil || t.Deleting || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			results[tp] = fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, ErrUnknownTopic)
			continue
		}
		if replicas != nil {
			if err := validateReassignment(snap, replicas); err != nil {
				results[tp] = fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, err)
				continue
			}
			replicas = slices.Clone(replicas)
		}
		results[tp] = nil
		valid[tp] = replicas
	}
	if len(valid) == 0 {
		return results, nil
	}
	cancelErrs, err := await(ctx, s, func() (map[zkpaths.TopicPartition]error, error) { return s.alterReassignments(valid) })
	if err != nil {
		return nil, fmt.Errorf("alter partition reassignments: %w", err)
	}
	for tp, err := range cancelErrs {
		results[tp] = err
	}
	s.log.WithField("partitions", len(valid)-len(cancelErrs)).Info("requested partition reassignments")
	return results, nil
}

func validateReassignment(snap *Snapshot, replicas []int32) error {
	if err := placement.ValidateAssignment([][]int32{replicas}); err != nil {
		return err
	}
	for _, r := range replicas {
		if _, registered := snap.Brokers[r]; !registered {
			return fmt.Errorf("%w: broker %d is not registered", placement.ErrInvalidReplicaAssignment, r)
		}
	}
	return nil
}

// alterReassignments merges the changes into /admin/reassign_partitions with a
// conditional write, retrying when someone else changed it meanwhile. It
// returns the cancellations that found no reassignment.
func (s *Session) alterReassignments(changes map[zkpaths.TopicPartition][]int32) (map[zkpaths.TopicPartition]error, error) {
	for range maxConditionalAttempts {
		data, stat, err := s.zk.get(zkpaths.ReassignPartitionsPath)
		exists := err == nil
		if err != nil && !errors.Is(err, zk.ErrNoNode) {
			return nil, err
		}
		pending := make(map[zkpaths.TopicPartition][]int32)
		if exists {
			req, err := zkpaths.UnmarshalReassignPartitions(data)
			if err != nil {
				return nil, err
			}
			for _, r := range req.Partitions {
				pending[zkpaths.TopicPartition{Topic: r.Topic, Partition: r.Partition}] = r.Replicas
			}
		}
		failed := make(map[zkpaths.TopicPartition]error)
		assignments := make(map[string]zkpaths.TopicAssignment)
		for tp, replicas := range changes {
			if replicas != nil {
				pending[tp] = replicas
				continue
			}
			a, ok := assignments[tp.Topic]
			if !ok {
				topicData, _, err := s.zk.get(zkpaths.TopicPath(tp.Topic))
				if errors.Is(err, zk.ErrNoNode) {
					failed[tp] = fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, ErrUnknownTopic)
					continue
				}
				if err != nil {
					return nil, err
				}
				if a, err = zkpaths.UnmarshalTopicAssignment(topicData); err != nil {
					return nil, err
				}
				assignments[tp.Topic] = a
			}
			adding, removing := a.AddingReplicas[tp.Partition], a.RemovingReplicas[tp.Partition]
			_, requested := pending[tp]
			switch {
			case len(adding) > 0 || len(removing) > 0:
				// Started: go back to the original replicas.
				pending[tp] = originalReplicas(a.Partitions[tp.Partition], adding)
			case requested:
				// Not started yet: dropping the request is enough.
				delete(pending, tp)
			default:
				failed[tp] = fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, ErrNoReassignmentInProgress)
			}
		}

		switch {
		case len(pending) == 0 && exists:
			err = s.zk.delete(zkpaths.ReassignPartitionsPath, stat.Version)
		case len(pending) == 0:
			err = nil
		default:
			payload, merr := marshalReassignments(pending)
			if merr != nil {
				return nil, merr
			}
			if exists {
				_, err = s.zk.set(zkpaths.ReassignPartitionsPath, payload, stat.Version)
			} else {
				_, err = s.zk.create(zkpaths.ReassignPartitionsPath, payload, zk.FlagPersistent)
			}
		}
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode) || errors.Is(err, zk.ErrNodeExists) {
			continue
		}
		if err == nil {
			s.log.WithFields(logrus.Fields{"pending": len(pending)}).Debug("wrote partition reassignment request")
		}
		return failed, err
	}
	return nil, fmt.Errorf("%s kept changing under %d attempts", zkpaths.ReassignPartitionsPath, maxConditionalAttempts)
}
