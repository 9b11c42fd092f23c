package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/zkpaths"
)

// txnAdmin is what the transactions commands ask of the cluster.
// clusterAdmin answers over the Kafka protocol; the commands' tests use a
// fake.
type txnAdmin interface {
	// ListTransactions returns the transactions of every broker that
	// answered, each broker listing those it coordinates, and an error
	// naming each broker that did not.
	ListTransactions(ctx context.Context, filter txnListFilter) ([]txnListing, error)
	// DescribeTransactions describes each transactional id at its
	// coordinator, in the order given; an id that could not be described
	// carries the reason in its Err.
	DescribeTransactions(ctx context.Context, ids []string) []txnDescription
	// DescribeProducers returns the active producers of each partition as
	// broker sees them, or, when broker is anyBroker, as each partition's
	// leader does.
	DescribeProducers(ctx context.Context, tps []zkpaths.TopicPartition, broker int32) producerLookups
	// WriteAbortMarker asks the partition's leader to write an abort
	// marker for the producer (WriteTxnMarkers). A refusal of the leader
	// comes back as its *kerr.Error.
	WriteAbortMarker(ctx context.Context, spec abortSpec) error
	// Replicas returns the replicas of every partition of the cluster.
	Replicas(ctx context.Context) (map[zkpaths.TopicPartition][]int32, error)
}

// anyBroker asks DescribeProducers to ask each partition's leader.
const anyBroker int32 = -1

// txnListFilter narrows ListTransactions; empty fields filter nothing.
type txnListFilter struct {
	States      []string
	ProducerIDs []int64
}

// txnListing is one transactional id as ListTransactions reports it.
type txnListing struct {
	TransactionalID string
	ProducerID      int64
	State           string
	Coordinator     int32
}

// txnDescription is one transactional id as its coordinator describes it.
type txnDescription struct {
	TransactionalID string
	Coordinator     brokerInfo
	ProducerID      int64
	ProducerEpoch   int16
	State           string
	TimeoutMillis   int32
	// StartMillis is when the current (or last) transaction began, Unix
	// milliseconds; -1 when the id has not begun one.
	StartMillis int64
	// Partitions are those of the ongoing transaction; while it is being
	// completed, those still without a marker. Sorted.
	Partitions []zkpaths.TopicPartition
	// Err is why the id could not be described; errors.Is(Err,
	// kerr.TransactionalIDNotFound) when the coordinator does not know it.
	Err error
}

// producerState is one active producer of a partition, as DescribeProducers
// reports it.
type producerState struct {
	ProducerID    int64
	ProducerEpoch int32
	LastSequence  int32
	LastTimestamp int64
	// CoordinatorEpoch is that of the last marker written for the
	// producer, -1 when none has been.
	CoordinatorEpoch int32
	// TxnStartOffset is the first offset of the producer's open
	// transaction, -1 when it has none.
	TxnStartOffset int64
}

// producerLookups is what DescribeProducers found: the producers of every
// partition it could read, and why it could not read the others.
type producerLookups struct {
	Producers map[zkpaths.TopicPartition][]producerState
	Failed    map[zkpaths.TopicPartition]error
}

// abortSpec is the transaction an abort marker ends: the producer's open
// transaction on one partition.
type abortSpec struct {
	zkpaths.TopicPartition
	ProducerID       int64
	ProducerEpoch    int16
	CoordinatorEpoch int32
}

// describeProducersBatch bounds the partitions of one DescribeProducers
// request, so that find-hanging does not ask a broker about all of its
// partitions at once.
const describeProducersBatch = 500

// transactionsAPIs names the requests of the transactions commands, for
// the error a broker without them gets.
var transactionsAPIs = map[int16]string{
	(*kmsg.DescribeProducersRequest)(nil).Key():    "DescribeProducers (KIP-664)",
	(*kmsg.DescribeTransactionsRequest)(nil).Key(): "DescribeTransactions (KIP-664)",
	(*kmsg.ListTransactionsRequest)(nil).Key():     "ListTransactions (KIP-664)",
	(*kmsg.WriteTxnMarkersRequest)(nil).Key():      "WriteTxnMarkers",
}

// unsupported turns err, the failure of req at broker, into an error that
// says the broker lacks the API when it does. franz-go refuses to send a
// request whose key the broker's ApiVersions left out with an error of its
// own that it does not export, so on any failure that is not a Kafka error
// the broker's ApiVersions is asked again.
func (a clusterAdmin) unsupported(ctx context.Context, req kmsg.Request, broker kgo.BrokerMetadata, err error) error {
	name := transactionsAPIs[req.Key()]
	says := func() error {
		return explained(kerr.UnsupportedVersion, "the broker does not support %s", name)
	}
	if errors.Is(err, kerr.UnsupportedVersion) {
		return says()
	}
	var ke *kerr.Error
	if errors.As(err, &ke) || broker.NodeID < 0 {
		return err
	}
	versionsReq := kmsg.NewPtrApiVersionsRequest()
	// Brokers refuse ApiVersions v3+ (INVALID_REQUEST) without a client
	// software name and version.
	versionsReq.ClientSoftwareName, versionsReq.ClientSoftwareVersion = "kzoo", "1"
	versions, verr := versionsReq.RequestWith(ctx, a.cl.Broker(int(broker.NodeID)))
	if verr != nil || versions.ErrorCode != 0 {
		return err
	}
	if !slices.ContainsFunc(versions.ApiKeys, func(k kmsg.ApiVersionsResponseApiKey) bool { return k.ApiKey == req.Key() }) {
		return says()
	}
	return err
}

func (a clusterAdmin) ListTransactions(ctx context.Context, filter txnListFilter) ([]txnListing, error) {
	req := kmsg.NewPtrListTransactionsRequest()
	req.StateFilters, req.ProducerIDFilters = filter.States, filter.ProducerIDs
	var (
		listings []txnListing
		failed   error
	)
	// Each broker answers only for the transactional ids it coordinates,
	// so the request goes to all of them.
	for _, shard := range a.cl.RequestSharded(ctx, req) {
		b := brokerFromMeta(shard.Meta)
		if shard.Err != nil {
			failed = errors.Join(failed, fmt.Errorf("list transactions of broker %s: %w", b, a.unsupported(ctx, req, shard.Meta, shard.Err)))
			continue
		}
		resp := shard.Resp.(*kmsg.ListTransactionsResponse)
		if err := codeError(resp.ErrorCode, nil); err != nil {
			failed = errors.Join(failed, fmt.Errorf("list transactions of broker %s: %w", b, a.unsupported(ctx, req, shard.Meta, err)))
			continue
		}
		if len(resp.UnknownStateFilters) > 0 {
			failed = errors.Join(failed, fmt.Errorf("list transactions of broker %s: it does not know the states %v", b, resp.UnknownStateFilters))
		}
		for _, t := range resp.TransactionStates {
			listings = append(listings, txnListing{
				TransactionalID: t.TransactionalID, ProducerID: t.ProducerID, State: t.TransactionState, Coordinator: shard.Meta.NodeID,
			})
		}
	}
	return listings, failed
}

func (a clusterAdmin) DescribeTransactions(ctx context.Context, ids []string) []txnDescription {
	// franz-go finds each id's coordinator (FindCoordinator, key type 1:
	// transaction) and sends each coordinator the ids it owns, retrying
	// NOT_COORDINATOR and COORDINATOR_LOAD_IN_PROGRESS.
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = ids
	found := make(map[string]txnDescription, len(ids))
	for _, shard := range a.cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			err := a.unsupported(ctx, req, shard.Meta, shard.Err)
			for _, id := range shard.Req.(*kmsg.DescribeTransactionsRequest).TransactionalIDs {
				found[id] = txnDescription{TransactionalID: id, Err: fmt.Errorf("describe transactional id %s: %w", id, err)}
			}
			continue
		}
		for _, t := range shard.Resp.(*kmsg.DescribeTransactionsResponse).TransactionStates {
			found[t.TransactionalID] = newTxnDescription(t, brokerFromMeta(shard.Meta))
		}
	}
	return inKeyOrder(ids, found, func(id string) txnDescription {
		return txnDescription{TransactionalID: id, Err: fmt.Errorf("describe transactional id %s: its coordinator did not answer for it", id)}
	})
}

// newTxnDescription converts a DescribeTransactions answer.
func newTxnDescription(t kmsg.DescribeTransactionsResponseTransactionState, coordinator brokerInfo) txnDescription {
	d := txnDescription{
		TransactionalID: t.TransactionalID, Coordinator: coordinator, ProducerID: t.ProducerID, ProducerEpoch: t.ProducerEpoch,
		State: t.State, TimeoutMillis: t.TimeoutMillis, StartMillis: t.StartTimestamp,
	}
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		if errors.Is(err, kerr.TransactionalIDNotFound) {
			d.Err = explained(err, "transactional id %q does not exist (never used, or expired)", t.TransactionalID)
		} else {
			d.Err = fmt.Errorf("describe transactional id %s: %w", t.TransactionalID, err)
		}
		return d
	}
	for _, topic := range t.Topics {
		for _, p := range topic.Partitions {
			d.Partitions = append(d.Partitions, zkpaths.TopicPartition{Topic: topic.Topic, Partition: p})
		}
	}
	slices.SortFunc(d.Partitions, compareTopicPartitions)
	return d
}

func (a clusterAdmin) DescribeProducers(ctx context.Context, tps []zkpaths.TopicPartition, broker int32) producerLookups {
	found := producerLookups{Producers: make(map[zkpaths.TopicPartition][]producerState), Failed: make(map[zkpaths.TopicPartition]error)}
	for batch := range slices.Chunk(tps, describeProducersBatch) {
		a.describeProducers(ctx, batch, broker, found)
	}
	for _, tp := range tps {
		_, ok := found.Producers[tp]
		if _, failed := found.Failed[tp]; !ok && !failed {
			found.Failed[tp] = errors.New("no broker answered for this partition")
		}
	}
	return found
}

func (a clusterAdmin) describeProducers(ctx context.Context, tps []zkpaths.TopicPartition, broker int32, found producerLookups) {
	req := kmsg.NewPtrDescribeProducersRequest()
	for _, ps := range groupByTopic(tps, func(tp zkpaths.TopicPartition) string { return tp.Topic }) {
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic = ps[0].Topic
		for _, tp := range ps {
			rt.Partitions = append(rt.Partitions, tp.Partition)
		}
		req.Topics = append(req.Topics, rt)
	}
	var shards []kgo.ResponseShard
	if broker == anyBroker {
		// franz-go sends each partition to its leader.
		shards = a.cl.RequestSharded(ctx, req)
	} else {
		resp, err := a.cl.Broker(int(broker)).Request(ctx, req)
		if err != nil && !a.brokerExists(ctx, broker) {
			err = fmt.Errorf("broker %d is not in the cluster: %w", broker, err)
		}
		shards = []kgo.ResponseShard{{Meta: kgo.BrokerMetadata{NodeID: broker}, Req: req, Resp: resp, Err: err}}
	}
	for _, shard := range shards {
		if shard.Err != nil {
			err := a.unsupported(ctx, req, shard.Meta, shard.Err)
			for _, t := range shard.Req.(*kmsg.DescribeProducersRequest).Topics {
				for _, p := range t.Partitions {
					found.Failed[zkpaths.TopicPartition{Topic: t.Topic, Partition: p}] = err
				}
			}
			continue
		}
		for _, t := range shard.Resp.(*kmsg.DescribeProducersResponse).Topics {
			for _, p := range t.Partitions {
				tp := zkpaths.TopicPartition{Topic: t.Topic, Partition: p.Partition}
				if err := codeError(p.ErrorCode, p.ErrorMessage); err != nil {
					found.Failed[tp] = err
					continue
				}
				producers := make([]producerState, 0, len(p.ActiveProducers))
				for _, ap := range p.ActiveProducers {
					producers = append(producers, producerState{
						ProducerID: ap.ProducerID, ProducerEpoch: ap.ProducerEpoch, LastSequence: ap.LastSequence,
						LastTimestamp: ap.LastTimestamp, CoordinatorEpoch: ap.CoordinatorEpoch, TxnStartOffset: ap.CurrentTxnStartOffset,
					})
				}
				found.Producers[tp] = producers
			}
		}
	}
}

// brokerExists reports whether the cluster's metadata lists broker, or
// cannot be read: franz-go's error for a broker id it does not know says
// only "unknown broker".
func (a clusterAdmin) brokerExists(ctx context.Context, broker int32) bool {
	req := kmsg.NewPtrMetadataRequest()
	req.Topics = []kmsg.MetadataRequestTopic{} // brokers only
	resp, err := req.RequestWith(ctx, a.cl)
	return err != nil || slices.ContainsFunc(resp.Brokers, func(b kmsg.MetadataResponseBroker) bool { return b.NodeID == broker })
}

func (a clusterAdmin) WriteAbortMarker(ctx context.Context, spec abortSpec) error {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	marker := kmsg.NewWriteTxnMarkersRequestMarker()
	marker.ProducerID, marker.ProducerEpoch, marker.CoordinatorEpoch = spec.ProducerID, spec.ProducerEpoch, spec.CoordinatorEpoch
	marker.Committed = false
	rt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	rt.Topic, rt.Partitions = spec.Topic, []int32{spec.Partition}
	marker.Topics = []kmsg.WriteTxnMarkersRequestMarkerTopic{rt}
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{marker}
	// franz-go sends the marker to the partition's leader.
	shards := a.cl.RequestSharded(ctx, req)
	for _, shard := range shards {
		if shard.Err != nil {
			return fmt.Errorf("leader %s: %w", brokerFromMeta(shard.Meta), a.unsupported(ctx, req, shard.Meta, shard.Err))
		}
		for _, m := range shard.Resp.(*kmsg.WriteTxnMarkersResponse).Markers {
			for _, t := range m.Topics {
				for _, p := range t.Partitions {
					if m.ProducerID == spec.ProducerID && t.Topic == spec.Topic && p.Partition == spec.Partition {
						return kerr.ErrorForCode(p.ErrorCode)
					}
				}
			}
		}
	}
	return errors.New("the partition's leader did not answer for it")
}

func (a clusterAdmin) Replicas(ctx context.Context) (map[zkpaths.TopicPartition][]int32, error) {
	req := kmsg.NewPtrMetadataRequest() // nil topics: all of them
	resp, err := req.RequestWith(ctx, a.cl)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	replicas := make(map[zkpaths.TopicPartition][]int32)
	var failed error
	for _, t := range resp.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			failed = errors.Join(failed, fmt.Errorf("topic %s: %w", name, err))
			continue
		}
		for _, p := range t.Partitions {
			replicas[zkpaths.TopicPartition{Topic: name, Partition: p.Partition}] = p.Replicas
		}
	}
	return replicas, failed
}
