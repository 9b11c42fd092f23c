package broker

// The broker side of the transaction coordinator (package txn): it builds
// the coordinator from the broker's config, routes the transaction APIs to
// it, and gives it producer ids, the cluster's topics and the way to its
// transactions' partitions (txn_markers.go).

import (
	"context"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/broker/txn"
	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// newTxnCoordinator builds the transaction coordinator from the broker's
// config. The partition count it hashes transactional ids over is that of
// __transaction_state when the topic already exists, as for groups.
func (s *Server) newTxnCoordinator(cfg *config.Broker, snap *coordinator.Snapshot, logger logrus.FieldLogger) *txn.Coordinator {
	return txn.New(txn.Config{
		StateTopicPartitions:  internalTopicPartitions(snap, txn.StateTopic, cfg.TransactionStateTopicPartitions),
		MaxTimeout:            cfg.TransactionMaxTimeout,
		IDExpiration:          cfg.TransactionalIDExpiration,
		AbortTimedOutInterval: cfg.TransactionAbortTimedOutInterval,
		RemoveExpiredInterval: cfg.TransactionRemoveExpiredInterval,
		Logger:                logger,
	}, &s.producerIDs, s.markers, txnTopics{s})
}

// internalTopicPartitions is the partition count of the internal topic in
// snap, or configured when the topic does not exist (yet).
func internalTopicPartitions(snap *coordinator.Snapshot, topic string, configured int32) int32 {
	if snap != nil {
		if t := snap.Topics[topic]; t != nil && len(t.Partitions) > 0 {
			return int32(len(t.Partitions))
		}
	}
	return configured
}

// txnTopics is the cluster's topics as the transaction coordinator checks
// the partitions a transaction adds.
type txnTopics struct{ s *Server }

func (t txnTopics) PartitionExists(tp zkpaths.TopicPartition) bool {
	topic := t.s.snapshot().Topics[tp.Topic]
	return topic != nil && !topic.Deleting && tp.Partition >= 0 && int(tp.Partition) < len(topic.Partitions)
}

// txnAPI adapts a request handler of the transaction coordinator to the API
// table.
func txnAPI[Req kmsg.Request, Resp kmsg.Response](handle func(*txn.Coordinator, context.Context, Req) Resp) handlerFunc {
	return func(s *Server, ctx context.Context, req *request) any {
		return handle(s.txns, ctx, req.body.(Req))
	}
}

// handleAddOffsetsToTxn adds to a transaction the __consumer_offsets
// partition of the group whose offsets it will commit, which the broker
// knows and the transaction coordinator does not.
func (s *Server) handleAddOffsetsToTxn(ctx context.Context, req *request, in *kmsg.AddOffsetsToTxnRequest, resp *kmsg.AddOffsetsToTxnResponse) any {
	partitions := internalTopicPartitions(s.snapshot(), group.OffsetsTopic, s.cfg.OffsetsTopicPartitions)
	tp := zkpaths.TopicPartition{Topic: group.OffsetsTopic, Partition: group.PartitionFor(in.Group, partitions)}
	return s.txns.AddOffsetsToTxn(ctx, in, tp)
}
