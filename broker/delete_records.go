package broker

import (
	"context"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/zkpaths"
)

// maxDeleteRecordsWait bounds how long a DeleteRecords waits for followers,
// whatever timeout the client asks for.
const maxDeleteRecordsWait = 5 * time.Minute

// handleDeleteRecords serves DeleteRecords (KIP-107), as Kafka's
// ReplicaManager.deleteRecords: on each partition it leads, the broker moves
// the log start offset up to the offset asked for (-1: the high watermark),
// which makes the records below it unreadable and deletes the segments
// wholly below it. Followers learn the new start from their fetches and
// follow; the answer waits, at most the request's timeout, until every live
// replica's log start got there (the low watermark), and a partition whose
// replicas did not is answered REQUEST_TIMED_OUT with the low watermark
// reached so far.
func (s *Server) handleDeleteRecords(ctx context.Context, req *request, in *kmsg.DeleteRecordsRequest, resp *kmsg.DeleteRecordsResponse) any {
	for _, rt := range in.Topics {
		ot := kmsg.NewDeleteRecordsResponseTopic()
		ot.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			op := kmsg.NewDeleteRecordsResponseTopicPartition()
			op.Partition, op.LowWatermark = rp.Partition, -1
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	// The answers are complete: pointers into them stay valid.
	var waiting []recordDeletion
	deletable := s.topicAccess(req, kmsg.ACLOperationDelete)
	for i, rt := range in.Topics {
		for j, rp := range rt.Partitions {
			out := &resp.Topics[i].Partitions[j]
			if !deletable(rt.Topic) {
				out.ErrorCode = kerr.TopicAuthorizationFailed.Code
				continue
			}
			p := s.replicas.Partition(zkpaths.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
			if p == nil {
				out.ErrorCode = s.unknownPartitionError(rt.Topic, rp.Partition).Code
				continue
			}
			offset, err := p.DeleteRecords(rp.Offset)
			if err != nil {
				out.ErrorCode = errorCode(err)
				s.logger.WithFields(logrus.Fields{"topic": rt.Topic, "partition": rp.Partition}).WithError(err).WithField("offset", rp.Offset).Debug("delete records refused")
				continue
			}
			waiting = append(waiting, recordDeletion{p: p, offset: offset, out: out})
		}
	}
	wait := min(time.Duration(max(in.TimeoutMillis, 0))*time.Millisecond, maxDeleteRecordsWait)
	s.awaitLowWatermarks(ctx, waiting, wait)
	return resp
}

// recordDeletion is a partition whose leader deleted the records below
// offset, waiting for its followers to do the same; out is its answer.
type recordDeletion struct {
	p      *replica.Partition
	offset int64
	out    *kmsg.DeleteRecordsResponseTopicPartition
}

// awaitLowWatermarks answers each deletion once its partition's low
// watermark reaches the offset deleted to, or the leadership is lost, and
// the others with REQUEST_TIMED_OUT when wait has passed (or ctx ends). It
// checks again whenever a partition's waiters are woken: by a follower
// fetch that reports a new log start, among others.
func (s *Server) awaitLowWatermarks(ctx context.Context, pending []recordDeletion, wait time.Duration) {
	if len(pending) == 0 {
		return
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	wake := make(chan struct{}, 1)
	for {
		// Register before checking, so that a change between the check and
		// the wait still wakes us.
		for _, d := range pending {
			d.p.Watch(wake)
		}
		var left []recordDeletion
		for _, d := range pending {
			lw, err := d.p.LowWatermark(s.isLive)
			switch {
			case err != nil:
				d.out.ErrorCode, d.out.LowWatermark = errorCode(err), -1
			case lw >= d.offset:
				d.out.ErrorCode, d.out.LowWatermark = 0, lw
			default:
				d.out.ErrorCode, d.out.LowWatermark = kerr.RequestTimedOut.Code, lw
				left = append(left, d)
			}
		}
		done := len(left) == 0
		if !done {
			select {
			case <-wake:
			case <-timer.C:
				done = true
			case <-ctx.Done():
				done = true
			}
		}
		for _, d := range pending {
			d.p.Unwatch(wake)
		}
		if done {
			return
		}
		pending = left
	}
}

// isLive reports whether broker id is registered in the cluster view this
// broker acts on.
func (s *Server) isLive(id int32) bool {
	_, ok := s.snapshot().Brokers[id]
	return ok
}
