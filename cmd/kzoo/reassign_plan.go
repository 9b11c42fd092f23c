package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/internal/configvalue"
)

// This file holds the pure half of `kzoo reassign`: the JSON files of
// kafka-reassign-partitions.sh, their validation and the generation of a
// proposal. reassign.go talks to the cluster.

// reassignmentVersion is the only version of both JSON formats.
const reassignmentVersion = 1

// anyLogDir is the log_dirs entry meaning "wherever the broker likes"; kzoo
// brokers pick their own directory, so it is the only value accepted.
const anyLogDir = "any"

// partitionMove is one partition of a reassignment: its target replicas,
// the first of which becomes the preferred leader.
type partitionMove struct {
	Topic     string
	Partition int32
	Replicas  []int32
}

func (m partitionMove) String() string { return fmt.Sprintf("%s-%d", m.Topic, m.Partition) }

// reassignmentFile is the JSON of --reassignment-json-file, in the field
// order Kafka writes it.
type reassignmentFile struct {
	Version    int                     `json:"version"`
	Partitions []reassignmentPartition `json:"partitions"`
}

type reassignmentPartition struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs"`
}

// formatReassignment encodes moves as Kafka does, on one line, ordered by
// topic and partition.
func formatReassignment(moves []partitionMove) (string, error) {
	sorted := slices.Clone(moves)
	sortMoves(sorted)
	f := reassignmentFile{Version: reassignmentVersion, Partitions: make([]reassignmentPartition, 0, len(sorted))}
	for _, m := range sorted {
		dirs := make([]string, len(m.Replicas))
		for i := range dirs {
			dirs[i] = anyLogDir
		}
		f.Partitions = append(f.Partitions, reassignmentPartition{Topic: m.Topic, Partition: m.Partition, Replicas: m.Replicas, LogDirs: dirs})
	}
	data, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("encode reassignment: %w", err)
	}
	return string(data), nil
}

func sortMoves(moves []partitionMove) {
	slices.SortFunc(moves, func(a, b partitionMove) int {
		return cmp.Or(strings.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
}

// parseReassignment decodes and checks a reassignment file on its own:
// every entry names a topic, a partition and a non-empty list of distinct,
// non-negative broker ids, and no partition appears twice.
func parseReassignment(data []byte) ([]partitionMove, error) {
	var f struct {
		Version    *int `json:"version"`
		Partitions []struct {
			Topic     *string  `json:"topic"`
			Partition *int32   `json:"partition"`
			Replicas  []int32  `json:"replicas"`
			LogDirs   []string `json:"log_dirs"`
		} `json:"partitions"`
	}
	if err := strictDecode(data, &f); err != nil {
		return nil, fmt.Errorf("malformed reassignment JSON: %w", err)
	}
	if f.Version != nil && *f.Version != reassignmentVersion {
		return nil, fmt.Errorf("reassignment JSON version %d is not supported (want %d)", *f.Version, reassignmentVersion)
	}
	if len(f.Partitions) == 0 {
		return nil, errors.New(`reassignment JSON has no "partitions"`)
	}
	seen := make(map[string]bool, len(f.Partitions))
	moves := make([]partitionMove, 0, len(f.Partitions))
	for i, p := range f.Partitions {
		switch {
		case p.Topic == nil || *p.Topic == "":
			return nil, fmt.Errorf(`reassignment entry %d has no "topic"`, i)
		case p.Partition == nil:
			return nil, fmt.Errorf(`reassignment entry %d (topic %s) has no "partition"`, i, *p.Topic)
		case *p.Partition < 0:
			return nil, fmt.Errorf("reassignment entry %d: partition %d of topic %s is negative", i, *p.Partition, *p.Topic)
		}
		m := partitionMove{Topic: *p.Topic, Partition: *p.Partition, Replicas: p.Replicas}
		if seen[m.String()] {
			return nil, fmt.Errorf("partition %s appears more than once in the reassignment", m)
		}
		seen[m.String()] = true
		if len(m.Replicas) == 0 {
			return nil, fmt.Errorf("partition %s has an empty replica list", m)
		}
		for j, id := range m.Replicas {
			if id < 0 {
				return nil, fmt.Errorf("partition %s: broker id %d is negative", m, id)
			}
			if slices.Contains(m.Replicas[:j], id) {
				return nil, fmt.Errorf("partition %s lists broker %d more than once in its replicas %v", m, id, m.Replicas)
			}
		}
		if p.LogDirs != nil {
			if len(p.LogDirs) != len(m.Replicas) {
				return nil, fmt.Errorf("partition %s has %d log_dirs for %d replicas", m, len(p.LogDirs), len(m.Replicas))
			}
			for _, dir := range p.LogDirs {
				if dir != anyLogDir {
					return nil, fmt.Errorf("partition %s: log dir %q: kzoo supports only %q", m, dir, anyLogDir)
				}
			}
		}
		moves = append(moves, m)
	}
	return moves, nil
}

// parseTopicsToMove decodes --topics-to-move-json-file:
// {"topics":[{"topic":"foo"}],"version":1}.
func parseTopicsToMove(data []byte) ([]string, error) {
	var f struct {
		Version *int `json:"version"`
		Topics  []struct {
			Topic string `json:"topic"`
		} `json:"topics"`
	}
	if err := strictDecode(data, &f); err != nil {
		return nil, fmt.Errorf("malformed topics-to-move JSON: %w", err)
	}
	if f.Version != nil && *f.Version != reassignmentVersion {
		return nil, fmt.Errorf("topics-to-move JSON version %d is not supported (want %d)", *f.Version, reassignmentVersion)
	}
	if len(f.Topics) == 0 {
		return nil, errors.New(`topics-to-move JSON has no "topics"`)
	}
	topics := make([]string, 0, len(f.Topics))
	for i, t := range f.Topics {
		if t.Topic == "" {
			return nil, fmt.Errorf(`topics-to-move entry %d has no "topic"`, i)
		}
		if slices.Contains(topics, t.Topic) {
			return nil, fmt.Errorf("topic %s appears more than once in the topics to move", t.Topic)
		}
		topics = append(topics, t.Topic)
	}
	return topics, nil
}

// strictDecode decodes one JSON value and refuses trailing data.
func strictDecode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// clusterAssignment is what the cluster says about placement: the replicas
// of every partition of the topics concerned, and the live brokers.
type clusterAssignment struct {
	Replicas map[string]map[int32][]int32
	Brokers  []int32
}

// moves returns the current placement of the named topics as moves.
func (c clusterAssignment) moves(topics []string) []partitionMove {
	var out []partitionMove
	for _, t := range topics {
		for p, replicas := range c.Replicas[t] {
			out = append(out, partitionMove{Topic: t, Partition: p, Replicas: replicas})
		}
	}
	sortMoves(out)
	return out
}

// checkMoves checks a parsed reassignment against the cluster: every
// partition exists and every target broker is a live broker.
func (c clusterAssignment) checkMoves(moves []partitionMove) error {
	var errs []error
	for _, m := range moves {
		partitions, ok := c.Replicas[m.Topic]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("topic %s does not exist", m.Topic))
			continue
		case partitions[m.Partition] == nil:
			errs = append(errs, fmt.Errorf("partition %s does not exist (topic %s has %d partitions)", m, m.Topic, len(partitions)))
			continue
		}
		for _, id := range m.Replicas {
			if !slices.Contains(c.Brokers, id) {
				errs = append(errs, fmt.Errorf("partition %s: broker %d is not a live broker of the cluster (brokers: %s)", m, id, joinIDs(c.Brokers)))
			}
		}
	}
	return errors.Join(errs...)
}

// checkBrokers checks that every broker of a --broker-list is live.
func (c clusterAssignment) checkBrokers(brokers []int32) error {
	for _, id := range brokers {
		if !slices.Contains(c.Brokers, id) {
			return fmt.Errorf("broker %d is not a live broker of the cluster (brokers: %s)", id, joinIDs(c.Brokers))
		}
	}
	return nil
}

// proposeReassignment spreads the partitions of topics over brokers as a
// new topic would be (placement.AssignReplicas, Kafka's rack-unaware
// placement), keeping each topic's replication factor. rnd picks each
// topic's starting broker, as Kafka randomises it; nil is deterministic.
func proposeReassignment(current []partitionMove, brokers []int32, rnd *rand.Rand) ([]partitionMove, error) {
	byTopic := make(map[string][]partitionMove)
	var topics []string
	for _, m := range current {
		if byTopic[m.Topic] == nil {
			topics = append(topics, m.Topic)
		}
		byTopic[m.Topic] = append(byTopic[m.Topic], m)
	}
	slices.Sort(topics)
	var proposed []partitionMove
	for _, t := range topics {
		moves := byTopic[t]
		sortMoves(moves)
		// Partition ids are dense from 0, so the count is the last id + 1.
		count := int(moves[len(moves)-1].Partition) + 1
		rf := len(moves[0].Replicas)
		assignment, err := placement.AssignReplicas(brokers, count, rf, rnd)
		if err != nil {
			return nil, fmt.Errorf("topic %s (replication factor %d) on brokers %s: %w", t, rf, joinIDs(brokers), err)
		}
		for _, m := range moves {
			proposed = append(proposed, partitionMove{Topic: t, Partition: m.Partition, Replicas: assignment[m.Partition]})
		}
	}
	return proposed, nil
}

// parseBrokerList parses --broker-list 1,2,3.
func parseBrokerList(s string) ([]int32, error) {
	items := configvalue.SplitList(s)
	if len(items) == 0 {
		return nil, errors.New("--broker-list is required, e.g. --broker-list 1,2,3")
	}
	ids := make([]int32, 0, len(items))
	for _, item := range items {
		var id int32
		if _, err := fmt.Sscan(item, &id); err != nil || id < 0 || fmt.Sprint(id) != item {
			return nil, fmt.Errorf("--broker-list: %q is not a broker id", item)
		}
		if slices.Contains(ids, id) {
			return nil, fmt.Errorf("--broker-list: broker %d appears more than once", id)
		}
		ids = append(ids, id)
	}
	return ids, nil
}
