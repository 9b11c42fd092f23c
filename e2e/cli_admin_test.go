package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// TestCLIAdmin drives kzoo's admin commands (topics alter and describe
// filters, configs, reassign, elect-leaders, cluster) against one 3-broker
// cluster, each with good input and with the wrong input an operator is
// likely to give: every mistake must fail with a message naming it.
func TestCLIAdmin(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 12200})
	waitForLiveBrokers(t, c.Bootstrap(), 3)
	cl := admin(t, c.Bootstrap())
	const topic = "cli-admin"

	mustKzoo(t, c, "topics", "create", topic, "--partitions", "2", "--replication-factor", "2")
	waitForLeaders(t, c.Bootstrap(), topic, 2)

	t.Run("help", func(t *testing.T) {
		for _, cmd := range [][]string{
			{"topics", "alter", "--help"}, {"topics", "describe", "--help"}, {"configs", "--help"},
			{"configs", "alter", "--help"}, {"elect-leaders", "--help"}, {"reassign", "--help"},
			{"reassign", "verify", "--help"}, {"cluster", "--help"},
		} {
			if out := mustKzoo(t, c, cmd...); !strings.Contains(out, "Usage: kzoo") {
				t.Errorf("kzoo %v printed no usage:\n%s", cmd, out)
			}
		}
	})
	t.Run("topics-alter", func(t *testing.T) { cliAdminTopicsAlter(t, c, topic) })
	t.Run("configs", func(t *testing.T) { cliAdminConfigs(t, c, topic) })
	t.Run("reassign-and-elect", func(t *testing.T) { cliAdminReassignAndElect(t, c, cl, topic) })
	t.Run("cluster-and-offline", func(t *testing.T) { cliAdminClusterAndOffline(t, c, cl) })
}

// kzooFails runs the CLI expecting a failure whose output mentions want.
func kzooFails(t *testing.T, c *cluster.Cluster, want string, args ...string) {
	t.Helper()
	out, err := kzoo(t, c, args...)
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("kzoo %s: error %v, output %q; want a failure mentioning %q", strings.Join(args, " "), err, out, want)
	}
}

// describeRows returns the data rows of `topics describe` for topic, as
// fields: topic, partition, leader, replicas, ISR, state.
func describeRows(out, topic string) [][]string {
	var rows [][]string
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 6 && f[0] == topic {
			rows = append(rows, f)
		}
	}
	return rows
}

func cliAdminTopicsAlter(t *testing.T, c *cluster.Cluster, topic string) {
	if out := mustKzoo(t, c, "topics", "alter", topic, "--partitions", "4"); !strings.Contains(out, "now has 4 partitions") {
		t.Errorf("topics alter: %s", out)
	}
	waitForLeaders(t, c.Bootstrap(), topic, 4)
	rows := describeRows(mustKzoo(t, c, "topics", "describe", topic), topic)
	if len(rows) != 4 {
		t.Fatalf("describe after alter shows %d partitions, want 4: %v", len(rows), rows)
	}
	for _, r := range rows {
		if r[5] != "Online" || len(strings.Split(r[3], ",")) != 2 {
			t.Errorf("partition row %v: want Online with 2 replicas", r)
		}
	}
	// A fresh topic has every replica in sync and a leader.
	for _, flag := range []string{"--under-replicated-partitions", "--unavailable-partitions"} {
		if rows := describeRows(mustKzoo(t, c, "topics", "describe", topic, flag), topic); len(rows) != 0 {
			t.Errorf("describe %s lists %v for a healthy topic", flag, rows)
		}
	}

	kzooFails(t, c, "INVALID_PARTITIONS", "topics", "alter", topic, "--partitions", "2")
	kzooFails(t, c, "UNKNOWN_TOPIC_OR_PARTITION", "topics", "alter", "cli-admin-missing", "--partitions", "3")
	kzooFails(t, c, "--partitions N is required", "topics", "alter", topic)
	kzooFails(t, c, "at most one", "topics", "describe", "--under-replicated-partitions", "--unavailable-partitions")
}

func cliAdminConfigs(t *testing.T, c *cluster.Cluster, topic string) {
	out := mustKzoo(t, c, "configs", "alter", "--topic", topic, "--add-config", "retention.ms=123456,cleanup.policy=[compact,delete]")
	if !strings.Contains(out, "Completed updating config for topic "+topic) {
		t.Errorf("configs alter: %s", out)
	}
	out = mustKzoo(t, c, "configs", "describe", "--topic", topic)
	if f := strings.Fields(lineWith(out, "retention.ms")); len(f) < 3 || f[1] != "123456" || f[2] != "DYNAMIC_TOPIC_CONFIG" {
		t.Errorf("retention.ms after alter: %v\n%s", f, out)
	}
	if f := strings.Fields(lineWith(out, "cleanup.policy")); len(f) < 2 || f[1] != "compact,delete" {
		t.Errorf("cleanup.policy after alter: %v\n%s", f, out)
	}
	if strings.Contains(out, "segment.bytes") {
		t.Errorf("describe without --all shows defaults:\n%s", out)
	}
	if out := mustKzoo(t, c, "configs", "describe", "--topic", topic, "--all"); !strings.Contains(out, "segment.bytes") {
		t.Errorf("describe --all lacks segment.bytes:\n%s", out)
	}
	mustKzoo(t, c, "configs", "alter", "--topic", topic, "--delete-config", "retention.ms")
	if out := mustKzoo(t, c, "configs", "describe", "--topic", topic); strings.Contains(out, "retention.ms") || !strings.Contains(out, "cleanup.policy") {
		t.Errorf("after deleting retention.ms:\n%s", out)
	}

	// A broker's configs come from that broker, not from the bootstrap one.
	out = mustKzoo(t, c, "configs", "describe", "--broker", "2", "--all")
	if f := strings.Fields(lineWith(out, "broker.id ")); len(f) < 5 || f[1] != "2" || f[3] != "true" {
		t.Errorf("broker 2's broker.id: %v, want value 2, read-only\n%s", f, out)
	}
	// Brokers learn of dynamic broker configs through ZooKeeper, a moment
	// after the write.
	mustKzoo(t, c, "configs", "alter", "--broker-defaults", "--add-config", "log.retention.ms=3600000")
	poll.Until(t, 10*time.Second, "broker default log.retention.ms 3600000 in describe", func() bool {
		out := mustKzoo(t, c, "configs", "describe", "--broker-defaults")
		f := strings.Fields(lineWith(out, "log.retention.ms"))
		return len(f) >= 3 && f[1] == "3600000" && f[2] == "DYNAMIC_DEFAULT_BROKER_CONFIG"
	})
	mustKzoo(t, c, "configs", "alter", "--broker-defaults", "--delete-config", "log.retention.ms")
	poll.Until(t, 10*time.Second, "broker default log.retention.ms gone from describe after its deletion", func() bool {
		return !strings.Contains(mustKzoo(t, c, "configs", "describe", "--broker-defaults"), "log.retention.ms")
	})

	kzooFails(t, c, "INVALID_CONFIG", "configs", "alter", "--topic", topic, "--add-config", "no.such.key=1")
	kzooFails(t, c, "INVALID_CONFIG", "configs", "alter", "--topic", topic, "--add-config", "retention.ms=soon")
	kzooFails(t, c, "UNKNOWN_TOPIC_OR_PARTITION", "configs", "describe", "--topic", "cli-admin-missing")
	kzooFails(t, c, "exactly one of --topic", "configs", "describe")
	kzooFails(t, c, "not key=value", "configs", "alter", "--topic", topic, "--add-config", "retention.ms")
}

// lineWith returns the first line of s containing substr.
func lineWith(s, substr string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			return line
		}
	}
	return ""
}

func cliAdminReassignAndElect(t *testing.T, c *cluster.Cluster, cl *kgo.Client, topic string) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// generate: the current assignment and a proposal, both in Kafka's JSON.
	toMove := write("move.json", `{"version":1,"topics":[{"topic":"`+topic+`"}]}`)
	out := mustKzoo(t, c, "reassign", "generate", "--topics-to-move-json-file", toMove, "--broker-list", "1,2,3")
	var plans []reassignmentJSON
	for line := range strings.Lines(out) {
		if strings.HasPrefix(line, "{") {
			var p reassignmentJSON
			if err := json.Unmarshal([]byte(line), &p); err != nil {
				t.Fatalf("generate printed bad JSON %q: %v", line, err)
			}
			plans = append(plans, p)
		}
	}
	if !strings.Contains(out, "Proposed partition reassignment configuration") || len(plans) != 2 ||
		len(plans[0].Partitions) != 4 || len(plans[1].Partitions) != 4 {
		t.Fatalf("generate output:\n%s", out)
	}
	for _, p := range plans[1].Partitions {
		if len(p.Replicas) != 2 || len(p.LogDirs) != 2 || p.LogDirs[0] != "any" {
			t.Errorf("proposed %+v: want 2 replicas with log_dirs any", p)
		}
	}

	// execute: partition 0 keeps its replicas in reverse order (so its
	// preferred leader changes), partition 1 moves to the broker it lacks.
	meta := metadataFrom(cl, topic)
	if meta == nil || len(meta.Topics) != 1 || len(meta.Topics[0].Partitions) != 4 {
		t.Fatalf("metadata of %s: %+v", topic, meta)
	}
	current := map[int32][]int32{}
	for _, p := range meta.Topics[0].Partitions {
		current[p.Partition] = p.Replicas
	}
	reversed := []int32{current[0][1], current[0][0]}
	var moved []int32
	for _, id := range []int32{1, 2, 3} {
		if !slices.Contains(current[1], id) {
			moved = []int32{id, current[1][0]}
		}
	}
	plan := write("plan.json", fmt.Sprintf(`{"version":1,"partitions":[
		{"topic":%q,"partition":0,"replicas":[%d,%d],"log_dirs":["any","any"]},
		{"topic":%q,"partition":1,"replicas":[%d,%d]}]}`, topic, reversed[0], reversed[1], topic, moved[0], moved[1]))
	out = mustKzoo(t, c, "reassign", "execute", "--reassignment-json-file", plan)
	if !strings.Contains(out, "Successfully started partition reassignments for "+topic+"-0,"+topic+"-1") ||
		!strings.Contains(out, "Save this to use as the --reassignment-json-file option during rollback") {
		t.Errorf("execute output:\n%s", out)
	}
	poll.Until(t, 30*time.Second, "the reassignment to complete", func() bool {
		out := mustKzoo(t, c, "reassign", "verify", "--reassignment-json-file", plan)
		return strings.Count(out, "is complete.") == 2
	})
	poll.Until(t, 30*time.Second, "metadata to show the new replicas", func() bool {
		m := metadataFrom(cl, topic)
		if m == nil || len(m.Topics) != 1 {
			return false
		}
		for _, p := range m.Topics[0].Partitions {
			if (p.Partition == 0 && !slices.Equal(p.Replicas, reversed)) || (p.Partition == 1 && !slices.Equal(p.Replicas, moved)) {
				return false
			}
		}
		return true
	})

	// elect-leaders: partition 0's preferred replica is now reversed[0].
	out = mustKzoo(t, c, "elect-leaders", "--preferred", "--topic", topic, "--partition", "0")
	if !strings.Contains(out, topic+"-0: ") {
		t.Errorf("elect-leaders output:\n%s", out)
	}
	// The election is done in ZooKeeper; the broker answering describe
	// learns of it a moment later.
	var rows [][]string
	poll.Until(t, 10*time.Second, fmt.Sprintf("describe to show partition 0 led by %d after the preferred election", reversed[0]), func() bool {
		rows = describeRows(mustKzoo(t, c, "topics", "describe", topic), topic)
		return len(rows) == 4 && rows[0][2] == fmt.Sprint(reversed[0])
	})
	// Partition 1 may still be led by a replica other than its new
	// preferred one; after a topic-wide election none is.
	mustKzoo(t, c, "elect-leaders", "--preferred", "--topic", topic)
	out = mustKzoo(t, c, "elect-leaders", "--preferred", "--topic", topic)
	if n := strings.Count(out, "already the leader"); n != 4 {
		t.Errorf("a second preferred election reports %d partitions already led by their preferred replica, want 4:\n%s", n, out)
	}
	mustKzoo(t, c, "elect-leaders", "--election-type", "preferred", "--all-topic-partitions")

	kzooFails(t, c, "UNKNOWN_TOPIC_OR_PARTITION", "elect-leaders", "--unclean", "--topic", "cli-admin-missing", "--partition", "0")
	kzooFails(t, c, "exactly one of --preferred and --unclean", "elect-leaders", "--topic", topic)

	for _, bad := range []struct{ json, want string }{
		{`{"version":1,"partitions":[{"topic":`, "malformed reassignment JSON"},
		{`{"version":1,"partitions":[{"topic":"cli-admin-missing","partition":0,"replicas":[1]}]}`, "topic cli-admin-missing does not exist"},
		{`{"version":1,"partitions":[{"topic":"` + topic + `","partition":9,"replicas":[1]}]}`, "partition " + topic + "-9 does not exist"},
		{`{"version":1,"partitions":[{"topic":"` + topic + `","partition":0,"replicas":[1,9]}]}`, "broker 9 is not a live broker"},
		{`{"version":1,"partitions":[{"topic":"` + topic + `","partition":0,"replicas":[2,2]}]}`, "lists broker 2 more than once"},
	} {
		kzooFails(t, c, bad.want, "reassign", "execute", "--reassignment-json-file", write("bad.json", bad.json))
	}
	kzooFails(t, c, "no such file", "reassign", "verify", "--reassignment-json-file", filepath.Join(dir, "absent.json"))
	kzooFails(t, c, "broker 7 is not a live broker", "reassign", "generate", "--topics-to-move-json-file", toMove, "--broker-list", "1,7")
}

// reassignmentJSON is Kafka's reassignment file, as the test reads it.
type reassignmentJSON struct {
	Version    int `json:"version"`
	Partitions []struct {
		Topic     string   `json:"topic"`
		Partition int32    `json:"partition"`
		Replicas  []int32  `json:"replicas"`
		LogDirs   []string `json:"log_dirs"`
	} `json:"partitions"`
}

// cliAdminClusterAndOffline reads the cluster from ZooKeeper, then stops
// broker 3 and expects its single-replica partition to be reported offline
// by both `topics describe --unavailable-partitions` and `cluster`.
func cliAdminClusterAndOffline(t *testing.T, c *cluster.Cluster, cl *kgo.Client) {
	const single = "cli-admin-rf1"
	mustKzoo(t, c, "topics", "create", single, "--partitions", "3", "--replication-factor", "1")
	waitForLeaders(t, c.Bootstrap(), single, 3)

	out := mustKzoo(t, c, "cluster", "--zookeeper", c.ZKConnect())
	for _, want := range []string{"Cluster ID: ", "Brokers: 3", c.BrokerAddr(1), c.BrokerAddr(3), "Partitions: "} {
		if !strings.Contains(out, want) {
			t.Errorf("cluster output lacks %q:\n%s", want, out)
		}
	}
	if f := strings.Fields(lineWith(out, "Controller: broker")); len(f) != 5 || f[3] != "(epoch" {
		t.Errorf("cluster output names no controller with its epoch:\n%s", out)
	}
	if f := strings.Fields(lineWith(out, "Offline ")); len(f) != 2 || f[1] != "0" {
		t.Errorf("offline partitions in a healthy cluster: %v\n%s", f, out)
	}

	meta := metadataFrom(cl, single)
	if meta == nil || len(meta.Topics) != 1 {
		t.Fatalf("metadata of %s: %+v", single, meta)
	}
	var onThree int32 = -1
	for _, p := range meta.Topics[0].Partitions {
		if p.Replicas[0] == 3 {
			onThree = p.Partition
		}
	}
	if onThree < 0 {
		t.Fatalf("no partition of %s on broker 3: %+v", single, meta.Topics[0].Partitions)
	}
	if err := c.StopBroker(3); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "partition on broker 3 to be unavailable", func() bool {
		out, err := kzoo(t, c, "topics", "describe", single, "--unavailable-partitions")
		rows := describeRows(out, single)
		return err == nil && len(rows) == 1 && rows[0][1] == fmt.Sprint(onThree) && rows[0][5] == "Offline"
	})
	poll.Until(t, 30*time.Second, "cluster to report broker 3 gone and a partition offline", func() bool {
		out, err := kzoo(t, c, "cluster", "--zookeeper", c.ZKConnect())
		f := strings.Fields(lineWith(out, "Offline "))
		return err == nil && strings.Contains(out, "Brokers: 2") && len(f) == 2 && f[1] == "1"
	})

	kzooFails(t, c, "is the chroot right?", "cluster", "--zookeeper", c.ZKConnect()+"/no-such-chroot")
	out, err := kzoo(t, c, "cluster", "--zookeeper", "127.0.0.1:1")
	if err == nil || !strings.Contains(out, "cannot reach ZooKeeper at 127.0.0.1:1") {
		t.Errorf("cluster without ZooKeeper: error %v, output %q", err, out)
	}
}
