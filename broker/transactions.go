package broker

// The broker side of the transaction coordinator (package txn): it builds
// the coordinator from the broker's config, routes the transaction APIs to
// it, and gives it producer ids, the cluster's topics and the way to its
// transactions' partitions (txn_markers.go).

import (
	"context"
	"slices"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
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
	switch {
	case !s.authorized(req, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, in.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp
	case !s.authorized(req, kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, in.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp
	}
	partitions := internalTopicPartitions(s.snapshot(), group.OffsetsTopic, s.cfg.OffsetsTopicPartitions)
	tp := zkpaths.TopicPartition{Topic: group.OffsetsTopic, Partition: group.PartitionFor(in.Group, partitions)}
	return s.txns.AddOffsetsToTxn(ctx, in, tp)
}

// handleAddPartitionsToTxn checks what Kafka checks before the coordinator
// adds partitions to a transaction: from a client (v0-v3), WRITE on the
// transactional id (every partition TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
// and on each topic, internal topics never being writable; a refused topic
// fails the whole request: its partitions TOPIC_AUTHORIZATION_FAILED, those
// of unknown topics UNKNOWN_TOPIC_OR_PARTITION, the others
// OPERATION_NOT_ATTEMPTED. From a broker (v4), CLUSTER_ACTION.
func (s *Server) handleAddPartitionsToTxn(ctx context.Context, req *request, in *kmsg.AddPartitionsToTxnRequest, resp *kmsg.AddPartitionsToTxnResponse) any {
	if in.Version >= txnVerifyVersion {
		if !s.authorizedCluster(req, kmsg.ACLOperationClusterAction) {
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			return resp
		}
		return s.txns.AddPartitionsToTxn(ctx, in)
	}
	txnOK := s.authorized(req, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, in.TransactionalID)
	writable := s.topicAccess(req, kmsg.ACLOperationWrite)
	code := func(topic string) int16 {
		switch {
		case !txnOK:
			return kerr.TransactionalIDAuthorizationFailed.Code
		case isInternalTopic(topic) || !writable(topic):
			return kerr.TopicAuthorizationFailed.Code
		}
		return 0
	}
	refused := false
	for _, t := range in.Topics {
		refused = refused || code(t.Topic) != 0
	}
	if !refused {
		return s.txns.AddPartitionsToTxn(ctx, in)
	}
	exists := txnTopics{s}
	for _, t := range in.Topics {
		rt := kmsg.NewAddPartitionsToTxnResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p, code(t.Topic)
			if rp.ErrorCode == 0 {
				rp.ErrorCode = kerr.OperationNotAttempted.Code
				if !exists.PartitionExists(zkpaths.TopicPartition{Topic: t.Topic, Partition: p}) {
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// handleDescribeTransactions describes the transactional ids the client may
// DESCRIBE, each with the topics of its transaction the client may
// DESCRIBE, as Kafka does.
func (s *Server) handleDescribeTransactions(ctx context.Context, req *request, in *kmsg.DescribeTransactionsRequest, resp *kmsg.DescribeTransactionsResponse) any {
	describable := s.topicAccess(req, kmsg.ACLOperationDescribe)
	resp.TransactionStates = askAllowed(in.TransactionalIDs,
		func(id string) bool {
			return s.authorized(req, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, id)
		},
		func(ids []string) []kmsg.DescribeTransactionsResponseTransactionState {
			allowed := *in
			allowed.TransactionalIDs = ids
			return s.txns.DescribeTransactions(ctx, &allowed).TransactionStates
		},
		func(id string) kmsg.DescribeTransactionsResponseTransactionState {
			st := kmsg.NewDescribeTransactionsResponseTransactionState()
			st.TransactionalID, st.ErrorCode = id, kerr.TransactionalIDAuthorizationFailed.Code
			return st
		})
	for i := range resp.TransactionStates {
		st := &resp.TransactionStates[i]
		st.Topics = slices.DeleteFunc(st.Topics, func(t kmsg.DescribeTransactionsResponseTransactionStateTopic) bool {
			return !describable(t.Topic)
		})
	}
	return resp
}

// handleListTransactions lists the transactional ids the client may
// DESCRIBE.
func (s *Server) handleListTransactions(ctx context.Context, req *request, in *kmsg.ListTransactionsRequest, resp *kmsg.ListTransactionsResponse) any {
	resp = s.txns.ListTransactions(ctx, in)
	resp.TransactionStates = slices.DeleteFunc(resp.TransactionStates, func(st kmsg.ListTransactionsResponseTransactionState) bool {
		return !s.authorize(req, kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, st.TransactionalID, false)
	})
	return resp
}
