package txn

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The Kafka error codes the coordinator answers with.
var (
	errNone                      int16 = 0
	errUnknownServerError              = kerr.UnknownServerError.Code
	errCoordinatorLoadInProgress       = kerr.CoordinatorLoadInProgress.Code
	errCoordinatorNotAvailable         = kerr.CoordinatorNotAvailable.Code
	errNotCoordinator                  = kerr.NotCoordinator.Code
	errInvalidRequest                  = kerr.InvalidRequest.Code
	errInvalidProducerEpoch            = kerr.InvalidProducerEpoch.Code
	errInvalidTxnState                 = kerr.InvalidTxnState.Code
	errInvalidProducerIDMapping        = kerr.InvalidProducerIDMapping.Code
	errInvalidTransactionTimeout       = kerr.InvalidTransactionTimeout.Code
	errConcurrentTransactions          = kerr.ConcurrentTransactions.Code
	errOperationNotAttempted           = kerr.OperationNotAttempted.Code
	errUnknownTopicOrPartition         = kerr.UnknownTopicOrPartition.Code
	errProducerFenced                  = kerr.ProducerFenced.Code
	errTransactionalIDNotFound         = kerr.TransactionalIDNotFound.Code
	errInvalidRegularExpression        = kerr.InvalidRegularExpression.Code
)

// writeErrorCode maps the error of a __transaction_state write to the code
// the client gets, as Kafka's TransactionStateManager.appendTransactionToLog:
// retriable trouble with the partition is COORDINATOR_NOT_AVAILABLE, a
// lost leadership NOT_COORDINATOR (the client finds the new coordinator).
func writeErrorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return errNone
	case errors.As(err, &ke):
		switch ke {
		case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut:
			return errCoordinatorNotAvailable
		case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
			return errNotCoordinator
		case kerr.MessageTooLarge, kerr.RecordListTooLarge:
			return errUnknownServerError
		}
		return ke.Code
	case errors.Is(err, context.Canceled):
		// The partition was taken back (its context canceled).
		return errNotCoordinator
	case errors.Is(err, context.DeadlineExceeded):
		return errCoordinatorNotAvailable
	}
	return errUnknownServerError
}

// fencedCode is PRODUCER_FENCED as a request of version v understands it:
// clients before KIP-588 (below fencedSince) know only
// INVALID_PRODUCER_EPOCH, which Kafka answers them instead.
func fencedCode(code, v, fencedSince int16) int16 {
	if code == errProducerFenced && v < fencedSince {
		return errInvalidProducerEpoch
	}
	return code
}
