package broker

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/quota"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/coordinator"
)

// Quotas are enforced as Kafka does since KIP-219: a request is always
// answered at once, its throttle_time_ms says how long the client is to
// wait, and the connection is muted that long (no request is read from it),
// so that a client ignoring the field is held back all the same. What is
// charged, and to whom:
//
//   - Produce: the bytes of the batches appended, to the client's
//     producer_byte_rate and to the topics' producer.byte.rate.
//   - Fetch: the record bytes returned, to consumer_byte_rate and the
//     topics' consumer.byte.rate. Followers' fetches are replication, which
//     client quotas never charge (replication quotas are broker/replica's).
//   - Every request but those between brokers: the time its handler worked
//     (a long poll's wait excluded), to request_percentage.
//   - CreateTopics, CreatePartitions, DeleteTopics: the partitions they
//     create or delete, to controller_mutation_rate (see topics.go).
//
// The throttle of a request is the largest of those that apply.

// newQuotaManager makes the broker's quota manager with its
// quota.window.num and quota.window.size.seconds.
func newQuotaManager(cfg *config.Broker) *quota.Manager {
	samples, window := cfg.Values.QuotaWindow()
	return quota.NewManager(quota.Settings{Samples: samples, SampleWindow: window}, time.Now)
}

// quotaIdentity is who a request is charged to.
func (c *conn) quotaIdentity(clientID string) quota.Identity {
	return quota.Identity{User: c.principal, ClientID: clientID}
}

// applyQuotas hands the quota manager the client quotas and topic quotas of
// a new cluster view, when they changed.
func (s *Server) applyQuotas(snap *coordinator.Snapshot) {
	if prev := s.applied.Load(); prev == nil || !maps.EqualFunc(prev.ClientQuotas, snap.ClientQuotas, maps.Equal) {
		s.quotas.SetClientQuotas(snap.ClientQuotas)
	}
	topics := make(map[string]quota.TopicQuota)
	for name, t := range snap.Topics {
		tq := quota.TopicQuota{
			Produce: parseRate(t.Configs[quota.TopicProducerByteRate]),
			Fetch:   parseRate(t.Configs[quota.TopicConsumerByteRate]),
		}
		if tq != (quota.TopicQuota{}) {
			topics[name] = tq
		}
	}
	if !maps.Equal(topics, s.topicQuotas) {
		s.topicQuotas = topics
		s.quotas.SetTopicQuotas(topics)
	}
}

// parseRate reads a topic quota; configs are validated when they are set,
// so anything unreadable (written behind kzoo's back) counts as none.
func parseRate(v string) float64 {
	if v == "" {
		return 0
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		return 0
	}
	return f
}

// throttleProduce charges the bytes appended by a Produce and returns the
// throttle they earn.
func (s *Server) throttleProduce(who quota.Identity, appends []replica.Append) time.Duration {
	var total, topicBytes int
	var throttle time.Duration
	for i, a := range appends {
		if a.Err != nil {
			continue
		}
		n := len(a.Records)
		total += n
		// Appends come grouped by topic: charge each topic once.
		topicBytes += n
		topic := a.Partition.TopicPartition().Topic
		if i+1 == len(appends) || appends[i+1].Partition.TopicPartition().Topic != topic {
			throttle = max(throttle, s.quotas.RecordTopic(quota.Produce, topic, float64(topicBytes)))
			topicBytes = 0
		}
	}
	if total == 0 {
		return throttle
	}
	return max(throttle, s.quotas.Record(quota.Produce, who, float64(total)))
}

// throttleFetch charges the record bytes a consumer's Fetch returns and
// returns the throttle they earn; followers are not charged.
func (s *Server) throttleFetch(who quota.Identity, replicaID int32, topics []fetchTopic) time.Duration {
	if replicaID >= 0 {
		return 0
	}
	var total int64
	var throttle time.Duration
	for _, t := range topics {
		var bytes int64
		for i := range t.partitions {
			bytes += t.partitions[i].recordsSize()
		}
		if bytes > 0 {
			total += bytes
			throttle = max(throttle, s.quotas.RecordTopic(quota.Fetch, t.name, float64(bytes)))
		}
	}
	if total == 0 {
		return throttle
	}
	return max(throttle, s.quotas.Record(quota.Fetch, who, float64(total)))
}

// throttleRequestTime charges the time a request's handler worked to the
// client's request_percentage (in percent of one thread over a second, as
// Kafka counts it). Requests between brokers are exempt.
func (s *Server) throttleRequestTime(req *request, worked time.Duration) time.Duration {
	if isBrokerRequest(req) {
		return 0
	}
	return s.quotas.Record(quota.Request, req.who, worked.Seconds()*100)
}

// isBrokerRequest reports whether req is one brokers send each other:
// a follower's fetch or a transaction coordinator's markers.
func isBrokerRequest(req *request) bool {
	switch body := req.body.(type) {
	case *kmsg.FetchRequest:
		return body.ReplicaID >= 0
	case *kmsg.WriteTxnMarkersRequest:
		return true
	case *kmsg.AddPartitionsToTxnRequest:
		return body.Version >= 4 // verify-only, from a partition leader
	}
	return false
}

// setThrottle writes a throttle into a response's throttle_time_ms.
func setThrottle(resp any, throttle time.Duration) {
	ms := int32(min(throttle.Milliseconds(), 1<<31-1))
	switch r := resp.(type) {
	case kmsg.SetThrottleResponse:
		r.SetThrottle(ms)
	case *fetchResponse:
		r.setThrottle(ms)
	}
}

// mute holds the connection for d before its next request is read, unless
// ctx ends first. The response has been flushed: a client that reads it
// learns the throttle before the mute ends.
func (c *conn) mute(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// mutationQuota charges the partitions a CreateTopics, CreatePartitions or
// DeleteTopics creates or deletes to the client's controller_mutation_rate
// (KIP-599), topic by topic.
type mutationQuota struct {
	s   *Server
	who quota.Identity
	// strict: the request's version can carry THROTTLING_QUOTA_EXCEEDED,
	// so a topic arriving while the client is over its quota is refused;
	// older clients are only throttled, as Kafka does.
	strict   bool
	throttle time.Duration
}

func (s *Server) mutationQuota(req *request, strictFrom int16) *mutationQuota {
	return &mutationQuota{s: s, who: req.who, strict: req.version >= strictFrom}
}

// admit charges a mutation of n partitions, or refuses it with
// THROTTLING_QUOTA_EXCEEDED.
func (q *mutationQuota) admit(n int) error {
	if q.strict {
		if t := q.s.quotas.Throttled(quota.ControllerMutation, q.who); t > 0 {
			q.throttle = max(q.throttle, t)
			return fmt.Errorf("%w: controller_mutation_rate reached; retry in %v", kerr.ThrottlingQuotaExceeded, t.Round(time.Millisecond))
		}
	}
	q.throttle = max(q.throttle, q.s.quotas.Record(quota.ControllerMutation, q.who, float64(n)))
	return nil
}
