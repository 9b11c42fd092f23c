package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const electHelp = `Usage: kzoo elect-leaders (--preferred | --unclean) (--all-topic-partitions | --topic T [--partition P])

Asks the controller to elect leaders (ElectLeaders), like
kafka-leader-election.sh. A preferred election moves leadership back to the
first replica of each partition when it is alive and in sync; an unclean
election gives a partition without an in-sync leader one from outside the
ISR, which may lose acknowledged records.

  --preferred              elect the preferred replica (same as --election-type preferred)
  --unclean                elect any live replica of a leaderless partition (--election-type unclean)
  --all-topic-partitions   every partition of the cluster
  --topic T                the partitions of topic T (all of them unless --partition is given)
  --partition P            one partition of --topic
`

// Election types of ElectLeaders v1+.
const (
	preferredElection int8 = 0
	uncleanElection   int8 = 1
)

// electRequest is what the elect-leaders flags ask for.
type electRequest struct {
	Type int8
	// All elects for every partition of the cluster; otherwise Topic and,
	// when HasPartition, Partition.
	All          bool
	Topic        string
	Partition    int32
	HasPartition bool
}

// parseElectArgs parses and checks the elect-leaders flags.
func parseElectArgs(args []string, out io.Writer) (req electRequest, helped bool, err error) {
	fs := flag.NewFlagSet("elect-leaders", flag.ContinueOnError)
	preferred := fs.Bool("preferred", false, "")
	unclean := fs.Bool("unclean", false, "")
	electionType := fs.String("election-type", "", "")
	all := fs.Bool("all-topic-partitions", false, "")
	topic := fs.String("topic", "", "")
	partition := fs.Int("partition", -1, "")
	rest, helped, err := parseArgs(fs, electHelp, args, out)
	if err != nil || helped {
		return electRequest{}, helped, err
	}
	if len(rest) > 0 {
		return electRequest{}, false, fmt.Errorf("elect-leaders: unexpected argument %q", rest[0])
	}
	switch strings.ToLower(*electionType) {
	case "":
	case "preferred":
		*preferred = true
	case "unclean":
		*unclean = true
	default:
		return electRequest{}, false, fmt.Errorf("elect-leaders: --election-type %q: want preferred or unclean", *electionType)
	}
	switch {
	case *preferred == *unclean:
		return electRequest{}, false, errors.New("elect-leaders: give exactly one of --preferred and --unclean")
	case *unclean:
		req.Type = uncleanElection
	default:
		req.Type = preferredElection
	}
	switch {
	case *all && *topic != "":
		return electRequest{}, false, errors.New("elect-leaders: --all-topic-partitions and --topic exclude each other")
	case !*all && *topic == "":
		return electRequest{}, false, errors.New("elect-leaders: give --all-topic-partitions or --topic")
	case *partition >= 0 && *topic == "":
		return electRequest{}, false, errors.New("elect-leaders: --partition needs --topic")
	case *partition < -1:
		return electRequest{}, false, fmt.Errorf("elect-leaders: --partition %d: want a partition id", *partition)
	}
	req.All, req.Topic = *all, *topic
	if *partition >= 0 {
		req.Partition, req.HasPartition = int32(*partition), true
	}
	return req, false, nil
}

// electionResult is the outcome of the election of one partition.
type electionResult struct {
	Topic     string
	Partition int32
	Err       error // nil when a leader was elected
}

// electLeaders runs `elect-leaders`.
func electLeaders(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	er, helped, err := parseElectArgs(args, out)
	if err != nil || helped {
		return err
	}

	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType = er.Type
	req.TimeoutMillis = 30_000
	if !er.All {
		partitions := []int32{er.Partition}
		if !er.HasPartition {
			if partitions, err = topicPartitionIDs(ctx, cl, er.Topic); err != nil {
				return fmt.Errorf("elect-leaders: %w", err)
			}
		}
		t := kmsg.NewElectLeadersRequestTopic()
		t.Topic, t.Partitions = er.Topic, partitions
		req.Topics = append(req.Topics, t)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("elect-leaders: %w", err)
	}
	if err := codeError(resp.ErrorCode, nil); err != nil {
		return fmt.Errorf("elect-leaders: %w", err)
	}
	var results []electionResult
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			results = append(results, electionResult{t.Topic, p.Partition, codeError(p.ErrorCode, p.ErrorMessage)})
		}
	}
	return reportElections(out, results)
}

// topicPartitionIDs returns the partition ids of a topic, ascending.
func topicPartitionIDs(ctx context.Context, cl *kgo.Client, topic string) ([]int32, error) {
	resp, err := requestMetadata(ctx, cl, []string{topic})
	if err != nil {
		return nil, err
	}
	rows, err := partitionRows(resp)
	if err != nil {
		return nil, err
	}
	ids := make([]int32, 0, len(rows))
	for _, r := range rows {
		ids = append(ids, r.Partition)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions", topic)
	}
	return ids, nil
}

// reportElections prints one line per partition and fails when some
// partition could not get the leader asked for. A partition whose preferred
// replica already leads (ELECTION_NOT_NEEDED) is not a failure.
func reportElections(out io.Writer, results []electionResult) error {
	slices.SortFunc(results, func(a, b electionResult) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	if len(results) == 0 {
		fmt.Fprintln(out, "No partition needed an election.")
		return nil
	}
	var failed []string
	for _, r := range results {
		tp := fmt.Sprintf("%s-%d", r.Topic, r.Partition)
		switch {
		case r.Err == nil:
			fmt.Fprintf(out, "%s: elected a new leader\n", tp)
		case errors.Is(r.Err, kerr.ElectionNotNeeded):
			fmt.Fprintf(out, "%s: the chosen replica is already the leader\n", tp)
		default:
			fmt.Fprintf(out, "%s: failed: %s\n", tp, formatError(r.Err))
			failed = append(failed, tp)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("elect-leaders: election failed for %d partitions: %s", len(failed), strings.Join(failed, ", "))
	}
	return nil
}
