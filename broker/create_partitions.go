package broker

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/zkpaths"
)

func (s *Server) handleCreatePartitions(ctx context.Context, req *request, in *kmsg.CreatePartitionsRequest, resp *kmsg.CreatePartitionsResponse) any {
	seen := make(map[string]int)
	for _, rt := range in.Topics {
		seen[rt.Topic]++
	}
	grown := make(map[string]int)
	mutations := s.mutationQuota(req, 3)
	defer func() { req.throttle = mutations.throttle }()
	for _, rt := range in.Topics {
		ot := kmsg.NewCreatePartitionsResponseTopic()
		ot.Topic = rt.Topic
		var err error
		switch {
		case seen[rt.Topic] > 1:
			err = fmt.Errorf("%w: topic %q appears more than once in the request", kerr.InvalidRequest, rt.Topic)
		case !s.authorized(req, kmsg.ACLOperationAlter, kmsg.ACLResourceTypeTopic, rt.Topic):
			err = kerr.TopicAuthorizationFailed
		default:
			var added [][]int32
			added, err = s.planPartitions(s.snapshot(), &rt)
			if err == nil && !in.ValidateOnly {
				err = mutations.admit(len(added))
			}
			if err == nil && !in.ValidateOnly {
				err = s.meta.AddPartitions(ctx, rt.Topic, added)
				switch {
				case errors.Is(err, coordinator.ErrUnknownTopic):
					err = fmt.Errorf("%w: %v", kerr.UnknownTopicOrPartition, err)
				case errors.Is(err, coordinator.ErrTopicDeletionPending):
					err = fmt.Errorf("%w: topic %q is being deleted", kerr.InvalidTopicException, rt.Topic)
				case errors.Is(err, placement.ErrInvalidReplicaAssignment):
					err = fmt.Errorf("%w: %v", kerr.InvalidReplicaAssignment, err)
				case errors.Is(err, zkpaths.ErrZnodeTooLarge):
					err = fmt.Errorf("%w: %v", kerr.InvalidPartitions, err)
				}
				if err == nil {
					grown[rt.Topic] = int(rt.Count)
				}
			}
		}
		if err != nil {
			ot.ErrorCode, ot.ErrorMessage = errorAnswer(err)
		}
		resp.Topics = append(resp.Topics, ot)
	}

	// As CreateTopics: answer once the new partitions have leaders.
	s.waitForMetadata(ctx, in.TimeoutMillis, func(snap *coordinator.Snapshot) bool {
		for name, count := range grown {
			if !partitionsOnline(snap, name, count) {
				return false
			}
		}
		return true
	})
	return resp
}

// planPartitions validates a CreatePartitions entry against the cluster
// view and returns the replicas of the partitions to add. Errors wrap the
// Kafka error the client gets.
func (s *Server) planPartitions(snap *coordinator.Snapshot, rt *kmsg.CreatePartitionsRequestTopic) ([][]int32, error) {
	t := snap.Topics[rt.Topic]
	if t == nil {
		return nil, fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, rt.Topic)
	}
	if t.Deleting {
		return nil, fmt.Errorf("%w: topic %q is being deleted", kerr.InvalidTopicException, rt.Topic)
	}
	if isInternalTopic(rt.Topic) {
		// More partitions would move most groups to another coordinator
		// without their offsets; Kafka's tools refuse it too.
		return nil, fmt.Errorf("%w: the partition count of internal topic %q cannot be changed", kerr.InvalidPartitions, rt.Topic)
	}
	current := len(t.Partitions)
	switch {
	case int(rt.Count) == current:
		return nil, fmt.Errorf("%w: topic %q already has %d partitions", kerr.InvalidPartitions, rt.Topic, current)
	case int(rt.Count) < current:
		return nil, fmt.Errorf("%w: topic %q has %d partitions, more than the requested %d; partitions can only be added", kerr.InvalidPartitions, rt.Topic, current, rt.Count)
	}
	if current == 0 {
		return nil, fmt.Errorf("%w: topic %q has no partitions to take the replication factor from", kerr.InvalidPartitions, rt.Topic)
	}
	rf := len(t.Partitions[0].Replicas)
	adding := int(rt.Count) - current
	live := snap.LiveBrokerIDs()

	if rt.Assignment != nil {
		if len(rt.Assignment) != adding {
			return nil, fmt.Errorf("%w: %d partitions are added but the assignment lists %d", kerr.InvalidReplicaAssignment, adding, len(rt.Assignment))
		}
		added := make([][]int32, adding)
		for i, a := range rt.Assignment {
			if len(a.Replicas) != rf {
				return nil, fmt.Errorf("%w: partition %d has %d replicas, the topic's replication factor is %d", kerr.InvalidReplicaAssignment, current+i, len(a.Replicas), rf)
			}
			added[i] = slices.Clone(a.Replicas)
		}
		if err := validateAssignment(added, live); err != nil {
			return nil, err
		}
		return added, nil
	}
	if rf > len(live) {
		return nil, fmt.Errorf("%w: replication factor %d larger than the %d live brokers", kerr.InvalidReplicationFactor, rf, len(live))
	}
	return continueAssignment(live, t.Partitions[0].Replicas[0], current, int(rt.Count), rf)
}

// continueAssignment assigns partitions current..count-1 so that they follow
// the spread of partitions 0..current-1: partition p's preferred leader is
// the live broker p places after the preferred leader of partition 0, as
// Kafka does when it adds partitions.
func continueAssignment(live []int32, firstLeader int32, current, count, rf int) ([][]int32, error) {
	full, err := placement.AssignReplicas(live, count, rf, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", kerr.InvalidReplicationFactor, err)
	}
	sorted := slices.Sorted(slices.Values(live))
	// AssignReplicas without randomness starts partition 0 at the lowest
	// id; rotating the ids moves that start to the topic's first leader.
	shift := max(slices.Index(sorted, firstLeader), 0)
	position := make(map[int32]int, len(sorted))
	for i, id := range sorted {
		position[id] = i
	}
	added := full[current:]
	for _, replicas := range added {
		for i, r := range replicas {
			replicas[i] = sorted[(position[r]+shift)%len(sorted)]
		}
	}
	return added, nil
}
