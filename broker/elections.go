package broker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/zkpaths"
)

// controllerError maps a per-partition error of the controller's election
// and reassignment calls to the Kafka error the client gets.
func controllerError(err error) error {
	var code *kerr.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &code):
		return err
	case errors.Is(err, coordinator.ErrUnknownTopic):
		code = kerr.UnknownTopicOrPartition
	case errors.Is(err, coordinator.ErrElectionNotNeeded):
		code = kerr.ElectionNotNeeded
	case errors.Is(err, coordinator.ErrPreferredLeaderNotAvailable):
		code = kerr.PreferredLeaderNotAvailable
	case errors.Is(err, coordinator.ErrEligibleLeadersNotAvailable):
		code = kerr.EligibleLeadersNotAvailable
	case errors.Is(err, placement.ErrInvalidReplicaAssignment):
		code = kerr.InvalidReplicaAssignment
	case errors.Is(err, coordinator.ErrNoReassignmentInProgress):
		code = kerr.NoReassignmentInProgress
	case errors.Is(err, context.DeadlineExceeded):
		code = kerr.RequestTimedOut
	case errors.Is(err, coordinator.ErrClosed), errors.Is(err, context.Canceled):
		code = kerr.NotController
	default:
		code = kerr.UnknownServerError
	}
	return fmt.Errorf("%w: %v", code, err)
}

// adminContext bounds a request that waits for the controller by the
// client's timeout (and maxAdminWait).
func adminContext(ctx context.Context, timeoutMillis int32) (context.Context, context.CancelFunc) {
	timeout := min(time.Duration(timeoutMillis)*time.Millisecond, maxAdminWait)
	return context.WithTimeout(ctx, timeout)
}

func (s *Server) handleElectLeaders(ctx context.Context, req *request, in *kmsg.ElectLeadersRequest, resp *kmsg.ElectLeadersResponse) any {
	typ := coordinator.ElectionType(in.ElectionType) // 0 (preferred) before v1
	if typ != coordinator.PreferredElection && typ != coordinator.UncleanElection {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp
	}

	var requested []zkpaths.TopicPartition
	if in.Topics != nil {
		requested = []zkpaths.TopicPartition{} // none named is not "every partition"
		for _, t := range in.Topics {
			for _, p := range t.Partitions {
				requested = append(requested, zkpaths.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	results := make(map[zkpaths.TopicPartition]error)
	switch {
	case !s.authorizedCluster(req, kmsg.ACLOperationAlter):
		for _, tp := range requested {
			results[tp] = kerr.ClusterAuthorizationFailed
		}
		if in.Version >= 1 {
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		}
	case requested == nil || len(requested) > 0:
		electCtx, cancel := adminContext(ctx, in.TimeoutMillis)
		var err error
		results, err = s.meta.ElectLeaders(electCtx, typ, requested)
		cancel()
		if err != nil {
			// The request as a whole failed: every named partition gets why.
			results = make(map[zkpaths.TopicPartition]error, len(requested))
			for _, tp := range requested {
				results[tp] = err
			}
			if in.Version >= 1 && requested == nil {
				resp.ErrorCode = errorCodeOr(controllerError(err), kerr.UnknownServerError)
			}
		}
	}
	for _, tp := range requested {
		if _, ok := results[tp]; !ok {
			// The controller skipped it: a partition it does not know.
			results[tp] = fmt.Errorf("%w: partition %d of topic %q does not exist", kerr.UnknownTopicOrPartition, tp.Partition, tp.Topic)
		}
	}

	for _, t := range answersByTopic(results) {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = t.topic
		for _, a := range t.partitions {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.ErrorMessage = a.partition, a.code, a.message
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// topicAnswers are the per-partition answers of one topic.
type topicAnswers struct {
	topic      string
	partitions []partitionAnswer
}

// partitionAnswer is one partition's Kafka error code and message.
type partitionAnswer struct {
	partition int32
	code      int16
	message   *string
}

// answersByTopic turns per-partition results of the controller into their
// answers, grouped by topic, in topic and partition order.
func answersByTopic(results map[zkpaths.TopicPartition]error) []topicAnswers {
	var out []topicAnswers
	for _, tp := range slices.SortedFunc(maps.Keys(results), zkpaths.TopicPartition.Compare) {
		if n := len(out); n == 0 || out[n-1].topic != tp.Topic {
			out = append(out, topicAnswers{topic: tp.Topic})
		}
		code, msg := errorAnswer(controllerError(results[tp]))
		t := &out[len(out)-1]
		t.partitions = append(t.partitions, partitionAnswer{partition: tp.Partition, code: code, message: msg})
	}
	return out
}

func (s *Server) handleAlterPartitionAssignments(ctx context.Context, req *request, in *kmsg.AlterPartitionAssignmentsRequest, resp *kmsg.AlterPartitionAssignmentsResponse) any {
	if !s.authorizedCluster(req, kmsg.ACLOperationAlter) {
		resp.ErrorCode, resp.ErrorMessage = errorAnswer(kerr.ClusterAuthorizationFailed)
		return resp
	}
	targets := make(map[zkpaths.TopicPartition][]int32)
	results := make(map[zkpaths.TopicPartition]error)
	for _, t := range in.Topics {
		for _, p := range t.Partitions {
			tp := zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition}
			if _, twice := targets[tp]; twice || results[tp] != nil {
				delete(targets, tp)
				results[tp] = fmt.Errorf("%w: partition %d of topic %q appears more than once", kerr.InvalidRequest, p.Partition, t.Topic)
				continue
			}
			var replicas []int32
			if p.Replicas != nil {
				// A non-nil empty list is a (bad) target, not a cancellation.
				replicas = append(make([]int32, 0, len(p.Replicas)), p.Replicas...)
			}
			targets[tp] = replicas
		}
	}
	if len(targets) > 0 {
		alterCtx, cancel := adminContext(ctx, in.TimeoutMillis)
		perPartition, err := s.meta.AlterReassignments(alterCtx, targets)
		cancel()
		if err != nil {
			err = controllerError(err)
			resp.ErrorCode, resp.ErrorMessage = errorAnswer(err)
			return resp
		}
		for tp := range targets {
			results[tp] = perPartition[tp]
		}
	}

	for _, t := range answersByTopic(results) {
		rt := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		rt.Topic = t.topic
		for _, a := range t.partitions {
			rp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			rp.Partition, rp.ErrorCode, rp.ErrorMessage = a.partition, a.code, a.message
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

func (s *Server) handleListPartitionReassignments(ctx context.Context, req *request, in *kmsg.ListPartitionReassignmentsRequest, resp *kmsg.ListPartitionReassignmentsResponse) any {
	if !s.authorizedCluster(req, kmsg.ACLOperationDescribe) {
		resp.ErrorCode, resp.ErrorMessage = errorAnswer(kerr.ClusterAuthorizationFailed)
		return resp
	}
	snap := s.snapshot()

	wanted := func(string, int32) bool { return true }
	if in.Topics != nil {
		named := make(map[zkpaths.TopicPartition]bool)
		for _, t := range in.Topics {
			for _, p := range t.Partitions {
				named[zkpaths.TopicPartition{Topic: t.Topic, Partition: p}] = true
			}
		}
		wanted = func(topic string, p int32) bool { return named[zkpaths.TopicPartition{Topic: topic, Partition: p}] }
	}
	names := make([]string, 0, len(snap.Topics))
	for name := range snap.Topics {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = name
		for _, p := range snap.Topics[name].Partitions {
			if len(p.AddingReplicas) == 0 && len(p.RemovingReplicas) == 0 || !wanted(name, p.Partition) {
				continue
			}
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.Replicas = slices.Clone(p.Replicas)
			rp.AddingReplicas = slices.Clone(p.AddingReplicas)
			rp.RemovingReplicas = slices.Clone(p.RemovingReplicas)
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	return resp
}
