package broker

import (
	"context"
	"fmt"
	"sync"

	"github.com/kzoo/kzoo/internal/acl"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// producerIDAllocator hands out producer ids from blocks reserved in
// ZooKeeper (/latest_producer_id_block), so ids are unique cluster-wide.
type producerIDAllocator struct {
	meta interface {
		AllocateProducerIDBlock(ctx context.Context) (first, last int64, err error)
	}
	mu         sync.Mutex
	next, last int64 // next <= last while the current block has ids left
	haveBlock  bool
}

// Allocate returns a producer id no other producer of the cluster has.
func (a *producerIDAllocator) Allocate(ctx context.Context) (int64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.haveBlock || a.next > a.last {
		first, last, err := a.meta.AllocateProducerIDBlock(ctx)
		if err != nil {
			return -1, fmt.Errorf("allocate producer id block: %w", err)
		}
		a.next, a.last, a.haveBlock = first, last, true
	}
	id := a.next
	a.next++
	return id, nil
}

func (s *Server) handleInitProducerID(ctx context.Context, req *request, in *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) any {
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if in.TransactionalID != nil {
		if !s.authorized(req, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *in.TransactionalID) {
			resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			return resp
		}
		return s.txns.InitProducerID(ctx, in)
	}
	// An idempotent producer needs IDEMPOTENT_WRITE on the cluster or, since
	// Kafka 2.8 (KIP-679), WRITE on some topic.
	if !s.authorize(req, kmsg.ACLOperationIdempotentWrite, kmsg.ACLResourceTypeCluster, acl.ClusterName, false) &&
		!s.authorizedByResourceType(req, kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	id, err := s.producerIDs.Allocate(ctx)
	if err != nil {
		s.logger.WithError(err).Error("InitProducerId failed")
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
