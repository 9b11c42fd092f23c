package storage

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// maxTopicLength is Kafka's limit: a partition directory name must fit in 255 bytes.
const maxTopicLength = 249

func (tp TopicPartition) String() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

// dirName is the name of the partition's directory inside a log dir.
func (tp TopicPartition) dirName() string { return tp.String() }

func (tp TopicPartition) compare(other TopicPartition) int {
	return cmp.Or(strings.Compare(tp.Topic, other.Topic), cmp.Compare(tp.Partition, other.Partition))
}

// validate checks that tp can name a directory safely: Kafka's topic name rules.
func (tp TopicPartition) validate() error {
	if tp.Partition < 0 {
		return fmt.Errorf("partition %d of topic %q is negative", tp.Partition, tp.Topic)
	}
	return validateTopic(tp.Topic)
}

func validateTopic(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("empty topic name")
	case topic == "." || topic == "..":
		return fmt.Errorf("topic name %q is not allowed", topic)
	case len(topic) > maxTopicLength:
		return fmt.Errorf("topic name of %d characters exceeds %d", len(topic), maxTopicLength)
	}
	for _, c := range topic {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q has character %q; only ASCII letters, digits, '.', '_' and '-' are allowed", topic, c)
		}
	}
	return nil
}

// parsePartitionDir parses a partition directory name, "<topic>-<partition>". Topic names
// may contain '-', so the partition follows the last one.
func parsePartitionDir(name string) (TopicPartition, bool) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return TopicPartition{}, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || strconv.FormatInt(p, 10) != name[i+1:] {
		return TopicPartition{}, false
	}
	tp := TopicPartition{Topic: name[:i], Partition: int32(p)}
	if tp.validate() != nil {
		return TopicPartition{}, false
	}
	return tp, true
}
