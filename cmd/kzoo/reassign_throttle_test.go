package main

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestPlanThrottle(t *testing.T) {
	current := map[string]map[int32][]int32{
		"a": {0: {1, 2}, 1: {2, 3}, 2: {3, 1}, 3: {1, 2}},
		"b": {0: {4}},
		"c": {0: {1, 2}},
	}
	plan := planThrottle(current, []partitionMove{
		{"a", 0, []int32{1, 3}},    // 2 -> 3: leaders 1,2; follower 3
		{"a", 1, []int32{4, 5, 3}}, // adds 4 and 5, drops 2
		{"a", 2, []int32{1, 3}},    // reorders only: no copy, no throttle
		{"b", 0, []int32{5}},
		{"c", 0, []int32{1}}, // drops a replica only
	})
	want := throttlePlan{
		Brokers: []int32{1, 2, 3, 4, 5},
		Topics: []topicThrottle{
			{Topic: "a", Leader: "0:1,0:2,1:2,1:3", Follower: "0:3,1:4,1:5"},
			{Topic: "b", Leader: "0:4", Follower: "0:5"},
		},
	}
	if !reflect.DeepEqual(plan, want) {
		t.Fatalf("plan = %+v\nwant   %+v", plan, want)
	}

	if none := planThrottle(current, []partitionMove{{"a", 2, []int32{1, 3}}}); len(none.Topics) != 0 || len(none.Brokers) != 0 {
		t.Errorf("a reorder planned a throttle: %+v", none)
	}
}

func TestThrottleResources(t *testing.T) {
	plan := throttlePlan{Brokers: []int32{1, 3}, Topics: []topicThrottle{{Topic: "a", Leader: "0:1", Follower: "0:3"}}}
	type change struct {
		typ         kmsg.ConfigResourceType
		name, key   string
		value       string
		set, remove bool
	}
	flatten := func(rs []kmsg.IncrementalAlterConfigsRequestResource) []change {
		var out []change
		for _, r := range rs {
			for _, c := range r.Configs {
				ch := change{typ: r.ResourceType, name: r.ResourceName, key: c.Name,
					set: c.Op == kmsg.IncrementalAlterConfigOpSet, remove: c.Op == kmsg.IncrementalAlterConfigOpDelete}
				if c.Value != nil {
					ch.value = *c.Value
				}
				out = append(out, ch)
			}
		}
		return out
	}
	topic, broker := kmsg.ConfigResourceTypeTopic, kmsg.ConfigResourceTypeBroker
	got := flatten(plan.throttleResources(10_000_000))
	want := []change{
		{topic, "a", followerThrottledReplicas, "0:3", true, false},
		{topic, "a", leaderThrottledReplicas, "0:1", true, false},
		{broker, "1", followerThrottledRate, "10000000", true, false},
		{broker, "1", leaderThrottledRate, "10000000", true, false},
		{broker, "3", followerThrottledRate, "10000000", true, false},
		{broker, "3", leaderThrottledRate, "10000000", true, false},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("throttle resources:\n got %+v\nwant %+v", got, want)
	}

	// verify removes what is set as each entity's own dynamic config, and
	// nothing set as a default or statically.
	entry := func(name string, source kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfig {
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name, c.Source = name, source
		return c
	}
	resource := func(typ kmsg.ConfigResourceType, name string, configs ...kmsg.DescribeConfigsResponseResourceConfig) kmsg.DescribeConfigsResponseResource {
		r := kmsg.NewDescribeConfigsResponseResource()
		r.ResourceType, r.ResourceName, r.Configs = typ, name, configs
		return r
	}
	set, err := throttlesSet([]kmsg.DescribeConfigsResponseResource{
		resource(broker, "1", entry(leaderThrottledRate, kmsg.ConfigSourceDynamicBrokerConfig), entry(followerThrottledRate, kmsg.ConfigSourceDynamicBrokerConfig)),
		resource(broker, "2", entry(leaderThrottledRate, kmsg.ConfigSourceDynamicDefaultBrokerConfig), entry(followerThrottledRate, kmsg.ConfigSourceDefaultConfig)),
		resource(broker, "3", entry(followerThrottledRate, kmsg.ConfigSourceDynamicBrokerConfig), entry("num.replica.fetchers", kmsg.ConfigSourceDynamicBrokerConfig)),
		resource(topic, "a", entry(leaderThrottledReplicas, kmsg.ConfigSourceDynamicTopicConfig), entry(followerThrottledReplicas, kmsg.ConfigSourceDynamicTopicConfig)),
		resource(topic, "b", entry(leaderThrottledReplicas, kmsg.ConfigSourceDefaultConfig), entry("retention.ms", kmsg.ConfigSourceDynamicTopicConfig)),
	})
	if err != nil {
		t.Fatal(err)
	}
	got = flatten(set.removeResources())
	want = []change{
		{topic, "a", followerThrottledReplicas, "", false, true},
		{topic, "a", leaderThrottledReplicas, "", false, true},
		{broker, "1", followerThrottledRate, "", false, true},
		{broker, "1", leaderThrottledRate, "", false, true},
		{broker, "3", followerThrottledRate, "", false, true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("removal:\n got %+v\nwant %+v", got, want)
	}
	if msg := set.describeRemoved(); msg != "Throttle was removed: the replication throttle rates of broker(s) 1,3 and the throttled replicas of topic(s) a." {
		t.Errorf("removal message %q", msg)
	}

	failed := resource(topic, "gone")
	failed.ErrorCode = 3 // UNKNOWN_TOPIC_OR_PARTITION
	if _, err := throttlesSet([]kmsg.DescribeConfigsResponseResource{failed}); err == nil || !strings.Contains(err.Error(), "topic gone") {
		t.Errorf("a failed describe: %v", err)
	}
	if empty, err := throttlesSet(nil); err != nil || !empty.empty() || len(empty.removeResources()) != 0 {
		t.Errorf("nothing set: %+v, %v", empty, err)
	}
}

func TestParseThrottle(t *testing.T) {
	if rate, err := parseThrottle(" 1048576 "); err != nil || rate != 1<<20 {
		t.Errorf("parseThrottle = %d, %v", rate, err)
	}
	for _, bad := range []string{"0", "-5", "1.5", "10MB", "lots"} {
		if _, err := parseThrottle(bad); err == nil || !strings.Contains(err.Error(), "--throttle") {
			t.Errorf("parseThrottle(%q) = %v, want an error naming --throttle", bad, err)
		}
	}
}

func TestReassignThrottleFlags(t *testing.T) {
	var out bytes.Buffer
	// A bad rate fails before any connection is needed (the client is nil).
	err := reassignCommand(t.Context(), nil, []string{"execute", "--reassignment-json-file", writeTemp(t, `{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1]}]}`), "--throttle", "fast"}, &out)
	if err == nil || !strings.Contains(err.Error(), `--throttle "fast"`) {
		t.Errorf("execute --throttle fast: %v", err)
	}
	if err := reassignCommand(t.Context(), nil, []string{"verify", "--throttle", "5"}, &out); err == nil || !strings.Contains(err.Error(), "throttle") {
		t.Errorf("verify --throttle: %v, want the flag refused", err)
	}
	if err := reassignCommand(t.Context(), nil, []string{"--help"}, &out); err != nil || !strings.Contains(out.String(), "--throttle BYTES/S") || !strings.Contains(out.String(), "--preserve-throttles") {
		t.Errorf("help: %v\n%s", err, out.String())
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
