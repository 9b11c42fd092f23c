package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/replica"
)

// maxFetchWait bounds a long poll whatever the client asks for.
const maxFetchWait = 30 * time.Second

// handleFetch serves a Fetch: it reads each partition below its high
// watermark and, while fewer than MinBytes are available and MaxWaitMillis
// has not passed, waits for an append to any of the requested partitions.
func (s *Server) handleFetch(ctx context.Context, req *request) any {
	in := req.body.(*kmsg.FetchRequest)
	wait := time.Duration(in.MaxWaitMillis) * time.Millisecond
	if wait > maxFetchWait {
		wait = maxFetchWait
	}
	deadline := time.Now().Add(wait)
	wake := make(chan struct{}, 1)
	var timer *time.Timer
	for {
		// Register before reading, so an append between the read and the
		// wait still wakes us.
		waitingOn := s.registerFetchWaiter(in, wake)
		topics, bytes, failed := s.readFetch(in)
		remaining := time.Until(deadline)
		if bytes >= int64(in.MinBytes) || failed || diverged(topics) || remaining <= 0 {
			unregisterFetchWaiter(waitingOn, wake)
			s.countFetched(in.ReplicaID, topics)
			return encodeFetchResponse(in.Version, topics)
		}
		if timer == nil {
			timer = time.NewTimer(remaining)
			defer timer.Stop()
		}
		select {
		case <-wake:
		case <-timer.C:
			deadline = time.Now() // read once more, then answer
		case <-ctx.Done():
			unregisterFetchWaiter(waitingOn, wake)
			s.countFetched(in.ReplicaID, topics)
			return encodeFetchResponse(in.Version, topics)
		}
		unregisterFetchWaiter(waitingOn, wake)
	}
}

// countFetched counts the record bytes of a Fetch response: per topic
// for a consumer, as replication traffic for a follower (replicaID >= 0).
// Records out are not counted: the bytes go from the segment files to the
// socket unread, and counting their records would mean reading them.
func (s *Server) countFetched(replicaID int32, topics []fetchTopic) {
	for _, t := range topics {
		var bytes int64
		for _, p := range t.partitions {
			bytes += p.records.Size
		}
		if bytes == 0 {
			continue
		}
		if replicaID >= 0 {
			s.traffic.AddReplicationBytesOut(bytes)
		} else {
			s.traffic.Topic(t.name).AddOut(bytes)
		}
	}
}

func (s *Server) registerFetchWaiter(in *kmsg.FetchRequest, wake chan struct{}) []*partition {
	var out []*partition
	for _, rt := range in.Topics {
		for _, rp := range rt.Partitions {
			if p := s.partitions.get(rt.Topic, rp.Partition); p != nil {
				p.addWaiter(wake)
				out = append(out, p)
			}
		}
	}
	return out
}

func unregisterFetchWaiter(ps []*partition, wake chan struct{}) {
	for _, p := range ps {
		p.removeWaiter(wake)
	}
}

// readFetch reads every requested partition within the response and
// partition byte limits. It returns the answer, the record bytes in it, and
// whether any partition failed (a failure is answered at once).
func (s *Server) readFetch(in *kmsg.FetchRequest) ([]fetchTopic, int64, bool) {
	budget := int64(in.MaxBytes)
	if in.Version < 3 || budget <= 0 {
		budget = 1<<31 - 1
	}
	var total int64
	failed := false
	topics := make([]fetchTopic, 0, len(in.Topics))
	for _, rt := range in.Topics {
		ft := fetchTopic{name: rt.Topic, partitions: make([]fetchPartition, 0, len(rt.Partitions))}
		for _, rp := range rt.Partitions {
			fp := fetchPartition{partition: rp.Partition, highWatermark: -1, lastStable: -1, logStartOffset: -1}
			limit := min(int64(rp.PartitionMaxBytes), budget-total)
			if err := s.readPartition(in.ReplicaID, rt.Topic, &rp, limit, total == 0, &fp); err != nil {
				fp.errorCode = errorCode(err)
				failed = true
			}
			total += fp.records.Size
			ft.partitions = append(ft.partitions, fp)
		}
		topics = append(topics, ft)
	}
	return topics, total, failed
}

// readPartition fills fp for one partition. Consumers get records from
// below the high watermark; a follower (replicaID >= 0) gets them up to the
// log end offset, after its fetch offset counted as its progress, or the
// point where its log diverges from ours. The first partition with data may
// exceed the limits by one batch (KIP-74) so that a large batch can always
// make progress; later ones are left out when they do not fit.
func (s *Server) readPartition(replicaID int32, topic string, rp *kmsg.FetchRequestTopicPartition, limit int64, first bool, fp *fetchPartition) error {
	p := s.partitions.get(topic, rp.Partition)
	if p == nil {
		return s.unknownPartitionError(topic, rp.Partition)
	}
	if err := p.checkLeader(rp.CurrentLeaderEpoch); err != nil {
		return err
	}
	maxOffset := p.highWatermark()
	if replicaID >= 0 {
		found, end, ok := p.log.EndOffsetForEpoch(rp.LastFetchedEpoch)
		if rp.LastFetchedEpoch < 0 {
			found, end, ok = -1, -1, false
		}
		if epoch, endOffset, diverged := replica.Divergence(rp.LastFetchedEpoch, rp.FetchOffset,
			replica.EpochEnd{Epoch: found, EndOffset: end, Found: ok}, p.log.LogStartOffset()); diverged {
			fp.diverging, fp.divergingEpoch, fp.divergingEndOffset = true, epoch, endOffset
			fp.highWatermark, fp.lastStable = p.highWatermark(), p.highWatermark()
			fp.logStartOffset = p.log.LogStartOffset()
			return nil
		}
		if p.recordFollowerFetch(replicaID, rp.FetchOffset, rp.LogStartOffset, time.Now()) {
			s.wakeISRManager()
		}
		maxOffset = p.log.LogEndOffset()
	}
	hw := p.highWatermark()
	fp.highWatermark, fp.lastStable = hw, hw
	fp.logStartOffset = p.log.LogStartOffset()
	if limit <= 0 && !first {
		return nil
	}
	if limit < 0 {
		limit = 0
	}
	slice, err := p.log.Read(rp.FetchOffset, maxOffset, int32(min(limit, 1<<31-1)))
	if err != nil {
		return err
	}
	if !first && slice.Size > limit {
		return nil
	}
	fp.records = slice
	return nil
}

// diverged reports whether a follower's fetch found a divergence: it is
// answered at once, for the follower to truncate.
func diverged(topics []fetchTopic) bool {
	for _, t := range topics {
		for _, p := range t.partitions {
			if p.diverging {
				return true
			}
		}
	}
	return false
}
