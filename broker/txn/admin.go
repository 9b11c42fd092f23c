package txn

import (
	"context"
	"regexp"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions describes transactional ids this broker
// coordinates: state, producer id and epoch, timeout, start time and the
// open transaction's partitions.
func (c *Coordinator) DescribeTransactions(ctx context.Context, req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	resp := kmsg.NewPtrDescribeTransactionsResponse()
	resp.Version = req.Version
	for _, id := range req.TransactionalIDs {
		resp.TransactionStates = append(resp.TransactionStates, c.describe(id))
	}
	return resp
}

func (c *Coordinator) describe(id string) kmsg.DescribeTransactionsResponseTransactionState {
	d := kmsg.NewDescribeTransactionsResponseTransactionState()
	d.TransactionalID = id
	d.ProducerID, d.ProducerEpoch, d.StartTimestamp = noProducerID, noProducerEpoch, -1
	if id == "" {
		d.ErrorCode = errInvalidRequest
		return d
	}
	s, code := c.acquire(id)
	if code != errNone {
		d.ErrorCode = code
		return d
	}
	defer s.mu.Unlock()
	m := s.txns[id]
	// An id whose first record is still being written has no state yet,
	// and one being expired none any more.
	if m == nil || m.producerEpoch == noProducerEpoch || m.state == stateDead ||
		m.pending != nil && m.pending.state == stateDead {
		d.ErrorCode = errTransactionalIDNotFound
		return d
	}
	d.State = m.state.String()
	d.ProducerID, d.ProducerEpoch = m.producerID, m.producerEpoch
	d.TimeoutMillis = durationMillis(m.timeout)
	d.StartTimestamp = millisOrNone(m.startTime)
	for _, tp := range sortedPartitions(m.partitions) {
		if n := len(d.Topics); n == 0 || d.Topics[n-1].Topic != tp.Topic {
			t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			t.Topic = tp.Topic
			d.Topics = append(d.Topics, t)
		}
		d.Topics[len(d.Topics)-1].Partitions = append(d.Topics[len(d.Topics)-1].Partitions, tp.Partition)
	}
	return d
}

// ListTransactions lists the transactional ids of the partitions this
// broker leads, filtered by state names, producer ids, (v1+) minimum
// running time of the open transaction and (v2+) a regular expression the
// whole id must match (Go's syntax, which agrees with Java's on common
// patterns). While a partition loads, the answer is
// COORDINATOR_LOAD_IN_PROGRESS, as Kafka's.
func (c *Coordinator) ListTransactions(ctx context.Context, req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	resp := kmsg.NewPtrListTransactionsResponse()
	resp.Version = req.Version
	var states []txnState
	for _, name := range req.StateFilters {
		if st, ok := stateByName(name); ok {
			states = append(states, st)
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	if len(req.StateFilters) > 0 && len(states) == 0 {
		// Only unknown states asked for: none match.
		return resp
	}
	var pattern *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		var err error
		if pattern, err = regexp.Compile("^(?:" + *req.TransactionalIDPattern + ")$"); err != nil {
			resp.ErrorCode = errInvalidRegularExpression
			return resp
		}
	}
	minDuration := int64(-1)
	if req.Version >= 1 {
		minDuration = req.DurationFilterMillis
	}
	now := c.now().UnixMilli()
	for _, s := range c.heldShards() {
		s.mu.Lock()
		if !s.loaded && !s.closed {
			s.mu.Unlock()
			resp.ErrorCode = errCoordinatorLoadInProgress
			resp.TransactionStates = nil
			return resp
		}
		if !s.closed {
			for _, m := range s.txns {
				switch {
				case m.state == stateDead, m.producerEpoch == noProducerEpoch,
					len(states) > 0 && !slices.Contains(states, m.state),
					len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, m.producerID),
					minDuration >= 0 && (m.startTime.IsZero() || now-m.startTime.UnixMilli() <= minDuration),
					pattern != nil && !pattern.MatchString(m.id):
					continue
				}
				ts := kmsg.NewListTransactionsResponseTransactionState()
				ts.TransactionalID, ts.ProducerID, ts.TransactionState = m.id, m.producerID, m.state.String()
				resp.TransactionStates = append(resp.TransactionStates, ts)
			}
		}
		s.mu.Unlock()
	}
	sort.Slice(resp.TransactionStates, func(i, j int) bool {
		return resp.TransactionStates[i].TransactionalID < resp.TransactionStates[j].TransactionalID
	})
	return resp
}
