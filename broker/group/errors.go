package group

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// The Kafka error codes the coordinator answers with (kerr has them as
// variables; errors_test.go checks these against kerr).
const (
	errNone                      int16 = 0
	errUnknownServerError        int16 = -1
	errRequestTimedOut           int16 = 7
	errOffsetMetadataTooLarge    int16 = 12
	errCoordinatorLoadInProgress int16 = 14
	errCoordinatorNotAvailable   int16 = 15
	errNotCoordinator            int16 = 16
	errIllegalGeneration         int16 = 22
	errInconsistentGroupProtocol int16 = 23
	errInvalidGroupID            int16 = 24
	errUnknownMemberID           int16 = 25
	errInvalidSessionTimeout     int16 = 26
	errRebalanceInProgress       int16 = 27
	errInvalidCommitOffsetSize   int16 = 28
	errInvalidProducerIDMapping  int16 = 49
	errNonEmptyGroup             int16 = 68
	errGroupIDNotFound           int16 = 69
	errMemberIDRequired          int16 = 79
	errGroupMaxSizeReached       int16 = 81
	errFencedInstanceID          int16 = 82
	errGroupSubscribedToTopic    int16 = 86
	errUnstableOffsetCommit      int16 = 88
)

// appendErrorCode is the Kafka error code of a failed Log.Append: the code
// of its *kerr.Error, REQUEST_TIMED_OUT when its context ran out, and
// NOT_COORDINATOR when the partition was taken back meanwhile (which
// cancels its context).
func appendErrorCode(err error) int16 {
	var ke *kerr.Error
	switch {
	case err == nil:
		return errNone
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, context.DeadlineExceeded):
		return errRequestTimedOut
	case errors.Is(err, context.Canceled):
		return errNotCoordinator
	}
	return errUnknownServerError
}

// groupWriteError maps the error of a group metadata write to the code the
// members get, as Kafka's GroupMetadataManager.storeGroup does.
func groupWriteError(err error) int16 {
	switch code := appendErrorCode(err); code {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code:
		return errCoordinatorNotAvailable
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return errNotCoordinator
	case errRequestTimedOut:
		return errRebalanceInProgress
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return errUnknownServerError
	default:
		return code
	}
}

// offsetWriteError maps the error of an offset commit write to the code the
// committer gets, as Kafka's GroupMetadataManager.maybeConvertOffsetCommitError
// does. REQUEST_TIMED_OUT is passed through: clients treat it as "find the
// coordinator again and retry".
func offsetWriteError(err error) int16 {
	switch code := appendErrorCode(err); code {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code:
		return errCoordinatorNotAvailable
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return errNotCoordinator
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return errInvalidCommitOffsetSize
	default:
		return code
	}
}
