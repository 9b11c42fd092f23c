package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
	"github.com/kzoo/kzoo/internal/poll"
)

// TestJavaTools drives a 3-broker cluster with the command-line tools of
// Kafka 2.4.1, which talk to it through Kafka's own Java AdminClient,
// producer and consumer: the client most users have. Each step checks what
// the tool printed and its exit status against what it prints with a Kafka
// broker, and where the tool's word is not enough, what the cluster holds
// afterwards.
func TestJavaTools(t *testing.T) {
	tools := newKafkaTools(t)
	c := cluster.Start(t, cluster.Options{Brokers: 3, PortOffset: 10600, Env: map[string]string{
		// The console consumer is the group's only member: no need to wait
		// for others to join.
		"KZOO_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
	}})
	waitForLiveBrokers(t, c.Bootstrap(), 3)
	tools.bootstrap = strings.Join(c.Bootstrap(), ",")

	t.Run("topics", func(t *testing.T) { javaTopics(t, c, tools) })
	t.Run("console clients and groups", func(t *testing.T) { javaConsoleAndGroups(t, c, tools) })
	t.Run("delete-records", func(t *testing.T) { javaDeleteRecords(t, c, tools) })
	t.Run("log-dirs", func(t *testing.T) { javaLogDirs(t, c, tools) })
	t.Run("broker configs", func(t *testing.T) { javaBrokerConfigs(t, c, tools) })
	t.Run("topic configs", func(t *testing.T) { javaTopicConfigs(t, c, tools) })
}

// javaTopics creates, describes, grows and deletes a topic with
// kafka-topics.sh --bootstrap-server, which goes through AdminClient.
func javaTopics(t *testing.T, c *cluster.Cluster, tools *kafkaTools) {
	const topic = "java-topics"
	bootstrap := c.Bootstrap()

	// AdminClient.createTopics reads the configs that CreateTopics v5+
	// returns for the new topic (KIP-525). With --bootstrap-server, 2.4.1's
	// tool prints nothing when it succeeds.
	out := tools.run(t, "", "kafka-topics", "--bootstrap-server", tools.bootstrap, "--create", "--topic", topic,
		"--partitions", "2", "--replication-factor", "3", "--config", "retention.ms=3600000", "--config", "cleanup.policy=compact")
	if out.exit != 0 || out.stdout != "" {
		t.Errorf("kafka-topics --create: exit %d, stdout %q, want exit 0 and nothing printed", out.exit, out.stdout)
	}
	// Whatever the tool made of the answer, the topic must now exist.
	waitForLeaders(t, bootstrap, topic, 2)

	out = tools.run(t, "", "kafka-topics", "--bootstrap-server", tools.bootstrap, "--create", "--topic", topic,
		"--partitions", "1", "--replication-factor", "1")
	if out.exit != 1 || !strings.Contains(out.stdout, "already exists") {
		t.Errorf("kafka-topics --create of an existing topic: exit %d, stdout %q, want exit 1 and that it already exists", out.exit, out.stdout)
	}

	out = tools.run(t, "", "kafka-topics", "--bootstrap-server", tools.bootstrap, "--alter", "--topic", topic, "--partitions", "4")
	if out.exit != 0 {
		t.Errorf("kafka-topics --alter --partitions 4: exit %d, want 0", out.exit)
	}
	waitForLeaders(t, bootstrap, topic, 4)
	out = tools.run(t, "", "kafka-topics", "--bootstrap-server", tools.bootstrap, "--alter", "--topic", topic, "--partitions", "3")
	if out.exit != 1 || !strings.Contains(out.stdout+out.stderr, "InvalidPartitionsException") {
		t.Errorf("kafka-topics --alter --partitions 3 of a 4-partition topic: exit %d, want exit 1 and InvalidPartitionsException", out.exit)
	}

	out = tools.run(t, "", "kafka-topics", "--bootstrap-server", tools.bootstrap, "--describe", "--topic", topic)
	if out.exit != 0 {
		t.Fatalf("kafka-topics --describe: exit %d, want 0", out.exit)
	}
	desc := parseTopicDescription(t, out.stdout, topic)
	if desc.header["PartitionCount"] != "4" || desc.header["ReplicationFactor"] != "3" {
		t.Errorf("kafka-topics --describe: PartitionCount %q ReplicationFactor %q, want 4 and 3",
			desc.header["PartitionCount"], desc.header["ReplicationFactor"])
	}
	configs := strings.Split(desc.header["Configs"], ",")
	for _, want := range []string{"retention.ms=3600000", "cleanup.policy=compact"} {
		if !slices.Contains(configs, want) {
			t.Errorf("kafka-topics --describe: Configs %q lack %s", desc.header["Configs"], want)
		}
	}
	if len(desc.partitions) != 4 {
		t.Fatalf("kafka-topics --describe listed %d partitions, want 4", len(desc.partitions))
	}
	for i, p := range desc.partitions {
		replicas, isr := strings.Split(p["Replicas"], ","), strings.Split(p["Isr"], ",")
		if p["Partition"] != strconv.Itoa(i) || len(replicas) != 3 || !slices.Contains(isr, p["Leader"]) {
			t.Errorf("kafka-topics --describe, partition row %d: %v, want partition %d with 3 replicas and its leader in the ISR", i, p, i)
		}
	}

	if names := tools.topicList(t); !slices.Contains(names, topic) {
		t.Errorf("kafka-topics --list: %q, want %s in it", names, topic)
	}
	out = tools.run(t, "", "kafka-topics", "--bootstrap-server", tools.bootstrap, "--delete", "--topic", topic)
	if out.exit != 0 {
		t.Errorf("kafka-topics --delete: exit %d, want 0", out.exit)
	}
	// The broker that answered waits until it forgot the topic; the next
	// tool may ask another.
	everyBrokerSees(t, c, c.BrokerIDs(), 30*time.Second, topic+" deleted", func(m *kmsg.MetadataResponse) bool {
		return len(m.Topics) == 1 && m.Topics[0].ErrorCode == kerr.UnknownTopicOrPartition.Code
	}, topic)
	if names := tools.topicList(t); slices.Contains(names, topic) {
		t.Errorf("kafka-topics --list after --delete: %q still holds %s", names, topic)
	}
}

// javaConsoleAndGroups moves records through the console producer and a
// console consumer in a group, then inspects and resets the group with
// kafka-consumer-groups.sh.
func javaConsoleAndGroups(t *testing.T, c *cluster.Cluster, tools *kafkaTools) {
	const (
		topic   = "java-console"
		group   = "java-console-group"
		records = 30
	)
	bootstrap := c.Bootstrap()
	createTopic(t, bootstrap, topic, 3, 3, nil)

	var lines []string
	for i := range records {
		lines = append(lines, fmt.Sprintf("key-%d:value-%d", i%7, i))
	}
	out := tools.run(t, strings.Join(lines, "\n")+"\n", "kafka-console-producer", "--broker-list", tools.bootstrap, "--topic", topic,
		"--property", "parse.key=true", "--property", "key.separator=:", "--producer-property", "acks=all")
	if out.exit != 0 {
		t.Fatalf("kafka-console-producer: exit %d, want 0", out.exit)
	}
	hws := highWatermarks(t, bootstrap, topic, 3)
	if sum := hws[0] + hws[1] + hws[2]; sum != records {
		t.Fatalf("the topic holds %v records after the console producer, want %d in all", hws, records)
	}

	out = tools.run(t, "", "kafka-console-consumer", "--bootstrap-server", tools.bootstrap, "--topic", topic, "--group", group,
		"--from-beginning", "--max-messages", strconv.Itoa(records), "--timeout-ms", "60000",
		"--property", "print.key=true", "--property", "key.separator=:")
	if out.exit != 0 || !strings.Contains(out.stderr, fmt.Sprintf("Processed a total of %d messages", records)) {
		t.Errorf("kafka-console-consumer: exit %d, want 0 and %d messages processed", out.exit, records)
	}
	got := strings.Split(strings.TrimSuffix(out.stdout, "\n"), "\n")
	slices.Sort(got)
	want := slices.Sorted(slices.Values(lines))
	if !slices.Equal(got, want) {
		t.Errorf("kafka-console-consumer printed\n%q\nwant, in any order,\n%q", got, want)
	}

	// The consumer committed its positions as it closed, and left the group.
	rows := tools.groupOffsets(t, group, "--describe")
	if len(rows) != 3 {
		t.Fatalf("kafka-consumer-groups --describe: %d rows, want one per partition", len(rows))
	}
	for _, r := range rows {
		p := rowPartition(t, r, len(hws))
		end := strconv.FormatInt(hws[p], 10)
		if r["TOPIC"] != topic || r["LOG-END-OFFSET"] != end || r["CURRENT-OFFSET"] != end || r["LAG"] != "0" || r["CONSUMER-ID"] != "-" {
			t.Errorf("kafka-consumer-groups --describe, partition %d: %v, want offsets %s, lag 0 and no consumer", p, r, end)
		}
	}

	// Kafka refuses to reset the offsets of a group with members: this
	// works only if the consumer's LeaveGroup emptied it.
	rows = tools.groupOffsets(t, group, "--reset-offsets", "--to-earliest", "--topic", topic, "--execute")
	if len(rows) != 3 {
		t.Fatalf("kafka-consumer-groups --reset-offsets: %d rows, want one per partition", len(rows))
	}
	for _, r := range rows {
		if r["NEW-OFFSET"] != "0" {
			t.Errorf("kafka-consumer-groups --reset-offsets --to-earliest: %v, want new offset 0", r)
		}
	}
	for _, r := range tools.groupOffsets(t, group, "--describe") {
		p := rowPartition(t, r, len(hws))
		end := strconv.FormatInt(hws[p], 10)
		if r["CURRENT-OFFSET"] != "0" || r["LOG-END-OFFSET"] != end || r["LAG"] != end {
			t.Errorf("kafka-consumer-groups --describe after the reset, partition %d: %v, want current offset 0 and lag %s", p, r, end)
		}
	}
}

// javaDeleteRecords deletes records with kafka-delete-records.sh, which
// prints each partition's new low watermark, or its error, and exits 0
// either way.
func javaDeleteRecords(t *testing.T, c *cluster.Cluster, tools *kafkaTools) {
	const topic = "java-records"
	bootstrap := c.Bootstrap()
	createTopic(t, bootstrap, topic, 2, 3, nil)
	cliGroupsProduce(t, bootstrap, topic, []int64{10, 10})

	deleteRecords := func(offsets map[int]int64) map[string]string {
		t.Helper()
		type partition struct {
			Topic     string `json:"topic"`
			Partition int    `json:"partition"`
			Offset    int64  `json:"offset"`
		}
		spec := struct {
			Version    int         `json:"version"`
			Partitions []partition `json:"partitions"`
		}{Version: 1}
		for p, offset := range offsets {
			spec.Partitions = append(spec.Partitions, partition{topic, p, offset})
		}
		file := filepath.Join(t.TempDir(), "offsets.json")
		data, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		out := tools.run(t, "", "kafka-delete-records", "--bootstrap-server", tools.bootstrap, "--offset-json-file", file)
		if out.exit != 0 || !strings.Contains(out.stdout, "Records delete operation completed:") {
			t.Fatalf("kafka-delete-records: exit %d, want 0 and the operation completed", out.exit)
		}
		// "partition: <topic>-<p>\tlow_watermark: <n>" or "...\terror: <e>"
		results := map[string]string{}
		for _, m := range regexp.MustCompile(`(?m)^partition: (\S+)\t(.*)$`).FindAllStringSubmatch(out.stdout, -1) {
			results[m[1]] = m[2]
		}
		return results
	}

	results := deleteRecords(map[int]int64{0: 4, 1: 11})
	if got := results[topic+"-0"]; got != "low_watermark: 4" {
		t.Errorf("kafka-delete-records to offset 4 of partition 0 printed %q, want low_watermark: 4", got)
	}
	// Beyond the high watermark (10): Kafka answers OFFSET_OUT_OF_RANGE.
	if got := results[topic+"-1"]; !strings.Contains(got, "OffsetOutOfRangeException") {
		t.Errorf("kafka-delete-records to offset 11 of a 10-record partition printed %q, want an OffsetOutOfRangeException", got)
	}
	if start := logStartOf(t, bootstrap, topic, 0); start != 4 {
		t.Errorf("log start offset of partition 0 is %d after deleting records below 4", start)
	}

	// -1 means the high watermark.
	results = deleteRecords(map[int]int64{0: -1})
	if got := results[topic+"-0"]; got != "low_watermark: 10" {
		t.Errorf("kafka-delete-records to offset -1 of partition 0 printed %q, want low_watermark: 10", got)
	}
	if start := logStartOf(t, bootstrap, topic, 0); start != 10 {
		t.Errorf("log start offset of partition 0 is %d after deleting every record, want 10", start)
	}
}

// javaLogDirs describes every broker's log directory with
// kafka-log-dirs.sh.
func javaLogDirs(t *testing.T, c *cluster.Cluster, tools *kafkaTools) {
	const topic = "java-log-dirs"
	bootstrap := c.Bootstrap()
	createTopic(t, bootstrap, topic, 2, 3, nil)
	// Acknowledged by all three replicas (franz-go's default acks=all), so
	// each holds the same batches.
	cliGroupsProduce(t, bootstrap, topic, []int64{20, 0})

	out := tools.run(t, "", "kafka-log-dirs", "--bootstrap-server", tools.bootstrap, "--describe", "--topic-list", topic)
	if out.exit != 0 || !strings.Contains(out.stdout, "Received log directory information from brokers 1,2,3") {
		t.Fatalf("kafka-log-dirs --describe: exit %d, want 0 and information from brokers 1,2,3", out.exit)
	}
	// The JSON document is the last line.
	lines := strings.Split(strings.TrimSpace(out.stdout), "\n")
	var doc logDirsJSON
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &doc); err != nil {
		t.Fatalf("kafka-log-dirs --describe: last line is not its JSON document: %v", err)
	}
	if doc.Version != 1 || len(doc.Brokers) != 3 {
		t.Fatalf("kafka-log-dirs --describe: version %d with %d brokers, want version 1 and 3 brokers", doc.Version, len(doc.Brokers))
	}
	sizes := map[string][]int64{}
	for _, b := range doc.Brokers {
		if len(b.LogDirs) != 1 {
			t.Errorf("broker %d has %d log directories, want 1", b.Broker, len(b.LogDirs))
			continue
		}
		dir := b.LogDirs[0]
		if dir.Error != nil {
			t.Errorf("broker %d: log directory %q has error %s", b.Broker, dir.LogDir, *dir.Error)
		}
		if !filepath.IsAbs(dir.LogDir) {
			t.Errorf("broker %d: log directory %q, want an absolute path", b.Broker, dir.LogDir)
		}
		var names []string
		for _, p := range dir.Partitions {
			names = append(names, p.Partition)
			if p.Size == nil {
				t.Errorf("broker %d, %s: no size", b.Broker, p.Partition)
				continue
			}
			sizes[p.Partition] = append(sizes[p.Partition], *p.Size)
			if p.OffsetLag < 0 || p.IsFuture {
				t.Errorf("broker %d, %s: offset lag %d, future %v, want a lag of at least 0 and no future replica", b.Broker, p.Partition, p.OffsetLag, p.IsFuture)
			}
		}
		slices.Sort(names)
		if want := []string{topic + "-0", topic + "-1"}; !slices.Equal(names, want) {
			t.Errorf("broker %d lists partitions %q, want %q: every broker holds a replica of each", b.Broker, names, want)
		}
	}
	// Replicas hold the leader's batches byte for byte.
	if s := sizes[topic+"-0"]; len(s) != 3 || s[0] <= 0 || s[1] != s[0] || s[2] != s[0] {
		t.Errorf("sizes of %s-0's replicas: %v, want three equal sizes above 0", topic, s)
	}
	if s := sizes[topic+"-1"]; !slices.Equal(s, []int64{0, 0, 0}) {
		t.Errorf("sizes of the empty %s-1's replicas: %v, want 0 each", topic, s)
	}
}

// javaBrokerConfigs sets, reads and removes dynamic broker configs with
// kafka-configs.sh --bootstrap-server, at the cluster-wide default and for
// one broker, and checks every broker applies them.
func javaBrokerConfigs(t *testing.T, c *cluster.Cluster, tools *kafkaTools) {
	const key = "log.cleaner.threads"
	configs := func(args ...string) toolOutput {
		t.Helper()
		return tools.run(t, "", "kafka-configs", append([]string{"--bootstrap-server", tools.bootstrap, "--entity-type", "brokers"}, args...)...)
	}
	// brokersSee waits until broker id reports key with value and source.
	brokersSee := func(value string, source kmsg.ConfigSource, ids ...int) {
		t.Helper()
		for _, id := range ids {
			cl := brokerClient(t, c.BrokerAddr(id))
			var last kmsg.DescribeConfigsResponseResourceConfig
			poll.Until(t, 30*time.Second, fmt.Sprintf("broker %d to report %s=%s from %s", id, key, value, source), func() bool {
				last, _ = describeConfig(t, cl, kmsg.ConfigResourceTypeBroker, strconv.Itoa(id), key)
				return last.Value != nil && *last.Value == value && last.Source == source
			})
		}
	}

	out := configs("--entity-default", "--alter", "--add-config", key+"=2")
	if out.exit != 0 || !strings.Contains(out.stdout, "Completed updating default config for brokers in the cluster") {
		t.Fatalf("kafka-configs --entity-default --alter --add-config %s=2: exit %d, want 0 and the update completed", key, out.exit)
	}
	brokersSee("2", kmsg.ConfigSourceDynamicDefaultBrokerConfig, c.BrokerIDs()...)
	out = configs("--entity-default", "--describe")
	if line := lineWith(out.stdout, key+"="); out.exit != 0 ||
		!strings.HasPrefix(strings.TrimSpace(line), key+"=2 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:"+key+"=2") {
		t.Errorf("kafka-configs --entity-default --describe: exit %d, %s line %q, want it set to 2 by the cluster default", out.exit, key, line)
	}

	// A broker's own value overrides the default, and the default is next
	// among its synonyms.
	out = configs("--entity-name", "2", "--alter", "--add-config", key+"=3")
	if out.exit != 0 || !strings.Contains(out.stdout, "Completed updating config for broker: 2") {
		t.Fatalf("kafka-configs --entity-name 2 --alter --add-config %s=3: exit %d, want 0 and the update completed", key, out.exit)
	}
	brokersSee("3", kmsg.ConfigSourceDynamicBrokerConfig, 2)
	brokersSee("2", kmsg.ConfigSourceDynamicDefaultBrokerConfig, 1, 3)
	out = configs("--entity-name", "2", "--describe")
	if line := lineWith(out.stdout, key+"="); out.exit != 0 || !strings.HasPrefix(strings.TrimSpace(line),
		key+"=3 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:"+key+"=3, DYNAMIC_DEFAULT_BROKER_CONFIG:"+key+"=2") {
		t.Errorf("kafka-configs --entity-name 2 --describe: exit %d, %s line %q, want 3 for the broker, then 2 for the cluster", out.exit, key, line)
	}

	// A dynamic broker config of Kafka that kzoo has no equivalent for.
	out = configs("--entity-default", "--alter", "--add-config", "ssl.cipher.suites=TLS_AES_128_GCM_SHA256")
	if out.exit != 1 || !strings.Contains(out.stdout+out.stderr, "does not support") {
		t.Errorf("kafka-configs --add-config ssl.cipher.suites: exit %d, want 1 and a message that kzoo does not support it", out.exit)
	}

	for _, entity := range [][]string{{"--entity-name", "2"}, {"--entity-default"}} {
		out = configs(append(entity, "--alter", "--delete-config", key)...)
		if out.exit != 0 {
			t.Errorf("kafka-configs %s --alter --delete-config %s: exit %d, want 0", strings.Join(entity, " "), key, out.exit)
		}
	}
	for _, id := range c.BrokerIDs() {
		cl := brokerClient(t, c.BrokerAddr(id))
		poll.Until(t, 30*time.Second, fmt.Sprintf("broker %d to drop its dynamic %s", id, key), func() bool {
			entry, _ := describeConfig(t, cl, kmsg.ConfigResourceTypeBroker, strconv.Itoa(id), key)
			return entry.Source == kmsg.ConfigSourceDefaultConfig || entry.Source == kmsg.ConfigSourceStaticBrokerConfig
		})
	}
}

// javaTopicConfigs changes a topic's configs with kafka-configs.sh: Kafka
// 2.4.1's tool does that for topics only through ZooKeeper, where brokers
// must see the change notification, as Kafka's do. It also reads the
// configs kzoo wrote at creation back from ZooKeeper.
func javaTopicConfigs(t *testing.T, c *cluster.Cluster, tools *kafkaTools) {
	const topic = "java-configs"
	bootstrap := c.Bootstrap()
	createTopic(t, bootstrap, topic, 1, 3, map[string]string{"retention.ms": "3600000"})
	configs := func(args ...string) toolOutput {
		t.Helper()
		return tools.run(t, "", "kafka-configs", append([]string{"--zookeeper", c.ZKConnect(), "--entity-type", "topics", "--entity-name", topic}, args...)...)
	}

	out := configs("--describe")
	if want := "Configs for topic '" + topic + "' are retention.ms=3600000"; out.exit != 0 || strings.TrimSpace(out.stdout) != want {
		t.Errorf("kafka-configs --zookeeper --describe: exit %d, stdout %q, want exit 0 and %q", out.exit, out.stdout, want)
	}
	out = configs("--alter", "--add-config", "cleanup.policy=compact,max.message.bytes=2000000", "--delete-config", "retention.ms")
	if want := "Completed Updating config for entity: topic '" + topic + "'."; out.exit != 0 || !strings.Contains(out.stdout, want) {
		t.Fatalf("kafka-configs --zookeeper --alter: exit %d, stdout %q, want exit 0 and %q", out.exit, out.stdout, want)
	}
	for _, id := range c.BrokerIDs() {
		cl := brokerClient(t, c.BrokerAddr(id))
		poll.Until(t, 30*time.Second, fmt.Sprintf("broker %d to apply the topic config change", id), func() bool {
			policy, _ := describeConfig(t, cl, kmsg.ConfigResourceTypeTopic, topic, "cleanup.policy")
			retention, _ := describeConfig(t, cl, kmsg.ConfigResourceTypeTopic, topic, "retention.ms")
			return policy.Value != nil && *policy.Value == "compact" && policy.Source == kmsg.ConfigSourceDynamicTopicConfig &&
				retention.Source != kmsg.ConfigSourceDynamicTopicConfig
		})
	}
	out = tools.run(t, "", "kafka-topics", "--bootstrap-server", tools.bootstrap, "--describe", "--topic", topic)
	got := strings.Split(parseTopicDescription(t, out.stdout, topic).header["Configs"], ",")
	if !slices.Contains(got, "cleanup.policy=compact") || !slices.Contains(got, "max.message.bytes=2000000") || slices.Contains(got, "retention.ms=3600000") {
		t.Errorf("kafka-topics --describe after the change: Configs %q, want cleanup.policy=compact and max.message.bytes=2000000 without retention.ms=3600000", got)
	}
}

// topicList returns what kafka-topics.sh --list prints, one name a line.
func (k *kafkaTools) topicList(t *testing.T) []string {
	t.Helper()
	out := k.run(t, "", "kafka-topics", "--bootstrap-server", k.bootstrap, "--list")
	if out.exit != 0 {
		t.Fatalf("kafka-topics --list: exit %d, want 0", out.exit)
	}
	return strings.Fields(out.stdout)
}

// groupOffsets runs kafka-consumer-groups.sh for group and returns the rows
// of the partition table it prints (--describe, --reset-offsets), keyed by
// column name, failing the test unless the tool exits 0.
func (k *kafkaTools) groupOffsets(t *testing.T, group string, args ...string) []map[string]string {
	t.Helper()
	out := k.run(t, "", "kafka-consumer-groups", append([]string{"--bootstrap-server", k.bootstrap, "--group", group}, args...)...)
	if out.exit != 0 {
		t.Fatalf("kafka-consumer-groups %s: exit %d, want 0", strings.Join(args, " "), out.exit)
	}
	var header []string
	var rows []map[string]string
	for _, line := range strings.Split(out.stdout, "\n") {
		fields := strings.Fields(line)
		switch {
		case len(fields) > 0 && fields[0] == "GROUP":
			header = fields
		case header != nil && len(fields) == len(header) && fields[0] == group:
			row := map[string]string{}
			for i, name := range header {
				row[name] = fields[i]
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// rowPartition returns the PARTITION column of a kafka-consumer-groups.sh
// row, failing the test unless it is a partition below partitions.
func rowPartition(t *testing.T, row map[string]string, partitions int) int {
	t.Helper()
	p, err := strconv.Atoi(row["PARTITION"])
	if err != nil || p < 0 || p >= partitions {
		t.Fatalf("kafka-consumer-groups row %v: want a partition between 0 and %d", row, partitions-1)
	}
	return p
}

// topicDescription is what kafka-topics.sh --describe prints for a topic:
// a line of "Name: value" fields separated by tabs, then one such line per
// partition.
type topicDescription struct {
	header     map[string]string
	partitions []map[string]string
}

func parseTopicDescription(t *testing.T, out, topic string) topicDescription {
	t.Helper()
	var d topicDescription
	for _, line := range strings.Split(out, "\n") {
		fields := map[string]string{}
		for _, f := range strings.Split(strings.TrimSpace(line), "\t") {
			name, value, _ := strings.Cut(f, ":")
			fields[name] = strings.TrimSpace(value)
		}
		switch {
		case fields["Topic"] != topic:
		case fields["Partition"] != "":
			d.partitions = append(d.partitions, fields)
		default:
			d.header = fields
		}
	}
	if d.header == nil {
		t.Fatalf("kafka-topics --describe printed no description of %s:\n%s", topic, out)
	}
	return d
}
