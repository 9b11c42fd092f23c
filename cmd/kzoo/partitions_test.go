package main

import (
	"reflect"
	"testing"
)

func TestGroupByTopicKeepsOrder(t *testing.T) {
	moves := []partitionMove{{Topic: "b", Partition: 2}, {Topic: "a", Partition: 1}, {Topic: "b", Partition: 0}}
	got := groupByTopic(moves, func(m partitionMove) string { return m.Topic })
	want := [][]partitionMove{
		{{Topic: "b", Partition: 2}, {Topic: "b", Partition: 0}},
		{{Topic: "a", Partition: 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("groupByTopic = %v, want %v", got, want)
	}
	if got := groupByTopic([]partitionMove(nil), func(m partitionMove) string { return m.Topic }); len(got) != 0 {
		t.Errorf("groupByTopic of nothing = %v, want no groups", got)
	}
}

func TestPartitionName(t *testing.T) {
	if got := partitionName(tp("orders", 3)); got != "orders-3" {
		t.Errorf("partitionName = %q, want orders-3", got)
	}
}
