package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/quota"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/zkpaths"
)

// maxFetchWait bounds a long poll whatever the client asks for.
const maxFetchWait = 30 * time.Second

// handleFetch serves a Fetch: it reads each partition below its high
// watermark (its last stable offset for a read_committed consumer) and,
// while fewer than MinBytes are available and MaxWaitMillis has not passed,
// waits for an append to any of the requested partitions.
//
// A consumer that named its software in ApiVersions (KIP-511: the Java
// client since 2.4, librdkafka, franz-go, sarama) reads a partition as
// Kafka serves it, control batches and aborted transactions included, and
// skips them itself as Kafka's clients do. One that did not (kafka-go, which
// has no transaction support of its own, and old clients) reads a view
// without them (storage.Log.ConsumerView), so that it never returns a
// marker or an aborted record as a message.
func (s *Server) handleFetch(ctx context.Context, req *request) any {
	in := req.body.(*kmsg.FetchRequest)
	readable := s.fetchAccess(req, in)
	// A follower's session is privileged (see fetchSessionCache.evictLocked)
	// only when the follower may replicate: fetchAccess answers for all its
	// topics at once.
	privileged := in.ReplicaID >= 0 && readable("")
	fc := s.fetchSessions.open(in, privileged, time.Now())
	if fc.errorCode != 0 {
		return encodeFetchResponse(in.Version, fc.errorCode, 0, nil)
	}
	consumer := replica.FetchPosition{
		ReadCommitted:      in.IsolationLevel == readCommitted,
		FilterTransactions: !req.namedClient,
	}
	wait := time.Duration(in.MaxWaitMillis) * time.Millisecond
	if wait > maxFetchWait {
		wait = maxFetchWait
	}
	deadline := time.Now().Add(wait)
	fr := fetchRead{
		replicaID: in.ReplicaID,
		minBytes:  int64(in.MinBytes),
		consumer:  consumer,
		budget:    s.fetchBudget(req, in),
		readable:  readable,
	}
	wake := make(chan struct{}, 1)
	var timer *time.Timer
	for {
		// Register before reading, so an append between the read and the
		// wait still wakes us.
		waitingOn := s.registerFetchWaiter(in, fc, wake)
		fr.final = !time.Now().Before(deadline)
		pass := s.readFetchPass(in, fc, &fr)
		if pass.done {
			unregisterFetchWaiter(waitingOn, wake)
			return s.answerFetch(req, in, fc.sessionID, pass.topics)
		}
		if timer == nil {
			timer = time.NewTimer(time.Until(deadline))
			defer timer.Stop()
		}
		parkedAt := time.Now()
		select {
		case <-wake:
		case <-timer.C:
			select {
			case <-wake:
			default:
				// Nothing the fetch watches changed since its last read
				// (Partition.Watch): that read is the answer. An idle
				// fetcher's long poll reads its partitions once, not twice.
				if topics, ok := s.answerUnchanged(fc, pass); ok {
					req.parked += time.Since(parkedAt)
					unregisterFetchWaiter(waitingOn, wake)
					return s.answerFetch(req, in, fc.sessionID, topics)
				}
			}
			deadline = time.Now() // read once more, then answer
		case <-ctx.Done():
			deadline = time.Now() // the same: a session learns what it is told
		}
		req.parked += time.Since(parkedAt)
		unregisterFetchWaiter(waitingOn, wake)
	}
}

// fetchRead is what every read of one Fetch shares.
type fetchRead struct {
	replicaID int32
	minBytes  int64
	consumer  replica.FetchPosition
	budget    int64
	readable  func(topic string) bool
	// final: the wait is over; this read is answered whatever it finds.
	final bool
}

// done reports whether a read that found bytes record bytes, failed
// (a partition error) or diverged is answered now.
func (fr *fetchRead) done(bytes int64, failed, diverged bool) bool {
	return fr.final || bytes >= fr.minBytes || failed || diverged
}

// fetchPass is one read of a Fetch's partitions.
type fetchPass struct {
	// done: the Fetch is answered now, with topics.
	done bool
	// topics is the read of a request's partitions, answered in full; for
	// an incremental Fetch the read stays in its session (fetchSession.reads)
	// as of the session's read generation gen.
	topics []fetchTopic
	gen    uint64
}

// readFetchPass reads the partitions of a Fetch once: the request's, or
// for an incremental one every partition of its session. When the Fetch is
// to be answered now (see fetchRead.done) the pass holds the answer; an
// incremental answer holds only the partitions with news for the fetcher,
// and the session records what it was told.
func (s *Server) readFetchPass(in *kmsg.FetchRequest, fc fetchContext, fr *fetchRead) fetchPass {
	if fc.incremental {
		return s.readSession(fc.session, fr)
	}
	topics, bytes, failed := s.readFetch(in, fr.consumer, fr.budget, fr.readable)
	pass := fetchPass{topics: topics}
	if fr.done(bytes, failed, diverged(topics)) {
		pass.done = true
		if fc.session != nil {
			fc.session.answeredAll(topics)
		}
	}
	return pass
}

// answerUnchanged returns the answer of an unanswered pass when nothing it
// read has changed since; false when it cannot (the session was read or
// changed since).
func (s *Server) answerUnchanged(fc fetchContext, pass fetchPass) ([]fetchTopic, bool) {
	if fc.incremental {
		return fc.session.answerRead(pass.gen)
	}
	if fc.session != nil {
		fc.session.answeredAll(pass.topics)
	}
	return pass.topics, true
}

// answerFetch counts what a Fetch returns, charges it to the quotas and
// encodes the answer.
func (s *Server) answerFetch(req *request, in *kmsg.FetchRequest, sessionID int32, topics []fetchTopic) *fetchResponse {
	s.countFetched(in.ReplicaID, topics)
	req.throttle = s.throttleFetch(req.who, in.ReplicaID, topics)
	return encodeFetchResponse(in.Version, 0, sessionID, topics)
}

// countFetched counts the record bytes of a Fetch response: per topic
// for a consumer, as replication traffic for a follower (replicaID >= 0).
// Records out are not counted: the bytes go from the segment files to the
// socket unread, and counting their records would mean reading them. A
// follower's bytes of partitions throttled as leader count against the
// leader replication quota.
func (s *Server) countFetched(replicaID int32, topics []fetchTopic) {
	var throttled int64
	for _, t := range topics {
		var bytes int64
		for i := range t.partitions {
			size := t.partitions[i].recordsSize()
			bytes += size
			if t.partitions[i].throttled {
				throttled += size
			}
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
	s.replicas.RecordThrottledSent(throttled)
}

// registerFetchWaiter watches the partitions a Fetch reads: the request's,
// or its session's for an incremental one.
func (s *Server) registerFetchWaiter(in *kmsg.FetchRequest, fc fetchContext, wake chan struct{}) []*replica.Partition {
	var out []*replica.Partition
	watch := func(topic string, partition int32) {
		if p := s.replicas.Partition(zkpaths.TopicPartition{Topic: topic, Partition: partition}); p != nil {
			p.Watch(wake)
			out = append(out, p)
		}
	}
	if fc.incremental {
		fs := fc.session
		fs.mu.Lock()
		defer fs.mu.Unlock()
		out = make([]*replica.Partition, 0, len(fs.parts))
		for i := range fs.parts {
			watch(fs.parts[i].topic, fs.parts[i].want.Partition)
		}
		return out
	}
	for _, rt := range in.Topics {
		for _, rp := range rt.Partitions {
			watch(rt.Topic, rp.Partition)
		}
	}
	return out
}

func unregisterFetchWaiter(ps []*replica.Partition, wake chan struct{}) {
	for _, p := range ps {
		p.Unwatch(wake)
	}
}

// fetchBudget is how many record bytes a Fetch may return: what the
// request allows and, for a consumer under a consumer_byte_rate, no more
// than its quota allows over the quota's window, as Kafka bounds it (one
// larger answer would earn a throttle longer than the window).
func (s *Server) fetchBudget(req *request, in *kmsg.FetchRequest) int64 {
	budget := int64(in.MaxBytes)
	if in.Version < 3 || budget <= 0 {
		budget = 1<<31 - 1
	}
	if in.ReplicaID < 0 {
		if limit, ok := s.quotas.MaxInWindow(quota.Fetch, req.who); ok {
			budget = min(budget, max(int64(limit), 1))
		}
	}
	return budget
}

// fetchAccess is the check of a Fetch's topics: a follower (a replica id)
// needs CLUSTER_ACTION on the cluster, for all of them at once; a consumer
// needs READ on each topic. Either way a refused partition gets
// TOPIC_AUTHORIZATION_FAILED, as in Kafka.
func (s *Server) fetchAccess(req *request, in *kmsg.FetchRequest) func(topic string) bool {
	if in.ReplicaID >= 0 {
		follower := s.authorizedCluster(req, kmsg.ACLOperationClusterAction)
		return func(string) bool { return follower }
	}
	return s.topicAccess(req, kmsg.ACLOperationRead)
}

// readFetch reads every requested partition that readable allows within
// the response's budget and the partition byte limits, as consumer says
// for all of them (see readPartition). It returns the answer, the record
// bytes in it, and whether any partition failed (a failure is answered at
// once).
func (s *Server) readFetch(in *kmsg.FetchRequest, consumer replica.FetchPosition, budget int64, readable func(topic string) bool) ([]fetchTopic, int64, bool) {
	var total int64
	failed := false
	topics := make([]fetchTopic, 0, len(in.Topics))
	for _, rt := range in.Topics {
		ft := fetchTopic{name: rt.Topic, partitions: make([]fetchPartition, 0, len(rt.Partitions))}
		for _, rp := range rt.Partitions {
			fp := fetchPartition{partition: rp.Partition, highWatermark: -1, lastStable: -1, logStartOffset: -1}
			limit := min(int64(rp.PartitionMaxBytes), budget-total)
			if !readable(rt.Topic) {
				fp.errorCode = kerr.TopicAuthorizationFailed.Code
				failed = true
			} else if err := s.readPartition(in.ReplicaID, consumer, rt.Topic, &rp, limit, total == 0, &fp); err != nil {
				fp.errorCode = errorCode(err)
				failed = true
			}
			// The limits count the bytes sent: the range read, or a
			// consumer's view of it.
			total += fp.recordsSize()
			ft.partitions = append(ft.partitions, fp)
		}
		topics = append(topics, ft)
	}
	return topics, total, failed
}

// readCommitted is the isolation level of a consumer that reads only
// committed transactions (Fetch v4+, ListOffsets v2+).
const readCommitted = 1

// readPartition fills fp for one partition from what the replica manager
// reads of it (see replica.Manager.Read); consumer holds what the request
// says of every partition: its isolation level, and whether the client
// reads a view without transaction control batches.
func (s *Server) readPartition(replicaID int32, consumer replica.FetchPosition, topic string, rp *kmsg.FetchRequestTopicPartition, limit int64, first bool, fp *fetchPartition) error {
	p := s.replicas.Partition(zkpaths.TopicPartition{Topic: topic, Partition: rp.Partition})
	if p == nil {
		return s.unknownPartitionError(topic, rp.Partition)
	}
	pos := consumer
	pos.FetchOffset, pos.CurrentLeaderEpoch = rp.FetchOffset, rp.CurrentLeaderEpoch
	pos.LastFetchedEpoch, pos.LogStartOffset = rp.LastFetchedEpoch, rp.LogStartOffset
	res, err := s.replicas.Read(p, replicaID, pos, limit, first)
	fp.highWatermark, fp.lastStable, fp.logStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
	fp.records, fp.chunks = res.Records, res.Chunks
	fp.aborted = res.AbortedTransactions
	fp.diverging, fp.divergingEpoch, fp.divergingEndOffset = res.Diverging, res.DivergingEpoch, res.DivergingEndOffset
	fp.throttled = res.Throttled
	return err
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
