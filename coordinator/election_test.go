package coordinator

import (
	"errors"
	"reflect"
	"testing"

	"github.com/kzoo/kzoo/zkpaths"
)

func TestElectPreferred(t *testing.T) {
	tests := []struct {
		name     string
		replicas []int32
		current  leaderAndISR
		eligible []int32
		want     leaderAndISR
		err      error
	}{
		{"preferred replica takes over, ISR kept", []int32{1, 2, 3}, leaderAndISR{2, 3, []int32{2, 3, 1}}, []int32{1, 2, 3},
			leaderAndISR{1, 4, []int32{2, 3, 1}}, nil},
		{"from an offline partition", []int32{1, 2}, leaderAndISR{-1, 3, []int32{1}}, []int32{1},
			leaderAndISR{1, 4, []int32{1}}, nil},
		{"already the leader", []int32{1, 2}, leaderAndISR{1, 3, []int32{1, 2}}, []int32{1, 2},
			leaderAndISR{1, 3, []int32{1, 2}}, ErrElectionNotNeeded},
		{"preferred out of the ISR", []int32{1, 2}, leaderAndISR{2, 3, []int32{2}}, []int32{1, 2},
			leaderAndISR{2, 3, []int32{2}}, ErrPreferredLeaderNotAvailable},
		{"preferred not eligible", []int32{1, 2}, leaderAndISR{2, 3, []int32{2, 1}}, []int32{2},
			leaderAndISR{2, 3, []int32{2, 1}}, ErrPreferredLeaderNotAvailable},
		{"no replicas", nil, leaderAndISR{-1, 0, nil}, []int32{1}, leaderAndISR{-1, 0, nil}, ErrPreferredLeaderNotAvailable},
	}
	for _, tt := range tests {
		got, err := electPreferred(tt.replicas, tt.current, liveSet(tt.eligible...))
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tt.name, got, err, tt.want, tt.err)
		}
	}
}

func TestElectUnclean(t *testing.T) {
	tests := []struct {
		name     string
		current  leaderAndISR
		eligible []int32
		want     leaderAndISR
		unclean  bool
		err      error
	}{
		{"a live out-of-ISR replica leads alone", leaderAndISR{-1, 3, []int32{1}}, []int32{2, 3}, leaderAndISR{2, 4, []int32{2}}, true, nil},
		{"a live ISR member is preferred", leaderAndISR{-1, 3, []int32{1, 3}}, []int32{2, 3}, leaderAndISR{3, 4, []int32{3}}, false, nil},
		{"the leader is live", leaderAndISR{1, 3, []int32{1}}, []int32{1, 2}, leaderAndISR{1, 3, []int32{1}}, false, ErrElectionNotNeeded},
		{"the leader is dead but still named", leaderAndISR{1, 3, []int32{1}}, []int32{3}, leaderAndISR{3, 4, []int32{3}}, true, nil},
		{"no live replica", leaderAndISR{-1, 3, []int32{1}}, []int32{9}, leaderAndISR{-1, 3, []int32{1}}, false, ErrEligibleLeadersNotAvailable},
	}
	for _, tt := range tests {
		got, unclean, err := electUnclean([]int32{1, 2, 3}, tt.current, liveSet(tt.eligible...))
		if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) || unclean != tt.unclean || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, %v, %v; want %+v, %v, %v", tt.name, got, unclean, err, tt.want, tt.unclean, tt.err)
		}
	}
}

func TestImbalancedPartitions(t *testing.T) {
	c := func(p int32, replicas []int32, leader int32, isr ...int32) rebalanceCandidate {
		return rebalanceCandidate{tp: zkpaths.TopicPartition{Topic: "t", Partition: p}, replicas: replicas, leader: leader, isr: isr}
	}
	partitions := []rebalanceCandidate{
		// Broker 1 prefers 4 partitions and leads 1: 75% imbalance.
		c(0, []int32{1, 2}, 1, 1, 2),
		c(1, []int32{1, 2}, 2, 2, 1),
		c(2, []int32{1, 3}, 3, 3, 1),
		c(3, []int32{1, 3}, 3, 3), // 1 is out of the ISR: not a candidate
		// Broker 2 prefers 10 and leads 9: 10%, not above 10%.
		c(10, []int32{2, 1}, 1, 1, 2),
		c(11, []int32{2, 1}, 2, 2), c(12, []int32{2, 1}, 2, 2), c(13, []int32{2, 1}, 2, 2), c(14, []int32{2, 1}, 2, 2),
		c(15, []int32{2, 1}, 2, 2), c(16, []int32{2, 1}, 2, 2), c(17, []int32{2, 1}, 2, 2), c(18, []int32{2, 1}, 2, 2),
		c(19, []int32{2, 1}, 2, 2),
		// Broker 4 is imbalanced but not eligible.
		c(20, []int32{4, 1}, 1, 1, 4),
	}
	got := imbalancedPartitions(partitions, liveSet(1, 2, 3), 10)
	if want := []zkpaths.TopicPartition{{Topic: "t", Partition: 1}, {Topic: "t", Partition: 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("imbalancedPartitions(10%%) = %v, want %v", got, want)
	}
	got = imbalancedPartitions(partitions, liveSet(1, 2, 3), 9)
	if want := []zkpaths.TopicPartition{{Topic: "t", Partition: 1}, {Topic: "t", Partition: 2}, {Topic: "t", Partition: 10}}; !reflect.DeepEqual(got, want) {
		t.Errorf("imbalancedPartitions(9%%) = %v, want %v", got, want)
	}
	if got := imbalancedPartitions(partitions, liveSet(1, 2, 3), 100); len(got) != 0 {
		t.Errorf("imbalancedPartitions(100%%) = %v", got)
	}
}
