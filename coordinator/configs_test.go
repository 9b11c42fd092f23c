package coordinator

import (
	"context"
	"fmt"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

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
	waitForController(t, in, 1)
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
