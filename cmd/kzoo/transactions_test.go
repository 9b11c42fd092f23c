package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/zkpaths"
)

// fakeTxnAdmin is a cluster held in maps. Transactional ids absent from
// descriptions do not exist.
type fakeTxnAdmin struct {
	listings     []txnListing
	listErr      error
	descriptions map[string]txnDescription
	describeErr  error // every DescribeTransactions answer fails with it
	// producers are each partition's producers at its leader; atBroker
	// those at a given broker.
	producers     map[zkpaths.TopicPartition][]producerState
	atBroker      map[int32]map[zkpaths.TopicPartition][]producerState
	producersErr  map[zkpaths.TopicPartition]error
	replicas      map[zkpaths.TopicPartition][]int32
	markerErr     error
	listFilters   []txnListFilter // every ListTransactions call
	described     [][]string      // every DescribeTransactions call
	producerCalls []producerCall  // every DescribeProducers call
	markers       []abortSpec     // every WriteAbortMarker call
}

type producerCall struct {
	tps    []zkpaths.TopicPartition
	broker int32
}

func (f *fakeTxnAdmin) ListTransactions(_ context.Context, filter txnListFilter) ([]txnListing, error) {
	f.listFilters = append(f.listFilters, filter)
	var out []txnListing
	for _, l := range f.listings {
		if (len(filter.States) == 0 || slices.Contains(filter.States, l.State)) &&
			(len(filter.ProducerIDs) == 0 || slices.Contains(filter.ProducerIDs, l.ProducerID)) {
			out = append(out, l)
		}
	}
	return out, f.listErr
}

func (f *fakeTxnAdmin) DescribeTransactions(_ context.Context, ids []string) []txnDescription {
	f.described = append(f.described, ids)
	var out []txnDescription
	for _, id := range ids {
		d, ok := f.descriptions[id]
		switch {
		case f.describeErr != nil:
			d = txnDescription{TransactionalID: id, Err: f.describeErr}
		case !ok:
			d = newTxnDescription(kmsg.DescribeTransactionsResponseTransactionState{
				TransactionalID: id, ErrorCode: kerr.TransactionalIDNotFound.Code,
			}, brokerInfo{})
		}
		out = append(out, d)
	}
	return out
}

func (f *fakeTxnAdmin) DescribeProducers(_ context.Context, tps []zkpaths.TopicPartition, broker int32) producerLookups {
	f.producerCalls = append(f.producerCalls, producerCall{slices.Clone(tps), broker})
	source := f.producers
	if broker != anyBroker {
		source = f.atBroker[broker]
	}
	found := producerLookups{Producers: map[zkpaths.TopicPartition][]producerState{}, Failed: map[zkpaths.TopicPartition]error{}}
	for _, tp := range tps {
		if err, ok := f.producersErr[tp]; ok {
			found.Failed[tp] = err
		} else if ps, ok := source[tp]; ok {
			found.Producers[tp] = ps
		} else {
			found.Failed[tp] = kerr.UnknownTopicOrPartition
		}
	}
	return found
}

func (f *fakeTxnAdmin) WriteAbortMarker(_ context.Context, spec abortSpec) error {
	f.markers = append(f.markers, spec)
	return f.markerErr
}

func (f *fakeTxnAdmin) Replicas(context.Context) (map[zkpaths.TopicPartition][]int32, error) {
	return f.replicas, nil
}

// fakeNow is the clock of the transactions tests.
var fakeNow = time.UnixMilli(1_800_000_000_000)

// runTxn runs `kzoo transactions args...` against f.
func runTxn(t *testing.T, f *fakeTxnAdmin, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runTransactions(context.Background(), txnEnv{admin: f, now: func() time.Time { return fakeNow }}, args, &out)
	return out.String(), err
}

// lines returns the whitespace-separated fields of each line of out.
func lines(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

func TestListTransactionsMergesAndSorts(t *testing.T) {
	f := &fakeTxnAdmin{
		listings: []txnListing{
			{TransactionalID: "payments", ProducerID: 7, State: "Ongoing", Coordinator: 2},
			{TransactionalID: "orders", ProducerID: 3, State: "CompleteCommit", Coordinator: 1},
			// Listed twice while moving between coordinators.
			{TransactionalID: "payments", ProducerID: 7, State: "Ongoing", Coordinator: 3},
			{TransactionalID: "audit", ProducerID: 12, State: "Empty", Coordinator: 3},
		},
		listErr: fmt.Errorf("list transactions of broker 4 (127.0.0.1:9095): %w", errors.New("connection refused")),
	}
	out, err := runTxn(t, f, "list")
	if err == nil || !strings.Contains(err.Error(), "broker 4") {
		t.Errorf("list with a failed broker: error %v, want one naming broker 4", err)
	}
	want := [][]string{
		{"TRANSACTIONAL-ID", "COORDINATOR", "STATE", "PRODUCER-ID"},
		{"audit", "3", "Empty", "12"},
		{"orders", "1", "CompleteCommit", "3"},
		{"payments", "2", "Ongoing", "7"},
	}
	if rows := lines(out); !reflect.DeepEqual(rows, want) {
		t.Errorf("list printed %q, want %q", rows, want)
	}
}

func TestListTransactionsFilters(t *testing.T) {
	f := &fakeTxnAdmin{listings: []txnListing{
		{TransactionalID: "a", ProducerID: 1, State: "Ongoing", Coordinator: 1},
		{TransactionalID: "b", ProducerID: 2, State: "PrepareAbort", Coordinator: 1},
		{TransactionalID: "c", ProducerID: 3, State: "Ongoing", Coordinator: 1},
	}}
	out, err := runTxn(t, f, "list", "--state", "ongoing", "--state", "PrepareAbort", "--producer-id", "2", "--producer-id", "3")
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	wantFilter := []txnListFilter{{States: []string{"Ongoing", "PrepareAbort"}, ProducerIDs: []int64{2, 3}}}
	if !reflect.DeepEqual(f.listFilters, wantFilter) {
		t.Errorf("filters sent %+v, want %+v (states named as Kafka names them)", f.listFilters, wantFilter)
	}
	if rows := lines(out); len(rows) != 3 || rows[1][0] != "b" || rows[2][0] != "c" {
		t.Errorf("list printed %q, want b and c", rows)
	}
}

func TestDescribeTransaction(t *testing.T) {
	f := &fakeTxnAdmin{descriptions: map[string]txnDescription{
		"payments": {
			TransactionalID: "payments", Coordinator: brokerInfo{ID: 2, Host: "h", Port: 9093},
			ProducerID: 7, ProducerEpoch: 3, State: "Ongoing", TimeoutMillis: 60000,
			StartMillis: fakeNow.UnixMilli() - 4500,
			Partitions:  []zkpaths.TopicPartition{tp("orders", 0), tp("orders", 2), tp("refunds", 1)},
		},
		"idle": {TransactionalID: "idle", Coordinator: brokerInfo{ID: 1}, ProducerID: 9, State: "CompleteCommit",
			TimeoutMillis: 60000, StartMillis: fakeNow.UnixMilli() - 999_999},
		"fresh": {TransactionalID: "fresh", Coordinator: brokerInfo{ID: 1}, ProducerID: 10, State: "Empty", TimeoutMillis: 60000, StartMillis: -1},
	}}
	for _, c := range []struct {
		id   string
		want []string
	}{
		{"payments", []string{"2", "payments", "7", "3", "Ongoing", "60000", fmt.Sprint(fakeNow.UnixMilli() - 4500), "4500", "orders-0,orders-2,refunds-1"}},
		// A completed transaction has a start time but no duration.
		{"idle", []string{"1", "idle", "9", "0", "CompleteCommit", "60000", fmt.Sprint(fakeNow.UnixMilli() - 999_999), "-", "-"}},
		{"fresh", []string{"1", "fresh", "10", "0", "Empty", "60000", "-", "-", "-"}},
	} {
		out, err := runTxn(t, f, "describe", "--transactional-id", c.id)
		if err != nil {
			t.Fatalf("describe %s: %v", c.id, err)
		}
		rows := lines(out)
		header := []string{"COORDINATOR", "TRANSACTIONAL-ID", "PRODUCER-ID", "PRODUCER-EPOCH", "STATE", "TIMEOUT-MS", "START-TIME-MS", "DURATION-MS", "TOPIC-PARTITIONS"}
		if want := [][]string{header, c.want}; !reflect.DeepEqual(rows, want) {
			t.Errorf("describe %s printed %q, want %q", c.id, rows, want)
		}
	}
}

func TestDescribeUnknownTransactionalID(t *testing.T) {
	f := &fakeTxnAdmin{}
	out, err := runTxn(t, f, "describe", "--transactional-id", "nope")
	if !errors.Is(err, kerr.TransactionalIDNotFound) {
		t.Fatalf("describe of an unknown id: error %v, want TRANSACTIONAL_ID_NOT_FOUND", err)
	}
	if got, want := formatError(err), `transactional id "nope" does not exist (never used, or expired) (TRANSACTIONAL_ID_NOT_FOUND)`; got != want {
		t.Errorf("error prints %q, want %q", got, want)
	}
	if out != "" {
		t.Errorf("describe of an unknown id printed %q", out)
	}
}

func TestDescribeProducers(t *testing.T) {
	f := &fakeTxnAdmin{
		producers: map[zkpaths.TopicPartition][]producerState{tp("orders", 1): {
			{ProducerID: 9, ProducerEpoch: 0, LastSequence: 41, LastTimestamp: 1000, CoordinatorEpoch: -1, TxnStartOffset: -1},
			{ProducerID: 4, ProducerEpoch: 2, LastSequence: 7, LastTimestamp: 2000, CoordinatorEpoch: 5, TxnStartOffset: 120},
		}},
		atBroker: map[int32]map[zkpaths.TopicPartition][]producerState{3: {tp("orders", 1): {
			{ProducerID: 4, ProducerEpoch: 2, LastSequence: 6, LastTimestamp: 1900, CoordinatorEpoch: 5, TxnStartOffset: 120},
		}}},
	}
	out, err := runTxn(t, f, "describe-producers", "--topic", "orders", "--partition", "1")
	if err != nil {
		t.Fatalf("describe-producers: %v", err)
	}
	want := [][]string{
		{"PRODUCER-ID", "PRODUCER-EPOCH", "LATEST-COORDINATOR-EPOCH", "LAST-SEQUENCE", "LAST-TIMESTAMP", "CURRENT-TXN-START-OFFSET"},
		{"4", "2", "5", "7", "2000", "120"},
		{"9", "0", "-1", "41", "1000", "-"},
	}
	if rows := lines(out); !reflect.DeepEqual(rows, want) {
		t.Errorf("describe-producers printed %q, want %q", rows, want)
	}

	out, err = runTxn(t, f, "describe-producers", "--topic", "orders", "--partition", "1", "--broker-id", "3")
	if err != nil {
		t.Fatalf("describe-producers --broker-id 3: %v", err)
	}
	if rows := lines(out); len(rows) != 2 || rows[1][3] != "6" {
		t.Errorf("describe-producers at broker 3 printed %q, want broker 3's producer", rows)
	}
	wantCalls := []producerCall{{[]zkpaths.TopicPartition{tp("orders", 1)}, anyBroker}, {[]zkpaths.TopicPartition{tp("orders", 1)}, 3}}
	if !reflect.DeepEqual(f.producerCalls, wantCalls) {
		t.Errorf("DescribeProducers calls %+v, want %+v", f.producerCalls, wantCalls)
	}

	_, err = runTxn(t, f, "describe-producers", "--topic", "gone", "--partition", "0")
	if !errors.Is(err, kerr.UnknownTopicOrPartition) || !strings.Contains(err.Error(), "partition gone-0 does not exist") {
		t.Errorf("describe-producers of a missing partition: error %v", err)
	}
	_, err = runTxn(t, f, "describe-producers", "--topic", "orders", "--partition", "0", "--broker-id", "3")
	if !errors.Is(err, kerr.UnknownTopicOrPartition) || !strings.Contains(err.Error(), "broker 3 has no replica of orders-0") {
		t.Errorf("describe-producers at a broker without the partition: error %v", err)
	}
}

// TestUnsupportedAPI is what a broker without KIP-664 (Kafka before 3.0)
// makes the commands say.
func TestUnsupportedAPI(t *testing.T) {
	unsupported := explained(kerr.UnsupportedVersion, "the broker does not support %s", "DescribeProducers (KIP-664)")
	f := &fakeTxnAdmin{producersErr: map[zkpaths.TopicPartition]error{tp("orders", 0): unsupported}}
	_, err := runTxn(t, f, "describe-producers", "--topic", "orders", "--partition", "0")
	want := "describe producers of orders-0 at its leader: the broker does not support DescribeProducers (KIP-664) (UNSUPPORTED_VERSION)"
	if err == nil || formatError(err) != want {
		t.Errorf("describe-producers at an old broker: error %q, want %q", formatError(err), want)
	}

	f = &fakeTxnAdmin{listErr: fmt.Errorf("list transactions of broker 1 (h:9092): %w",
		explained(kerr.UnsupportedVersion, "the broker does not support %s", "ListTransactions (KIP-664)"))}
	out, err := runTxn(t, f, "list")
	want = "list transactions of broker 1 (h:9092): the broker does not support ListTransactions (KIP-664) (UNSUPPORTED_VERSION)"
	if err == nil || formatError(err) != want {
		t.Errorf("list at an old broker: error %q, want %q", formatError(err), want)
	}
	if rows := lines(out); len(rows) != 1 {
		t.Errorf("list at an old broker printed %q, want only the header", rows)
	}
}

func hangingPartition() *fakeTxnAdmin {
	return &fakeTxnAdmin{producers: map[zkpaths.TopicPartition][]producerState{tp("orders", 0): {
		{ProducerID: 4, ProducerEpoch: 2, LastSequence: 7, LastTimestamp: 2000, CoordinatorEpoch: 5, TxnStartOffset: 120},
		{ProducerID: 8, ProducerEpoch: 1, LastSequence: 3, LastTimestamp: 2500, CoordinatorEpoch: -1, TxnStartOffset: 130},
		{ProducerID: 9, ProducerEpoch: 0, LastSequence: 41, LastTimestamp: 1000, CoordinatorEpoch: 3, TxnStartOffset: -1},
	}}}
}

func TestAbortByStartOffset(t *testing.T) {
	f := hangingPartition()
	out, err := runTxn(t, f, "abort", "--topic", "orders", "--partition", "0", "--start-offset", "120")
	if err != nil {
		t.Fatalf("abort: %v", err)
	}
	want := []abortSpec{{TopicPartition: tp("orders", 0), ProducerID: 4, ProducerEpoch: 2, CoordinatorEpoch: 5}}
	if !reflect.DeepEqual(f.markers, want) {
		t.Errorf("markers %+v, want %+v", f.markers, want)
	}
	if wantOut := "Aborted the transaction of producer 4 (epoch 2, coordinator epoch 5) on orders-0, which started at offset 120.\n"; out != wantOut {
		t.Errorf("abort printed %q, want %q", out, wantOut)
	}
	if len(f.producerCalls) != 1 || f.producerCalls[0].broker != anyBroker {
		t.Errorf("DescribeProducers calls %+v, want one at the leader", f.producerCalls)
	}

	// No marker was ever written for producer 8: coordinator epoch 0.
	f = hangingPartition()
	if _, err := runTxn(t, f, "abort", "--topic", "orders", "--partition", "0", "--start-offset", "130"); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if want := []abortSpec{{TopicPartition: tp("orders", 0), ProducerID: 8, ProducerEpoch: 1, CoordinatorEpoch: 0}}; !reflect.DeepEqual(f.markers, want) {
		t.Errorf("markers %+v, want %+v", f.markers, want)
	}
}

func TestAbortWithoutSuchTransaction(t *testing.T) {
	f := hangingPartition()
	_, err := runTxn(t, f, "abort", "--topic", "orders", "--partition", "0", "--start-offset", "125")
	if err == nil || err.Error() != "no open transaction starts at offset 125 on orders-0 (its open transactions start at 120, 130)" {
		t.Errorf("abort at an offset no transaction starts at: error %v", err)
	}
	if len(f.markers) != 0 {
		t.Errorf("a marker was sent: %+v", f.markers)
	}
}

func TestAbortByProducer(t *testing.T) {
	f := hangingPartition()
	out, err := runTxn(t, f, "abort", "--topic", "orders", "--partition", "0",
		"--producer-id", "8", "--producer-epoch", "1", "--coordinator-epoch", "-1")
	if err != nil {
		t.Fatalf("abort: %v", err)
	}
	if want := []abortSpec{{TopicPartition: tp("orders", 0), ProducerID: 8, ProducerEpoch: 1, CoordinatorEpoch: 0}}; !reflect.DeepEqual(f.markers, want) {
		t.Errorf("markers %+v, want %+v", f.markers, want)
	}
	if len(f.producerCalls) != 0 {
		t.Errorf("abort with the producer given described producers: %+v", f.producerCalls)
	}
	if !strings.HasPrefix(out, "Aborted the transaction of producer 8 (epoch 1, coordinator epoch 0) on orders-0.") {
		t.Errorf("abort printed %q", out)
	}
}

func TestAbortRefused(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{kerr.InvalidProducerEpoch, "producer 4 has an epoch newer than 2 there, so its transaction was already ended or fenced"},
		{kerr.TransactionCoordinatorFenced, "coordinator epoch 5 is older than the one orders-0 last saw for producer 4"},
		{kerr.NotLeaderForPartition, "its leadership moved"},
		{kerr.ClusterAuthorizationFailed, "needs ClusterAction"},
		{errors.New("connection reset"), "abort the transaction of producer 4 on orders-0: connection reset"},
	} {
		f := hangingPartition()
		f.markerErr = c.err
		out, err := runTxn(t, f, "abort", "--topic", "orders", "--partition", "0", "--start-offset", "120")
		if !errors.Is(err, c.err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("leader answering %v: error %v, want one containing %q", c.err, err, c.want)
		}
		if out != "" {
			t.Errorf("leader answering %v: printed %q", c.err, out)
		}
	}
}

func TestTransactionsUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "want list, describe, describe-producers, abort or find-hanging (try kzoo transactions --help)"},
		{[]string{"commit"}, `unknown subcommand "commit"`},
		{[]string{"list", "x"}, `unexpected argument "x"`},
		{[]string{"list", "--state", "Running"}, `invalid value "Running" for flag -state: want one of Empty, Ongoing`},
		{[]string{"list", "--producer-id", "x"}, `invalid value "x" for flag -producer-id: want a producer id`},
		{[]string{"list", "--producer-id", "-2"}, "want a producer id (0 or more)"},
		{[]string{"describe"}, "give --transactional-id ID"},
		{[]string{"describe", "--transactional-id", ""}, "give --transactional-id ID"},
		{[]string{"describe-producers", "--topic", "t"}, "give --topic T and --partition P"},
		{[]string{"describe-producers", "--partition", "0"}, "give --topic T and --partition P"},
		{[]string{"describe-producers", "--topic", "t", "--partition", "-1"}, "want a partition number (0 or more)"},
		{[]string{"describe-producers", "--topic", "t", "--partition", "0", "--broker-id", "one"}, "want a broker id"},
		{[]string{"abort", "--topic", "t", "--partition", "0"}, "give --start-offset O, or --producer-id N"},
		{[]string{"abort", "--partition", "0", "--start-offset", "3"}, "give --topic T and --partition P"},
		{[]string{"abort", "--topic", "t", "--partition", "0", "--start-offset", "3", "--producer-id", "1"}, "--start-offset excludes --producer-id"},
		{[]string{"abort", "--topic", "t", "--partition", "0", "--producer-id", "1", "--producer-epoch", "0"}, "go together"},
		{[]string{"abort", "--topic", "t", "--partition", "0", "--start-offset", "-5"}, "want an offset (0 or more)"},
		{[]string{"abort", "--topic", "t", "--partition", "0", "--producer-id", "1", "--producer-epoch", "40000", "--coordinator-epoch", "0"}, "want a producer epoch (0 to 32767)"},
		{[]string{"find-hanging"}, "give --broker-id N or --topic T"},
		{[]string{"find-hanging", "--broker-id", "1", "--partition", "0"}, "--partition needs --topic"},
		{[]string{"find-hanging", "--broker-id", "1", "--max-transaction-timeout", "0"}, "want a number of minutes (1 or more)"},
	} {
		f := hangingPartition()
		if _, err := runTxn(t, f, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("transactions %q: error %v, want one containing %q", c.args, err, c.want)
		}
		if len(f.listFilters)+len(f.described)+len(f.producerCalls)+len(f.markers) > 0 {
			t.Errorf("transactions %q sent requests despite bad arguments", c.args)
		}
	}
}

func TestTransactionsHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"abort", "--help"}, {"list", "-h"}} {
		out, err := runTxn(t, &fakeTxnAdmin{}, args...)
		if err != nil || !strings.Contains(out, "transactions find-hanging --broker-id N") {
			t.Errorf("transactions %q: error %v, printed %q", args, err, out)
		}
	}
	var out strings.Builder
	// An unreachable bootstrap server: help must not need the cluster.
	if err := run([]string{"--bootstrap-server", "127.0.0.1:1", "transactions", "describe", "--help"}, &out); err != nil {
		t.Errorf("kzoo transactions describe --help: %v", err)
	}
	if !strings.Contains(out.String(), "Usage: kzoo [--bootstrap-server HOST:PORT] transactions SUBCOMMAND") {
		t.Errorf("kzoo transactions describe --help printed %q", out.String())
	}
}

// minutesAgo is the Unix milliseconds of n minutes before fakeNow.
func minutesAgo(n int64) int64 { return fakeNow.UnixMilli() - n*time.Minute.Milliseconds() }

// hangingBroker is broker 1 holding orders-0 and refunds-0 with open
// transactions of every kind.
func hangingBroker() *fakeTxnAdmin {
	return &fakeTxnAdmin{
		replicas: map[zkpaths.TopicPartition][]int32{
			tp("orders", 0): {1, 2}, tp("orders", 1): {2, 3}, tp("refunds", 0): {3, 1},
		},
		atBroker: map[int32]map[zkpaths.TopicPartition][]producerState{1: {
			tp("orders", 0): {
				// Open, old, and its coordinator counts orders-0 in it.
				{ProducerID: 4, ProducerEpoch: 2, LastTimestamp: minutesAgo(20), CoordinatorEpoch: 5, TxnStartOffset: 120},
				// Open, old, and no transactional id has producer 8.
				{ProducerID: 8, ProducerEpoch: 1, LastTimestamp: minutesAgo(30), CoordinatorEpoch: -1, TxnStartOffset: 130},
				// Old but not in a transaction.
				{ProducerID: 9, LastTimestamp: minutesAgo(90), CoordinatorEpoch: 3, TxnStartOffset: -1},
			},
			tp("refunds", 0): {
				// Producer 4's transaction does not count refunds-0.
				{ProducerID: 4, ProducerEpoch: 2, LastTimestamp: minutesAgo(20), CoordinatorEpoch: 5, TxnStartOffset: 50},
				// Open but younger than the maximum timeout.
				{ProducerID: 11, LastTimestamp: minutesAgo(1), CoordinatorEpoch: 1, TxnStartOffset: 60},
				// Its transactional id expired after it was listed.
				{ProducerID: 12, ProducerEpoch: 7, LastTimestamp: minutesAgo(16), CoordinatorEpoch: 2, TxnStartOffset: 70},
			},
		}},
		listings: []txnListing{
			{TransactionalID: "payments", ProducerID: 4, State: "Ongoing", Coordinator: 2},
			{TransactionalID: "gone", ProducerID: 12, State: "Ongoing", Coordinator: 3},
			{TransactionalID: "other", ProducerID: 20, State: "Ongoing", Coordinator: 3},
		},
		descriptions: map[string]txnDescription{
			"payments": {TransactionalID: "payments", ProducerID: 4, ProducerEpoch: 2, State: "Ongoing",
				Partitions: []zkpaths.TopicPartition{tp("orders", 0), tp("orders", 1)}},
		},
	}
}

func TestFindHanging(t *testing.T) {
	f := hangingBroker()
	out, err := runTxn(t, f, "find-hanging", "--broker-id", "1")
	if err != nil {
		t.Fatalf("find-hanging: %v\n%s", err, out)
	}
	rows := lines(out)
	want := [][]string{
		{"TOPIC", "PARTITION", "PRODUCER-ID", "PRODUCER-EPOCH", "COORDINATOR-EPOCH", "START-OFFSET", "LAST-TIMESTAMP", "DURATION-MIN"},
		{"orders", "0", "8", "1", "-1", "130", fmt.Sprint(minutesAgo(30)), "30"},
		{"refunds", "0", "4", "2", "5", "50", fmt.Sprint(minutesAgo(20)), "20"},
		{"refunds", "0", "12", "7", "2", "70", fmt.Sprint(minutesAgo(16)), "16"},
	}
	if len(rows) < len(want) || !reflect.DeepEqual(rows[:len(want)], want) {
		t.Errorf("find-hanging printed %q, want %q", rows, want)
	}
	if !strings.Contains(out, "kzoo transactions abort --topic TOPIC --partition PARTITION --start-offset START-OFFSET") {
		t.Errorf("find-hanging does not say how to abort:\n%s", out)
	}
	wantCalls := []producerCall{{[]zkpaths.TopicPartition{tp("orders", 0), tp("refunds", 0)}, 1}}
	if !reflect.DeepEqual(f.producerCalls, wantCalls) {
		t.Errorf("DescribeProducers calls %+v, want %+v (broker 1's replicas, at broker 1)", f.producerCalls, wantCalls)
	}
	if want := []txnListFilter{{ProducerIDs: []int64{4, 8, 12}}}; !reflect.DeepEqual(f.listFilters, want) {
		t.Errorf("ListTransactions filters %+v, want %+v", f.listFilters, want)
	}
	if want := [][]string{{"gone", "payments"}}; !reflect.DeepEqual(f.described, want) {
		t.Errorf("described %q, want %q", f.described, want)
	}
}

func TestFindHangingMaxTimeout(t *testing.T) {
	out, err := runTxn(t, hangingBroker(), "find-hanging", "--broker-id", "1", "--max-transaction-timeout", "25")
	if err != nil {
		t.Fatalf("find-hanging: %v", err)
	}
	if rows := lines(out); len(rows) != 3 || rows[1][2] != "8" {
		t.Errorf("find-hanging with a 25 minute timeout printed %q, want only producer 8", rows)
	}
}

func TestFindHangingWithoutAnyLongTransaction(t *testing.T) {
	f := hangingBroker()
	out, err := runTxn(t, f, "find-hanging", "--broker-id", "1", "--max-transaction-timeout", "120")
	if err != nil {
		t.Fatalf("find-hanging: %v", err)
	}
	if rows := lines(out); len(rows) != 1 {
		t.Errorf("find-hanging printed %q, want only the header", rows)
	}
	if len(f.listFilters)+len(f.described) > 0 {
		t.Errorf("asked the coordinators with nothing to ask: %+v %q", f.listFilters, f.described)
	}
}

// TestFindHangingNeedsEveryCoordinator: without every coordinator's list,
// a live transaction would look hanging.
func TestFindHangingNeedsEveryCoordinator(t *testing.T) {
	f := hangingBroker()
	f.listErr = errors.New("list transactions of broker 3 (h:9094): connection refused")
	out, err := runTxn(t, f, "find-hanging", "--broker-id", "1")
	if err == nil || !strings.Contains(err.Error(), "cannot ask the coordinators about 4 long open transactions") || !strings.Contains(err.Error(), "broker 3") {
		t.Errorf("find-hanging with a broker down: error %v", err)
	}
	if out != "" {
		t.Errorf("find-hanging with a broker down printed %q", out)
	}

	f = hangingBroker()
	f.describeErr = kerr.CoordinatorLoadInProgress
	if _, err := runTxn(t, f, "find-hanging", "--broker-id", "1"); !errors.Is(err, kerr.CoordinatorLoadInProgress) {
		t.Errorf("find-hanging with a coordinator loading: error %v", err)
	}
}

func TestFindHangingByTopic(t *testing.T) {
	f := hangingBroker()
	f.producers = map[zkpaths.TopicPartition][]producerState{
		tp("orders", 0): {{ProducerID: 8, ProducerEpoch: 1, LastTimestamp: minutesAgo(30), CoordinatorEpoch: -1, TxnStartOffset: 130}},
	}
	out, err := runTxn(t, f, "find-hanging", "--topic", "orders")
	// orders-1 has no producers at its leader in the fake: reported, after
	// the rest is printed.
	if err == nil || !strings.Contains(err.Error(), "describe producers of orders-1") {
		t.Errorf("find-hanging --topic orders: error %v, want one naming orders-1", err)
	}
	if rows := lines(out); len(rows) < 2 || rows[1][0] != "orders" || rows[1][2] != "8" {
		t.Errorf("find-hanging --topic orders printed %q", rows)
	}
	wantCalls := []producerCall{{[]zkpaths.TopicPartition{tp("orders", 0), tp("orders", 1)}, anyBroker}}
	if !reflect.DeepEqual(f.producerCalls, wantCalls) {
		t.Errorf("DescribeProducers calls %+v, want %+v", f.producerCalls, wantCalls)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--topic", "nope"}, "topic nope does not exist"},
		{[]string{"--topic", "orders", "--partition", "5"}, "topic orders has no partition 5"},
	} {
		f := hangingBroker()
		if _, err := runTxn(t, f, append([]string{"find-hanging"}, c.args...)...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("find-hanging %q: error %v, want one containing %q", c.args, err, c.want)
		}
		if len(f.producerCalls) > 0 {
			t.Errorf("find-hanging %q described producers", c.args)
		}
	}
}

func TestProducerFailuresSaidOncePerReason(t *testing.T) {
	tooOld := explained(kerr.UnsupportedVersion, "the broker does not support DescribeProducers (KIP-664)")
	failed := map[zkpaths.TopicPartition]error{tp("b", 0): kerr.NotLeaderForPartition}
	for p := range int32(7) {
		failed[tp("a", p)] = tooOld
	}
	err := producerFailures(failed)
	want := "describe producers of a-0, a-1, a-2, a-3, a-4 and 2 more: the broker does not support DescribeProducers (KIP-664) (UNSUPPORTED_VERSION)\n" +
		"describe producers of b-0: this server is not the leader for that topic-partition (NOT_LEADER_FOR_PARTITION)"
	if got := formatError(err); got != want {
		t.Errorf("producerFailures printed\n%s\nwant\n%s", got, want)
	}
	if !errors.Is(err, kerr.UnsupportedVersion) || !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Errorf("producerFailures lost the errors: %v", err)
	}
}

func TestUnsupportedNamesTheAPI(t *testing.T) {
	a := clusterAdmin{} // the paths below ask no broker
	meta := kgo.BrokerMetadata{NodeID: -1}
	err := a.unsupported(context.Background(), kmsg.NewPtrListTransactionsRequest(), meta, kerr.UnsupportedVersion)
	if want := "the broker does not support ListTransactions (KIP-664) (UNSUPPORTED_VERSION)"; formatError(err) != want {
		t.Errorf("UNSUPPORTED_VERSION: %q, want %q", formatError(err), want)
	}
	if err := a.unsupported(context.Background(), kmsg.NewPtrListTransactionsRequest(), meta, kerr.CoordinatorNotAvailable); err != kerr.CoordinatorNotAvailable {
		t.Errorf("another Kafka error came back as %v", err)
	}
}

func TestNewTxnDescription(t *testing.T) {
	coordinator := brokerInfo{ID: 1, Host: "h", Port: 9092}
	state := kmsg.NewDescribeTransactionsResponseTransactionState()
	state.TransactionalID, state.State, state.ProducerID, state.ProducerEpoch = "t", "Ongoing", 5, 2
	state.TimeoutMillis, state.StartTimestamp = 60000, 1234
	for _, topic := range []struct {
		name       string
		partitions []int32
	}{{"b", []int32{3, 1}}, {"a", []int32{0}}} {
		st := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
		st.Topic, st.Partitions = topic.name, topic.partitions
		state.Topics = append(state.Topics, st)
	}
	want := txnDescription{TransactionalID: "t", Coordinator: coordinator, ProducerID: 5, ProducerEpoch: 2, State: "Ongoing",
		TimeoutMillis: 60000, StartMillis: 1234, Partitions: []zkpaths.TopicPartition{tp("a", 0), tp("b", 1), tp("b", 3)}}
	if d := newTxnDescription(state, coordinator); !reflect.DeepEqual(d, want) {
		t.Errorf("description %+v, want %+v", d, want)
	}

	loading := kmsg.NewDescribeTransactionsResponseTransactionState()
	loading.TransactionalID, loading.ErrorCode = "t", kerr.CoordinatorLoadInProgress.Code
	if d := newTxnDescription(loading, coordinator); !errors.Is(d.Err, kerr.CoordinatorLoadInProgress) || errors.Is(d.Err, kerr.TransactionalIDNotFound) {
		t.Errorf("COORDINATOR_LOAD_IN_PROGRESS: Err %v", d.Err)
	}
}
