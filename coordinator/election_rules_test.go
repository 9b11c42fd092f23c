package coordinator

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kzoo/kzoo/zkpaths"
)

func liveSet(ids ...int32) func(int32) bool {
	set := make(map[int32]bool)
	for _, id := range ids {
		set[id] = true
	}
	return func(id int32) bool { return set[id] }
}

func TestElectNewPartition(t *testing.T) {
	tests := []struct {
		replicas []int32
		live     []int32
		want     leaderAndISR
		ok       bool
	}{
		{[]int32{1, 2, 3}, []int32{1, 2, 3}, leaderAndISR{1, 0, []int32{1, 2, 3}}, true},
		{[]int32{3, 1, 2}, []int32{1, 2, 3}, leaderAndISR{3, 0, []int32{3, 1, 2}}, true},
		{[]int32{1, 2, 3}, []int32{2, 3}, leaderAndISR{2, 0, []int32{2, 3}}, true},
		{[]int32{1, 2, 3}, []int32{3, 9}, leaderAndISR{3, 0, []int32{3}}, true},
		{[]int32{1, 2, 3}, nil, leaderAndISR{}, false},
		{nil, []int32{1}, leaderAndISR{}, false},
	}
	for _, tt := range tests {
		got, ok := electNewPartition(tt.replicas, liveSet(tt.live...), -1)
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("electNewPartition(%v, live %v) = %+v, %v; want %+v, %v", tt.replicas, tt.live, got, ok, tt.want, tt.ok)
		}
	}
}

func TestElectOfflinePartition(t *testing.T) {
	tests := []struct {
		name        string
		replicas    []int32
		isr         []int32
		live        []int32
		unclean     bool
		want        leaderAndISR
		ok, wantUnc bool
	}{
		{"first live ISR member in assignment order, not ISR order",
			[]int32{1, 2, 3}, []int32{3, 2, 1}, []int32{2, 3}, false, leaderAndISR{2, 5, []int32{3, 2}}, true, false},
		{"a live replica outside the ISR is passed over",
			[]int32{1, 2, 3}, []int32{1, 3}, []int32{2, 3}, false, leaderAndISR{3, 5, []int32{3}}, true, false},
		{"ISR keeps only live members",
			[]int32{1, 2, 3}, []int32{1, 2, 3}, []int32{3}, false, leaderAndISR{3, 5, []int32{3}}, true, false},
		{"no live ISR member: no leader, ISR kept",
			[]int32{1, 2, 3}, []int32{1, 2}, []int32{3}, false, leaderAndISR{-1, 5, []int32{1, 2}}, false, false},
		{"nothing live at all",
			[]int32{1, 2}, []int32{1}, nil, true, leaderAndISR{-1, 5, []int32{1}}, false, false},
		{"unclean: first live replica leads alone",
			[]int32{1, 2, 3}, []int32{1}, []int32{3, 2}, true, leaderAndISR{2, 5, []int32{2}}, true, true},
		{"unclean allowed but a clean leader exists",
			[]int32{1, 2, 3}, []int32{1, 3}, []int32{2, 3}, true, leaderAndISR{3, 5, []int32{3}}, true, false},
		{"ISR members that are not replicas are dropped",
			[]int32{1, 2}, []int32{1, 2, 7}, []int32{1, 7}, false, leaderAndISR{1, 5, []int32{1}}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			current := leaderAndISR{Leader: 1, LeaderEpoch: 4, ISR: tt.isr}
			got, ok, unclean := electOfflinePartition(tt.replicas, current, liveSet(tt.live...), tt.unclean)
			if ok != tt.ok || unclean != tt.wantUnc || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v ok=%v unclean=%v; want %+v ok=%v unclean=%v", got, ok, unclean, tt.want, tt.ok, tt.wantUnc)
			}
		})
	}
}

func TestShrinkISR(t *testing.T) {
	current := leaderAndISR{Leader: 1, LeaderEpoch: 2, ISR: []int32{1, 2, 3}}
	if got, changed := shrinkISR(current, liveSet(1, 2, 3)); changed || !reflect.DeepEqual(got, current) {
		t.Errorf("all live: got %+v, %v", got, changed)
	}
	if got, changed := shrinkISR(current, liveSet(1, 3)); !changed || !reflect.DeepEqual(got, leaderAndISR{1, 3, []int32{1, 3}}) {
		t.Errorf("2 dead: got %+v, %v", got, changed)
	}
	if got, changed := shrinkISR(current, liveSet()); changed || !reflect.DeepEqual(got, current) {
		t.Errorf("never emptied: got %+v, %v", got, changed)
	}
}

func TestElectControlledShutdown(t *testing.T) {
	tests := []struct {
		name     string
		replicas []int32
		current  leaderAndISR
		live     []int32
		shutting []int32
		want     leaderAndISR
		ok       bool
	}{
		{"next ISR member in assignment order leads", []int32{1, 2, 3}, leaderAndISR{1, 4, []int32{1, 3, 2}}, []int32{1, 2, 3}, []int32{1},
			leaderAndISR{2, 5, []int32{3, 2}}, true},
		{"a dead ISR member is skipped and dropped", []int32{1, 2, 3}, leaderAndISR{1, 4, []int32{1, 2, 3}}, []int32{1, 3}, []int32{1},
			leaderAndISR{3, 5, []int32{3}}, true},
		{"a live replica outside the ISR is not elected", []int32{1, 2, 3}, leaderAndISR{1, 4, []int32{1, 3}}, []int32{1, 2, 3}, []int32{1},
			leaderAndISR{3, 5, []int32{3}}, true},
		{"another broker shutting down is not elected", []int32{1, 2, 3}, leaderAndISR{1, 4, []int32{1, 2, 3}}, []int32{1, 2, 3}, []int32{1, 2},
			leaderAndISR{3, 5, []int32{3}}, true},
		{"no one to take over", []int32{1, 2, 3}, leaderAndISR{1, 4, []int32{1, 2}}, []int32{1, 3}, []int32{1},
			leaderAndISR{1, 4, []int32{1, 2}}, false},
		{"everyone is shutting down", []int32{1, 2}, leaderAndISR{1, 4, []int32{1, 2}}, []int32{1, 2}, []int32{1, 2},
			leaderAndISR{1, 4, []int32{1, 2}}, false},
	}
	for _, tt := range tests {
		got, ok := electControlledShutdown(tt.replicas, tt.current, liveSet(tt.live...), liveSet(tt.shutting...))
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %+v, %v; want %+v, %v", tt.name, got, ok, tt.want, tt.ok)
		}
	}
}

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

func TestElectReassignedLeader(t *testing.T) {
	tests := []struct {
		name     string
		target   []int32
		current  int32
		isr      []int32
		eligible []int32
		leader   int32
		ok       bool
	}{
		{"the leader is a target: it stays", []int32{2, 1}, 1, []int32{1, 2}, []int32{1, 2}, 1, true},
		{"the first eligible target in the ISR takes over", []int32{3, 4, 5}, 1, []int32{1, 3, 4, 5}, []int32{1, 4, 5}, 4, true},
		{"a target out of the ISR is skipped", []int32{3, 4}, 1, []int32{1, 4}, []int32{1, 3, 4}, 4, true},
		{"no eligible target in the ISR", []int32{3, 4}, 1, []int32{1, 3}, []int32{1, 4}, -1, false},
	}
	for _, tt := range tests {
		leader, ok := electReassignedLeader(tt.target, tt.current, tt.isr, liveSet(tt.eligible...))
		if leader != tt.leader || ok != tt.ok {
			t.Errorf("%s: got %d, %v; want %d, %v", tt.name, leader, ok, tt.leader, tt.ok)
		}
	}
}

func TestValidateISR(t *testing.T) {
	replicas := []int32{1, 2, 3}
	live := liveSet(1, 2, 4)
	for _, isr := range [][]int32{{1}, {1, 2}, {2, 1}} {
		if err := validateISR(1, replicas, isr, live); err != nil {
			t.Errorf("validateISR(leader 1, %v) = %v", isr, err)
		}
	}
	for name, tt := range map[string]struct {
		isr     []int32
		mention string
	}{
		"without the leader":          {[]int32{2}, "leader 1 is not in it"},
		"empty":                       {nil, "leader 1 is not in it"},
		"with a broker twice":         {[]int32{1, 2, 1}, "broker 1 is listed twice"},
		"with a broker not a replica": {[]int32{1, 4}, "broker 4 is not a replica"},
		"with a dead replica":         {[]int32{1, 3}, "broker 3 is not live"},
	} {
		err := validateISR(1, replicas, tt.isr, live)
		if !errors.Is(err, ErrInvalidISR) || !strings.Contains(err.Error(), tt.mention) {
			t.Errorf("validateISR of an ISR %s (%v) = %v, want ErrInvalidISR saying %q", name, tt.isr, err, tt.mention)
		}
	}
}
