package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/storage"
)

func (s *Server) handleProduce(ctx context.Context, req *request) any {
	in := req.body.(*kmsg.ProduceRequest)
	resp := in.ResponseKind().(*kmsg.ProduceResponse)
	snap := s.snapshot()
	var waits []pendingAck
	for _, rt := range in.Topics {
		ot := kmsg.NewProduceResponseTopic()
		ot.Topic = rt.Topic
		var topicErr *kerr.Error
		switch {
		case isInternalTopic(rt.Topic):
			// Only the broker writes its internal topics, as Kafka
			// does: the group coordinator through its own path.
			topicErr = kerr.InvalidTopicException
		case snap.Topics[rt.Topic] == nil:
			topicErr = kerr.UnknownTopicOrPartition
			if s.cfg.AutoCreateTopics {
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
			} else if w, ok := s.produceTo(rt.Topic, in.Acks, &rp, &op); ok {
				w.topic, w.partition = len(resp.Topics), len(ot.Partitions)
				waits = append(waits, w)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	if in.Acks == 0 {
		return nil
	}
	if len(waits) > 0 {
		timeout := time.Duration(max(in.TimeoutMillis, 0)) * time.Millisecond
		awaitReplication(ctx, waits, resp, timeout)
	}
	return resp
}

// pendingAck is an acks=all append waiting for the ISR: the partition, the
// last offset written, and where its answer is in the response.
type pendingAck struct {
	p                *partition
	epoch            int32
	lastOffset       int64
	topic, partition int
}

// awaitReplication waits until the high watermark of every partition in
// waits passes its append, and fills in the errors of those that did not
// make it (see awaitAcks); a request ended by the server's stopping counts
// as timed out. Only this connection waits.
func awaitReplication(ctx context.Context, waits []pendingAck, resp *kmsg.ProduceResponse, timeout time.Duration) {
	awaitAcks(ctx, waits, timeout, func(w pendingAck, err error) {
		code := kerr.RequestTimedOut.Code
		var ke *kerr.Error
		if errors.As(err, &ke) {
			code = ke.Code
		}
		resp.Topics[w.topic].Partitions[w.partition].ErrorCode = code
	})
}

// awaitAcks waits until the high watermark of every partition in waits
// passes its append, and calls fail for each one that does not make it:
// with REQUEST_TIMED_OUT after timeout, NOT_ENOUGH_REPLICAS_AFTER_APPEND
// when the ISR shrank below min.insync.replicas, NOT_LEADER_OR_FOLLOWER
// when leadership moved, or ctx's error once ctx is done. The acks=all
// produce and the group coordinator's writes both wait here.
func awaitAcks(ctx context.Context, waits []pendingAck, timeout time.Duration, fail func(pendingAck, error)) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	wake := make(chan struct{}, 1)
	for len(waits) > 0 {
		for _, w := range waits {
			w.p.addWaiter(wake)
		}
		remaining := waits[:0]
		for _, w := range waits {
			switch {
			case w.p.leaderEpoch.Load() != w.epoch:
				fail(w, kerr.NotLeaderForPartition)
			case w.p.highWatermark() > w.lastOffset:
				// Committed.
			case w.p.isrSize() < w.p.minISR():
				fail(w, kerr.NotEnoughReplicasAfterAppend)
			default:
				remaining = append(remaining, w)
				continue
			}
			w.p.removeWaiter(wake)
		}
		waits = remaining
		if len(waits) == 0 {
			return
		}
		var cause error
		select {
		case <-wake:
		case <-timer.C:
			cause = kerr.RequestTimedOut
		case <-ctx.Done():
			cause = ctx.Err()
		}
		for _, w := range waits {
			w.p.removeWaiter(wake)
			if cause != nil {
				fail(w, cause)
			}
		}
		if cause != nil {
			return
		}
	}
}

// produceTo appends one partition's records and fills in its response. For
// acks=all it returns what the response must wait for (ok true).
func (s *Server) produceTo(topic string, acks int16, rp *kmsg.ProduceRequestTopicPartition, op *kmsg.ProduceResponseTopicPartition) (w pendingAck, ok bool) {
	p := s.partitions.get(topic, rp.Partition)
	if p == nil {
		op.ErrorCode = s.unknownPartitionError(topic, rp.Partition).Code
		return w, false
	}
	epoch := p.leaderEpoch.Load()
	if acks == -1 && epoch >= 0 && p.isrSize() < p.minISR() {
		op.ErrorCode = kerr.NotEnoughReplicas.Code
		return w, false
	}
	err := checkTopicTimestamps(*p.cfg.Load(), rp.Records)
	var res storage.AppendResult
	if err == nil {
		res, err = p.append(rp.Records)
	}
	if err != nil {
		op.ErrorCode = errorCode(err)
		if op.ErrorCode == kerr.UnknownServerError.Code || op.ErrorCode == kerr.KafkaStorageError.Code {
			s.log.WithError(err).WithField("topic", topic).WithField("partition", rp.Partition).Error("append failed")
		}
		msg := errorMessage(err)
		op.ErrorMessage = &msg
		return w, false
	}
	if !res.Duplicate {
		// The batch headers' counts, summed by the append: no record is
		// decoded for this.
		s.traffic.Topic(topic).AddIn(int64(len(rp.Records)), res.RecordCount)
	}
	op.BaseOffset = res.FirstOffset
	op.LogAppendTime = res.LogAppendTime
	op.LogStartOffset = res.LogStartOffset
	if acks != -1 {
		return w, false
	}
	// A duplicate's offsets were acknowledged (or are awaited) once
	// already; waiting for them again is what makes the retry safe.
	return pendingAck{p: p, epoch: epoch, lastOffset: res.LastOffset}, true
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
