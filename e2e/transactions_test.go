package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// The transaction tests (txn_*_test.go) run against a kzoo cluster of three
// brokers started by startTxnCluster.
//
// KZOO_TXN_E2E_BOOTSTRAP=host:port[,host:port...] points them at an
// external cluster instead, e.g. one Apache Kafka broker, to prove the
// workers and the checks themselves correct:
//
//	KZOO_TXN_E2E_BOOTSTRAP=127.0.0.1:39092 go test -count=1 -run 'Transaction' ./e2e/
//
// Against an external cluster the steps that kill brokers are skipped,
// topics get as many replicas as the cluster has brokers (up to 3) and
// min.insync.replicas one less (at least 1), and every topic, group and
// transactional id carries a prefix unique to the run. The external
// brokers need transaction.abort.timed.out.transaction.cleanup.interval.ms
// of a second or less (TestTransactions/timeout) and the default
// transaction.max.timeout.ms of 15 minutes; with one broker,
// offsets.topic.replication.factor, transaction.state.log.replication.factor
// and transaction.state.log.min.isr must be 1.
const txnBootstrapEnv = "KZOO_TXN_E2E_BOOTSTRAP"

// txnMaxTimeout is transaction.max.timeout.ms as the brokers under test
// have it (Kafka's default).
const txnMaxTimeout = 15 * time.Minute

// txnCluster is where a transaction test runs.
type txnCluster struct {
	bootstrap []string
	// c is the kzoo cluster, nil for an external one.
	c *cluster.Cluster
	// Topic settings: RF 3 and min.insync.replicas 2 on kzoo.
	replicationFactor int16
	minISR            int
	// prefix makes names unique to the run: an external cluster keeps
	// what earlier runs created.
	prefix string
}

// startTxnCluster starts the cluster every transaction test runs against:
// three brokers, short group timeouts, and a coordinator that looks for
// timed-out transactions twice a second; or, with KZOO_TXN_E2E_BOOTSTRAP,
// the external cluster it names.
func startTxnCluster(t testing.TB) *txnCluster {
	t.Helper()
	if addrs := os.Getenv(txnBootstrapEnv); addrs != "" {
		if testing.Short() {
			t.Skip("skipping: runs against the cluster of " + txnBootstrapEnv)
		}
		tc := &txnCluster{bootstrap: strings.Split(addrs, ","), prefix: fmt.Sprintf("r%x-", time.Now().UnixNano()&0xffffffffff)}
		cl, err := kgo.NewClient(kgo.SeedBrokers(tc.bootstrap...))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
		if err != nil {
			t.Fatalf("%s=%s: %v", txnBootstrapEnv, addrs, err)
		}
		tc.replicationFactor = int16(min(len(meta.Brokers), 3))
		tc.minISR = max(int(tc.replicationFactor)-1, 1)
		requireTransactions(t, tc)
		return tc
	}
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 23000, Env: map[string]string{
		// Below the workers' 6 s session timeouts.
		"KZOO_GROUP_MIN_SESSION_TIMEOUT_MS":     "1000",
		"KZOO_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
		// A killed coordinator's registration lingers for a session timeout.
		"KZOO_ZOOKEEPER_SESSION_TIMEOUT_MS": "6000",
		// TestTransactions/timeout: its transaction times out after 2 s.
		"KZOO_TRANSACTION_ABORT_TIMED_OUT_TRANSACTION_CLEANUP_INTERVAL_MS": "500",
	}})
	tc := &txnCluster{bootstrap: c.Bootstrap(), c: c, replicationFactor: 3, minISR: 2}
	cl := tc.client(t)
	poll.Until(t, 60*time.Second, "all brokers in Metadata", func() bool {
		resp := metadataFrom(cl)
		return resp != nil && len(resp.Brokers) == 3 && resp.ControllerID >= 0
	})
	requireTransactions(t, tc)
	return tc
}

// requireTransactions fails the test at once unless the brokers give a
// transactional producer an id, so that brokers without transactions fail
// every transaction test quickly and with one clear message, not with each
// client's timeout. The first InitProducerId of a cluster may wait for
// __transaction_state to be created and loaded.
func requireTransactions(t testing.TB, tc *txnCluster) {
	t.Helper()
	cl := tc.client(t)
	id := tc.name("txn-probe")
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = kmsg.StringPtr(id)
	req.TransactionTimeoutMillis = 60000
	req.ProducerID, req.ProducerEpoch = -1, -1
	var last error
	if _, ok := poll.Wait(time.Minute, func() (bool, string) {
		// Asked first on its own, so that a failure names its error.
		if _, err := txnCoordinator(cl, id); err != nil {
			last = err
			return false, ""
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			last = fmt.Errorf("InitProducerId: %w", err)
		}
		return err == nil, ""
	}); !ok {
		t.Fatalf("the brokers give no producer id to transactional id %s within a minute (last answer: %v): do they do transactions?", id, last)
	}
}

// name returns name made unique to the run.
func (tc *txnCluster) name(name string) string { return tc.prefix + name }

// createTopic creates a topic with the cluster's replication settings.
func (tc *txnCluster) createTopic(t *testing.T, name string, partitions int32) {
	t.Helper()
	createTopic(t, tc.bootstrap, name, partitions, tc.replicationFactor, map[string]string{
		"min.insync.replicas": fmt.Sprint(tc.minISR),
	})
}

// client returns a franz-go client of the cluster, closed when t ends.
func (tc *txnCluster) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tc.bootstrap...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// supportsKIP447 reports whether every broker takes TxnOffsetCommit v3,
// which carries the group member and generation (Kafka 2.5 and later).
func supportsKIP447(t *testing.T, tc *txnCluster) bool {
	t.Helper()
	for _, addr := range tc.bootstrap {
		cl := admin(t, []string{addr})
		resp := askBroker[*kmsg.ApiVersionsResponse](t, cl, kmsg.NewPtrApiVersionsRequest())
		found := false
		for _, k := range resp.ApiKeys {
			if k.ApiKey == kmsg.TxnOffsetCommit.Int16() {
				found = k.MaxVersion >= 3
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// txnCoordinator returns the node id of the transaction coordinator of
// transactionalID: FindCoordinator with key type 1.
func txnCoordinator(cl *kgo.Client, transactionalID string) (int32, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorType = 1
	req.CoordinatorKey = transactionalID
	req.CoordinatorKeys = []string{transactionalID} // v4 and later
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return -1, fmt.Errorf("FindCoordinator %s: %w", transactionalID, err)
	}
	code, node := resp.ErrorCode, resp.NodeID
	if len(resp.Coordinators) > 0 {
		code, node = resp.Coordinators[0].ErrorCode, resp.Coordinators[0].NodeID
	}
	if err := kerr.ErrorForCode(code); err != nil {
		return -1, fmt.Errorf("FindCoordinator %s: %w", transactionalID, err)
	}
	return node, nil
}

// txnInputs maps each input value to its key. Values are unique: they
// carry the record's sequence number.
type txnInputs map[string]string

// produceTxnInputs writes n keyed records to topic with an idempotent
// producer (acks=all), the input of a copy test.
func produceTxnInputs(t *testing.T, tc *txnCluster, topic string, n int) txnInputs {
	t.Helper()
	cl := tc.client(t, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond), kgo.RecordDeliveryTimeout(time.Minute))
	in := make(txnInputs, n)
	recs := make([]*kgo.Record, 0, n)
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("key-%d", i%997)
		value := fmt.Sprintf("txn-in|%06d|%s", i, strings.Repeat(string(rune('a'+i%26)), 20+i%40))
		in[value] = key
		recs = append(recs, &kgo.Record{Key: []byte(key), Value: []byte(value)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce the input: %v", err)
	}
	return in
}

// txnEndKey is the key of the records that mark the end of a partition of
// an output topic.
const txnEndKey = "txn-end"

// produceEndMarkers writes one record to every partition of topic with an
// idempotent, non-transactional producer. Written after every transaction
// has ended, they are where a reader of the topic knows it has read
// everything: a reader cannot tell the end of a partition otherwise, as
// the last offsets may be transaction markers it never sees.
func produceEndMarkers(t *testing.T, tc *txnCluster, topic string, partitions int) {
	t.Helper()
	cl := tc.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := make([]*kgo.Record, partitions)
	for p := range recs {
		recs[p] = &kgo.Record{Topic: topic, Partition: int32(p), Key: []byte(txnEndKey), Value: fmt.Appendf(nil, "end|%d", p)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("idempotent produce of the end markers of %s: %v", topic, err)
	}
}

// readToEndMarkers reads topic from the start at an isolation level until
// it has the end marker of every partition, and returns what came before
// them.
func readToEndMarkers(t *testing.T, tc *txnCluster, topic string, partitions int, level kgo.IsolationLevel) []record {
	t.Helper()
	cl := tc.client(t,
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(level),
		kgo.FetchMaxWait(250*time.Millisecond),
	)
	var out []record
	ended := map[int32]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for len(ended) < partitions {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: end markers of %d of %d partitions after a minute (%d records)", topic, len(ended), partitions, len(out))
		}
		fetches.EachError(func(topic string, p int32, err error) {
			t.Logf("fetch %s/%d: %v", topic, p, err)
		})
		fetches.EachRecord(func(r *kgo.Record) {
			if string(r.Key) == txnEndKey {
				ended[r.Partition] = true
				return
			}
			if ended[r.Partition] {
				t.Errorf("%s/%d: record at offset %d after the end marker", topic, r.Partition, r.Offset)
			}
			out = append(out, record{partition: r.Partition, offset: r.Offset, key: r.Key, value: r.Value})
		})
	}
	return out
}

// checkCopies checks the outputs of a copy test: the read_committed
// reader's records are the inputs, each exactly once; the read_uncommitted
// reader's are copies of inputs too, at least as many, and more when a
// transaction with records was aborted.
func checkCopies(t *testing.T, in txnInputs, committed, uncommitted []record, someAborted bool) {
	t.Helper()
	seen := make(map[string]int, len(in))
	problems := 0
	report := func(format string, args ...any) {
		problems++
		if problems <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, r := range committed {
		key, ok := in[string(r.value)]
		if !ok || key != string(r.key) {
			report("read_committed: partition %d offset %d: key %q value %q is no input record", r.partition, r.offset, r.key, r.value)
			continue
		}
		seen[string(r.value)]++
		if seen[string(r.value)] == 2 {
			report("read_committed: %q copied twice (again at partition %d offset %d)", r.value, r.partition, r.offset)
		}
	}
	if missing := len(in) - len(seen); missing > 0 {
		report("read_committed: %d of %d input records never copied", missing, len(in))
	}
	for _, r := range uncommitted {
		if key, ok := in[string(r.value)]; !ok || key != string(r.key) {
			report("read_uncommitted: partition %d offset %d: key %q value %q is no input record", r.partition, r.offset, r.key, r.value)
		}
	}
	switch {
	case len(uncommitted) < len(committed):
		t.Errorf("read_uncommitted read %d records, read_committed %d: want at least as many", len(uncommitted), len(committed))
	case someAborted && len(uncommitted) == len(committed):
		t.Errorf("read_uncommitted read %d records, as many as read_committed, but a transaction with records was aborted", len(uncommitted))
	}
	t.Logf("read_committed: %d records, read_uncommitted: %d", len(committed), len(uncommitted))
}

// isFenced reports whether err says a producer's epoch is stale: a newer
// producer with its transactional id fenced it.
func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}

// waitGroupCommitted waits until group has committed, on every partition
// of topic, the end offset of the partition.
func waitGroupCommitted(t *testing.T, tc *txnCluster, group, topic string, partitions int, timeout time.Duration) {
	t.Helper()
	hws := highWatermarks(t, tc.bootstrap, topic, partitions)
	cl := tc.client(t)
	if _, err := pollCommitted(t, cl, group, topic, hws, timeout); err != nil {
		t.Fatal(err)
	}
}

// untilBrokerAnswers waits until a restarted broker answers Metadata.
func untilBrokerAnswers(t *testing.T, tc *txnCluster, id int) {
	t.Helper()
	cl := admin(t, []string{tc.c.BrokerAddr(id)})
	poll.Until(t, 60*time.Second, fmt.Sprintf("broker %d to answer", id), func() bool {
		return metadataFrom(cl) != nil
	})
}
