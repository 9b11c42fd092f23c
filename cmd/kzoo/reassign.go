package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const reassignHelp = `Usage: kzoo reassign generate --topics-to-move-json-file F --broker-list 1,2,3
       kzoo reassign execute --reassignment-json-file F [--throttle BYTES/S]
       kzoo reassign verify --reassignment-json-file F [--preserve-throttles]

Moves partition replicas between brokers, like kafka-reassign-partitions.sh.
generate prints the current assignment of the topics in F
({"version":1,"topics":[{"topic":"foo"}]}) and a proposal spreading them over
the brokers listed. execute starts the reassignment in F
({"version":1,"partitions":[{"topic":"foo","partition":0,"replicas":[1,2],
"log_dirs":["any","any"]}]}) and prints the current assignment to keep for
a rollback. verify tells, per partition of F, whether its reassignment is
complete or still in progress.

--throttle limits the copy to BYTES/S, as kafka-reassign-partitions.sh does:
before the reassignment starts it sets leader.replication.throttled.rate and
follower.replication.throttled.rate on every broker the moving partitions
are on or go to, and on their topics leader.replication.throttled.replicas
(the current replicas) and follower.replication.throttled.replicas (the
replicas being added). Replicas in the ISR are never throttled. Once every
partition of F is complete, verify removes the throttle rates of every live
broker and the throttled replicas of F's topics, and says so, unless
--preserve-throttles is given.
`

// reassignCommand runs `kzoo reassign ...`.
func reassignCommand(ctx context.Context, cl *kgo.Client, args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("reassign: want generate, execute or verify (try --help)")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("reassign "+sub, flag.ContinueOnError)
	var topicsFile, brokerList, planFile, throttle *string
	var preserveThrottles *bool
	switch sub {
	case "--help", "-help", "-h", "help":
		fmt.Fprint(out, reassignHelp)
		return nil
	case "generate":
		topicsFile = fs.String("topics-to-move-json-file", "", "")
		brokerList = fs.String("broker-list", "", "")
	case "execute":
		planFile = fs.String("reassignment-json-file", "", "")
		throttle = fs.String("throttle", "", "")
	case "verify":
		planFile = fs.String("reassignment-json-file", "", "")
		preserveThrottles = fs.Bool("preserve-throttles", false, "")
	default:
		return fmt.Errorf("reassign: unknown subcommand %q (want generate, execute or verify)", sub)
	}
	rest, helped, err := parseArgs(fs, reassignHelp, args, out)
	if err != nil || helped {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("reassign %s: unexpected argument %q", sub, rest[0])
	}

	// Read and check the input before connecting: a bad file is the most
	// common mistake and needs no cluster to report.
	var (
		topics  []string
		brokers []int32
		moves   []partitionMove
		rate    int64 // --throttle; 0 when not given
	)
	if sub == "generate" {
		if topics, err = readJSONFile("--topics-to-move-json-file", *topicsFile, parseTopicsToMove); err != nil {
			return fmt.Errorf("reassign generate: %w", err)
		}
		if brokers, err = parseBrokerList(*brokerList); err != nil {
			return fmt.Errorf("reassign generate: %w", err)
		}
	} else if moves, err = readJSONFile("--reassignment-json-file", *planFile, parseReassignment); err != nil {
		return fmt.Errorf("reassign %s: %w", sub, err)
	}
	if throttle != nil && *throttle != "" {
		if rate, err = parseThrottle(*throttle); err != nil {
			return fmt.Errorf("reassign %s: %w", sub, err)
		}
	}

	switch sub {
	case "generate":
		err = generateReassignment(ctx, cl, topics, brokers, out)
	case "execute":
		err = executeReassignment(ctx, cl, moves, rate, out)
	default:
		err = verifyReassignment(ctx, cl, moves, !*preserveThrottles, out)
	}
	if err != nil {
		return fmt.Errorf("reassign %s: %w", sub, err)
	}
	return nil
}

// readJSONFile reads the file a flag names and parses it.
func readJSONFile[T any](flagName, path string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	if path == "" {
		return zero, fmt.Errorf("%s is required", flagName)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", flagName, err)
	}
	v, err := parse(data)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// readAssignment reads the placement of the named topics (all topics when
// none is named) and the live brokers from Metadata.
func readAssignment(ctx context.Context, cl *kgo.Client, topics []string) (clusterAssignment, error) {
	resp, err := requestMetadata(ctx, cl, topics)
	if err != nil {
		return clusterAssignment{}, err
	}
	c := clusterAssignment{Replicas: make(map[string]map[int32][]int32)}
	for _, b := range resp.Brokers {
		c.Brokers = append(c.Brokers, b.NodeID)
	}
	slices.Sort(c.Brokers)
	for _, t := range resp.Topics {
		if t.Topic == nil || t.ErrorCode != 0 {
			continue // checkMoves and the callers name missing topics
		}
		partitions := make(map[int32][]int32, len(t.Partitions))
		for _, p := range t.Partitions {
			partitions[p.Partition] = p.Replicas
		}
		c.Replicas[*t.Topic] = partitions
	}
	return c, nil
}

func generateReassignment(ctx context.Context, cl *kgo.Client, topics []string, brokers []int32, out io.Writer) error {
	cluster, err := readAssignment(ctx, cl, topics)
	if err != nil {
		return err
	}
	var missing []string
	for _, t := range topics {
		if len(cluster.Replicas[t]) == 0 {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("topics do not exist: %s", strings.Join(missing, ", "))
	}
	if err := cluster.checkBrokers(brokers); err != nil {
		return fmt.Errorf("--broker-list: %w", err)
	}
	current := cluster.moves(topics)
	proposed, err := proposeReassignment(current, brokers, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	if err != nil {
		return err
	}
	currentJSON, err := formatReassignment(current)
	if err != nil {
		return err
	}
	proposedJSON, err := formatReassignment(proposed)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Current partition replica assignment\n%s\n\nProposed partition reassignment configuration\n%s\n", currentJSON, proposedJSON)
	return nil
}

// executeReassignment starts the reassignment of moves, throttled to rate
// bytes per second when rate > 0.
func executeReassignment(ctx context.Context, cl *kgo.Client, moves []partitionMove, rate int64, out io.Writer) error {
	cluster, err := readAssignment(ctx, cl, topicsOf(moves))
	if err != nil {
		return err
	}
	if err := cluster.checkMoves(moves); err != nil {
		return err
	}
	var current []partitionMove
	for _, m := range moves {
		current = append(current, partitionMove{Topic: m.Topic, Partition: m.Partition, Replicas: cluster.Replicas[m.Topic][m.Partition]})
	}
	currentJSON, err := formatReassignment(current)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Current partition replica assignment\n\n%s\n\nSave this to use as the --reassignment-json-file option during rollback\n", currentJSON)
	if rate > 0 {
		if err := setThrottle(ctx, cl, cluster.Replicas, moves, rate, out); err != nil {
			return err
		}
	}

	req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
	req.TimeoutMillis = 30_000
	for _, topicMoves := range groupByTopic(moves, func(m partitionMove) string { return m.Topic }) {
		t := kmsg.NewAlterPartitionAssignmentsRequestTopic()
		t.Topic = topicMoves[0].Topic
		for _, m := range topicMoves {
			p := kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()
			p.Partition, p.Replicas = m.Partition, m.Replicas
			t.Partitions = append(t.Partitions, p)
		}
		req.Topics = append(req.Topics, t)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if err := codeError(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return err
	}
	var (
		started []string
		failed  []error
	)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			tp := fmt.Sprintf("%s-%d", t.Topic, p.Partition)
			if err := codeError(p.ErrorCode, p.ErrorMessage); err != nil {
				failed = append(failed, fmt.Errorf("partition %s: %w", tp, err))
				continue
			}
			started = append(started, tp)
		}
	}
	if len(started) > 0 {
		fmt.Fprintf(out, "Successfully started partition reassignments for %s\n", strings.Join(started, ","))
	}
	return errors.Join(failed...)
}

// reassignmentProgress is where the reassignment of one partition stands.
type reassignmentProgress int

const (
	reassignmentComplete reassignmentProgress = iota
	reassignmentInProgress
	// reassignmentDiverged: nothing is in progress, yet the replicas are not
	// the target (another reassignment replaced it, or it never started).
	reassignmentDiverged
)

// progressOf compares a partition's state with its target.
func progressOf(inProgress bool, current, target []int32) reassignmentProgress {
	switch {
	case inProgress:
		return reassignmentInProgress
	case slices.Equal(current, target):
		return reassignmentComplete
	default:
		return reassignmentDiverged
	}
}

// verifyReassignment reports where each partition of moves stands and, when
// every one is complete and clear is set, removes the replication throttle.
// A partition whose replicas are not the target without a reassignment in
// progress keeps the throttle in place: its reassignment may not have
// started yet (the controller acts on a request after it is accepted), or
// another one replaced it.
func verifyReassignment(ctx context.Context, cl *kgo.Client, moves []partitionMove, clear bool, out io.Writer) error {
	cluster, err := readAssignment(ctx, cl, topicsOf(moves))
	if err != nil {
		return err
	}
	for _, m := range moves {
		if cluster.Replicas[m.Topic] == nil {
			return fmt.Errorf("topic %s does not exist", m.Topic)
		}
		if cluster.Replicas[m.Topic][m.Partition] == nil {
			return fmt.Errorf("partition %s does not exist", m)
		}
	}
	inProgress, err := listReassignments(ctx, cl, moves)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "Status of partition reassignment:")
	complete := true
	for _, m := range moves {
		current := cluster.Replicas[m.Topic][m.Partition]
		_, ongoing := inProgress[m.String()]
		progress := progressOf(ongoing, current, m.Replicas)
		switch progress {
		case reassignmentInProgress:
			fmt.Fprintf(out, "Reassignment of partition %s is still in progress.\n", m)
		case reassignmentComplete:
			fmt.Fprintf(out, "Reassignment of partition %s is complete.\n", m)
		default:
			fmt.Fprintf(out, "There is no active reassignment of partition %s, but replica set is %s rather than %s.\n", m, joinIDs(current), joinIDs(m.Replicas))
		}
		complete = complete && progress == reassignmentComplete
	}
	if !complete || !clear {
		return nil
	}
	return clearThrottle(ctx, cl, cluster.Brokers, moves, out)
}

// ongoingReassignment is a partition's reassignment in progress: the
// replicas it adds and removes.
type ongoingReassignment struct {
	Adding, Removing []int32
}

// listReassignments returns the partitions among moves ("topic-partition")
// that have a reassignment in progress.
func listReassignments(ctx context.Context, cl *kgo.Client, moves []partitionMove) (map[string]ongoingReassignment, error) {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.TimeoutMillis = 30_000
	for _, topicMoves := range groupByTopic(moves, func(m partitionMove) string { return m.Topic }) {
		t := kmsg.NewListPartitionReassignmentsRequestTopic()
		t.Topic = topicMoves[0].Topic
		for _, m := range topicMoves {
			t.Partitions = append(t.Partitions, m.Partition)
		}
		req.Topics = append(req.Topics, t)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("list reassignments: %w", err)
	}
	if err := codeError(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return nil, fmt.Errorf("list reassignments: %w", err)
	}
	inProgress := make(map[string]ongoingReassignment)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			inProgress[fmt.Sprintf("%s-%d", t.Topic, p.Partition)] = ongoingReassignment{Adding: p.AddingReplicas, Removing: p.RemovingReplicas}
		}
	}
	return inProgress, nil
}

// topicsOf returns the distinct topics of moves, sorted.
func topicsOf(moves []partitionMove) []string {
	topics := make([]string, 0, len(moves))
	for _, m := range moves {
		topics = append(topics, m.Topic)
	}
	slices.Sort(topics)
	return slices.Compact(topics)
}
