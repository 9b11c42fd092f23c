package broker

// The broker side of the group coordinator (package group): it builds the
// coordinator from the broker's config and routes the group APIs to it.
// FindCoordinator, the creation of __consumer_offsets and the lending of its
// partitions are shared with the transaction coordinator (coordinators.go).

import (
	"context"
	"net"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/coordinator"
)

// newGroupCoordinator builds the group coordinator from the broker's config.
// The partition count it hashes group ids over is that of __consumer_offsets
// when the topic already exists (whatever offsets.topic.num.partitions says
// now), so that it agrees with FindCoordinator and the other brokers.
func newGroupCoordinator(cfg *config.Broker, snap *coordinator.Snapshot, logger logrus.FieldLogger) *group.Coordinator {
	return group.New(group.Config{
		OffsetsTopicPartitions:        internalTopicPartitions(snap, group.OffsetsTopic, cfg.OffsetsTopicPartitions),
		MinSessionTimeout:             cfg.GroupMinSessionTimeout,
		MaxSessionTimeout:             cfg.GroupMaxSessionTimeout,
		InitialRebalanceDelay:         cfg.GroupInitialRebalanceDelay,
		MaxGroupSize:                  cfg.GroupMaxSize,
		OffsetsRetention:              cfg.OffsetsRetention,
		OffsetsRetentionCheckInterval: cfg.OffsetsRetentionCheckInterval,
		OffsetMetadataMaxBytes:        cfg.OffsetMetadataMaxBytes,
		Logger:                        logger,
	})
}

// groupAPI adapts a request handler of the coordinator to the API table.
func groupAPI[Req kmsg.Request, Resp kmsg.Response](handle func(*group.Coordinator, context.Context, Req) Resp) handlerFunc {
	return func(s *Server, ctx context.Context, req *request) any {
		return handle(s.groups, ctx, req.body.(Req))
	}
}

// clientHost is the host of a client's address as JoinGroup records it for
// the member: Kafka's form, Java's InetAddress.toString of an address
// without a name ("/127.0.0.1"), which its tools print as they get it.
func clientHost(addr net.Addr) string {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return "/" + tcp.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "/" + addr.String()
	}
	return "/" + host
}

// forgetGroupOffsets removes from the groups this broker coordinates the
// committed offsets of the topics that previous had and snap no longer has
// or is deleting, as Kafka does when a topic is deleted: a topic created
// again under the same name starts without them.
func (s *Server) forgetGroupOffsets(previous, snap *coordinator.Snapshot) {
	if previous == nil || s.groups == nil {
		return
	}
	var deleted []string
	for name, t := range previous.Topics {
		if t.Deleting {
			continue // already forgotten when its deletion started
		}
		if now := snap.Topics[name]; now == nil || now.Deleting {
			deleted = append(deleted, name)
		}
	}
	s.groups.ForgetTopics(deleted)
}

// handleTxnOffsetCommit answers the partitions of unknown topics itself,
// as Kafka does, and passes the rest to the group coordinator.
func (s *Server) handleTxnOffsetCommit(ctx context.Context, req *request, in *kmsg.TxnOffsetCommitRequest, resp *kmsg.TxnOffsetCommitResponse) any {
	snap := s.snapshot()
	known := *in
	known.Topics = nil
	unknown := make(map[string][]int32)
	for _, rt := range in.Topics {
		t := snap.Topics[rt.Topic]
		kt := rt
		kt.Partitions = nil
		for _, rp := range rt.Partitions {
			if t == nil || t.Deleting || rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions) {
				unknown[rt.Topic] = append(unknown[rt.Topic], rp.Partition)
				continue
			}
			kt.Partitions = append(kt.Partitions, rp)
		}
		if len(kt.Partitions) > 0 {
			known.Topics = append(known.Topics, kt)
		}
	}
	if len(unknown) == 0 {
		return s.groups.TxnOffsetCommit(ctx, in)
	}
	if len(known.Topics) > 0 {
		resp = s.groups.TxnOffsetCommit(ctx, &known)
	}
	for topic, partitions := range unknown {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = topic
		for _, p := range partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, kerr.UnknownTopicOrPartition.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}
