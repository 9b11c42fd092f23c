package coordinator

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"

	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/zkpaths"
)

// reconcileReassignments moves every partition being reassigned one step on:
// those named in /admin/reassign_partitions, and those whose topic znode shows
// a reassignment in progress (resumed after a failover even if the request is
// gone).
func (s *Session) reconcileReassignments() error {
	v := s.view
	if v.reassignments.exists && !v.reassignments.valid {
		s.log.Warn("deleting an unreadable partition reassignment request")
		return s.writeReassignRequest(nil)
	}
	targets := make(map[zkpaths.TopicPartition][]int32)
	for tp, replicas := range v.reassignments.request {
		targets[tp] = replicas
	}
	for name, t := range v.topics {
		for p, removing := range t.assignment.RemovingReplicas {
			tp := zkpaths.TopicPartition{Topic: name, Partition: p}
			if _, requested := targets[tp]; !requested && int(p) < len(t.replicas) {
				targets[tp] = minus(t.replicas[p], removing)
			}
		}
		for p := range t.assignment.AddingReplicas {
			tp := zkpaths.TopicPartition{Topic: name, Partition: p}
			if _, requested := targets[tp]; !requested && int(p) < len(t.replicas) {
				targets[tp] = slices.Clone(t.replicas[p])
			}
		}
	}
	if len(targets) == 0 {
		return nil
	}

	type topicWork struct {
		assignments map[int32]reassignPlan
		states      []plannedWrite
	}
	work := make(map[string]*topicWork)
	var prune []zkpaths.TopicPartition
	for _, tp := range slices.SortedFunc(maps.Keys(targets), zkpaths.TopicPartition.Compare) {
		t := v.topics[tp.Topic]
		target := targets[tp]
		if t == nil || t.replicas == nil || v.deleting[tp.Topic] || tp.Partition < 0 || int(tp.Partition) >= len(t.replicas) ||
			placement.ValidateAssignment([][]int32{target}) != nil {
			prune = append(prune, tp)
			continue
		}
		plan, ok := planReassignment(reassignInput{
			Replicas:        t.replicas[tp.Partition],
			Adding:          t.assignment.AddingReplicas[tp.Partition],
			Removing:        t.assignment.RemovingReplicas[tp.Partition],
			Target:          target,
			Current:         t.states[tp.Partition].current(),
			ControllerEpoch: s.ctrl.epoch,
			Eligible:        s.eligible,
		})
		if !ok {
			continue
		}
		w := work[tp.Topic]
		if w == nil {
			w = &topicWork{assignments: make(map[int32]reassignPlan)}
			work[tp.Topic] = w
		}
		switch plan.Kind {
		case reassignAssignment:
			w.assignments[tp.Partition] = plan
		case reassignComplete:
			w.assignments[tp.Partition] = plan
			prune = append(prune, tp)
		case reassignState:
			from := t.states[tp.Partition].state.State
			w.states = append(w.states, plannedWrite{partition: tp.Partition, plan: partitionPlan{From: from, To: zkpaths.StateOnline, Next: plan.Next}})
		}
	}

	var errs []error
	for _, name := range slices.Sorted(maps.Keys(work)) {
		w := work[name]
		if len(w.states) > 0 {
			if err := s.writePartitionStates(name, w.states); err != nil {
				if errors.Is(err, errNotController) {
					return err
				}
				errs = append(errs, err)
			}
		}
		if len(w.assignments) > 0 {
			if err := s.writeReassignedAssignment(name, w.assignments); err != nil {
				if errors.Is(err, errNotController) {
					return err
				}
				errs = append(errs, err)
				prune = slices.DeleteFunc(prune, func(tp zkpaths.TopicPartition) bool { return tp.Topic == name })
			}
		}
	}
	if len(prune) > 0 && v.reassignments.exists {
		remaining := maps.Clone(v.reassignments.request)
		for _, tp := range prune {
			delete(remaining, tp)
		}
		if len(remaining) != len(v.reassignments.request) {
			if err := s.writeReassignRequest(remaining); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// writeReassignedAssignment stores the new replicas, adding and removing
// replicas of some partitions of a topic, conditional on the topic znode's
// version.
func (s *Session) writeReassignedAssignment(name string, plans map[int32]reassignPlan) error {
	t := s.view.topics[name]
	a := t.assignment
	a.Partitions = maps.Clone(a.Partitions)
	a.AddingReplicas = maps.Clone(a.AddingReplicas)
	a.RemovingReplicas = maps.Clone(a.RemovingReplicas)
	if a.AddingReplicas == nil {
		a.AddingReplicas = make(map[int32][]int32)
	}
	if a.RemovingReplicas == nil {
		a.RemovingReplicas = make(map[int32][]int32)
	}
	for p, plan := range plans {
		a.Partitions[p] = plan.Replicas
		setOrDelete(a.AddingReplicas, p, plan.Adding)
		setOrDelete(a.RemovingReplicas, p, plan.Removing)
	}
	payload, err := a.Marshal()
	if err != nil {
		return fmt.Errorf("reassign partitions of %s: %w", name, err)
	}
	res, err := s.fencedMulti(s.zk.setOp(zkpaths.TopicPath(name), payload, t.version))
	if err != nil {
		s.view.dirty.topics[name] = true
		return fmt.Errorf("reassign partitions of %s: %w", name, err)
	}
	replicas, err := a.Replicas()
	if err != nil {
		s.view.dirty.topics[name] = true
		return fmt.Errorf("reassign partitions of %s: %w", name, err)
	}
	t.assignment, t.replicas, t.version = a, replicas, res[0].Stat.Version
	s.view.touchTopic(name)
	for _, p := range slices.Sorted(maps.Keys(plans)) {
		plan := plans[p]
		log := s.log.WithFields(logrus.Fields{"topic": name, "partition": p, "replicas": plan.Replicas})
		if plan.Kind == reassignComplete {
			log.Info("partition reassignment completed")
		} else {
			log.WithFields(logrus.Fields{"adding": plan.Adding, "removing": plan.Removing}).Info("partition reassignment started")
		}
	}
	return nil
}

func setOrDelete(m map[int32][]int32, p int32, replicas []int32) {
	if len(replicas) == 0 {
		delete(m, p)
		return
	}
	m[p] = replicas
}

// writeReassignRequest replaces the controller's copy of
// /admin/reassign_partitions, deleting the znode when nothing remains.
func (s *Session) writeReassignRequest(remaining map[zkpaths.TopicPartition][]int32) error {
	v := s.view
	var op any
	if len(remaining) == 0 {
		op = s.zk.deleteOp(zkpaths.ReassignPartitionsPath, v.reassignments.version)
	} else {
		payload, err := marshalReassignments(remaining)
		if err != nil {
			return err
		}
		op = s.zk.setOp(zkpaths.ReassignPartitionsPath, payload, v.reassignments.version)
	}
	res, err := s.fencedMulti(op)
	if err != nil {
		// Changed meanwhile (a new request): read it again.
		v.dirty.reassignments = true
		if !errors.Is(err, errNotController) && (errors.Is(err, zk.ErrBadVersion) || errors.Is(err, zk.ErrNoNode)) {
			return nil
		}
		return fmt.Errorf("update %s: %w", zkpaths.ReassignPartitionsPath, err)
	}
	if len(remaining) == 0 {
		v.reassignments = adminZnode[map[zkpaths.TopicPartition][]int32]{}
	} else {
		v.reassignments.request, v.reassignments.version = remaining, res[0].Stat.Version
	}
	return nil
}

func marshalReassignments(m map[zkpaths.TopicPartition][]int32) ([]byte, error) {
	var req zkpaths.ReassignPartitions
	for _, tp := range slices.SortedFunc(maps.Keys(m), zkpaths.TopicPartition.Compare) {
		req.Partitions = append(req.Partitions, zkpaths.PartitionReassignment{Topic: tp.Topic, Partition: tp.Partition, Replicas: m[tp]})
	}
	return req.Marshal()
}
