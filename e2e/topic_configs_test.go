package e2e

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/e2e/cluster"
)

// TestTopicAndLoggerConfigs checks what issue 9 found kzoo leaving out of
// its configs, against Kafka 2.4: every topic config described with a
// value, the keys kzoo lacked, message.timestamp.difference.max.ms on
// produce, and the broker loggers of kafka-configs.sh.
func TestTopicAndLoggerConfigs(t *testing.T) {
	c := cluster.Start(t, cluster.Options{Brokers: 1, PortOffset: 10800})
	waitForLiveBrokers(t, c.Bootstrap(), 1)

	t.Run("describe a fresh topic", func(t *testing.T) { describeFreshTopic(t, c) })
	t.Run("timestamp difference", func(t *testing.T) { produceOutsideTimestampDifference(t, c) })
	t.Run("broker loggers", func(t *testing.T) { javaBrokerLoggers(t, c) })
}

// kafka24TopicConfigs are the configs Kafka 2.4.1 describes for any topic.
var kafka24TopicConfigs = []string{
	"cleanup.policy", "compression.type", "delete.retention.ms", "file.delete.delay.ms",
	"flush.messages", "flush.ms", "follower.replication.throttled.replicas", "index.interval.bytes",
	"leader.replication.throttled.replicas", "max.compaction.lag.ms", "max.message.bytes",
	"message.downconversion.enable", "message.format.version", "message.timestamp.difference.max.ms",
	"message.timestamp.type", "min.cleanable.dirty.ratio", "min.compaction.lag.ms", "min.insync.replicas",
	"preallocate", "retention.bytes", "retention.ms", "segment.bytes", "segment.index.bytes",
	"segment.jitter.ms", "segment.ms", "unclean.leader.election.enable",
}

func describeFreshTopic(t *testing.T, c *cluster.Cluster) {
	const topic = "configs-fresh"
	createTopic(t, c.Bootstrap(), topic, 1, 1, map[string]string{"segment.jitter.ms": "1000", "preallocate": "true"})
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(context.Background(), admin(t, c.Bootstrap()))
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("DescribeConfigs of %s: %v", topic, err)
	}
	values := make(map[string]kmsg.DescribeConfigsResponseResourceConfig)
	for _, cfg := range resp.Resources[0].Configs {
		if cfg.Value == nil {
			t.Errorf("%s is described with a null value; Kafka gives every topic config one", cfg.Name)
		}
		values[cfg.Name] = cfg
	}
	if got := slices.Sorted(maps.Keys(values)); !slices.Equal(got, kafka24TopicConfigs) {
		t.Errorf("described configs\n%v\nwant Kafka 2.4's\n%v", got, kafka24TopicConfigs)
	}
	if f := values["flush.ms"]; f.Value == nil || *f.Value != "9223372036854775807" || f.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("flush.ms: %v from source %v, want 9223372036854775807 from DEFAULT_CONFIG", f.Value, f.Source)
	}
	for name, want := range map[string]string{"segment.jitter.ms": "1000", "preallocate": "true"} {
		if v := values[name]; v.Value == nil || *v.Value != want || v.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("%s: %v from source %v, want the topic's own %s", name, v.Value, v.Source, want)
		}
	}
}

func produceOutsideTimestampDifference(t *testing.T, c *cluster.Cluster) {
	const topic = "configs-timestamps"
	createTopic(t, c.Bootstrap(), topic, 1, 1, map[string]string{"message.timestamp.difference.max.ms": "60000"})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Bootstrap()...), kgo.RecordRetries(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	old := &kgo.Record{Topic: topic, Value: []byte("old"), Timestamp: time.Now().Add(-time.Hour)}
	if err := cl.ProduceSync(ctx, old).FirstErr(); !errors.Is(err, kerr.InvalidTimestamp) {
		t.Errorf("a record an hour old produced to a topic allowing one minute: %v, want INVALID_TIMESTAMP", err)
	}
	now := &kgo.Record{Topic: topic, Value: []byte("now"), Timestamp: time.Now()}
	if err := cl.ProduceSync(ctx, now).FirstErr(); err != nil {
		t.Errorf("a record of now: %v", err)
	}
}

// javaBrokerLoggers drives the broker loggers (KIP-412) with Kafka 2.4's
// kafka-configs.sh: describe, set a level, reset it.
func javaBrokerLoggers(t *testing.T, c *cluster.Cluster) {
	tools := newKafkaTools(t)
	loggers := func(args ...string) toolOutput {
		return tools.run(t, "", "kafka-configs", append([]string{"--bootstrap-server", c.BrokerAddr(1),
			"--entity-type", "broker-loggers", "--entity-name", "1"}, args...)...)
	}
	out := loggers("--describe")
	for _, want := range []string{"kzoo=INFO", "storage=INFO", "server=INFO", "coordinator=INFO", "group-coordinator=INFO"} {
		if out.exit != 0 || !strings.Contains(out.stdout, want) {
			t.Errorf("broker-loggers --describe: exit %d, want 0 and %s listed", out.exit, want)
		}
	}
	if out := loggers("--alter", "--add-config", "storage=DEBUG"); out.exit != 0 {
		t.Fatalf("--add-config storage=DEBUG: exit %d, want 0", out.exit)
	}
	if out := loggers("--describe"); !strings.Contains(out.stdout, "storage=DEBUG") || !strings.Contains(out.stdout, "server=INFO") {
		t.Errorf("after setting storage=DEBUG the loggers are described as:\n%s", out.stdout)
	}
	if out := loggers("--alter", "--delete-config", "storage"); out.exit != 0 {
		t.Fatalf("--delete-config storage: exit %d, want 0", out.exit)
	}
	if out := loggers("--describe"); !strings.Contains(out.stdout, "storage=INFO") {
		t.Errorf("after removing storage's level the loggers are described as:\n%s", out.stdout)
	}
	if out := loggers("--alter", "--add-config", "storage=LOUD"); out.exit == 0 || !strings.Contains(out.text(), "LOUD") {
		t.Errorf("--add-config storage=LOUD: exit %d, want a failure naming the level", out.exit)
	}
}
