package coordinator

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/zkpaths"
)

// Preferred and requested leader elections. ElectLeaders asks the controller
// through /admin/preferred_replica_election; the controller applies the rules
// of election_rules.go (electPreferred, electUnclean) to the partitions named
// there and, with auto.leader.rebalance.enable, to the partitions that
// imbalancedPartitions picks every LeaderImbalanceCheckInterval.

// ElectLeaders asks the controller for leader elections through
// /admin/preferred_replica_election (with the kzoo field election_type for an
// unclean election) and waits until the controller has handled the request
// (deleted the znode) or ctx ends. Nil partitions means every partition. The
// result holds, per partition, nil when the election gave it the leader asked
// for, ErrElectionNotNeeded, ErrPreferredLeaderNotAvailable,
// ErrEligibleLeadersNotAvailable, or an error wrapping ErrUnknownTopic.
func (s *Session) ElectLeaders(ctx context.Context, typ ElectionType, partitions []zkpaths.TopicPartition) (map[zkpaths.TopicPartition]error, error) {
	if typ != PreferredElection && typ != UncleanElection {
		return nil, fmt.Errorf("elect leaders: unknown election type %d", typ)
	}
	snap := s.Snapshot()
	if partitions == nil {
		for _, t := range snap.Topics {
			if t.Deleting {
				continue
			}
			for _, p := range t.Partitions {
				partitions = append(partitions, zkpaths.TopicPartition{Topic: t.Name, Partition: p.Partition})
			}
		}
	}
	results := make(map[zkpaths.TopicPartition]error, len(partitions))
	replicas := make(map[zkpaths.TopicPartition][]int32)
	var request []zkpaths.TopicPartition
	for _, tp := range partitions {
		if _, dup := results[tp]; dup {
			continue
		}
		t := snap.Topics[tp.Topic]
		if t == nil || t.Deleting || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			results[tp] = fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, ErrUnknownTopic)
			continue
		}
		p := t.Partitions[tp.Partition]
		_, leaderLive := snap.Brokers[p.Leader]
		if (typ == PreferredElection && len(p.Replicas) > 0 && p.Leader == p.Replicas[0]) ||
			(typ == UncleanElection && p.Leader >= 0 && leaderLive) {
			results[tp] = ErrElectionNotNeeded
			continue
		}
		results[tp] = nil
		replicas[tp] = p.Replicas
		request = append(request, tp)
	}
	if len(request) == 0 {
		return results, nil
	}
	payload, err := zkpaths.PreferredReplicaElection{Partitions: request, ElectionType: int8(typ)}.Marshal()
	if err != nil {
		return nil, fmt.Errorf("elect leaders: %w", err)
	}
	// One request at a time: wait for a pending one to be handled first.
	for {
		gone, err := s.createOrWatch(ctx, zkpaths.PreferredReplicaElectionPath, payload)
		if err != nil {
			return nil, fmt.Errorf("elect leaders: %w", err)
		}
		if gone == nil {
			break
		}
		if err := waitEvent(ctx, gone); err != nil {
			return nil, fmt.Errorf("elect leaders: waiting for a pending election request: %w", err)
		}
	}
	s.log.WithFields(logrus.Fields{"partitions": len(request), "type": typ}).Info("requested leader elections")
	if err := s.awaitGone(ctx, zkpaths.PreferredReplicaElectionPath); err != nil {
		return nil, fmt.Errorf("elect leaders: waiting for the controller: %w", err)
	}

	// The controller writes the states before it deletes the request, and
	// this session's reads are ordered after what it saw.
	for _, tp := range request {
		data, _, err := getData(ctx, s, zkpaths.PartitionStatePath(tp.Topic, tp.Partition))
		if errors.Is(err, zk.ErrNoNode) {
			results[tp] = fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, ErrUnknownTopic)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("elect leaders: %w", err)
		}
		state, err := zkpaths.UnmarshalPartitionState(data)
		if err != nil {
			return nil, fmt.Errorf("elect leaders: %w", err)
		}
		switch {
		case typ == PreferredElection && state.Leader != replicas[tp][0]:
			results[tp] = ErrPreferredLeaderNotAvailable
		case typ == UncleanElection && state.Leader < 0:
			results[tp] = ErrEligibleLeadersNotAvailable
		}
	}
	return results, nil
}

func getData(ctx context.Context, s *Session, p string) ([]byte, *zk.Stat, error) {
	type result struct {
		data []byte
		stat *zk.Stat
	}
	r, err := await(ctx, s, func() (result, error) {
		data, stat, err := s.zk.get(p)
		return result{data, stat}, err
	})
	return r.data, r.stat, err
}

// createOrWatch creates a persistent znode; when it exists already, it returns
// a channel that fires when it changes.
func (s *Session) createOrWatch(ctx context.Context, p string, payload []byte) (<-chan zk.Event, error) {
	return await(ctx, s, func() (<-chan zk.Event, error) {
		_, err := s.zk.create(p, payload, zk.FlagPersistent)
		if !errors.Is(err, zk.ErrNodeExists) {
			return nil, err
		}
		exists, ch, err := s.zk.existsWatch(p)
		if err != nil {
			return nil, err
		}
		if !exists {
			// Gone meanwhile: an already fired channel makes the caller retry.
			fired := make(chan zk.Event, 1)
			fired <- zk.Event{}
			return fired, nil
		}
		return ch, nil
	})
}

// awaitGone waits until a znode does not exist.
func (s *Session) awaitGone(ctx context.Context, p string) error {
	for {
		ch, err := await(ctx, s, func() (<-chan zk.Event, error) {
			exists, ch, err := s.zk.existsWatch(p)
			if err != nil || !exists {
				return nil, err
			}
			return ch, nil
		})
		if err != nil || ch == nil {
			return err
		}
		if err := waitEvent(ctx, ch); err != nil {
			return err
		}
	}
}

func waitEvent(ctx context.Context, ch <-chan zk.Event) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reconcileElections handles a pending /admin/preferred_replica_election and,
// when due, the auto rebalance.
func (s *Session) reconcileElections() error {
	v := s.view
	if v.election.exists {
		requested := make(map[zkpaths.TopicPartition]bool)
		typ := ElectionType(v.election.request.ElectionType)
		for _, tp := range v.election.request.Partitions {
			requested[tp] = true
		}
		if v.election.valid {
			if err := s.electLeaders(typ, requested); err != nil {
				return err
			}
		}
		if _, err := s.fencedMulti(s.zk.deleteOp(zkpaths.PreferredReplicaElectionPath, v.election.version)); err != nil {
			v.dirty.election = true
			if !errors.Is(err, errNotController) && (errors.Is(err, zk.ErrNoNode) || errors.Is(err, zk.ErrBadVersion)) {
				return nil
			}
			return fmt.Errorf("remove the handled election request: %w", err)
		}
		v.election = adminZnode[zkpaths.PreferredReplicaElection]{}
	}
	if s.cfg.AutoLeaderRebalance && s.ctrl.rebalanceDue {
		s.ctrl.rebalanceDue = false
		var candidates []rebalanceCandidate
		for _, name := range slices.Sorted(maps.Keys(v.topics)) {
			t := v.topics[name]
			if v.deleting[name] || t.replicas == nil {
				continue
			}
			for p, replicas := range t.replicas {
				if len(t.assignment.AddingReplicas[int32(p)]) > 0 || len(t.assignment.RemovingReplicas[int32(p)]) > 0 {
					continue // being reassigned
				}
				entry := t.states[int32(p)]
				if !entry.exists || entry.state.State != zkpaths.StateOnline {
					continue
				}
				candidates = append(candidates, rebalanceCandidate{
					tp: zkpaths.TopicPartition{Topic: name, Partition: int32(p)}, replicas: replicas, leader: entry.state.Leader, isr: entry.state.ISR,
				})
			}
		}
		chosen := imbalancedPartitions(candidates, s.eligible, s.cfg.LeaderImbalancePerBrokerPercentage)
		if len(chosen) > 0 {
			s.log.WithField("partitions", len(chosen)).Info("leader imbalance above the threshold: running preferred elections")
			requested := make(map[zkpaths.TopicPartition]bool, len(chosen))
			for _, tp := range chosen {
				requested[tp] = true
			}
			return s.electLeaders(PreferredElection, requested)
		}
	}
	return nil
}

// eligible tells whether a broker may be elected leader: live, and not
// shutting down.
func (s *Session) eligible(id int32) bool {
	_, live := s.view.brokers[id]
	return live && !s.view.isShuttingDown(id)
}

// electLeaders runs the requested elections, all topics' writes together.
func (s *Session) electLeaders(typ ElectionType, requested map[zkpaths.TopicPartition]bool) error {
	byTopic := make(map[string][]int32)
	for tp := range requested {
		byTopic[tp.Topic] = append(byTopic[tp.Topic], tp.Partition)
	}
	all := make(map[string][]plannedWrite)
	for _, name := range slices.Sorted(maps.Keys(byTopic)) {
		t := s.view.topics[name]
		if t == nil || t.replicas == nil || s.view.deleting[name] {
			continue
		}
		var writes []plannedWrite
		for _, p := range slices.Sorted(slices.Values(byTopic[name])) {
			entry, ok := t.states[p]
			if p < 0 || int(p) >= len(t.replicas) || !ok || !entry.exists || entry.state.ControllerEpoch > s.ctrl.epoch {
				continue
			}
			from := entry.state.State
			if from != zkpaths.StateOnline && from != zkpaths.StateOffline {
				continue
			}
			current := leaderAndISR{Leader: entry.state.Leader, LeaderEpoch: entry.state.LeaderEpoch, ISR: entry.state.ISR}
			var l leaderAndISR
			var unclean bool
			var err error
			if typ == UncleanElection {
				l, unclean, err = electUnclean(t.replicas[p], current, s.eligible)
			} else {
				l, err = electPreferred(t.replicas[p], current, s.eligible)
			}
			if err != nil {
				continue
			}
			writes = append(writes, plannedWrite{partition: p, plan: partitionPlan{
				From: from, To: zkpaths.StateOnline, Unclean: unclean,
				Next: zkpaths.PartitionState{
					ControllerEpoch: s.ctrl.epoch, Leader: l.Leader, LeaderEpoch: l.LeaderEpoch, ISR: l.ISR, State: zkpaths.StateOnline,
				},
			}})
		}
		if len(writes) > 0 {
			all[name] = writes
		}
	}
	if len(all) == 0 {
		return nil
	}
	return s.writeStates(all)
}

// rebalanceTicker returns the channel of the auto rebalance ticks, nil when
// auto rebalance is off.
func (s *Session) rebalanceTicker() (<-chan time.Time, func()) {
	if !s.cfg.AutoLeaderRebalance {
		return nil, func() {}
	}
	ticker := time.NewTicker(s.cfg.LeaderImbalanceCheckInterval)
	return ticker.C, ticker.Stop
}
