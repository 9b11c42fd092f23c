package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/acl"
	"github.com/kzoo/kzoo/zkpaths"
)

// handleOffsetForLeaderEpoch answers OffsetsForLeaderEpoch (KIP-101,
// KIP-279) from the leader's epoch cache: for each requested epoch, the
// largest epoch at or below it that the leader knows, and where that epoch
// ends. Clients use it to detect truncation after a leader change.
//
// Followers asked it before KIP-320 and need CLUSTER_ACTION; a consumer
// needs DESCRIBE on each topic, as Kafka checks.
func (s *Server) handleOffsetForLeaderEpoch(ctx context.Context, req *request, in *kmsg.OffsetForLeaderEpochRequest, resp *kmsg.OffsetForLeaderEpochResponse) any {
	describable := func(string) bool { return true }
	if !s.authorize(req, kmsg.ACLOperationClusterAction, kmsg.ACLResourceTypeCluster, acl.ClusterName, false) {
		describable = s.topicAccess(req, kmsg.ACLOperationDescribe)
	}
	for _, rt := range in.Topics {
		ot := kmsg.NewOffsetForLeaderEpochResponseTopic()
		ot.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			op := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			op.Partition = rp.Partition
			op.LeaderEpoch, op.EndOffset = -1, -1
			if !describable(rt.Topic) {
				op.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if p := s.replicas.Partition(zkpaths.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}); p == nil {
				op.ErrorCode = s.unknownPartitionError(rt.Topic, rp.Partition).Code
			} else if err := p.CheckLeader(rp.CurrentLeaderEpoch); err != nil {
				op.ErrorCode = errorCode(err)
			} else if epoch, end, ok := p.Log().EndOffsetForEpoch(rp.LeaderEpoch); ok {
				op.LeaderEpoch, op.EndOffset = epoch, end
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}
