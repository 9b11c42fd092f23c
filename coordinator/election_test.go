package coordinator

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/kzoo/kzoo/zkpaths"
)

// testPreferredLeaders: a broker that comes back regains its preferred
// leaderships through auto rebalance, or on demand through ElectLeaders.
func testPreferredLeaders(t *testing.T, env *zkEnv, autoRebalance bool) {
	in := env.inspector(t)
	sessions := map[int32]*Session{}
	config := func(id int32) Config {
		cfg := env.config(id)
		cfg.AutoLeaderRebalance = autoRebalance
		cfg.LeaderImbalanceCheckInterval = 200 * time.Millisecond
		cfg.LeaderImbalancePerBrokerPercentage = 10
		return cfg
	}
	for id := int32(1); id <= 3; id++ {
		sessions[id] = env.start(t, config(id))
	}
	ctx := context.Background()
	if err := sessions[3].CreateTopic(ctx, "p", [][]int32{{1, 2, 3}, {2, 3, 1}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "p", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2, 3}, State: zkpaths.StateOnline})
	waitForState(t, in, "p", 1, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 0, ISR: []int32{2, 3, 1}, State: zkpaths.StateOnline})

	if err := sessions[1].Close(); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "p", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 1, ISR: []int32{2, 3}, State: zkpaths.StateOnline})
	sessions[1] = env.start(t, config(1))
	// Out of the ISR, broker 1 cannot be given its leadership back.
	if !autoRebalance {
		waitFor(t, "broker 3's snapshot to show p-0 led by broker 2", func() (bool, string) {
			p := viewPartition(sessions[3], "p", 0)
			return p.Leader == 2, fmt.Sprintf("%+v", p)
		})
		results, err := sessions[3].ElectLeaders(ctx, PreferredElection, []zkpaths.TopicPartition{
			{Topic: "p", Partition: 0}, {Topic: "p", Partition: 1}, {Topic: "nope", Partition: 0},
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := results[zkpaths.TopicPartition{Topic: "p", Partition: 0}]; !errors.Is(got, ErrPreferredLeaderNotAvailable) {
			t.Errorf("preferred election of p-0 with its preferred replica out of the ISR: %v", got)
		}
		if got := results[zkpaths.TopicPartition{Topic: "p", Partition: 1}]; !errors.Is(got, ErrElectionNotNeeded) {
			t.Errorf("preferred election of p-1 led by its preferred replica: %v", got)
		}
		if got := results[zkpaths.TopicPartition{Topic: "nope", Partition: 0}]; !errors.Is(got, ErrUnknownTopic) {
			t.Errorf("preferred election of an unknown topic: %v", got)
		}
	}
	rejoinISR(t, sessions[2], "p", 0, []int32{2, 3, 1})

	if autoRebalance {
		waitForState(t, in, "p", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 2, ISR: []int32{2, 3, 1}, State: zkpaths.StateOnline})
		return
	}
	results, err := sessions[3].ElectLeaders(ctx, PreferredElection, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[zkpaths.TopicPartition]error{{Topic: "p", Partition: 0}: nil, {Topic: "p", Partition: 1}: ErrElectionNotNeeded}
	if !reflect.DeepEqual(results, want) {
		t.Errorf("ElectLeaders(preferred, all) = %v, want %v", results, want)
	}
	// The results are final when ElectLeaders returns.
	state, _, _ := in.partitionState("p", 0)
	if state.Leader != 1 || state.LeaderEpoch != 2 || !reflect.DeepEqual(state.ISR, []int32{2, 3, 1}) {
		t.Errorf("p-0 after the preferred election: %+v", state)
	}

	// Unclean on request: broker 3 leads alone, then dies.
	if err := sessions[3].CreateTopic(ctx, "u", [][]int32{{3, 2}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "u", 0, zkpaths.PartitionState{Leader: 3, LeaderEpoch: 0, ISR: []int32{3, 2}, State: zkpaths.StateOnline})
	rejoinISR(t, sessions[3], "u", 0, []int32{3})
	if err := sessions[3].Close(); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "u", 0, zkpaths.PartitionState{Leader: -1, LeaderEpoch: 1, ISR: []int32{3}, State: zkpaths.StateOffline})
	waitFor(t, "broker 1's snapshot to show u-0 offline", func() (bool, string) {
		p := viewPartition(sessions[1], "u", 0)
		return p.Leader == -1, fmt.Sprintf("%+v", p)
	})
	results, err = sessions[1].ElectLeaders(ctx, UncleanElection, []zkpaths.TopicPartition{
		{Topic: "u", Partition: 0}, {Topic: "p", Partition: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	want = map[zkpaths.TopicPartition]error{{Topic: "u", Partition: 0}: nil, {Topic: "p", Partition: 1}: ErrElectionNotNeeded}
	if !reflect.DeepEqual(results, want) {
		t.Errorf("ElectLeaders(unclean) = %v, want %v", results, want)
	}
	waitForState(t, in, "u", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 2, ISR: []int32{2}, State: zkpaths.StateOnline})
	if in.exists(zkpaths.PreferredReplicaElectionPath) {
		t.Error("the election request is still there")
	}
}

// rejoinISR has a partition's leader put a broker back in its ISR, as
// replication will once the broker has caught up.
func rejoinISR(t *testing.T, leader *Session, topic string, partition int32, isr []int32) {
	t.Helper()
	waitFor(t, "the leader to see the partition it leads", func() (bool, string) {
		tp := leader.Snapshot().Topics[topic]
		if tp == nil || int(partition) >= len(tp.Partitions) {
			return false, "topic not in the leader's view yet"
		}
		p := tp.Partitions[partition]
		if p.Leader != leader.cfg.BrokerID {
			return false, fmt.Sprintf("%+v", p)
		}
		_, err := leader.UpdateISR(context.Background(), topic, partition, p.LeaderEpoch, p.PartitionEpoch, isr)
		return err == nil, fmt.Sprint(err)
	})
}
