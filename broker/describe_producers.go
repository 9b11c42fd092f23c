package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/zkpaths"
)

// handleDescribeProducers lists the idempotent and transactional producers
// of the partitions this broker holds, as leader or follower, as Kafka does
// (KIP-664): what an operator looks at to find a hanging transaction's
// producer and the offset it started at.
func (s *Server) handleDescribeProducers(ctx context.Context, req *request, in *kmsg.DescribeProducersRequest, resp *kmsg.DescribeProducersResponse) any {
	readable := s.topicAccess(req, kmsg.ACLOperationRead)
	for _, rt := range in.Topics {
		ot := kmsg.NewDescribeProducersResponseTopic()
		ot.Topic = rt.Topic
		for _, partition := range rt.Partitions {
			op := kmsg.NewDescribeProducersResponseTopicPartition()
			op.Partition = partition
			p := s.replicas.Partition(zkpaths.TopicPartition{Topic: rt.Topic, Partition: partition})
			switch {
			case !readable(rt.Topic):
				op.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case p == nil:
				op.ErrorCode = s.unknownPartitionError(rt.Topic, partition).Code
			default:
				for _, ps := range p.Log().Producers() {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch = ps.ProducerID, int32(ps.ProducerEpoch)
					ap.LastSequence, ap.LastTimestamp = ps.LastSequence, ps.LastTimestamp
					ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = ps.CoordinatorEpoch, ps.CurrentTxnStartOffset
					op.ActiveProducers = append(op.ActiveProducers, ap)
				}
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}
