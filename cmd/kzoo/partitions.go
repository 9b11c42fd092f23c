package main

import (
	"cmp"
	"strconv"

	"github.com/kzoo/kzoo/zkpaths"
)

// partitionName names a partition as Kafka's tools print it: "orders-3".
func partitionName(tp zkpaths.TopicPartition) string {
	return tp.Topic + "-" + strconv.FormatInt(int64(tp.Partition), 10)
}

func compareTopicPartitions(a, b zkpaths.TopicPartition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// groupByTopic groups items by their topic, the topics in the order they
// first appear and each topic's items in their order: the shape of the
// topic array of most admin requests.
func groupByTopic[T any](items []T, topicOf func(T) string) [][]T {
	var groups [][]T
	index := make(map[string]int)
	for _, item := range items {
		topic := topicOf(item)
		i, ok := index[topic]
		if !ok {
			i = len(groups)
			index[topic] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], item)
	}
	return groups
}
