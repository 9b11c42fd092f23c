package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kzoo/kzoo/coordinator/placement"
	"github.com/kzoo/kzoo/zkpaths"
)

// testConfigNotifications: topic and broker configs reach every snapshot
// through /config/changes, the controller takes unclean.leader.election.enable
// from the topic's config, and old notifications are purged.
func testConfigNotifications(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	var clockOffset atomic.Int64
	cfg1 := env.config(1)
	cfg1.Now = func() time.Time { return time.Now().Add(time.Duration(clockOffset.Load())) }
	s1 := env.start(t, cfg1)
	waitFor(t, "broker 1 to be controller", func() (bool, string) {
		id, _ := in.controller()
		return id == 1, fmt.Sprint(id)
	})
	s2 := env.start(t, env.config(2))
	ctx := context.Background()

	if err := s1.CreateTopic(ctx, "u", [][]int32{{2, 1}}, map[string]string{"retention.ms": "1000"}); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "u", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 0, ISR: []int32{2, 1}, State: zkpaths.StateOnline})
	waitFor(t, "broker 2's snapshot to show the topic's config", func() (bool, string) {
		topic := s2.Snapshot().Topics["u"]
		return topic != nil && reflect.DeepEqual(topic.Configs, map[string]string{"retention.ms": "1000"}), fmt.Sprintf("%+v", topic)
	})

	defaults := map[string]string{"log.retention.ms": "5000"}
	own := map[string]string{"log.cleaner.threads": "2"}
	if err := s2.SetBrokerConfig(ctx, zkpaths.DefaultConfigEntity, defaults); err != nil {
		t.Fatal(err)
	}
	if err := s2.SetBrokerConfig(ctx, "1", own); err != nil {
		t.Fatal(err)
	}
	if err := s2.SetBrokerConfig(ctx, "one", own); err == nil {
		t.Error("SetBrokerConfig accepted an invalid entity")
	}
	data, _ := in.mustGet("/config/brokers/<default>")
	if want := `{"version":1,"config":{"log.retention.ms":"5000"}}`; string(data) != want {
		t.Errorf("/config/brokers/<default> = %s, want %s", data, want)
	}
	want := map[string]map[string]string{zkpaths.DefaultConfigEntity: defaults, "1": own}
	for n, s := range map[int]*Session{1: s1, 2: s2} {
		waitFor(t, fmt.Sprintf("broker %d's snapshot to show the broker configs", n), func() (bool, string) {
			got := s.Snapshot().BrokerConfigs
			return reflect.DeepEqual(got, want), fmt.Sprint(got)
		})
	}
	// A broker started now reads the current configs.
	s3 := env.start(t, env.config(3))
	if got := s3.Snapshot().BrokerConfigs; !reflect.DeepEqual(got, want) {
		t.Errorf("a new broker's broker configs = %v, want %v", got, want)
	}
	if err := s1.SetBrokerConfig(ctx, "1", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "broker 3's snapshot to show the emptied override set", func() (bool, string) {
		got := s3.Snapshot().BrokerConfigs["1"]
		return got != nil && len(got) == 0, fmt.Sprint(got)
	})

	// Broker 2 leads alone, then dies: no clean leader is left.
	state := viewPartition(s2, "u", 0)
	if _, err := s2.UpdateISR(ctx, "u", 0, state.LeaderEpoch, state.PartitionEpoch, []int32{2}); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "u", 0, zkpaths.PartitionState{Leader: -1, LeaderEpoch: 1, ISR: []int32{2}, State: zkpaths.StateOffline})
	if err := s3.SetTopicConfig(ctx, "u", map[string]string{"unclean.leader.election.enable": "true"}); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "u", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 2, ISR: []int32{1}, State: zkpaths.StateOnline})

	// Fifteen minutes later the controller purges the notifications.
	if len(in.children(zkpaths.ConfigChangesPath)) == 0 {
		t.Fatal("no config change notifications")
	}
	clockOffset.Store(int64(20 * time.Minute))
	if err := s3.SetTopicConfig(ctx, "u", map[string]string{"retention.ms": "7"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the old notifications to be purged", func() (bool, string) {
		changes := in.children(zkpaths.ConfigChangesPath)
		return len(changes) <= 1, fmt.Sprint(changes)
	})
	// The controller's clock, 20 minutes ahead, also found the newest
	// notification old enough to purge, possibly before broker 3 read it
	// (a real clock never does). The next purge is a minute away, so a
	// change made now reaches every broker.
	if err := s3.SetTopicConfig(ctx, "u", map[string]string{"retention.ms": "7", "segment.ms": "8"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the last change to reach broker 3", func() (bool, string) {
		topic := s3.Snapshot().Topics["u"]
		return topic != nil && topic.Configs["retention.ms"] == "7" && topic.Configs["segment.ms"] == "8", fmt.Sprintf("%+v", topic)
	})
}

// testDeletionWithBrokerDown deletes a topic while one of its replicas' brokers
// is down: the topic stays in deletion, also across a controller failover,
// until that broker is back and confirms.
func testDeletionWithBrokerDown(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	s1 := env.start(t, env.config(1))
	waitFor(t, "broker 1 to be controller", func() (bool, string) {
		id, _ := in.controller()
		return id == 1, fmt.Sprint(id)
	})
	s2 := env.start(t, env.config(2))
	s3 := env.start(t, env.config(3))
	ctx := context.Background()
	if err := s1.CreateTopic(ctx, "gone", [][]int32{{1, 2, 3}, {3, 2, 1}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "gone", 1, zkpaths.PartitionState{Leader: 3, LeaderEpoch: 0, ISR: []int32{3, 2, 1}, State: zkpaths.StateOnline})

	if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s2.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*Session{s1, s2} {
		if err := s.ConfirmReplicasDeleted(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the deletion to wait for broker 3", func() (bool, string) {
		snap := s2.Snapshot()
		return reflect.DeepEqual(snap.PendingDeletion["gone"], []int32{3}), fmt.Sprint(snap.PendingDeletion)
	})
	for p := range int32(2) {
		waitFor(t, "the partitions to be offline", func() (bool, string) {
			state, _, ok := in.partitionState("gone", p)
			return ok && state.State == zkpaths.StateOffline && state.Leader == -1, fmt.Sprintf("%+v", state)
		})
	}
	if !in.exists("/brokers/topics/gone") {
		t.Fatal("the topic was deleted while broker 3 still holds replicas")
	}

	// A new controller takes the deletion over.
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "broker 2 to be controller", func() (bool, string) {
		id, _ := in.controller()
		return id == 2, fmt.Sprint(id)
	})
	if !in.exists("/brokers/topics/gone") {
		t.Fatal("the new controller deleted the topic while broker 3 still holds replicas")
	}

	s3 = env.start(t, env.config(3))
	topic := s3.Snapshot().Topics["gone"]
	if topic == nil || !topic.Deleting || !reflect.DeepEqual(s3.Snapshot().PendingDeletion["gone"], []int32{3}) {
		t.Fatalf("the returning broker sees %+v, pending %v", topic, s3.Snapshot().PendingDeletion)
	}
	if err := s3.ConfirmReplicasDeleted(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every znode of the topic to go", func() (bool, string) {
		for _, p := range []string{"/brokers/topics/gone", "/config/topics/gone", "/admin/delete_topics/gone"} {
			if in.exists(p) {
				return false, p + " exists"
			}
		}
		return true, ""
	})
	waitFor(t, "broker 3's snapshot to drop the topic", func() (bool, string) {
		snap := s3.Snapshot()
		return snap.Topics["gone"] == nil && len(snap.PendingDeletion) == 0, fmt.Sprint(snap.PendingDeletion)
	})
}

// testControlledShutdown: a broker shutting down hands its leaderships to other
// ISR members and leaves the ISRs before it goes.
func testControlledShutdown(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	sessions := map[int32]*Session{}
	for id := int32(1); id <= 3; id++ {
		sessions[id] = env.start(t, env.config(id))
	}
	ctx := context.Background()
	if err := sessions[2].CreateTopic(ctx, "rf3", [][]int32{{1, 2, 3}, {2, 3, 1}, {3, 1, 2}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := sessions[2].CreateTopic(ctx, "solo", [][]int32{{1}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "rf3", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2, 3}, State: zkpaths.StateOnline})
	waitForState(t, in, "rf3", 2, zkpaths.PartitionState{Leader: 3, LeaderEpoch: 0, ISR: []int32{3, 1, 2}, State: zkpaths.StateOnline})
	waitForState(t, in, "solo", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1}, State: zkpaths.StateOnline})
	waitFor(t, "broker 1's snapshot to show the topics online", func() (bool, string) {
		snap := sessions[1].Snapshot()
		return snap.Topics["rf3"] != nil && snap.Topics["rf3"].Partitions[0].Leader == 1 && snap.Topics["solo"] != nil &&
			snap.Topics["solo"].Partitions[0].Leader == 1, fmt.Sprintf("%+v", snap.Topics)
	})

	shutdownCtx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	if err := sessions[1].ControlledShutdown(shutdownCtx); err != nil {
		t.Fatal(err)
	}
	// When it returns, its own snapshot already shows the moves.
	rf3 := sessions[1].Snapshot().Topics["rf3"]
	if p := rf3.Partitions[0]; p.Leader != 2 || p.LeaderEpoch != 1 || !reflect.DeepEqual(p.ISR, []int32{2, 3}) {
		t.Errorf("rf3-0 after the controlled shutdown: %+v", p)
	}
	waitForState(t, in, "rf3", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 1, ISR: []int32{2, 3}, State: zkpaths.StateOnline})
	waitForState(t, in, "rf3", 1, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 1, ISR: []int32{2, 3}, State: zkpaths.StateOnline})
	waitForState(t, in, "rf3", 2, zkpaths.PartitionState{Leader: 3, LeaderEpoch: 1, ISR: []int32{3, 2}, State: zkpaths.StateOnline})
	// Nobody can take "solo" over: it stays with broker 1 until it is gone.
	waitForState(t, in, "solo", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1}, State: zkpaths.StateOnline})

	if err := sessions[1].Close(); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "solo", 0, zkpaths.PartitionState{Leader: -1, LeaderEpoch: 1, ISR: []int32{1}, State: zkpaths.StateOffline})
	// Broker 1 comes back as an ordinary broker: it may lead again.
	env.start(t, env.config(1))
	waitForState(t, in, "solo", 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 2, ISR: []int32{1}, State: zkpaths.StateOnline})
	waitForState(t, in, "rf3", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 1, ISR: []int32{2, 3}, State: zkpaths.StateOnline})
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
		results, err := sessions[3].ElectLeaders(ctx, PreferredElection, []zkpaths.TopicPartition{{Topic: "p", Partition: 0}, {Topic: "p", Partition: 1}, {Topic: "nope", Partition: 0}})
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
	results, err = sessions[1].ElectLeaders(ctx, UncleanElection, []zkpaths.TopicPartition{{Topic: "u", Partition: 0}, {Topic: "p", Partition: 1}})
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

// waitForAssignment waits until a topic znode holds exactly want.
func waitForAssignment(t *testing.T, in *inspector, topic, want string) {
	t.Helper()
	waitFor(t, fmt.Sprintf("the assignment of %s to be %s", topic, want), func() (bool, string) {
		data, _, err := in.get(zkpaths.TopicPath(topic))
		if err != nil {
			return false, err.Error()
		}
		var a struct {
			Partitions json.RawMessage `json:"partitions"`
			Adding     json.RawMessage `json:"adding_replicas"`
			Removing   json.RawMessage `json:"removing_replicas"`
		}
		if err := json.Unmarshal(data, &a); err != nil {
			return false, err.Error()
		}
		got := fmt.Sprintf("%s %s %s", a.Partitions, a.Adding, a.Removing)
		return got == want, got
	})
}

func testReassignment(t *testing.T, env *zkEnv) {
	in := env.inspector(t)
	sessions := map[int32]*Session{}
	for id := int32(1); id <= 4; id++ {
		sessions[id] = env.start(t, env.config(id))
	}
	ctx := context.Background()
	for _, name := range []string{"r", "stuck", "cancel"} {
		if err := sessions[1].CreateTopic(ctx, name, [][]int32{{1, 2, 3}}, nil); err != nil {
			t.Fatal(err)
		}
		waitForState(t, in, name, 0, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2, 3}, State: zkpaths.StateOnline})
	}
	waitFor(t, "broker 4's snapshot to show the topics and brokers", func() (bool, string) {
		snap := sessions[4].Snapshot()
		return len(snap.Topics) == 3 && len(snap.Brokers) == 4, fmt.Sprint(snap.LiveBrokerIDs())
	})

	results, err := sessions[4].AlterReassignments(ctx, map[zkpaths.TopicPartition][]int32{
		{Topic: "r", Partition: 0}:      {2, 3, 4},
		{Topic: "r", Partition: 1}:      {1},
		{Topic: "nope", Partition: 0}:   {1},
		{Topic: "cancel", Partition: 0}: {1, 1},
		{Topic: "stuck", Partition: 0}:  {1, 9},
	})
	if err != nil {
		t.Fatal(err)
	}
	for tp, want := range map[zkpaths.TopicPartition]error{
		{Topic: "r", Partition: 0}: nil, {Topic: "r", Partition: 1}: ErrUnknownTopic, {Topic: "nope", Partition: 0}: ErrUnknownTopic,
		{Topic: "cancel", Partition: 0}: placement.ErrInvalidReplicaAssignment, {Topic: "stuck", Partition: 0}: placement.ErrInvalidReplicaAssignment,
	} {
		if got := results[tp]; !errors.Is(got, want) || (got == nil) != (want == nil) {
			t.Errorf("AlterReassignments result for %v = %v, want %v", tp, got, want)
		}
	}
	waitForAssignment(t, in, "r", `{"0":[2,3,4]} {} {}`)
	waitFor(t, "the request to be pruned and the leader to move", func() (bool, string) {
		state, _, _ := in.partitionState("r", 0)
		return !in.exists(zkpaths.ReassignPartitionsPath) && slices.Contains([]int32{2, 3, 4}, state.Leader) &&
			reflect.DeepEqual(state.ISR, []int32{2, 3, 4}), fmt.Sprintf("%+v", state)
	})
	waitFor(t, "broker 1's snapshot to show the new replicas", func() (bool, string) {
		p := viewPartition(sessions[1], "r", 0)
		return reflect.DeepEqual(p.Replicas, []int32{2, 3, 4}) && len(p.AddingReplicas) == 0 && len(p.RemovingReplicas) == 0,
			fmt.Sprintf("%+v", p)
	})

	// A legacy tool asks for broker 5, which is not running: the reassignment
	// starts and waits for it, across a controller failover.
	legacy := `{"version":1,"partitions":[{"topic":"stuck","partition":0,"replicas":[5,2]},{"topic":"cancel","partition":0,"replicas":[6,2,3]}]}`
	if _, err := in.conn.Create(in.chroot+zkpaths.ReassignPartitionsPath, []byte(legacy), 0, openACL); err != nil {
		t.Fatal(err)
	}
	waitForAssignment(t, in, "stuck", `{"0":[5,2,1,3]} {"0":[5]} {"0":[1,3]}`)
	waitForAssignment(t, in, "cancel", `{"0":[6,2,3,1]} {"0":[6]} {"0":[1]}`)
	waitFor(t, "broker 2's snapshot to show the reassignment in progress", func() (bool, string) {
		p := viewPartition(sessions[2], "stuck", 0)
		return reflect.DeepEqual(p.AddingReplicas, []int32{5}) && reflect.DeepEqual(p.RemovingReplicas, []int32{1, 3}), fmt.Sprintf("%+v", p)
	})
	controller, _ := in.controller()
	if err := sessions[controller].Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a new controller", func() (bool, string) {
		id, _ := in.controller()
		return id > 0 && id != controller, fmt.Sprint(id)
	})
	sessions[controller] = env.start(t, env.config(controller))

	results, err = sessions[2].AlterReassignments(ctx, map[zkpaths.TopicPartition][]int32{{Topic: "cancel", Partition: 0}: nil, {Topic: "r", Partition: 0}: nil})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(results[zkpaths.TopicPartition{Topic: "r", Partition: 0}], ErrNoReassignmentInProgress) || results[zkpaths.TopicPartition{Topic: "cancel", Partition: 0}] != nil {
		t.Errorf("cancellations: %v", results)
	}
	// As in Kafka, the original replicas are the stored ones without those
	// being added; their order follows the target's.
	waitForAssignment(t, in, "cancel", `{"0":[2,3,1]} {} {}`)

	env.start(t, env.config(5))
	waitForAssignment(t, in, "stuck", `{"0":[5,2]} {} {}`)
	waitFor(t, "the request to be gone", func() (bool, string) {
		state, _, _ := in.partitionState("stuck", 0)
		return !in.exists(zkpaths.ReassignPartitionsPath) && reflect.DeepEqual(state.ISR, []int32{2, 5}) &&
			(state.Leader == 2 || state.Leader == 5), fmt.Sprintf("%+v", state)
	})
	state, _, _ := in.partitionState("cancel", 0)
	if !slices.Contains([]int32{1, 2, 3}, state.Leader) || !containsAll(state.ISR, []int32{1, 2, 3}) || len(state.ISR) != 3 {
		t.Errorf("the cancelled partition: %+v", state)
	}
}

// testStaleControllerWritesNothing cuts the controller off ZooKeeper until its
// session expires and another broker is elected: when it is back, it writes
// nothing to the state znodes and steps down.
func testStaleControllerWritesNothing(t *testing.T, env *zkEnv, zkAddr string) {
	in := env.inspector(t)
	proxy := newProxy(t, zkAddr)
	cfg := env.config(1)
	cfg.Connect = proxy.addr() + env.chroot
	cfg.SessionTimeout = 2 * time.Second
	s1 := env.start(t, cfg)
	waitFor(t, "broker 1 to be controller", func() (bool, string) {
		id, _ := in.controller()
		return id == 1, fmt.Sprint(id)
	})
	s2 := env.start(t, env.config(2))
	ctx := context.Background()
	if err := s2.CreateTopic(ctx, "x", [][]int32{{2, 1}, {1, 2}}, nil); err != nil {
		t.Fatal(err)
	}
	waitForState(t, in, "x", 1, zkpaths.PartitionState{Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2}, State: zkpaths.StateOnline})
	_, oldEpoch := in.controller()
	oldBrokerEpoch := s1.BrokerEpoch()

	proxy.setBlocked(true)
	waitFor(t, "broker 2 to be elected and to handle broker 1's failure", func() (bool, string) {
		id, epoch := in.controller()
		state, _, _ := in.partitionState("x", 1)
		return id == 2 && epoch == oldEpoch+1 && state.Leader == 2, fmt.Sprintf("controller %d epoch %d, x-1 %+v", id, epoch, state)
	})
	waitForState(t, in, "x", 0, zkpaths.PartitionState{Leader: 2, LeaderEpoch: 1, ISR: []int32{2}, State: zkpaths.StateOnline})
	type znode struct {
		data    string
		version int32
		mzxid   int64
	}
	read := func() map[string]znode {
		out := make(map[string]znode)
		for _, p := range []string{zkpaths.PartitionStatePath("x", 0), zkpaths.PartitionStatePath("x", 1),
			zkpaths.ControllerEpochPath, zkpaths.ControllerPath, zkpaths.TopicPath("x")} {
			data, stat := in.mustGet(p)
			out[p] = znode{string(data), stat.Version, stat.Mzxid}
		}
		return out
	}
	before := read()

	proxy.setBlocked(false)
	waitFor(t, "broker 1 to register again and to see broker 2 as controller", func() (bool, string) {
		snap := s1.Snapshot()
		b, ok := snap.Brokers[1]
		return s1.BrokerEpoch() != oldBrokerEpoch && ok && b.Epoch == s1.BrokerEpoch() && snap.ControllerID == 2 &&
				snap.ControllerEpoch == oldEpoch+1 && snap.Brokers[2].ID == 2,
			fmt.Sprintf("epoch %d, controller %d/%d", s1.BrokerEpoch(), snap.ControllerID, snap.ControllerEpoch)
	})
	// Broker 2 has seen broker 1 come back too; neither changed anything.
	waitFor(t, "broker 2 to see broker 1 back", func() (bool, string) {
		b, ok := s2.Snapshot().Brokers[1]
		return ok && b.Epoch == s1.BrokerEpoch(), fmt.Sprintf("%+v", b)
	})
	if after := read(); !reflect.DeepEqual(after, before) {
		t.Errorf("znodes changed after the stale controller came back:\nbefore %+v\n after %+v", before, after)
	}
	if id, epoch := in.controller(); id != 2 || epoch != oldEpoch+1 {
		t.Errorf("controller %d epoch %d, want 2 epoch %d", id, epoch, oldEpoch+1)
	}
}
