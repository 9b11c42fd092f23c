package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kzoo/kzoo/zkpaths"
)

const transactionsHelp = `Usage: kzoo [--bootstrap-server HOST:PORT] transactions SUBCOMMAND

The operator's view of transactions, like kafka-transactions.sh (KIP-664).

  transactions list [--state STATE]... [--producer-id N]...
      every transactional id (each broker is asked for those it coordinates) with
      its coordinator, state and producer id; --state and --producer-id keep only
      the ids in one of the given states or with one of the given producer ids
      (states: Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit,
      CompleteAbort, PrepareEpochFence, Dead)
  transactions describe --transactional-id ID
      the id's coordinator, producer id and epoch, state, timeout, the start time
      and duration of its current transaction and the partitions in it
  transactions describe-producers --topic T --partition P [--broker-id N]
      the active producers of a partition as its leader (or broker N, which may
      be a follower) sees them: epoch, coordinator epoch of the last marker, last
      sequence and timestamp, and the first offset of the open transaction
  transactions abort --topic T --partition P --start-offset O
  transactions abort --topic T --partition P --producer-id N --producer-epoch E --coordinator-epoch C
      end a hanging transaction on one partition by writing an abort marker
      (WriteTxnMarkers) at its leader: the transaction that starts at offset O
      (found with DescribeProducers), or the given producer's
  transactions find-hanging --broker-id N [--topic T [--partition P]] [--max-transaction-timeout MINUTES]
      the transactions open on broker N's replicas for longer than the maximum
      transaction timeout (default 15 minutes) whose coordinator no longer
      counts the partition in them: they hold back the last stable offset until
      aborted
`

// txnEnv is what every transactions subcommand runs with: the cluster and
// the clock durations are measured with.
type txnEnv struct {
	admin txnAdmin
	now   func() time.Time
}

// transactionsCommand runs `kzoo transactions ...`, the counterpart of
// kafka-transactions.sh.
func transactionsCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	return runTransactions(ctx, txnEnv{admin: clusterAdmin{cl: cl}, now: time.Now}, args, out)
}

// transactionsSubcommands are the subcommands of `kzoo transactions`, in
// the order its usage error names them.
var transactionsSubcommands = []subcommand[txnEnv]{
	{"list", listTransactions},
	{"describe", describeTransaction},
	{"describe-producers", describeProducers},
	{"abort", abortTransaction},
	{"find-hanging", findHangingTransactions},
}

// runTransactions runs a transactions subcommand in env.
func runTransactions(ctx context.Context, env txnEnv, args []string, out io.Writer) error {
	return runSubcommand(ctx, "transactions", transactionsHelp, env, args, out, transactionsSubcommands)
}

// txnStates are the states of a transactional id, as Kafka's coordinators
// name them in ListTransactions and DescribeTransactions.
var txnStates = []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "PrepareEpochFence", "Dead"}

// numberFlag is a numeric flag that records whether it was given and
// refuses, in words, anything but a whole number in [min, max].
type numberFlag struct {
	value    int64
	set      bool
	min, max int64
	want     string // what the flag takes, for its error: "a partition number"
}

func (f *numberFlag) String() string { return strconv.FormatInt(f.value, 10) }

func (f *numberFlag) Set(v string) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < f.min || n > f.max {
		return fmt.Errorf("want %s", f.want)
	}
	f.value, f.set = n, true
	return nil
}

func partitionFlag() *numberFlag {
	return &numberFlag{min: 0, max: math.MaxInt32, want: "a partition number (0 or more)"}
}

func brokerIDFlag() *numberFlag {
	return &numberFlag{min: 0, max: math.MaxInt32, want: "a broker id (0 or more)"}
}

func producerIDFlag() *numberFlag {
	return &numberFlag{min: 0, max: math.MaxInt64, want: "a producer id (0 or more)"}
}

// producerIDsFlag collects repeated --producer-id flags.
type producerIDsFlag []int64

func (f *producerIDsFlag) String() string { return fmt.Sprint([]int64(*f)) }

func (f *producerIDsFlag) Set(v string) error {
	id := producerIDFlag()
	if err := id.Set(v); err != nil {
		return err
	}
	*f = append(*f, id.value)
	return nil
}

// statesFlag collects repeated --state flags, each named as Kafka names it
// whatever its case.
type statesFlag []string

func (f *statesFlag) String() string { return strings.Join(*f, ",") }

func (f *statesFlag) Set(v string) error {
	for _, s := range txnStates {
		if strings.EqualFold(s, v) {
			*f = append(*f, s)
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(txnStates, ", "))
}

// parseTxnArgs parses a subcommand's flags, which take no positional
// arguments.
func parseTxnArgs(fs *flag.FlagSet, args []string, out io.Writer) (helped bool, err error) {
	rest, helped, err := parseArgs(fs, transactionsHelp, args, out)
	if err != nil || helped {
		return helped, err
	}
	if len(rest) > 0 {
		return false, fmt.Errorf("%s: unexpected argument %q (try --help)", fs.Name(), rest[0])
	}
	return false, nil
}

// listTransactions prints every transactional id of the cluster, or those
// the filters keep, with its coordinator, state and producer id. Brokers
// that fail to answer make it fail after printing what the others said.
func listTransactions(ctx context.Context, env txnEnv, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("transactions list", flag.ContinueOnError)
	var filter txnListFilter
	fs.Var((*statesFlag)(&filter.States), "state", "")
	fs.Var((*producerIDsFlag)(&filter.ProducerIDs), "producer-id", "")
	if helped, err := parseTxnArgs(fs, args, out); err != nil || helped {
		return err
	}
	listings, listErr := env.admin.ListTransactions(ctx, filter)
	// An id moving between coordinators may be listed by both.
	slices.SortStableFunc(listings, func(a, b txnListing) int { return strings.Compare(a.TransactionalID, b.TransactionalID) })
	listings = slices.CompactFunc(listings, func(a, b txnListing) bool { return a.TransactionalID == b.TransactionalID })

	tw := newTable(out)
	fmt.Fprintln(tw, "TRANSACTIONAL-ID\tCOORDINATOR\tSTATE\tPRODUCER-ID")
	for _, l := range listings {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", l.TransactionalID, l.Coordinator, orDash(l.State), l.ProducerID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return listErr
}

// txnInProgress reports whether a transactional id in state has a current
// transaction, whose duration is worth printing.
func txnInProgress(state string) bool {
	switch state {
	case "Ongoing", "PrepareCommit", "PrepareAbort", "PrepareEpochFence":
		return true
	}
	return false
}

// describeTransaction prints one transactional id as its coordinator sees
// it, with kafka-transactions.sh's columns.
func describeTransaction(ctx context.Context, env txnEnv, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("transactions describe", flag.ContinueOnError)
	id := fs.String("transactional-id", "", "")
	if helped, err := parseTxnArgs(fs, args, out); err != nil || helped {
		return err
	}
	if *id == "" {
		return errors.New("transactions describe: give --transactional-id ID")
	}
	d := env.admin.DescribeTransactions(ctx, []string{*id})[0]
	if d.Err != nil {
		return d.Err
	}
	start, duration := "-", "-"
	if d.StartMillis >= 0 {
		start = strconv.FormatInt(d.StartMillis, 10)
		// Kafka's tool prints the time since the last transaction began
		// in every state; once it is complete that is no duration of
		// anything, so here it is left out.
		if txnInProgress(d.State) {
			duration = strconv.FormatInt(env.now().UnixMilli()-d.StartMillis, 10)
		}
	}
	names := make([]string, len(d.Partitions))
	for i, tp := range d.Partitions {
		names[i] = partitionName(tp)
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "COORDINATOR\tTRANSACTIONAL-ID\tPRODUCER-ID\tPRODUCER-EPOCH\tSTATE\tTIMEOUT-MS\tSTART-TIME-MS\tDURATION-MS\tTOPIC-PARTITIONS")
	fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%d\t%s\t%s\t%s\n", d.Coordinator.ID, d.TransactionalID, d.ProducerID, d.ProducerEpoch,
		orDash(d.State), d.TimeoutMillis, start, duration, orDash(strings.Join(names, ",")))
	return tw.Flush()
}

// partitionProducers returns the producers of tp from broker (anyBroker:
// its leader), sorted by producer id.
func partitionProducers(ctx context.Context, admin txnAdmin, tp zkpaths.TopicPartition, broker int32) ([]producerState, error) {
	at := "its leader"
	if broker != anyBroker {
		at = "broker " + strconv.Itoa(int(broker))
	}
	found := admin.DescribeProducers(ctx, []zkpaths.TopicPartition{tp}, broker)
	if err, failed := found.Failed[tp]; failed {
		switch {
		case errors.Is(err, kerr.UnknownTopicOrPartition) && broker == anyBroker:
			return nil, explained(err, "partition %s does not exist", partitionName(tp))
		case errors.Is(err, kerr.UnknownTopicOrPartition), errors.Is(err, kerr.NotLeaderForPartition) && broker != anyBroker:
			return nil, explained(err, "%s has no replica of %s (or the partition does not exist)", at, partitionName(tp))
		}
		return nil, fmt.Errorf("describe producers of %s at %s: %w", partitionName(tp), at, err)
	}
	producers := slices.Clone(found.Producers[tp])
	slices.SortFunc(producers, func(a, b producerState) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return producers, nil
}

// topicPartitionFlags adds the --topic and --partition flags that name one
// partition.
func topicPartitionFlags(fs *flag.FlagSet) (topic *string, partition *numberFlag) {
	topic, partition = fs.String("topic", "", ""), partitionFlag()
	fs.Var(partition, "partition", "")
	return topic, partition
}

// describeProducers prints the active producers of one partition.
func describeProducers(ctx context.Context, env txnEnv, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("transactions describe-producers", flag.ContinueOnError)
	topic, partition := topicPartitionFlags(fs)
	broker := brokerIDFlag()
	fs.Var(broker, "broker-id", "")
	if helped, err := parseTxnArgs(fs, args, out); err != nil || helped {
		return err
	}
	if *topic == "" || !partition.set {
		return errors.New("transactions describe-producers: give --topic T and --partition P")
	}
	at := anyBroker
	if broker.set {
		at = int32(broker.value)
	}
	producers, err := partitionProducers(ctx, env.admin, zkpaths.TopicPartition{Topic: *topic, Partition: int32(partition.value)}, at)
	if err != nil {
		return err
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "PRODUCER-ID\tPRODUCER-EPOCH\tLATEST-COORDINATOR-EPOCH\tLAST-SEQUENCE\tLAST-TIMESTAMP\tCURRENT-TXN-START-OFFSET")
	for _, p := range producers {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\n", p.ProducerID, p.ProducerEpoch, p.CoordinatorEpoch, p.LastSequence, p.LastTimestamp, txnStartOffset(p))
	}
	return tw.Flush()
}

// txnStartOffset prints the first offset of a producer's open transaction,
// "-" when it has none.
func txnStartOffset(p producerState) string {
	if p.TxnStartOffset < 0 {
		return "-"
	}
	return strconv.FormatInt(p.TxnStartOffset, 10)
}

// abortTransaction writes an abort marker for one producer's open
// transaction on one partition: the way out of a hanging transaction,
// whose coordinator will never write the marker itself.
func abortTransaction(ctx context.Context, env txnEnv, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("transactions abort", flag.ContinueOnError)
	topic, partition := topicPartitionFlags(fs)
	startOffset := &numberFlag{min: 0, max: math.MaxInt64, want: "an offset (0 or more)"}
	producerID := producerIDFlag()
	producerEpoch := &numberFlag{min: 0, max: math.MaxInt16, want: "a producer epoch (0 to 32767)"}
	// -1 is what describe-producers prints for a producer no marker has
	// been written for yet.
	coordinatorEpoch := &numberFlag{min: -1, max: math.MaxInt32, want: "a coordinator epoch (-1 or more)"}
	fs.Var(startOffset, "start-offset", "")
	fs.Var(producerID, "producer-id", "")
	fs.Var(producerEpoch, "producer-epoch", "")
	fs.Var(coordinatorEpoch, "coordinator-epoch", "")
	if helped, err := parseTxnArgs(fs, args, out); err != nil || helped {
		return err
	}
	const which = "give --start-offset O, or --producer-id N --producer-epoch E --coordinator-epoch C"
	explicit := producerID.set || producerEpoch.set || coordinatorEpoch.set
	switch {
	case *topic == "" || !partition.set:
		return errors.New("transactions abort: give --topic T and --partition P")
	case startOffset.set && explicit:
		return errors.New("transactions abort: --start-offset excludes --producer-id, --producer-epoch and --coordinator-epoch")
	case !startOffset.set && !explicit:
		return errors.New("transactions abort: " + which)
	case explicit && !(producerID.set && producerEpoch.set && coordinatorEpoch.set):
		return errors.New("transactions abort: --producer-id, --producer-epoch and --coordinator-epoch go together; " + which)
	}
	tp := zkpaths.TopicPartition{Topic: *topic, Partition: int32(partition.value)}
	spec := abortSpec{TopicPartition: tp}
	if startOffset.set {
		producers, err := partitionProducers(ctx, env.admin, tp, anyBroker)
		if err != nil {
			return err
		}
		p, err := producerAt(producers, tp, startOffset.value)
		if err != nil {
			return err
		}
		spec.ProducerID, spec.ProducerEpoch, spec.CoordinatorEpoch = p.ProducerID, int16(p.ProducerEpoch), p.CoordinatorEpoch
	} else {
		spec.ProducerID, spec.ProducerEpoch, spec.CoordinatorEpoch = producerID.value, int16(producerEpoch.value), int32(coordinatorEpoch.value)
	}
	// A producer whose transaction hung before any marker was written for
	// it has no coordinator epoch (-1); 0 is at most any epoch a
	// coordinator can have had, so the partition takes the marker.
	spec.CoordinatorEpoch = max(spec.CoordinatorEpoch, 0)
	if err := env.admin.WriteAbortMarker(ctx, spec); err != nil {
		return abortRefusal(spec, err)
	}
	started := ""
	if startOffset.set {
		started = fmt.Sprintf(", which started at offset %d", startOffset.value)
	}
	fmt.Fprintf(out, "Aborted the transaction of producer %d (epoch %d, coordinator epoch %d) on %s%s.\n",
		spec.ProducerID, spec.ProducerEpoch, spec.CoordinatorEpoch, partitionName(tp), started)
	return nil
}

// producerAt returns the producer whose open transaction on tp starts at
// offset.
func producerAt(producers []producerState, tp zkpaths.TopicPartition, offset int64) (producerState, error) {
	var open []string
	for _, p := range producers {
		if p.TxnStartOffset == offset {
			return p, nil
		}
		if p.TxnStartOffset >= 0 {
			open = append(open, strconv.FormatInt(p.TxnStartOffset, 10))
		}
	}
	if len(open) == 0 {
		return producerState{}, fmt.Errorf("no open transaction starts at offset %d on %s: it has no open transactions", offset, partitionName(tp))
	}
	return producerState{}, fmt.Errorf("no open transaction starts at offset %d on %s (its open transactions start at %s)",
		offset, partitionName(tp), strings.Join(open, ", "))
}

// abortRefusal says why the leader refused an abort marker.
func abortRefusal(spec abortSpec, err error) error {
	name := partitionName(spec.TopicPartition)
	switch {
	case errors.Is(err, kerr.InvalidProducerEpoch):
		return explained(err, "cannot abort on %s: producer %d has an epoch newer than %d there, so its transaction was already ended or fenced (see describe-producers)",
			name, spec.ProducerID, spec.ProducerEpoch)
	case errors.Is(err, kerr.TransactionCoordinatorFenced):
		return explained(err, "cannot abort on %s: coordinator epoch %d is older than the one %s last saw for producer %d (LATEST-COORDINATOR-EPOCH of describe-producers)",
			name, spec.CoordinatorEpoch, name, spec.ProducerID)
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return explained(err, "cannot abort on %s: the partition does not exist", name)
	case errors.Is(err, kerr.NotLeaderForPartition):
		return explained(err, "cannot abort on %s: its leadership moved while the marker was sent; try again", name)
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return explained(err, "cannot abort on %s: writing transaction markers needs ClusterAction on the cluster", name)
	}
	return fmt.Errorf("abort the transaction of producer %d on %s: %w", spec.ProducerID, name, err)
}
