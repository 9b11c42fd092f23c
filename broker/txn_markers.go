package broker

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/txn"
	"github.com/kzoo/kzoo/zkpaths"
)

// Marker delivery, Kafka's TransactionMarkerChannelManager: how the
// transaction coordinator's commit and abort markers reach the partitions of
// a transaction.
const (
	// markerRetryBackoff is the first wait before a marker is sent again to
	// partitions that did not take it; it doubles up to markerRetryMax.
	markerRetryBackoff = 50 * time.Millisecond
	markerRetryMax     = time.Second
	// markerRequestTimeout bounds one WriteTxnMarkers request to another
	// broker: the time its leader may wait for its in-sync replicas, and
	// some.
	markerRequestTimeout = markerWriteTimeout + 5*time.Second
)

// markerWriter writes transaction markers (txn.Markers) through each
// partition's current leader: this broker itself, or another broker over a
// WriteTxnMarkers request, and retries until every partition has its
// marker.
type markerWriter struct {
	s      *Server
	peers  *peerPool
	logger logrus.FieldLogger
}

var _ txn.Markers = (*markerWriter)(nil)

// WriteMarkers writes m to every partition of partitions and returns once
// each has it, or is gone (its topic deleted or the partition no longer in
// it: there is nothing left to mark), or ctx is done.
func (w *markerWriter) WriteMarkers(ctx context.Context, m txn.Marker, partitions []zkpaths.TopicPartition) error {
	pending := slices.Clone(partitions)
	backoff := markerRetryBackoff
	for {
		pending = w.attempt(ctx, m, pending)
		if len(pending) == 0 {
			return nil
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, markerRetryMax)
	}
}

// attempt sends m once to the current leader of each partition, all leaders
// at once, and returns the partitions to try again.
func (w *markerWriter) attempt(ctx context.Context, m txn.Marker, partitions []zkpaths.TopicPartition) []zkpaths.TopicPartition {
	snap := w.s.snapshot()
	var retry []zkpaths.TopicPartition
	byLeader := make(map[int32][]zkpaths.TopicPartition)
	for _, tp := range partitions {
		t := snap.Topics[tp.Topic]
		if t == nil || t.Deleting || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
			continue // gone: so is whatever the transaction wrote there
		}
		leader := t.Partitions[tp.Partition].Leader
		if _, live := snap.Brokers[leader]; leader < 0 || !live {
			retry = append(retry, tp)
			continue
		}
		byLeader[leader] = append(byLeader[leader], tp)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for leader, tps := range byLeader {
		wg.Go(func() {
			failed := w.send(ctx, leader, m, tps)
			mu.Lock()
			retry = append(retry, failed...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return retry
}

// send writes m to partitions, all led by broker leader, and returns those
// that must be tried again.
func (w *markerWriter) send(ctx context.Context, leader int32, m txn.Marker, partitions []zkpaths.TopicPartition) []zkpaths.TopicPartition {
	req := kmsg.NewWriteTxnMarkersRequest()
	rm := kmsg.NewWriteTxnMarkersRequestMarker()
	rm.ProducerID, rm.ProducerEpoch, rm.Committed, rm.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	byTopic := make(map[string]int)
	for _, tp := range partitions {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(rm.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			rm.Topics = append(rm.Topics, t)
		}
		rm.Topics[i].Partitions = append(rm.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{rm}

	var answers []kmsg.WriteTxnMarkersResponseMarker
	if leader == w.s.cfg.ID {
		answers = w.s.writeTxnMarkers(ctx, req.Markers, 0)
	} else {
		resp, err := w.request(ctx, leader, &req)
		if err != nil {
			w.logger.WithError(err).WithField("broker", leader).Debug("transaction markers not sent; will retry")
			return partitions
		}
		answers = resp.Markers
	}

	var retry []zkpaths.TopicPartition
	answered := make(map[zkpaths.TopicPartition]bool, len(partitions))
	for _, am := range answers {
		for _, at := range am.Topics {
			for _, ap := range at.Partitions {
				tp := zkpaths.TopicPartition{Topic: at.Topic, Partition: ap.Partition}
				answered[tp] = true
				if w.markerFailed(tp, m, ap.ErrorCode) {
					retry = append(retry, tp)
				}
			}
		}
	}
	for _, tp := range partitions {
		if !answered[tp] {
			retry = append(retry, tp)
		}
	}
	return retry
}

// markerFailed reports whether the marker must be sent to tp again after
// its leader answered code. A producer or coordinator that was fenced since
// is not retried, as in Kafka: a newer epoch has taken over the partition's
// transaction, and sending the stale marker again would never succeed.
func (w *markerWriter) markerFailed(tp zkpaths.TopicPartition, m txn.Marker, code int16) bool {
	switch code {
	case 0:
		return false
	case kerr.InvalidProducerEpoch.Code, kerr.ProducerFenced.Code, kerr.TransactionCoordinatorFenced.Code:
		w.logger.WithFields(logrus.Fields{
			"partition": tp.String(), "producer_id": m.ProducerID, "producer_epoch": m.ProducerEpoch,
			"coordinator_epoch": m.CoordinatorEpoch, "error": kerr.ErrorForCode(code),
		}).Warn("transaction marker refused as stale; not retried")
		return false
	}
	return true
}

// request sends req to broker id.
func (w *markerWriter) request(ctx context.Context, id int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	req.SetVersion(1)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	if err := w.peers.request(ctx, id, req, resp); err != nil {
		return nil, err
	}
	return resp, nil
}
