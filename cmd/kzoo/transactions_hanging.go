package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kzoo/kzoo/zkpaths"
)

// A transaction hangs on a partition when the partition holds its records
// without a marker and the coordinator will never write one: the
// coordinator lost the partition from the transaction (a bug, or a
// producer that wrote before AddPartitionsToTxn was answered) or forgot the
// transactional id. The partition's last stable offset cannot pass the
// transaction's first offset, so read_committed consumers stop there until
// an operator aborts it.

// openTxn is a producer's open transaction on one partition.
type openTxn struct {
	zkpaths.TopicPartition
	producerState
}

// searchScope returns the partitions find-hanging looks at, sorted: those
// with a replica on broker (any broker when broker is anyBroker), of topic
// when it is not empty, and only partition when it is not negative.
func searchScope(replicas map[zkpaths.TopicPartition][]int32, broker int32, topic string, partition int32) []zkpaths.TopicPartition {
	var tps []zkpaths.TopicPartition
	for tp, rs := range replicas {
		if (topic == "" || tp.Topic == topic) && (partition < 0 || tp.Partition == partition) &&
			(broker == anyBroker || slices.Contains(rs, broker)) {
			tps = append(tps, tp)
		}
	}
	slices.SortFunc(tps, compareTopicPartitions)
	return tps
}

// longOpenTransactions returns, sorted by partition and producer, the open
// transactions whose producer last wrote longer than maxTimeout before
// now. No transaction can stay open longer than the coordinator's maximum
// timeout (transaction.max.timeout.ms) without being aborted by it, so a
// younger one may still be completed in the ordinary way.
func longOpenTransactions(producers map[zkpaths.TopicPartition][]producerState, now time.Time, maxTimeout time.Duration) []openTxn {
	var open []openTxn
	for tp, ps := range producers {
		for _, p := range ps {
			if p.TxnStartOffset >= 0 && now.UnixMilli()-p.LastTimestamp > maxTimeout.Milliseconds() {
				open = append(open, openTxn{TopicPartition: tp, producerState: p})
			}
		}
	}
	slices.SortFunc(open, func(a, b openTxn) int {
		if c := compareTopicPartitions(a.TopicPartition, b.TopicPartition); c != 0 {
			return c
		}
		return cmp.Compare(a.ProducerID, b.ProducerID)
	})
	return open
}

// hangingTransactions keeps the open transactions that no coordinator will
// complete: those whose producer id no transactional id has (ids maps
// producer ids to transactional ids), whose transactional id its
// coordinator does not know (absent from descriptions), or whose
// coordinator's transaction does not list the partition. A transaction
// being committed or aborted lists the partitions still without a marker,
// so a partition it lists will get one.
func hangingTransactions(open []openTxn, ids map[int64]string, descriptions map[string]txnDescription) []openTxn {
	var hanging []openTxn
	for _, t := range open {
		id, ok := ids[t.ProducerID]
		if !ok {
			hanging = append(hanging, t)
			continue
		}
		d, ok := descriptions[id]
		if !ok || !slices.Contains(d.Partitions, t.TopicPartition) {
			hanging = append(hanging, t)
		}
	}
	return hanging
}

// findHangingTransactions prints the hanging transactions of a broker's
// replicas, or of a topic's partitions.
func findHangingTransactions(ctx context.Context, env txnEnv, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("transactions find-hanging", flag.ContinueOnError)
	broker := brokerIDFlag()
	fs.Var(broker, "broker-id", "")
	topic, partition := topicPartitionFlags(fs)
	maxTimeout := &numberFlag{value: 15, min: 1, max: math.MaxInt32, want: "a number of minutes (1 or more)"}
	fs.Var(maxTimeout, "max-transaction-timeout", "")
	if helped, err := parseTxnArgs(fs, args, out); err != nil || helped {
		return err
	}
	switch {
	case !broker.set && *topic == "":
		return errors.New("transactions find-hanging: give --broker-id N or --topic T to say where to search")
	case partition.set && *topic == "":
		return errors.New("transactions find-hanging: --partition needs --topic")
	}
	at, only := anyBroker, int32(-1)
	if broker.set {
		at = int32(broker.value)
	}
	if partition.set {
		only = int32(partition.value)
	}

	replicas, failed := env.admin.Replicas(ctx)
	if replicas == nil && failed != nil {
		return fmt.Errorf("transactions find-hanging: %w", failed)
	}
	tps := searchScope(replicas, at, *topic, only)
	if len(tps) == 0 && *topic != "" {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(replicas)), func(tp zkpaths.TopicPartition) bool { return tp.Topic == *topic }) {
			return errors.Join(failed, explained(kerr.UnknownTopicOrPartition, "topic %s does not exist", *topic))
		}
		if partition.set {
			return errors.Join(failed, fmt.Errorf("topic %s has no partition %d", *topic, only))
		}
	}

	found := env.admin.DescribeProducers(ctx, tps, at)
	failed = errors.Join(failed, producerFailures(found.Failed))
	now := env.now()
	open := longOpenTransactions(found.Producers, now, time.Duration(maxTimeout.value)*time.Minute)
	hanging, err := withoutCoordinator(ctx, env.admin, open)
	if err != nil {
		// Without the coordinators' word every long transaction would
		// look hanging, and an operator might abort a live one.
		return errors.Join(failed, fmt.Errorf("transactions find-hanging: cannot ask the coordinators about %d long open transactions: %w", len(open), err))
	}

	tw := newTable(out)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tPRODUCER-ID\tPRODUCER-EPOCH\tCOORDINATOR-EPOCH\tSTART-OFFSET\tLAST-TIMESTAMP\tDURATION-MIN")
	for _, t := range hanging {
		minutes := (now.UnixMilli() - t.LastTimestamp) / time.Minute.Milliseconds()
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", t.Topic, t.Partition, t.ProducerID, t.ProducerEpoch,
			t.CoordinatorEpoch, t.TxnStartOffset, t.LastTimestamp, minutes)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(hanging) > 0 {
		fmt.Fprintln(out, "Abort each with: kzoo transactions abort --topic TOPIC --partition PARTITION --start-offset START-OFFSET")
	}
	return failed
}

// withoutCoordinator asks the coordinators about the open transactions and
// returns those hanging. Any answer missing fails it: a broker that did not
// list its transactional ids could be the coordinator of one of them.
func withoutCoordinator(ctx context.Context, admin txnAdmin, open []openTxn) ([]openTxn, error) {
	if len(open) == 0 {
		return nil, nil
	}
	wanted := make(map[int64]bool, len(open))
	for _, t := range open {
		wanted[t.ProducerID] = true
	}
	listings, err := admin.ListTransactions(ctx, txnListFilter{ProducerIDs: slices.Sorted(maps.Keys(wanted))})
	if err != nil {
		return nil, err
	}
	ids := make(map[int64]string)
	for _, l := range listings {
		if wanted[l.ProducerID] { // a broker that ignored the filter
			ids[l.ProducerID] = l.TransactionalID
		}
	}
	descriptions := make(map[string]txnDescription)
	if len(ids) > 0 {
		for _, d := range admin.DescribeTransactions(ctx, unique(slices.Sorted(maps.Values(ids)))) {
			switch {
			case errors.Is(d.Err, kerr.TransactionalIDNotFound):
				// Expired since it was listed: its transactions hang.
			case d.Err != nil:
				return nil, d.Err
			default:
				descriptions[d.TransactionalID] = d
			}
		}
	}
	return hangingTransactions(open, ids, descriptions), nil
}

// producerFailures says why DescribeProducers failed, once per reason: a
// broker that lacks the API or is down fails all of its partitions alike.
func producerFailures(failed map[zkpaths.TopicPartition]error) error {
	const named = 5 // partitions named per reason; the rest are counted
	var (
		reasons []string
		byText  = make(map[string][]zkpaths.TopicPartition)
		first   = make(map[string]error)
	)
	for _, tp := range slices.SortedFunc(maps.Keys(failed), compareTopicPartitions) {
		text := failed[tp].Error()
		if _, seen := byText[text]; !seen {
			reasons, first[text] = append(reasons, text), failed[tp]
		}
		byText[text] = append(byText[text], tp)
	}
	var joined error
	for _, text := range reasons {
		tps := byText[text]
		names := make([]string, 0, named)
		for _, tp := range tps[:min(len(tps), named)] {
			names = append(names, partitionName(tp))
		}
		which := strings.Join(names, ", ")
		if len(tps) > named {
			which += fmt.Sprintf(" and %d more", len(tps)-named)
		}
		joined = errors.Join(joined, fmt.Errorf("describe producers of %s: %w", which, first[text]))
	}
	return joined
}
