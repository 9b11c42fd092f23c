package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
)

// debianPython is Debian's interpreter, which sees Debian's python3-*
// packages; a python3 earlier on PATH (pyenv, a virtualenv) may not.
const debianPython = "/usr/bin/python3"

// TestPythonClients drives a 3-broker cluster through the admin clients
// of Debian's python3-kafka (kafka-python) and python3-confluent-kafka
// (librdkafka). Each client runs a scenario script from
// testdata/python that prints what it saw as JSON, and the test checks it
// against what a Kafka cluster answers.
//
// make deps installs both packages. Where one is missing the test fails in
// CI (CI=true), where it must never be silently skipped, and is skipped
// elsewhere, so that `go test` works on a machine without them.
func TestPythonClients(t *testing.T) {
	requirePython(t, "kafka", "confluent_kafka")
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 10700, Env: map[string]string{
		// Each scenario's consumer is its group's only member.
		"KZOO_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
	}})
	waitForLiveBrokers(t, c.Bootstrap(), 3)

	t.Run("kafka-python", func(t *testing.T) { kafkaPythonScenario(t, c) })
	t.Run("confluent-kafka", func(t *testing.T) { confluentScenario(t, c) })
}

func kafkaPythonScenario(t *testing.T, c *cluster.Cluster) {
	const (
		topic = "python-kafka-python"
		group = "python-kafka-python-group"
	)
	s := runScenario(t, c, "kafka_python_admin.py", topic, group)

	t.Run("cluster", func(t *testing.T) {
		var cl struct {
			Brokers []struct {
				NodeID int    `json:"node_id"`
				Host   string `json:"host"`
				Port   int    `json:"port"`
			} `json:"brokers"`
			ControllerID int `json:"controller_id"`
		}
		if !s.ok(t, "describe_cluster", &cl) {
			return
		}
		var got []string
		for _, b := range cl.Brokers {
			if fmt.Sprintf("%s:%d", b.Host, b.Port) != c.BrokerAddr(b.NodeID) {
				t.Errorf("broker %d at %s:%d, want %s", b.NodeID, b.Host, b.Port, c.BrokerAddr(b.NodeID))
			}
			got = append(got, c.BrokerAddr(b.NodeID))
		}
		slices.Sort(got)
		if !slices.Equal(got, c.Bootstrap()) || cl.ControllerID < 1 || cl.ControllerID > 3 {
			t.Errorf("describe_cluster: brokers %v, controller %d, want brokers %v and one of them as controller", got, cl.ControllerID, c.Bootstrap())
		}
	})

	t.Run("topics", func(t *testing.T) {
		s.ok(t, "create_topic", nil)
		s.failedWith(t, "create_existing_topic", "TopicAlreadyExistsError")
		var described []struct {
			Topic      string `json:"topic"`
			ErrorCode  int    `json:"error_code"`
			IsInternal bool   `json:"is_internal"`
			Partitions []struct {
				Partition int   `json:"partition"`
				Leader    int32 `json:"leader"`
				Replicas  []int `json:"replicas"`
				ISR       []int `json:"isr"`
			} `json:"partitions"`
		}
		if s.ok(t, "describe_topic", &described) {
			if len(described) != 1 || described[0].Topic != topic || described[0].ErrorCode != 0 || described[0].IsInternal || len(described[0].Partitions) != 3 {
				t.Fatalf("describe_topics: %+v, want %s, not internal, with 3 partitions", described, topic)
			}
			for _, p := range described[0].Partitions {
				if len(p.Replicas) != 2 || p.Replicas[0] == p.Replicas[1] || !slices.Contains(p.ISR, int(p.Leader)) {
					t.Errorf("describe_topics, partition %d: %+v, want 2 replicas and the leader in the ISR", p.Partition, p)
				}
			}
		}
		var names []string
		if s.ok(t, "list_topics", &names) && !slices.Contains(names, topic) {
			t.Errorf("list_topics: %q, want %s in it", names, topic)
		}
		s.ok(t, "delete_topic", nil)
		if s.ok(t, "list_topics_after_delete", &names) && slices.Contains(names, topic) {
			t.Errorf("list_topics after delete_topics: %q still holds %s", names, topic)
		}
		s.failedWith(t, "delete_missing_topic", "UnknownTopicOrPartitionError")
	})

	t.Run("configs", func(t *testing.T) {
		// name: {value, source, read_only, synonyms: [[name, value, source]]}
		type entry struct {
			Value    *string `json:"value"`
			Source   int8    `json:"source"` // a kmsg.ConfigSource
			ReadOnly bool    `json:"read_only"`
			Synonyms [][]any `json:"synonyms"`
		}
		var topicConfigs map[string]entry
		if s.ok(t, "describe_topic_configs", &topicConfigs) {
			retention := topicConfigs["retention.ms"]
			if retention.Value == nil || *retention.Value != "3600000" || kmsg.ConfigSource(retention.Source) != kmsg.ConfigSourceDynamicTopicConfig ||
				len(retention.Synonyms) == 0 || fmt.Sprint(retention.Synonyms[0]) != "[retention.ms 3600000 1]" {
				t.Errorf("topic config retention.ms: %+v, want 3600000 set on the topic, first among its synonyms", retention)
			}
			if policy := topicConfigs["cleanup.policy"]; policy.Value == nil || *policy.Value != "delete" || kmsg.ConfigSource(policy.Source) == kmsg.ConfigSourceDynamicTopicConfig {
				t.Errorf("topic config cleanup.policy: %+v, want the default delete", policy)
			}
		}
		var brokerConfigs map[string]entry
		if s.ok(t, "describe_broker_configs", &brokerConfigs) {
			if id := brokerConfigs["broker.id"]; id.Value == nil || *id.Value != "1" || !id.ReadOnly {
				t.Errorf("broker 1's config broker.id: %+v, want 1, read-only", id)
			}
		}
	})

	t.Run("groups", func(t *testing.T) {
		var produced, consumed int
		if !s.ok(t, "produce", &produced) || !s.ok(t, "consume_and_commit", &consumed) {
			return
		}
		if produced != 12 || consumed != 12 {
			t.Fatalf("produced %d and consumed %d records, want 12 each", produced, consumed)
		}
		var listed [][2]string
		if s.ok(t, "list_groups", &listed) && !slices.Contains(listed, [2]string{group, "consumer"}) {
			t.Errorf("list_consumer_groups: %q, want [%s consumer] in it", listed, group)
		}
		type description struct {
			State        string `json:"state"`
			ProtocolType string `json:"protocol_type"`
			Protocol     string `json:"protocol"`
			Members      []struct {
				MemberID     string           `json:"member_id"`
				ClientID     string           `json:"client_id"`
				ClientHost   string           `json:"client_host"`
				Subscription []string         `json:"subscription"`
				Assignment   map[string][]int `json:"assignment"`
			} `json:"members"`
		}
		var d description
		if s.ok(t, "describe_group", &d) {
			if d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != "range" || len(d.Members) != 1 {
				t.Fatalf("describe_consumer_groups: %+v, want a Stable consumer group with the range assignor and one member", d)
			}
			m := d.Members[0]
			if !strings.HasPrefix(m.MemberID, "kzoo-e2e-consumer-") || m.ClientID != "kzoo-e2e-consumer" || m.ClientHost != "/127.0.0.1" ||
				!slices.Equal(m.Subscription, []string{topic}) || !slices.Equal(m.Assignment[topic], []int{0, 1, 2}) || len(m.Assignment) != 1 {
				t.Errorf("describe_consumer_groups member: %+v, want kzoo-e2e-consumer from /127.0.0.1, subscribed to and assigned all of %s", m, topic)
			}
		}
		var offsets map[string]int
		if s.ok(t, "group_offsets", &offsets) {
			sum := 0
			for _, o := range offsets {
				sum += o
			}
			if want := []string{topic + "/0", topic + "/1", topic + "/2"}; !slices.Equal(slices.Sorted(maps.Keys(offsets)), want) || sum != 12 {
				t.Errorf("list_consumer_group_offsets: %v, want offsets of %v adding up to 12", offsets, want)
			}
		}
		if s.ok(t, "describe_group_after_close", &d) && (d.State != "Empty" || len(d.Members) != 0) {
			t.Errorf("describe_consumer_groups after the consumer closed: %+v, want an Empty group", d)
		}
	})
}

func confluentScenario(t *testing.T, c *cluster.Cluster) {
	const (
		topic = "python-confluent"
		group = "python-confluent-group"
	)
	s := runScenario(t, c, "confluent_admin.py", topic, group)
	var versions map[string]string
	if s.ok(t, "versions", &versions) {
		t.Logf("confluent-kafka %s, librdkafka %s", versions["confluent_kafka"], versions["librdkafka"])
	}

	t.Run("create topics", func(t *testing.T) {
		s.ok(t, "create_topic", nil)
		s.failedWith(t, "create_existing_topic", "TOPIC_ALREADY_EXISTS")
		s.failedWith(t, "create_with_invalid_config", "INVALID_CONFIG")
		s.ok(t, "create_validate_only", nil)
		var exists bool
		if s.ok(t, "topic_exists_after_validate_only", &exists) && exists {
			t.Errorf("a validate-only CreateTopics created its topic")
		}
		var partitions []int
		if s.ok(t, "topic_partitions", &partitions) && !slices.Equal(partitions, []int{0, 1, 2}) {
			t.Errorf("the topic has partitions %v, want 0, 1 and 2", partitions)
		}
		s.ok(t, "delete_topic", nil)
		if s.ok(t, "topic_exists_after_delete", &exists) && exists {
			t.Errorf("the topic still exists after delete_topics")
		}
	})

	type entry struct {
		Value     *string `json:"value"`
		Source    int8    `json:"source"` // a kmsg.ConfigSource
		IsDefault bool    `json:"is_default"`
	}
	want := func(t *testing.T, step string, configs map[string]entry, name, value string, source kmsg.ConfigSource) {
		t.Helper()
		if e := configs[name]; e.Value == nil || *e.Value != value || kmsg.ConfigSource(e.Source) != source || e.IsDefault != (source == kmsg.ConfigSourceDefaultConfig) {
			t.Errorf("%s: %s is %+v, want %s from config source %d", step, name, e, value, source)
		}
	}

	t.Run("topic configs", func(t *testing.T) {
		var configs map[string]entry
		if s.ok(t, "describe_topic_configs", &configs) {
			want(t, "describe_configs", configs, "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
			want(t, "describe_configs", configs, "cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig)
		}
		s.ok(t, "alter_topic_configs", nil)
		// AlterConfigs replaces the topic's whole set: cleanup.policy, not
		// in the request, falls back to the default.
		if s.ok(t, "describe_topic_configs_after_alter", &configs) {
			want(t, "describe_configs after alter_configs", configs, "retention.ms", "7200000", kmsg.ConfigSourceDynamicTopicConfig)
			want(t, "describe_configs after alter_configs", configs, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)
		}
	})

	t.Run("broker configs", func(t *testing.T) {
		var configs map[string]entry
		if s.ok(t, "describe_broker_configs", &configs) {
			if id := configs["broker.id"]; id.Value == nil || *id.Value != "1" {
				t.Errorf("broker 1's broker.id is %+v, want 1", id)
			}
		}
		s.ok(t, "alter_broker_configs", nil)
		if s.ok(t, "describe_broker_configs_after_alter", &configs) {
			want(t, "describe_configs after alter_configs", configs, "log.cleaner.threads", "2", kmsg.ConfigSourceDynamicBrokerConfig)
		}
		s.ok(t, "reset_broker_configs", nil)
	})

	t.Run("groups", func(t *testing.T) {
		var produced map[string]int
		if s.ok(t, "produce", &produced) && !maps.Equal(produced, map[string]int{"0": 4, "1": 4, "2": 4}) {
			t.Fatalf("delivered %v records per partition, want 4 each", produced)
		}
		var consumed struct {
			Consumed  int            `json:"consumed"`
			Committed map[string]int `json:"committed"`
		}
		if s.ok(t, "consume_and_commit", &consumed) &&
			(consumed.Consumed != 12 || !maps.Equal(consumed.Committed, map[string]int{"0": 4, "1": 4, "2": 4})) {
			t.Errorf("consumed %+v, want 12 records and offset 4 committed for each partition", consumed)
		}
		type listedGroup struct {
			ID           string  `json:"id"`
			Error        *string `json:"error"`
			State        string  `json:"state"`
			ProtocolType string  `json:"protocol_type"`
			Protocol     string  `json:"protocol"`
			Members      []struct {
				ClientID   string `json:"client_id"`
				ClientHost string `json:"client_host"`
			} `json:"members"`
		}
		var groups []listedGroup
		if s.ok(t, "list_groups", &groups) {
			if len(groups) != 1 || groups[0].ID != group || groups[0].Error != nil || groups[0].State != "Stable" ||
				groups[0].ProtocolType != "consumer" || groups[0].Protocol != "range" || len(groups[0].Members) != 1 ||
				groups[0].Members[0].ClientID != "kzoo-e2e-consumer" || groups[0].Members[0].ClientHost != "/127.0.0.1" {
				t.Errorf("list_groups: %+v, want %s Stable with the range assignor and the one consumer", groups, group)
			}
		}
		if s.ok(t, "list_groups_after_close", &groups) && (len(groups) != 1 || groups[0].State != "Empty" || len(groups[0].Members) != 0) {
			t.Errorf("list_groups after the consumer closed: %+v, want %s Empty", groups, group)
		}
	})

	t.Run("delete records", func(t *testing.T) {
		// Below offset 2 of partition 0, all of partition 1 (-1: the high
		// watermark, 4) and beyond the end of partition 2.
		var deleted map[string]map[string]any
		if s.ok(t, "delete_records", &deleted) {
			if got, want := fmt.Sprint(deleted), "map[0:map[low_watermark:2] 1:map[low_watermark:4] 2:map[error:OFFSET_OUT_OF_RANGE]]"; got != want {
				t.Errorf("delete_records answered %s, want %s", got, want)
			}
		}
		var watermarks map[string][2]int
		if s.ok(t, "watermarks", &watermarks) && !maps.Equal(watermarks, map[string][2]int{"0": {2, 4}, "1": {4, 4}, "2": {0, 4}}) {
			t.Errorf("low and high watermarks after delete_records: %v, want 2-4, 4-4 and 0-4", watermarks)
		}
	})

	t.Run("describe log dirs", func(t *testing.T) {
		s.ok(t, "describe_log_dirs", nil)
	})
}

// requirePython checks that Debian's python3 can import modules: it fails
// the test in CI and skips it elsewhere when it cannot.
func requirePython(t *testing.T, modules ...string) {
	t.Helper()
	var missing []string
	for _, m := range modules {
		if err := exec.Command(debianPython, "-c", "import "+m).Run(); err != nil {
			missing = append(missing, m)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("%s cannot import %s: make deps installs python3-kafka and python3-confluent-kafka", debianPython, strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("skipping: " + msg)
}

// stepResult is one step of a scenario script's output (see
// testdata/python/steps.py).
type stepResult struct {
	OK          json.RawMessage `json:"ok"`
	Error       string          `json:"error"`
	Unsupported string          `json:"unsupported"`
}

type scenario map[string]stepResult

// runScenario runs testdata/python/<script> against c's brokers with args
// and returns its steps.
func runScenario(t *testing.T, c *cluster.Cluster, script string, args ...string) scenario {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "python"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, append([]string{filepath.Join(dir, script), strings.Join(c.Bootstrap(), ",")}, args...)...)
	// No byte code in the source tree; no module path from the caller.
	cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PYTHON")
	}), "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	t.Logf("%s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	var s scenario
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("%s printed no JSON result: %v", script, err)
	}
	return s
}

// ok decodes the result of step into v (unless v is nil) and reports
// whether the step succeeded, failing the test if it did not. A step the
// installed client cannot do skips the test.
func (s scenario) ok(t *testing.T, step string, v any) bool {
	t.Helper()
	r, found := s[step]
	switch {
	case !found:
		t.Errorf("step %s did not run", step)
		return false
	case r.Unsupported != "":
		t.Skipf("skipping %s: %s", step, r.Unsupported)
	case r.Error != "":
		t.Errorf("step %s failed: %s", step, r.Error)
		return false
	}
	if v != nil {
		if err := json.Unmarshal(r.OK, v); err != nil {
			t.Errorf("step %s: result %s: %v", step, r.OK, err)
			return false
		}
	}
	return true
}

// failedWith fails the test unless step failed with an error whose text
// starts with name.
func (s scenario) failedWith(t *testing.T, step, name string) {
	t.Helper()
	r, found := s[step]
	if !found || !strings.HasPrefix(r.Error, name+":") {
		t.Errorf("step %s: %+v, want it to fail with %s", step, r, name)
	}
}
