package storage

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/zkpaths"
)

// validatePartition checks that tp can name a directory safely: Kafka's
// topic name rules, which keep the name within the file system's limits.
func validatePartition(tp zkpaths.TopicPartition) error {
	if tp.Partition < 0 {
		return fmt.Errorf("partition %d of topic %q is negative", tp.Partition, tp.Topic)
	}
	return placement.ValidateTopicName(tp.Topic)
}

// parsePartitionDir parses a partition directory name, "<topic>-<partition>". Topic names
// may contain '-', so the partition follows the last one.
func parsePartitionDir(name string) (zkpaths.TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return zkpaths.TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || strconv.FormatInt(p, 10) != name[i+1:] {
		return zkpaths.TopicPartition{}, false
	}
	tp := zkpaths.TopicPartition{Topic: name[:i], Partition: int32(p)}
	if validatePartition(tp) != nil {
		return zkpaths.TopicPartition{}, false
	}
	return tp, true
}
