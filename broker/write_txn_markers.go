package broker

import (
	"context"
	"errors"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/group"
	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/zkpaths"
)

// markerWriteTimeout is how long a transaction marker waits for the in-sync
// replicas of its partition: Kafka's request.timeout.ms default, which its
// WriteTxnMarkers handler uses.
const markerWriteTimeout = 30 * time.Second

// handleWriteTxnMarkers writes the commit or abort markers a transaction
// coordinator sends to the partitions this broker leads (or that an
// operator sends to abort a hanging transaction, KIP-664).
//
// Only brokers send it: it needs CLUSTER_ACTION, without which every
// partition is answered CLUSTER_AUTHORIZATION_FAILED, as in Kafka.
func (s *Server) handleWriteTxnMarkers(ctx context.Context, req *request, in *kmsg.WriteTxnMarkersRequest, resp *kmsg.WriteTxnMarkersResponse) any {
	var refused int16
	if !s.authorizedCluster(req, kmsg.ACLOperationClusterAction) {
		refused = kerr.ClusterAuthorizationFailed.Code
	}
	resp.Markers = s.writeTxnMarkers(ctx, in.Markers, refused)
	return resp
}

// writeTxnMarkers appends each marker, as a control batch, to each of its
// partitions as leader, with acks=all, and answers per partition. Once a
// marker is in the in-sync replicas of a __consumer_offsets partition, the
// group coordinator makes the transaction's offsets visible there (or drops
// them), as Kafka does. A refused request (code not 0) writes nothing and
// answers every partition with code.
func (s *Server) writeTxnMarkers(ctx context.Context, markers []kmsg.WriteTxnMarkersRequestMarker, refused int16) []kmsg.WriteTxnMarkersResponseMarker {
	type target struct{ marker, topic, partition int }
	var appends []replica.Append
	var targets []target
	out := make([]kmsg.WriteTxnMarkersResponseMarker, len(markers))
	now := time.Now().UnixMilli()
	for i, m := range markers {
		om := &out[i]
		*om = kmsg.NewWriteTxnMarkersResponseMarker()
		om.ProducerID = m.ProducerID
		batch := record.BuildMarker(record.Marker{
			ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch,
			CoordinatorEpoch: m.CoordinatorEpoch, Commit: m.Committed,
		}, now)
		for _, mt := range m.Topics {
			ot := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			ot.Topic = mt.Topic
			for _, partition := range mt.Partitions {
				op := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				op.Partition = partition
				if refused != 0 {
					op.ErrorCode = refused
				} else if p := s.replicas.Partition(zkpaths.TopicPartition{Topic: mt.Topic, Partition: partition}); p == nil {
					op.ErrorCode = s.unknownPartitionError(mt.Topic, partition).Code
				} else {
					appends = append(appends, replica.Append{
						Partition: p, Records: batch, LeaderEpoch: -1, Origin: storage.OriginCoordinator,
					})
					targets = append(targets, target{marker: i, topic: len(om.Topics), partition: len(ot.Partitions)})
				}
				ot.Partitions = append(ot.Partitions, op)
			}
			om.Topics = append(om.Topics, ot)
		}
	}
	s.replicas.AppendRecords(ctx, -1, markerWriteTimeout, appends)

	offsetsPartitions := make(map[int][]int32) // by marker: the __consumer_offsets partitions it reached
	for i, t := range targets {
		a := &appends[i]
		op := &out[t.marker].Topics[t.topic].Partitions[t.partition]
		op.ErrorCode = markerAppendCode(a)
		if op.ErrorCode == kerr.KafkaStorageError.Code {
			s.logger.WithError(errors.Join(a.Err, a.AckErr)).WithFields(logrus.Fields{
				"topic": out[t.marker].Topics[t.topic].Topic, "partition": op.Partition,
			}).Error("transaction marker append failed")
		}
		if op.ErrorCode == 0 && out[t.marker].Topics[t.topic].Topic == group.OffsetsTopic {
			offsetsPartitions[t.marker] = append(offsetsPartitions[t.marker], op.Partition)
		}
	}
	for i, partitions := range offsetsPartitions {
		s.groups.CompleteTxn(markers[i].ProducerID, partitions, markers[i].Committed)
	}
	return out
}

// markerAppendCode is the error code of one marker's append: its append
// error, or the error of its wait for the in-sync replicas (a server
// stopping counts as timed out).
func markerAppendCode(a *replica.Append) int16 {
	switch {
	case a.Err != nil:
		return errorCode(a.Err)
	case a.AckErr != nil:
		var ke *kerr.Error
		if errors.As(a.AckErr, &ke) {
			return ke.Code
		}
		return kerr.RequestTimedOut.Code
	}
	return 0
}
