package broker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/zkpaths"
)

// maxAdminWait bounds how long CreateTopics and DeleteTopics wait for the
// controller to finish, whatever timeout the client asks for.
const maxAdminWait = 60 * time.Second

func (s *Server) handleCreateTopics(ctx context.Context, req *request, in *kmsg.CreateTopicsRequest, resp *kmsg.CreateTopicsResponse) any {
	seen := make(map[string]int)
	for _, rt := range in.Topics {
		seen[rt.Topic]++
	}
	var created []string
	mutations := s.mutationQuota(req, 6)
	defer func() { req.throttle = mutations.throttle }()
	for _, rt := range in.Topics {
		ot := kmsg.NewCreateTopicsResponseTopic()
		ot.Topic = rt.Topic
		ot.NumPartitions, ot.ReplicationFactor = -1, -1
		ot.Configs = []kmsg.CreateTopicsResponseTopicConfig{} // empty, not null, on errors too, as Kafka
		var err error
		switch {
		case seen[rt.Topic] > 1:
			err = fmt.Errorf("%w: topic %q appears more than once in the request", kerr.InvalidRequest, rt.Topic)
		case !s.mayCreateTopic(req, rt.Topic):
			err = kerr.TopicAuthorizationFailed
		default:
			var assignment [][]int32
			var configs map[string]string
			assignment, configs, err = s.planTopic(&rt)
			if err == nil && !in.ValidateOnly {
				err = mutations.admit(len(assignment))
			}
			if err == nil && !in.ValidateOnly {
				err = s.meta.CreateTopic(ctx, rt.Topic, assignment, configs)
				switch {
				case errors.Is(err, coordinator.ErrTopicExists):
					err = fmt.Errorf("%w: topic %q already exists", kerr.TopicAlreadyExists, rt.Topic)
				case errors.Is(err, zkpaths.ErrZnodeTooLarge):
					err = fmt.Errorf("%w: %v", kerr.InvalidPartitions, err)
				}
			}
			switch {
			case err != nil:
			case !s.authorize(req, kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeTopic, rt.Topic, false):
				// Created, but what it was created with is for
				// those who may DESCRIBE_CONFIGS it, as in Kafka.
				ot.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
			default:
				// KIP-525: v5+ tells what was created, configs
				// included, as DescribeConfigs would list them
				// (Java's AdminClient reads the configs of every
				// topic created without an error).
				ot.NumPartitions = int32(len(assignment))
				ot.ReplicationFactor = int16(len(assignment[0]))
				ot.Configs = createdTopicConfigs(s.cfg.DescribeTopic(configs, s.dynamicConfig(s.snapshot())))
			}
			if err == nil && !in.ValidateOnly {
				created = append(created, rt.Topic)
			}
		}
		if err != nil {
			ot.ErrorCode, ot.ErrorMessage = errorAnswer(err)
		}
		resp.Topics = append(resp.Topics, ot)
	}

	// Answer once the new partitions have leaders, so a client can produce
	// right away; on timeout the topics exist but may still be electing.
	s.waitForMetadata(ctx, in.TimeoutMillis, func(snap *coordinator.Snapshot) bool {
		for _, name := range created {
			if !partitionsOnline(snap, name, 0) {
				return false
			}
		}
		return true
	})
	snap := s.snapshot()
	for i := range resp.Topics {
		if t := snap.Topics[resp.Topics[i].Topic]; t != nil && resp.Topics[i].ErrorCode == 0 && resp.Topics[i].ConfigErrorCode == 0 {
			resp.Topics[i].TopicID = t.ID
		}
	}
	return resp
}

// planTopic validates a CreateTopics entry and returns its replica
// assignment and configs. Errors wrap the Kafka error the client gets.
func (s *Server) planTopic(rt *kmsg.CreateTopicsRequestTopic) ([][]int32, map[string]string, error) {
	if err := placement.ValidateTopicName(rt.Topic); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", kerr.InvalidTopicException, err)
	}
	if isInternalTopic(rt.Topic) {
		// Unlike Kafka in ZooKeeper mode, which lets clients create it
		// with any settings: a __consumer_offsets with the wrong
		// partition count or cleanup policy loses groups and offsets.
		return nil, nil, fmt.Errorf("%w: %s is an internal topic; the broker creates it with its own settings on first use", kerr.InvalidRequest, rt.Topic)
	}
	configs := make(map[string]string, len(rt.Configs))
	for _, c := range rt.Configs {
		if c.Value == nil {
			continue
		}
		configs[c.Name] = *c.Value
	}
	if err := config.ValidateTopicConfigs(configs, isInternalTopic(rt.Topic)); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", kerr.InvalidConfig, err)
	}
	live := s.snapshot().LiveBrokerIDs()

	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return nil, nil, fmt.Errorf("%w: give either a replica assignment or partitions and replication factor, not both", kerr.InvalidRequest)
		}
		assignment := make([][]int32, len(rt.ReplicaAssignment))
		for _, ra := range rt.ReplicaAssignment {
			if ra.Partition < 0 || int(ra.Partition) >= len(assignment) || assignment[ra.Partition] != nil {
				return nil, nil, fmt.Errorf("%w: partitions of a replica assignment must be 0..%d, each once", kerr.InvalidReplicaAssignment, len(assignment)-1)
			}
			assignment[ra.Partition] = ra.Replicas
		}
		if err := validateAssignment(assignment, live); err != nil {
			return nil, nil, err
		}
		return assignment, configs, nil
	}

	partitions := int(rt.NumPartitions)
	if partitions == -1 {
		partitions = int(s.cfg.NumPartitions)
	}
	rf := int(rt.ReplicationFactor)
	if rf == -1 {
		rf = int(s.cfg.DefaultReplicationFactor)
	}
	if partitions <= 0 {
		return nil, nil, fmt.Errorf("%w: number of partitions must be larger than 0", kerr.InvalidPartitions)
	}
	if rf <= 0 {
		return nil, nil, fmt.Errorf("%w: replication factor must be larger than 0", kerr.InvalidReplicationFactor)
	}
	if rf > len(live) {
		return nil, nil, fmt.Errorf("%w: replication factor %d larger than the %d live brokers", kerr.InvalidReplicationFactor, rf, len(live))
	}
	assignment, err := placement.AssignReplicas(live, partitions, rf, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1)))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", kerr.InvalidReplicationFactor, err)
	}
	return assignment, configs, nil
}

// validateAssignment checks a client-given replica assignment: every
// partition has the same number of distinct replicas, all of them live.
func validateAssignment(assignment [][]int32, live []int32) error {
	for p, replicas := range assignment {
		if len(replicas) == 0 || len(replicas) != len(assignment[0]) {
			return fmt.Errorf("%w: partition %d has %d replicas, want the same non-zero number for all", kerr.InvalidReplicaAssignment, p, len(replicas))
		}
		seen := make(map[int32]bool)
		for _, r := range replicas {
			if seen[r] {
				return fmt.Errorf("%w: partition %d lists broker %d twice", kerr.InvalidReplicaAssignment, p, r)
			}
			seen[r] = true
			if !slices.Contains(live, r) {
				return fmt.Errorf("%w: broker %d of partition %d is not a live broker", kerr.InvalidReplicaAssignment, r, p)
			}
		}
	}
	return nil
}

func (s *Server) handleDeleteTopics(ctx context.Context, req *request, in *kmsg.DeleteTopicsRequest, resp *kmsg.DeleteTopicsResponse) any {
	snap := s.snapshot()

	// v6+ names topics by name or id; earlier versions by name only.
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	for _, n := range in.TopicNames {
		n := n
		targets = append(targets, target{name: &n})
	}
	for _, t := range in.Topics {
		targets = append(targets, target{name: t.Topic, id: t.TopicID})
	}

	var deleting []string
	mutations := s.mutationQuota(req, 5)
	defer func() { req.throttle = mutations.throttle }()
	for _, t := range targets {
		ot := kmsg.NewDeleteTopicsResponseTopic()
		ot.Topic, ot.TopicID = t.name, t.id
		var topic *coordinator.Topic
		if t.name != nil {
			topic = snap.Topics[*t.name]
		} else {
			for _, candidate := range snap.Topics {
				if candidate.ID == t.id {
					topic = candidate
				}
			}
		}
		var err error
		switch {
		case !s.cfg.DeleteTopicEnable:
			err = fmt.Errorf("%w: delete.topic.enable is false", kerr.TopicDeletionDisabled)
		case topic == nil && t.name == nil:
			err = kerr.UnknownTopicID
		case t.name == nil && !s.authorized(req, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, topic.Name):
			// Asked by id: the name is for those who may DESCRIBE it.
			err = kerr.TopicAuthorizationFailed
		case !s.authorized(req, kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, targetName(t.name, topic)):
			name := targetName(t.name, topic)
			ot.Topic = &name
			err = kerr.TopicAuthorizationFailed
		case topic == nil:
			err = kerr.UnknownTopicOrPartition
		case isInternalTopic(topic.Name):
			// Deleting __consumer_offsets would drop every group's
			// committed offsets; Kafka's tools refuse it too.
			err = fmt.Errorf("%w: %s is an internal topic and cannot be deleted", kerr.InvalidTopicException, topic.Name)
		default:
			name := topic.Name
			ot.Topic, ot.TopicID = &name, topic.ID
			if err = mutations.admit(len(topic.Partitions)); err != nil {
				break
			}
			err = s.meta.DeleteTopic(ctx, name)
			if errors.Is(err, coordinator.ErrUnknownTopic) {
				err = kerr.UnknownTopicOrPartition
			}
			if err == nil {
				deleting = append(deleting, name)
			}
		}
		if err != nil {
			ot.ErrorCode = errorCodeOr(err, kerr.UnknownServerError)
			if in.Version >= 5 {
				msg := errorMessage(err)
				ot.ErrorMessage = &msg
			}
		}
		resp.Topics = append(resp.Topics, ot)
	}
	s.waitForMetadata(ctx, in.TimeoutMillis, func(snap *coordinator.Snapshot) bool {
		for _, name := range deleting {
			if snap.Topics[name] != nil {
				return false
			}
		}
		return true
	})
	return resp
}

// targetName is the name of a DeleteTopics target: as asked, or that of
// the topic its id names.
func targetName(asked *string, topic *coordinator.Topic) string {
	if asked != nil {
		return *asked
	}
	return topic.Name
}

// waitForMetadata waits until done holds for the cluster view, the client's
// timeout passes, or ctx ends.
func (s *Server) waitForMetadata(ctx context.Context, timeoutMillis int32, done func(*coordinator.Snapshot) bool) {
	timeout := time.Duration(timeoutMillis) * time.Millisecond
	if timeout > maxAdminWait {
		timeout = maxAdminWait
	}
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !done(s.snapshot()) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// partitionsOnline reports whether topic is in snap with at least count
// partitions, all of them Online: what CreateTopics and CreatePartitions
// wait for before they answer.
func partitionsOnline(snap *coordinator.Snapshot, topic string, count int) bool {
	t := snap.Topics[topic]
	if t == nil || len(t.Partitions) < count {
		return false
	}
	for _, p := range t.Partitions {
		if p.State != zkpaths.StateOnline {
			return false
		}
	}
	return true
}

// errorAnswer is the error code and message a response gives for err: none
// for nil, the Kafka error err wraps, UNKNOWN_SERVER_ERROR otherwise.
func errorAnswer(err error) (code int16, msg *string) {
	if err == nil {
		return 0, nil
	}
	text := errorMessage(err)
	return errorCodeOr(err, kerr.UnknownServerError), &text
}

// errorCodeOr is the Kafka error code err wraps, or fallback's.
func errorCodeOr(err error, fallback *kerr.Error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return fallback.Code
}
