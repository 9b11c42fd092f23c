package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/zkpaths"
)

// handleProduce serves Produce: it checks each topic, hands the records of
// the partitions this broker holds to the replica manager (which waits for
// the ISR under acks=all), and answers each partition with its offsets or
// error.
func (s *Server) handleProduce(ctx context.Context, req *request, in *kmsg.ProduceRequest, resp *kmsg.ProduceResponse) any {
	snap := s.snapshot()
	var appends []replica.Append
	var answers []answerIndex // where each append's answer goes
	// Kafka's order: the transactional id refuses the whole request, then
	// each topic not writable, before anything says whether it exists.
	var requestErr *kerr.Error
	if hasTransactionalRecords(in) && (in.TransactionID == nil || !s.authorized(req, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *in.TransactionID)) {
		requestErr = kerr.TransactionalIDAuthorizationFailed
	}
	writable := s.topicAccess(req, kmsg.ACLOperationWrite)
	for _, rt := range in.Topics {
		ot := kmsg.NewProduceResponseTopic()
		ot.Topic = rt.Topic
		var topicErr *kerr.Error
		switch {
		case requestErr != nil:
			topicErr = requestErr
		case !writable(rt.Topic):
			topicErr = kerr.TopicAuthorizationFailed
		case isInternalTopic(rt.Topic):
			// Only the broker writes its internal topics, as Kafka
			// does: the group coordinator through its own path.
			topicErr = kerr.InvalidTopicException
		case snap.Topics[rt.Topic] == nil:
			topicErr = kerr.UnknownTopicOrPartition
			if s.cfg.AutoCreateTopics && s.mayCreateTopic(req, rt.Topic) {
				topicErr = s.autoCreateTopic(ctx, rt.Topic)
			}
		}
		for _, rp := range rt.Partitions {
			op := kmsg.NewProduceResponseTopicPartition()
			op.Partition = rp.Partition
			op.BaseOffset = -1
			op.LogAppendTime = -1
			op.LogStartOffset = -1
			if topicErr != nil {
				op.ErrorCode = topicErr.Code
			} else if p := s.replicas.Partition(zkpaths.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}); p == nil {
				op.ErrorCode = s.unknownPartitionError(rt.Topic, rp.Partition).Code
			} else {
				appends = append(appends, replica.Append{Partition: p, Records: rp.Records, LeaderEpoch: -1, Origin: storage.OriginClient})
				answers = append(answers, answerIndex{topic: len(resp.Topics), partition: len(ot.Partitions)})
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	s.verifyTransactionalAppends(ctx, in.TransactionID, appends)
	timeout := time.Duration(max(in.TimeoutMillis, 0)) * time.Millisecond
	s.replicas.AppendRecords(ctx, in.Acks, timeout, appends)
	req.throttle = s.throttleProduce(req.who, appends)
	for i, at := range answers {
		s.answerAppend(&appends[i], &resp.Topics[at.topic].Partitions[at.partition])
	}
	if in.Acks == 0 {
		return nil
	}
	return resp
}

// hasTransactionalRecords reports whether the first batch of a partition
// of in is transactional, which is what Kafka checks to ask for WRITE on
// the transactional id.
func hasTransactionalRecords(in *kmsg.ProduceRequest) bool {
	for _, rt := range in.Topics {
		for _, rp := range rt.Partitions {
			if len(rp.Records) >= record.HeaderSize && record.ParseHeader(rp.Records).IsTransactional() {
				return true
			}
		}
	}
	return false
}

// answerIndex is where a partition's answer is in a Produce response.
type answerIndex struct{ topic, partition int }

// answerAppend fills in one partition's answer from what its append came to.
func (s *Server) answerAppend(a *replica.Append, op *kmsg.ProduceResponseTopicPartition) {
	tp := a.Partition.TopicPartition()
	if err := a.Err; err != nil {
		op.ErrorCode = errorCode(err)
		if op.ErrorCode == kerr.UnknownServerError.Code || op.ErrorCode == kerr.KafkaStorageError.Code {
			s.logger.WithError(err).WithField("topic", tp.Topic).WithField("partition", tp.Partition).Error("append failed")
		}
		msg := errorMessage(err)
		op.ErrorMessage = &msg
		return
	}
	res := a.Result
	if !res.Duplicate {
		// The batch headers' counts, summed by the append: no record is
		// decoded for this.
		s.traffic.Topic(tp.Topic).AddIn(int64(len(a.Records)), res.RecordCount)
	}
	op.BaseOffset = res.FirstOffset
	op.LogAppendTime = res.LogAppendTime
	op.LogStartOffset = res.LogStartOffset
	if a.AckErr != nil {
		// A request ended by the server's stopping counts as timed out.
		op.ErrorCode = kerr.RequestTimedOut.Code
		var ke *kerr.Error
		if errors.As(a.AckErr, &ke) {
			op.ErrorCode = ke.Code
		}
	}
}

// unknownPartitionError tells a client why this broker has no replica of a
// partition: it does not exist, or another broker holds it.
func (s *Server) unknownPartitionError(topic string, partition int32) *kerr.Error {
	t := s.snapshot().Topics[topic]
	if t == nil || partition < 0 || int(partition) >= len(t.Partitions) {
		return kerr.UnknownTopicOrPartition
	}
	return kerr.NotLeaderForPartition
}

// errorCode maps an error to its Kafka error code: a wrapped kerr.Error
// keeps its code; anything else is a storage error.
func errorCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.KafkaStorageError.Code
}
