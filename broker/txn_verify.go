package broker

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/broker/txn"
	"github.com/kzoo/kzoo/zkpaths"
)

// Produce-side verification of transactions (KIP-890's first part): a
// transactional batch opens its producer's transaction on a partition only
// if the transaction coordinator has that partition in the producer's
// ongoing transaction. Without it, a producer that was fenced or timed out,
// or that never called AddPartitionsToTxn, could leave a transaction open
// on a partition that no marker will ever close, holding back the last
// stable offset for good. Once the partition's log has the producer's
// transaction open at the batch's epoch, later batches need no check.

// txnVerifyVersion is the AddPartitionsToTxn version brokers verify with:
// the first with verify-only, batched transactions.
const txnVerifyVersion = 4

// verifyTransactionalAppends checks the appends that would open a
// transaction on their partition, and sets Err (INVALID_TXN_STATE, or the
// coordinator's error) on those the coordinator does not vouch for, which
// are then not written.
func (s *Server) verifyTransactionalAppends(ctx context.Context, transactionalID *string, appends []replica.Append) {
	// The appends to verify, by producer: one producer per request in
	// practice, whose partitions are verified together.
	var byProducer map[producerKey][]int
	for i := range appends {
		a := &appends[i]
		if len(a.Records) < record.HeaderSize {
			continue // malformed: the append refuses it
		}
		h := record.ParseHeader(a.Records)
		if !h.IsTransactional() {
			continue
		}
		if transactionalID == nil || *transactionalID == "" {
			a.Err = fmt.Errorf("transactional records without a transactional id: %w", kerr.InvalidTxnState)
			continue
		}
		if a.Partition.Log().TransactionOpen(h.ProducerID, h.ProducerEpoch) {
			continue
		}
		if byProducer == nil {
			byProducer = make(map[producerKey][]int)
		}
		k := producerKey{id: h.ProducerID, epoch: h.ProducerEpoch}
		byProducer[k] = append(byProducer[k], i)
	}
	for k, indexes := range byProducer {
		tps := make([]zkpaths.TopicPartition, len(indexes))
		for j, i := range indexes {
			tps[j] = appends[i].Partition.TopicPartition()
		}
		codes := s.verifyInTransaction(ctx, *transactionalID, k, tps)
		for j, i := range indexes {
			if code := codes[tps[j]]; code != 0 {
				appends[i].Err = fmt.Errorf("partition %s is not in the ongoing transaction of %q (producer %d, epoch %d): %w",
					tps[j], *transactionalID, k.id, k.epoch, kerr.ErrorForCode(code))
			}
		}
	}
}

// producerKey is a producer at one epoch.
type producerKey struct {
	id    int64
	epoch int16
}

// verifyInTransaction asks the coordinator of transactionalID whether each
// partition is in the producer's ongoing transaction, and returns the error
// code of each (0: it is). A coordinator that cannot be asked answers
// every partition with a retriable error, which the producer retries.
func (s *Server) verifyInTransaction(ctx context.Context, transactionalID string, k producerKey, tps []zkpaths.TopicPartition) map[zkpaths.TopicPartition]int16 {
	codes := make(map[zkpaths.TopicPartition]int16, len(tps))
	fail := func(code int16) map[zkpaths.TopicPartition]int16 {
		for _, tp := range tps {
			codes[tp] = code
		}
		return codes
	}
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(txnVerifyVersion)
	t := kmsg.NewAddPartitionsToTxnRequestTransaction()
	t.TransactionalID, t.ProducerID, t.ProducerEpoch, t.VerifyOnly = transactionalID, k.id, k.epoch, true
	for topic, partitions := range partitionsByTopic(tps) {
		rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		rt.Topic, rt.Partitions = topic, partitions
		t.Topics = append(t.Topics, rt)
	}
	req.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{t}

	l := lookupCoordinator(s.snapshot(), txn.StateTopic, transactionalID)
	if l.err != nil {
		return fail(kerr.NotEnoughReplicas.Code) // retriable: the coordinator is moving
	}
	var resp *kmsg.AddPartitionsToTxnResponse
	if l.node.ID == s.cfg.ID {
		resp = s.txns.AddPartitionsToTxn(ctx, req)
	} else {
		resp = req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		if err := s.peers.request(ctx, l.node.ID, req, resp); err != nil {
			s.logger.WithError(err).Debug("cannot verify a transaction with its coordinator")
			return fail(kerr.NotEnoughReplicas.Code)
		}
	}
	if resp.ErrorCode != 0 {
		return fail(verifyErrorCode(resp.ErrorCode))
	}
	for _, rt := range resp.Transactions {
		for _, topic := range rt.Topics {
			for _, p := range topic.Partitions {
				codes[zkpaths.TopicPartition{Topic: topic.Topic, Partition: p.Partition}] = verifyErrorCode(p.ErrorCode)
			}
		}
	}
	for _, tp := range tps {
		if _, ok := codes[tp]; !ok {
			codes[tp] = kerr.InvalidTxnState.Code
		}
	}
	return codes
}

// verifyErrorCode is the Produce error for a verification's answer: as in
// Kafka, the coordinator's own troubles (not the coordinator, loading,
// concurrent transactions) become NOT_ENOUGH_REPLICAS, which every producer
// retries, since a producer does not expect coordinator errors from a
// partition leader; the rest stand.
func verifyErrorCode(code int16) int16 {
	switch code {
	case kerr.NotCoordinator.Code, kerr.CoordinatorNotAvailable.Code, kerr.CoordinatorLoadInProgress.Code,
		kerr.ConcurrentTransactions.Code, kerr.RequestTimedOut.Code:
		return kerr.NotEnoughReplicas.Code
	}
	return code
}

// partitionsByTopic groups partitions by their topic.
func partitionsByTopic(tps []zkpaths.TopicPartition) map[string][]int32 {
	out := make(map[string][]int32)
	for _, tp := range tps {
		out[tp.Topic] = append(out[tp.Topic], tp.Partition)
	}
	return out
}
