package config

import (
	"math"
	"strings"
	"testing"
)

func TestParseThrottledReplicas(t *testing.T) {
	for _, tc := range []struct {
		value string
		names []ReplicaPair // named
		not   []ReplicaPair // not named
	}{
		{value: "", not: []ReplicaPair{{0, 1}}},
		{value: " * ", names: []ReplicaPair{{0, 1}, {7, 3}}},
		{value: "0:1, 1:2,,2:3 ", names: []ReplicaPair{{0, 1}, {1, 2}, {2, 3}}, not: []ReplicaPair{{1, 1}, {0, 2}, {3, 2}}},
	} {
		r, err := ParseThrottledReplicas(tc.value)
		if err != nil {
			t.Errorf("%q: %v", tc.value, err)
			continue
		}
		for _, p := range tc.names {
			if !r.Names(p.Partition, p.Broker) {
				t.Errorf("%q does not name %d:%d", tc.value, p.Partition, p.Broker)
			}
		}
		for _, p := range tc.not {
			if r.Names(p.Partition, p.Broker) {
				t.Errorf("%q names %d:%d", tc.value, p.Partition, p.Broker)
			}
		}
	}
	for _, bad := range []string{"0:a", "0", ":1", "1:", "*,0:1", "0:1,*", "-1:2", "0:99999999999", "0:1:2"} {
		if _, err := ParseThrottledReplicas(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
		err := ValidateTopicConfigs(map[string]string{LeaderReplicationThrottledReplicas: bad}, false)
		if err == nil || !strings.Contains(err.Error(), LeaderReplicationThrottledReplicas) {
			t.Errorf("topic config %q: %v, want an error naming the key", bad, err)
		}
	}
}

func TestTopicThrottledReplicas(t *testing.T) {
	b := testBroker(t)
	cfg := b.ResolveTopic(map[string]string{
		LeaderReplicationThrottledReplicas:   "0:1,0:2",
		FollowerReplicationThrottledReplicas: "0:3",
	})
	if l, f := cfg.LeaderThrottledReplicas(), cfg.FollowerThrottledReplicas(); !l.Names(0, 2) || l.Names(0, 3) || !f.Names(0, 3) || f.Names(0, 1) {
		t.Errorf("leader %+v, follower %+v", l, f)
	}
	if none := b.ResolveTopic(nil); none.LeaderThrottledReplicas().Names(0, 1) || none.FollowerThrottledReplicas().Names(0, 1) {
		t.Error("a topic without throttled replicas names some")
	}
}

func TestReplicationThrottleRates(t *testing.T) {
	if rt := testBroker(t).Values.ReplicationThrottle(); !math.IsInf(rt.Leader, 1) || !math.IsInf(rt.Follower, 1) {
		t.Errorf("default = %+v, want unlimited (Long.MaxValue) on both sides", rt)
	}
	for _, name := range []string{LeaderReplicationThrottledRate, FollowerReplicationThrottledRate} {
		if !IsDynamicBrokerKey(name) {
			t.Errorf("%s is not dynamic", name)
		}
		for _, bad := range []string{"-1", "1.5", "lots"} {
			if err := ValidateBrokerConfigs(map[string]string{name: bad}); err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%s=%s: %v, want an error naming the key", name, bad, err)
			}
		}
	}
	// Per broker over the cluster default, each side on its own.
	b := testBroker(t, "follower.replication.throttled.rate=5000")
	rt := b.WithDynamic(Dynamic{
		Default: map[string]string{LeaderReplicationThrottledRate: "2000000", FollowerReplicationThrottledRate: "3000000"},
		Broker:  map[string]string{LeaderReplicationThrottledRate: "1000000"},
	}).Values.Runtime().ReplicationThrottle
	if rt.Leader != 1e6 || rt.Follower != 3e6 {
		t.Errorf("runtime throttle = %+v, want leader 1e6 (broker) and follower 3e6 (default)", rt)
	}
	if rt := b.Values.ReplicationThrottle(); rt.Follower != 5000 || !math.IsInf(rt.Leader, 1) {
		t.Errorf("static throttle = %+v", rt)
	}
	if rt := testBroker(t, "leader.replication.throttled.rate=0").Values.ReplicationThrottle(); rt.Leader != 0 {
		t.Errorf("leader rate 0 read as %v", rt.Leader)
	}
}
