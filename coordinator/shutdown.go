package coordinator

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/go-zookeeper/zk"

	"github.com/kzoo/kzoo/zkpaths"
)

// ControlledShutdown asks the controller to move every leadership of this
// broker to another live ISR member and to take this broker out of the ISRs
// (never emptying one). It returns once the snapshot shows this broker leading
// no partition that another live ISR member not shutting down could lead, or
// with ctx's error when ctx ends first.
//
// The request is the ephemeral /admin/controlled_shutdown/<id> holding the
// broker epoch (Kafka uses an RPC to the controller instead): it stays until
// the session ends, so the controller keeps the broker out of elections and
// ISRs until it is gone.
func (s *Session) ControlledShutdown(ctx context.Context) error {
	payload, err := zkpaths.ControlledShutdownRequest{BrokerID: s.cfg.BrokerID, BrokerEpoch: s.BrokerEpoch()}.Marshal()
	if err != nil {
		return fmt.Errorf("controlled shutdown: %w", err)
	}
	err = awaitErr(ctx, s, func() error {
		p := zkpaths.ControlledShutdownBrokerPath(s.cfg.BrokerID)
		_, err := s.zk.create(p, payload, zk.FlagEphemeral)
		if errors.Is(err, zk.ErrNodeExists) {
			// Asked before in this session; refresh the epoch all the same.
			_, err = s.zk.set(p, payload, -1)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("controlled shutdown: %w", err)
	}
	s.log.Info("asked the controller for a controlled shutdown")
	if err := s.awaitSnapshot(ctx, func(snap *Snapshot) bool { return len(leadershipsToMove(snap, s.cfg.BrokerID)) == 0 }); err != nil {
		remaining := leadershipsToMove(s.Snapshot(), s.cfg.BrokerID)
		return fmt.Errorf("controlled shutdown: %d leaderships not moved (%v): %w", len(remaining), remaining, err)
	}
	s.log.Info("controlled shutdown: every leadership that could move has moved")
	return nil
}

// leadershipsToMove lists the partitions a broker leads while another live ISR
// member that is not shutting down could lead them.
func leadershipsToMove(snap *Snapshot, id int32) []zkpaths.TopicPartition {
	var out []zkpaths.TopicPartition
	for _, t := range snap.Topics {
		for _, p := range t.Partitions {
			if p.Leader != id {
				continue
			}
			movable := slices.ContainsFunc(p.ISR, func(m int32) bool {
				_, live := snap.Brokers[m]
				return m != id && live && !snap.shuttingDown[m]
			})
			if movable {
				out = append(out, zkpaths.TopicPartition{Topic: t.Name, Partition: p.Partition})
			}
		}
	}
	return out
}
