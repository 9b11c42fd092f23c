package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/zkpaths"
)

// Special timestamps of a ListOffsets request.
const (
	listLatest   = -1
	listEarliest = -2
)

func (s *Server) handleListOffsets(ctx context.Context, req *request, in *kmsg.ListOffsetsRequest, resp *kmsg.ListOffsetsResponse) any {
	describable := s.topicAccess(req, kmsg.ACLOperationDescribe)
	for _, rt := range in.Topics {
		ot := kmsg.NewListOffsetsResponseTopic()
		ot.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			op := kmsg.NewListOffsetsResponseTopicPartition()
			op.Partition = rp.Partition
			if !describable(rt.Topic) {
				op.Timestamp, op.Offset, op.LeaderEpoch = -1, -1, -1
				op.ErrorCode = kerr.TopicAuthorizationFailed.Code
				ot.Partitions = append(ot.Partitions, op)
				continue
			}
			s.listOffset(rt.Topic, in.IsolationLevel == readCommitted, in.Version >= 1 && in.ReplicaID < 0, &rp, &op)
			if in.Version == 0 && op.ErrorCode == 0 {
				op.OldStyleOffsets = []int64{op.Offset}
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	return resp
}

// listOffset answers one partition: the log start offset, the high
// watermark (the end consumers can read to; the last stable offset for a
// read_committed one), or the first offset at or after a timestamp, found
// through the time index, below that end. The leader epoch (v4+) is, as
// in Kafka, the current one with the high watermark and otherwise the epoch
// that wrote the offset found (-1 when none is found), which a client can
// validate with OffsetsForLeaderEpoch. A client (v1+, as Kafka) asking for
// anything but the log start gets OFFSET_NOT_AVAILABLE from a new leader
// whose high watermark is not known yet (Partition.CheckOffsetsAvailable).
func (s *Server) listOffset(topic string, committed, checkAvailable bool, rp *kmsg.ListOffsetsRequestTopicPartition, op *kmsg.ListOffsetsResponseTopicPartition) {
	op.Timestamp, op.Offset, op.LeaderEpoch = -1, -1, -1
	p := s.replicas.Partition(zkpaths.TopicPartition{Topic: topic, Partition: rp.Partition})
	if p == nil {
		op.ErrorCode = s.unknownPartitionError(topic, rp.Partition).Code
		return
	}
	if err := p.CheckLeader(rp.CurrentLeaderEpoch); err != nil {
		op.ErrorCode = errorCode(err)
		return
	}
	if checkAvailable && rp.Timestamp != listEarliest {
		if err := p.CheckOffsetsAvailable(); err != nil {
			op.ErrorCode = errorCode(err)
			return
		}
	}
	// The LSO is loaded first: it is never above the high watermark loaded after.
	end := p.LastStableOffset()
	if !committed {
		end = p.HighWatermark()
	}
	switch rp.Timestamp {
	case listLatest:
		op.Offset, op.LeaderEpoch = end, p.LeaderEpoch()
	case listEarliest:
		op.Offset = p.Log().LogStartOffset()
		op.LeaderEpoch = p.Log().EpochForOffset(op.Offset)
	default:
		offset, ts, ok, err := p.Log().OffsetForTimestamp(rp.Timestamp)
		switch {
		case err != nil:
			op.ErrorCode = errorCode(err)
		case ok && offset < end:
			op.Offset, op.Timestamp = offset, ts
			op.LeaderEpoch = p.Log().EpochForOffset(offset)
		}
	}
}
