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
	}).Debug("updated ISR")
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

// ISRUpdate is one partition leader's ISR write for UpdateISRs: the new ISR
// of a partition this broker leads at LeaderEpoch, conditional on
// PartitionEpoch (as UpdateISR).
type ISRUpdate struct {
	Topic          string
	Partition      int32
	LeaderEpoch    int32
	PartitionEpoch int32
	ISR            []int32
}

// ISRResult is the outcome of one ISRUpdate: the new partition epoch, or
// the error UpdateISR would have returned.
type ISRResult struct {
	PartitionEpoch int32
	Err            error
}

// UpdateISRs writes many ISR updates with their ZooKeeper requests in flight
// together (a restarted broker rejoins the ISR of every partition it
// follows, tens of thousands at once, and one round trip after another
// would take minutes). Each update is conditional on its own, as UpdateISR:
// one that fails leaves the others standing. The results are in the order of
// updates.
func (s *Session) UpdateISRs(ctx context.Context, updates []ISRUpdate) []ISRResult {
	updates = slices.Clone(updates) // their ISRs are replaced by copies
	results := make([]ISRResult, len(updates))
	snap := s.Snapshot()
	live := func(id int32) bool { _, ok := snap.Brokers[id]; return ok }
	var valid []int
	for i, u := range updates {
		t := snap.Topics[u.Topic]
		if t == nil || u.Partition < 0 || int(u.Partition) >= len(t.Partitions) {
			results[i].Err = fmt.Errorf("update ISR of %s-%d: %w", u.Topic, u.Partition, ErrUnknownTopic)
			continue
		}
		if err := validateISR(s.cfg.BrokerID, t.Partitions[u.Partition].Replicas, u.ISR, live); err != nil {
			results[i].Err = fmt.Errorf("update ISR of %s-%d to %v: %w", u.Topic, u.Partition, u.ISR, err)
			continue
		}
		updates[i].ISR = slices.Clone(u.ISR)
		valid = append(valid, i)
	}
	// The ZooKeeper calls run on await's goroutine, which may outlive ctx:
	// they fill their own slice, handed over only when await returns it.
	written, err := await(ctx, s, func() ([]ISRResult, error) {
		out := make([]ISRResult, len(valid))
		pending := slices.Clone(valid)
		positions := make(map[int]int, len(valid))
		for pos, i := range valid {
			positions[i] = pos
		}
		// A request caught by a lost connection is sent again (await backs
		// off between rounds); the others stand.
		for round := 0; ; round++ {
			versions, errs := inFlight(pending, readWindow, false, func(i int) (int32, error) {
				u := updates[i]
				return s.updateISR(u.Topic, u.Partition, u.LeaderEpoch, u.PartitionEpoch, u.ISR)
			})
			var lost []int
			var lostErr error
			for k, i := range pending {
				if isConnectionLoss(errs[k]) {
					lost, lostErr = append(lost, i), errs[k]
					continue
				}
				out[positions[i]] = ISRResult{PartitionEpoch: versions[k], Err: errs[k]}
			}
			if len(lost) == 0 {
				return out, nil
			}
			if round > 0 || len(lost) == len(pending) {
				for _, i := range lost {
					out[positions[i]].Err = lostErr
				}
				return out, lostErr
			}
			pending = lost
		}
	})
	if written == nil {
		written = make([]ISRResult, len(valid))
		for k := range written {
			written[k].Err = err
		}
	}
	changed := 0
	for k, i := range valid {
		r := written[k]
		u := updates[i]
		if r.Err != nil {
			r.Err = fmt.Errorf("update ISR of %s-%d to %v: %w", u.Topic, u.Partition, u.ISR, r.Err)
		} else {
			changed++
			s.log.WithFields(logrus.Fields{
				"topic": u.Topic, "partition": u.Partition, "isr": u.ISR, "leader_epoch": u.LeaderEpoch, "partition_epoch": r.PartitionEpoch,
			}).Debug("updated ISR")
		}
		results[i] = r
	}
	s.log.WithFields(logrus.Fields{"updated": changed, "failed": len(updates) - changed}).Debug("updated ISRs")
	return results
}
