package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/kzoo/kzoo/zkpaths"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const topicsDescribeHelp = `Usage: kzoo topics describe [TOPIC...] [--under-replicated-partitions | --unavailable-partitions]

Prints every partition of the named topics (all topics when none is named):
its leader, replicas, in-sync replicas and state. A partition is Online
while it has a live leader and Offline otherwise.

  --under-replicated-partitions  only partitions whose ISR is smaller than their replica set
  --unavailable-partitions       only partitions without a live leader
`

// partitionRow is one partition as `topics describe` prints it.
type partitionRow struct {
	Topic     string
	Partition int32
	Leader    int32 // -1 when the partition has none
	Replicas  []int32
	ISR       []int32
	// LeaderLive is whether the leader is among the brokers the cluster
	// reports alive; Metadata may name a leader that just died.
	LeaderLive bool
}

func (r partitionRow) underReplicated() bool { return len(r.ISR) < len(r.Replicas) }
func (r partitionRow) unavailable() bool     { return r.Leader < 0 || !r.LeaderLive }

// state is the partition's state as far as the Kafka protocol shows it: the
// controller's New and NonExistent states are visible only in ZooKeeper
// (see `kzoo cluster`).
func (r partitionRow) state() string {
	if r.unavailable() {
		return string(zkpaths.StateOffline)
	}
	return string(zkpaths.StateOnline)
}

// partitionFilter selects the rows `topics describe` prints, like
// kafka-topics.sh's report options.
type partitionFilter int

const (
	allPartitions partitionFilter = iota
	underReplicatedPartitions
	unavailablePartitions
)

func (f partitionFilter) keep(r partitionRow) bool {
	switch f {
	case underReplicatedPartitions:
		return r.underReplicated()
	case unavailablePartitions:
		return r.unavailable()
	default:
		return true
	}
}

// describeTopics runs `topics describe`.
func describeTopics(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("topics describe", flag.ContinueOnError)
	under := fs.Bool("under-replicated-partitions", false, "")
	unavailable := fs.Bool("unavailable-partitions", false, "")
	names, helped, err := parseArgs(fs, topicsDescribeHelp, args, out)
	if err != nil || helped {
		return err
	}
	filter := allPartitions
	switch {
	case *under && *unavailable:
		return errors.New("topics describe: give at most one of --under-replicated-partitions and --unavailable-partitions")
	case *under:
		filter = underReplicatedPartitions
	case *unavailable:
		filter = unavailablePartitions
	}

	resp, err := requestMetadata(ctx, cl, names)
	if err != nil {
		return err
	}
	rows, failed := partitionRows(resp)
	if err := writePartitionTable(out, rows, filter); err != nil {
		return err
	}
	return failed
}

// requestMetadata asks for the metadata of the named topics, or of every
// topic when none is named, without creating any.
func requestMetadata(ctx context.Context, cl *kgo.Client, topics []string) (*kmsg.MetadataResponse, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range slices.Compact(slices.Sorted(slices.Values(topics))) {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, t)
	}
	req.AllowAutoTopicCreation = false
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return resp, nil
}

// partitionRows flattens a Metadata response into rows ordered by topic and
// partition; the error names every topic the response refused.
func partitionRows(resp *kmsg.MetadataResponse) ([]partitionRow, error) {
	live := make(map[int32]bool, len(resp.Brokers))
	for _, b := range resp.Brokers {
		live[b.NodeID] = true
	}
	var (
		rows   []partitionRow
		failed error
	)
	for _, t := range resp.Topics {
		name := ""
		if t.Topic != nil {
			name = *t.Topic
		}
		if err := codeError(t.ErrorCode, nil); err != nil {
			failed = errors.Join(failed, fmt.Errorf("topic %s: %w", name, err))
			continue
		}
		for _, p := range t.Partitions {
			rows = append(rows, partitionRow{
				Topic:      name,
				Partition:  p.Partition,
				Leader:     p.Leader,
				Replicas:   p.Replicas,
				ISR:        p.ISR,
				LeaderLive: live[p.Leader],
			})
		}
	}
	slices.SortFunc(rows, func(a, b partitionRow) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return rows, failed
}

// writePartitionTable prints the rows the filter keeps under a header.
func writePartitionTable(w io.Writer, rows []partitionRow, filter partitionFilter) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tLEADER\tREPLICAS\tISR\tSTATE")
	for _, r := range rows {
		if !filter.keep(r) {
			continue
		}
		leader := "none"
		if r.Leader >= 0 {
			leader = strconv.Itoa(int(r.Leader))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Topic, r.Partition, leader, joinIDs(r.Replicas), joinIDs(r.ISR), r.state())
	}
	return tw.Flush()
}
