package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/zkpaths"
)

var (
	// ErrFencedLeaderEpoch: this broker no longer leads the partition at the
	// given leader epoch.
	ErrFencedLeaderEpoch = errors.New("fenced leader epoch")
	// ErrStalePartitionEpoch: the state znode changed since the given partition
	// epoch (Kafka's INVALID_UPDATE_VERSION).
	ErrStalePartitionEpoch = errors.New("stale partition epoch")
	// ErrInvalidISR: the proposed ISR is empty, lacks the leader, repeats a
	// broker, or names a broker that is not a live replica.
	ErrInvalidISR = errors.New("invalid ISR")
)

// UpdateISR is the partition leader's write of a new ISR: a conditional update
// of the state znode at partitionEpoch that keeps the leader, leader epoch and
// controller epoch (Kafka's leader-side ISR path). It returns the new partition
// epoch. When the znode has moved on but already holds this ISR under our
// leadership, the update counts as done (KAFKA-2729).
func (s *Session) UpdateISR(ctx context.Context, topic string, partition, leaderEpoch, partitionEpoch int32, isr []int32) (int32, error) {
	snap := s.Snapshot()
	t := snap.Topics[topic]
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return 0, fmt.Errorf("update ISR of %s-%d: %w", topic, partition, ErrUnknownTopic)
	}
	live := func(id int32) bool { _, ok := snap.Brokers[id]; return ok }
	if err := validateISR(s.cfg.BrokerID, t.Partitions[partition].Replicas, isr, live); err != nil {
		return 0, fmt.Errorf("update ISR of %s-%d to %v: %w", topic, partition, isr, err)
	}
	isr = slices.Clone(isr)
	version, err := await(ctx, s, func() (int32, error) {
		return s.updateISR(topic, partition, leaderEpoch, partitionEpoch, isr)
	})
	if err != nil {
		return 0, fmt.Errorf("update ISR of %s-%d to %v: %w", topic, partition, isr, err)
	}
	s.log.WithFields(logrus.Fields{
		"topic": topic, "partition": partition, "isr": isr, "leader_epoch": leaderEpoch, "partition_epoch": version,
	}).Info("updated ISR")
	return version, nil
}

func (s *Session) updateISR(topic string, partition, leaderEpoch, partitionEpoch int32, isr []int32) (int32, error) {
	p := zkpaths.PartitionStatePath(topic, partition)
	// Two rounds: the second reads what beat our conditional write.
	for range 2 {
		data, stat, err := s.zk.get(p)
		if errors.Is(err, zk.ErrNoNode) {
			return 0, ErrUnknownTopic
		}
		if err != nil {
			return 0, err
		}
		current, err := zkpaths.UnmarshalPartitionState(data)
		if err != nil {
			return 0, err
		}
		if current.State != zkpaths.StateOnline || current.Leader != s.cfg.BrokerID || current.LeaderEpoch != leaderEpoch {
			return 0, fmt.Errorf("%w: the partition is %s with leader %d at epoch %d", ErrFencedLeaderEpoch,
				current.State, current.Leader, current.LeaderEpoch)
		}
		if stat.Version != partitionEpoch {
			if slices.Equal(current.ISR, isr) {
				return stat.Version, nil
			}
			return 0, fmt.Errorf("%w: the partition epoch is %d, not %d", ErrStalePartitionEpoch, stat.Version, partitionEpoch)
		}
		next := current
		next.ISR = isr
		payload, err := next.Marshal()
		if err != nil {
			return 0, err
		}
		written, err := s.zk.set(p, payload, partitionEpoch)
		if errors.Is(err, zk.ErrBadVersion) {
			continue
		}
		if err != nil {
			return 0, err
		}
		return written.Version, nil
	}
	return 0, fmt.Errorf("%w: the state znode keeps changing", ErrStalePartitionEpoch)
}
