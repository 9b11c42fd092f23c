// Package placement holds the rules of a topic's shape, free of ZooKeeper so
// that the broker and the kzoo CLI can apply them without a coordinator
// session: which names a topic may have, what makes a replica assignment
// valid, and where Kafka's rack-unaware assignment puts the replicas of new
// partitions (AssignReplicas).
//
// The coordinator checks every assignment it writes with these rules; the
// broker uses them to plan CreateTopics, CreatePartitions and
// __consumer_offsets, and kzoo reassign-partitions to propose a new layout.
package placement

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// MaxTopicNameLength is the longest legal topic name. Kafka keeps room for the
// partition suffix of a log directory name ("-2147483647") within the 255-byte
// file name limit of common file systems.
const MaxTopicNameLength = 249

var (
	// ErrInvalidTopicName: see ValidateTopicName.
	ErrInvalidTopicName = errors.New("invalid topic name")
	// ErrInvalidReplicationFactor: a replication factor below 1 or above the
	// number of available brokers.
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")
	// ErrInvalidPartitions: a partition count below 1.
	ErrInvalidPartitions = errors.New("invalid number of partitions")
	// ErrInvalidReplicaAssignment: a replica assignment is malformed (see
	// ValidateAssignment) or names brokers it may not.
	ErrInvalidReplicaAssignment = errors.New("invalid replica assignment")
)

// ValidateTopicName applies Kafka's rules: a topic name is 1 to 249 characters
// from [a-zA-Z0-9._-] and is neither "." nor "..". The error wraps
// ErrInvalidTopicName and says which rule the name breaks.
func ValidateTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: the name is empty", ErrInvalidTopicName)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is reserved", ErrInvalidTopicName, name)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("%w: the name is %d characters long, the limit is %d", ErrInvalidTopicName, len(name), MaxTopicNameLength)
	}
	for i := 0; i < len(name); i++ {
		if !legalTopicChar(name[i]) {
			return fmt.Errorf("%w: %q contains %q at byte %d; only ASCII letters, digits, '.', '_' and '-' are allowed",
				ErrInvalidTopicName, name, name[i], i)
		}
	}
	return nil
}

func legalTopicChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// AssignReplicas spreads partitions × replicationFactor replicas over brokers the
// way Kafka does without rack information. Partition p's first replica (its
// preferred leader) is broker (start+p) mod n over the sorted broker list, so
// leaders are spread evenly; the followers sit at increasing distances from the
// leader, and the distance shifts by one every n partitions so that one broker's
// followers do not all land on the same neighbours. rnd picks the start and the
// initial shift; a nil rnd means both are 0, which makes the result deterministic.
func AssignReplicas(brokers []int32, partitions, replicationFactor int, rnd *rand.Rand) ([][]int32, error) {
	if partitions < 1 {
		return nil, fmt.Errorf("%w: %d", ErrInvalidPartitions, partitions)
	}
	ids := slices.Clone(brokers)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	n := len(ids)
	if replicationFactor < 1 {
		return nil, fmt.Errorf("%w: %d, must be at least 1", ErrInvalidReplicationFactor, replicationFactor)
	}
	if replicationFactor > n {
		return nil, fmt.Errorf("%w: %d is larger than the %d available brokers", ErrInvalidReplicationFactor, replicationFactor, n)
	}
	var start, shift int
	if rnd != nil {
		start, shift = rnd.IntN(n), rnd.IntN(n)
	}

	assignment := make([][]int32, partitions)
	for p := range partitions {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		replicas := make([]int32, 0, replicationFactor)
		replicas = append(replicas, ids[first])
		for j := range replicationFactor - 1 {
			// The distance is 1..n-1, never 0, so no broker repeats.
			distance := 1 + (shift+j)%(n-1)
			replicas = append(replicas, ids[(first+distance)%n])
		}
		assignment[p] = replicas
	}
	return assignment, nil
}

// ValidateAssignment checks replica lists indexed by partition: at least one
// partition, the same non-zero number of replicas for each, no broker twice in
// a partition and no negative broker id. The error wraps
// ErrInvalidReplicaAssignment.
func ValidateAssignment(assignment [][]int32) error {
	if len(assignment) == 0 {
		return fmt.Errorf("%w: no partitions", ErrInvalidReplicaAssignment)
	}
	rf := len(assignment[0])
	for p, replicas := range assignment {
		if len(replicas) == 0 {
			return fmt.Errorf("%w: partition %d has no replicas", ErrInvalidReplicaAssignment, p)
		}
		if len(replicas) != rf {
			return fmt.Errorf("%w: partition %d has %d replicas, partition 0 has %d", ErrInvalidReplicaAssignment, p, len(replicas), rf)
		}
		for i, b := range replicas {
			if b < 0 {
				return fmt.Errorf("%w: partition %d has negative broker id %d", ErrInvalidReplicaAssignment, p, b)
			}
			if slices.Contains(replicas[:i], b) {
				return fmt.Errorf("%w: partition %d lists broker %d twice", ErrInvalidReplicaAssignment, p, b)
			}
		}
	}
	return nil
}
