package coordinator

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"maps"
	"math"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/zkpaths"
)

// ProducerIDBlockSize is the number of producer ids handed out at once.
const ProducerIDBlockSize = 1000

// maxConditionalAttempts bounds the read-modify-write retries of an
// administration call when other writers keep getting there first.
const maxConditionalAttempts = 100

// ErrTopicDeletionPending: the topic is marked for deletion and cannot change.
var ErrTopicDeletionPending = errors.New("topic is marked for deletion")

func awaitErr(ctx context.Context, s *Session, op func() error) error {
	_, err := await(ctx, s, func() (struct{}, error) { return struct{}{}, op() })
	return err
}

// CreateTopic writes a new topic: its config and its replica assignment (with a
// new random topic id) in one multi. The controller then creates its partitions.
// It fails with ErrTopicExists if the topic exists (also while it is being
// deleted), placement.ErrInvalidTopicName or
// placement.ErrInvalidReplicaAssignment.
func (s *Session) CreateTopic(ctx context.Context, name string, assignment [][]int32, configs map[string]string) error {
	if err := placement.ValidateTopicName(name); err != nil {
		return err
	}
	if err := placement.ValidateAssignment(assignment); err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	id, err := zkpaths.NewRandomUUID(crand.Reader)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	topicPayload, err := zkpaths.NewTopicAssignment(id, assignment).Marshal()
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	configPayload, err := zkpaths.ConfigEntity{Config: configs}.Marshal()
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	err = awaitErr(ctx, s, func() error {
		return s.createTopic(name, topicPayload, configPayload)
	})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	s.log.WithFields(logrus.Fields{"topic": name, "topic_id": id.String(), "partitions": len(assignment)}).Info("created topic")
	return nil
}

func (s *Session) createTopic(name string, topicPayload, configPayload []byte) error {
	configPath, topicPath := zkpaths.TopicConfigPath(name), zkpaths.TopicPath(name)
	res, err := s.zk.multi(
		s.zk.createOp(configPath, configPayload, zk.FlagPersistent),
		s.zk.createOp(topicPath, topicPayload, zk.FlagPersistent))
	if errors.Is(err, zk.ErrNodeExists) && len(res) == 2 && res[0].Error != nil {
		// A config without a topic is a leftover (Kafka writes the config
		// first, non-atomically): replace it, unless the topic exists too.
		_, err = s.zk.multi(
			s.zk.setOp(configPath, configPayload, -1),
			s.zk.createOp(topicPath, topicPayload, zk.FlagPersistent))
	}
	if errors.Is(err, zk.ErrNodeExists) {
		return ErrTopicExists
	}
	return err
}

// AddPartitions adds partitions to a topic: newReplicas lists the replicas of
// each new partition, in partition order after the existing ones. They must have
// the topic's replication factor. The controller brings them online.
func (s *Session) AddPartitions(ctx context.Context, name string, newReplicas [][]int32) error {
	if err := placement.ValidateTopicName(name); err != nil {
		return fmt.Errorf("add partitions: %w: %w", ErrUnknownTopic, err)
	}
	if err := placement.ValidateAssignment(newReplicas); err != nil {
		return fmt.Errorf("add partitions to %s: %w", name, err)
	}
	total, err := await(ctx, s, func() (int, error) { return s.addPartitions(name, newReplicas) })
	if err != nil {
		return fmt.Errorf("add partitions to %s: %w", name, err)
	}
	s.log.WithFields(logrus.Fields{"topic": name, "partitions": total}).Info("added partitions")
	return nil
}

func (s *Session) addPartitions(name string, newReplicas [][]int32) (int, error) {
	for range maxConditionalAttempts {
		data, stat, err := s.zk.get(zkpaths.TopicPath(name))
		if errors.Is(err, zk.ErrNoNode) {
			return 0, ErrUnknownTopic
		}
		if err != nil {
			return 0, err
		}
		deleting, _, err := s.zk.exists(zkpaths.DeleteTopicPath(name))
		if err != nil {
			return 0, err
		}
		if deleting {
			return 0, ErrTopicDeletionPending
		}
		assignment, err := zkpaths.UnmarshalTopicAssignment(data)
		if err != nil {
			return 0, err
		}
		existing, err := assignment.Replicas()
		if err != nil {
			return 0, err
		}
		if len(existing) > 0 && len(existing[0]) != len(newReplicas[0]) {
			return 0, fmt.Errorf("%w: new partitions have %d replicas, the topic has %d",
				placement.ErrInvalidReplicaAssignment, len(newReplicas[0]), len(existing[0]))
		}
		assignment.Partitions = maps.Clone(assignment.Partitions)
		for i, replicas := range newReplicas {
			assignment.Partitions[int32(len(existing)+i)] = replicas
		}
		payload, err := assignment.Marshal()
		if err != nil {
			return 0, err
		}
		_, err = s.zk.set(zkpaths.TopicPath(name), payload, stat.Version)
		if errors.Is(err, zk.ErrBadVersion) {
			continue
		}
		return len(assignment.Partitions), err
	}
	return 0, fmt.Errorf("the topic kept changing under %d attempts", maxConditionalAttempts)
}

// DeleteTopic requests the deletion of a topic by creating
// /admin/delete_topics/<t>; the controller does the rest. Requesting it again
// while it is pending is not an error.
func (s *Session) DeleteTopic(ctx context.Context, name string) error {
	if err := placement.ValidateTopicName(name); err != nil {
		return fmt.Errorf("delete topic: %w: %w", ErrUnknownTopic, err)
	}
	err := awaitErr(ctx, s, func() error {
		exists, _, err := s.zk.exists(zkpaths.TopicPath(name))
		if err != nil {
			return err
		}
		if !exists {
			return ErrUnknownTopic
		}
		_, err = s.zk.create(zkpaths.DeleteTopicPath(name), nil, zk.FlagPersistent)
		if errors.Is(err, zk.ErrNodeExists) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("delete topic %s: %w", name, err)
	}
	s.log.WithField("topic", name).Info("requested topic deletion")
	return nil
}

// TopicConfig returns a topic's configuration overrides (empty when it has
// none), or ErrUnknownTopic.
func (s *Session) TopicConfig(ctx context.Context, name string) (map[string]string, error) {
	if err := placement.ValidateTopicName(name); err != nil {
		return nil, fmt.Errorf("topic config: %w: %w", ErrUnknownTopic, err)
	}
	config, err := await(ctx, s, func() (map[string]string, error) {
		data, _, err := s.zk.get(zkpaths.TopicConfigPath(name))
		if errors.Is(err, zk.ErrNoNode) {
			exists, _, err := s.zk.exists(zkpaths.TopicPath(name))
			switch {
			case err != nil:
				return nil, err
			case !exists:
				return nil, ErrUnknownTopic
			}
			return map[string]string{}, nil
		}
		if err != nil {
			return nil, err
		}
		entity, err := zkpaths.UnmarshalConfigEntity(data)
		return entity.Config, err
	})
	if err != nil {
		return nil, fmt.Errorf("topic config %s: %w", name, err)
	}
	return config, nil
}

// SetTopicConfig replaces a topic's configuration overrides and, in the same
// multi, announces the change under /config/changes as Kafka does.
func (s *Session) SetTopicConfig(ctx context.Context, name string, configs map[string]string) error {
	if err := placement.ValidateTopicName(name); err != nil {
		return fmt.Errorf("set topic config: %w: %w", ErrUnknownTopic, err)
	}
	configPayload, err := zkpaths.ConfigEntity{Config: configs}.Marshal()
	if err != nil {
		return fmt.Errorf("set topic config %s: %w", name, err)
	}
	notification, err := zkpaths.NewConfigChangeNotification(zkpaths.ConfigTypeTopic, name).Marshal()
	if err != nil {
		return fmt.Errorf("set topic config %s: %w", name, err)
	}
	err = awaitErr(ctx, s, func() error {
		configPath := zkpaths.TopicConfigPath(name)
		var write any = s.zk.setOp(configPath, configPayload, -1)
		for range 2 {
			// A check at version -1 only requires the topic to exist.
			res, err := s.zk.multi(
				s.zk.checkOp(zkpaths.TopicPath(name), -1),
				write,
				s.zk.createOp(zkpaths.ConfigChangeSequencePath(), notification, zk.FlagSequence))
			switch {
			case err == nil:
				return nil
			case errors.Is(err, zk.ErrNoNode) && len(res) == 3 && res[0].Error != nil:
				return ErrUnknownTopic
			case errors.Is(err, zk.ErrNoNode) && len(res) == 3 && res[1].Error != nil:
				write = s.zk.createOp(configPath, configPayload, zk.FlagPersistent)
			case errors.Is(err, zk.ErrNodeExists) && len(res) == 3 && res[1].Error != nil:
				write = s.zk.setOp(configPath, configPayload, -1)
			default:
				return err
			}
		}
		return errors.New("the config znode keeps appearing and disappearing")
	})
	if err != nil {
		return fmt.Errorf("set topic config %s: %w", name, err)
	}
	s.log.WithField("topic", name).Info("updated topic config")
	return nil
}

// AllocateProducerIDBlock reserves the next block of ProducerIDBlockSize
// producer ids (bounds inclusive) with a conditional update of
// /latest_producer_id_block, retrying when another broker got there first.
func (s *Session) AllocateProducerIDBlock(ctx context.Context) (first, last int64, err error) {
	block, err := await(ctx, s, s.allocateProducerIDBlock)
	if err != nil {
		return 0, 0, fmt.Errorf("allocate producer ids: %w", err)
	}
	s.log.WithFields(logrus.Fields{"block_start": block.BlockStart, "block_end": block.BlockEnd}).Debug("allocated producer id block")
	return block.BlockStart, block.BlockEnd, nil
}

func (s *Session) allocateProducerIDBlock() (zkpaths.ProducerIDBlock, error) {
	for range maxConditionalAttempts {
		data, stat, err := s.zk.get(zkpaths.ProducerIDBlockPath)
		exists := true
		switch {
		case errors.Is(err, zk.ErrNoNode):
			exists = false
		case err != nil:
			return zkpaths.ProducerIDBlock{}, err
		}

		next := zkpaths.ProducerIDBlock{BrokerID: s.cfg.BrokerID, BlockStart: 0}
		if exists && len(data) > 0 {
			prev, err := zkpaths.UnmarshalProducerIDBlock(data)
			if err != nil {
				return zkpaths.ProducerIDBlock{}, err
			}
			if prev.BlockEnd > math.MaxInt64-ProducerIDBlockSize {
				return zkpaths.ProducerIDBlock{}, fmt.Errorf("producer ids exhausted (the last block ends at %d)", prev.BlockEnd)
			}
			next.BlockStart = prev.BlockEnd + 1
		}
		next.BlockEnd = next.BlockStart + ProducerIDBlockSize - 1
		payload, err := next.Marshal()
		if err != nil {
			return zkpaths.ProducerIDBlock{}, err
		}

		if exists {
			_, err = s.zk.set(zkpaths.ProducerIDBlockPath, payload, stat.Version)
		} else {
			_, err = s.zk.create(zkpaths.ProducerIDBlockPath, payload, zk.FlagPersistent)
		}
		if errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNodeExists) {
			continue
		}
		return next, err
	}
	return zkpaths.ProducerIDBlock{}, fmt.Errorf("lost the race for the next block %d times in a row", maxConditionalAttempts)
}
