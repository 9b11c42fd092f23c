package config

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// kafka24TopicDefaults is what Kafka 2.4.1 describes for a topic without
// overrides on a broker with its default config (LogConfig built by
// KafkaServer.copyKafkaConfigToLog from an empty broker config).
var kafka24TopicDefaults = map[string]string{
	"cleanup.policy":                          "delete",
	"compression.type":                        "producer",
	"delete.retention.ms":                     "86400000",
	"file.delete.delay.ms":                    "60000",
	"flush.messages":                          "9223372036854775807",
	"flush.ms":                                "9223372036854775807",
	"follower.replication.throttled.replicas": "",
	"index.interval.bytes":                    "4096",
	"leader.replication.throttled.replicas":   "",
	"max.compaction.lag.ms":                   "9223372036854775807",
	// Kafka 2.4 says 1000012; kzoo takes the default of later releases,
	// 1 MiB plus the batch overhead.
	"max.message.bytes":                   "1048588",
	"message.downconversion.enable":       "true",
	"message.format.version":              "2.4-IV1",
	"message.timestamp.difference.max.ms": "9223372036854775807",
	"message.timestamp.type":              "CreateTime",
	"min.cleanable.dirty.ratio":           "0.5",
	"min.compaction.lag.ms":               "0",
	"min.insync.replicas":                 "1",
	"preallocate":                         "false",
	"retention.bytes":                     "-1",
	"retention.ms":                        "604800000",
	"segment.bytes":                       "1073741824",
	"segment.index.bytes":                 "10485760",
	"segment.jitter.ms":                   "0",
	"segment.ms":                          "604800000",
	"unclean.leader.election.enable":      "false",
}

// TestDescribeTopicMatchesKafka24 pins the topic configs, names and default
// values, to Kafka 2.4's. No value is null: Kafka gives every topic config
// one, falling back past broker keys without a default.
func TestDescribeTopicMatchesKafka24(t *testing.T) {
	got := make(map[string]string)
	for _, e := range testBroker(t).DescribeTopic(nil, Dynamic{}) {
		if e.Value == nil {
			t.Errorf("%s is described with a null value", e.Name)
			continue
		}
		if e.Source != SourceDefault {
			t.Errorf("%s: source %d, want DEFAULT_CONFIG (%d) on a broker without settings", e.Name, e.Source, SourceDefault)
		}
		got[e.Name] = *e.Value
	}
	if !maps.Equal(got, kafka24TopicDefaults) {
		for _, name := range slices.Sorted(maps.Keys(kafka24TopicDefaults)) {
			if v, ok := got[name]; !ok || v != kafka24TopicDefaults[name] {
				t.Errorf("%s = %q (described: %v), Kafka 2.4 gives %q", name, v, ok, kafka24TopicDefaults[name])
			}
		}
		for name := range got {
			if _, ok := kafka24TopicDefaults[name]; !ok {
				t.Errorf("%s is not a Kafka 2.4 topic config", name)
			}
		}
	}
}

func TestTopicDefaultsFollowTheBrokerKeys(t *testing.T) {
	b := testBroker(t, "log.flush.interval.ms=1000", "log.roll.jitter.hours=1",
		"log.message.timestamp.difference.max.ms=5000", "log.preallocate=true")
	for name, want := range map[string]string{
		"flush.ms": "1000", "segment.jitter.ms": "3600000",
		"message.timestamp.difference.max.ms": "5000", "preallocate": "true",
	} {
		if got := b.TopicDefaults[name]; got != want {
			t.Errorf("%s = %q, want %q from the broker's settings", name, got, want)
		}
	}
	b = testBroker(t, "log.roll.jitter.hours=1", "log.roll.jitter.ms=7")
	if got := b.TopicDefaults["segment.jitter.ms"]; got != "7" {
		t.Errorf("segment.jitter.ms = %q, want log.roll.jitter.ms's 7 over log.roll.jitter.hours", got)
	}
}

func TestValidateNewTopicConfigs(t *testing.T) {
	valid := []map[string]string{
		{"leader.replication.throttled.replicas": "*"},
		{"follower.replication.throttled.replicas": "0:1, 1:2,2:3"},
		{"leader.replication.throttled.replicas": ""},
		{"message.format.version": "2.4-IV1"},
		{"message.format.version": "2.4.1"},
		{"message.format.version": "0.10.0"},
		{"message.format.version": "0.11.0.2"},
		{"message.downconversion.enable": "false"},
		{"message.timestamp.difference.max.ms": "0"},
		{"preallocate": "true"},
		{"segment.jitter.ms": "100"},
	}
	for _, cfg := range valid {
		if err := ValidateTopicConfigs(cfg, false); err != nil {
			t.Errorf("%v refused: %v", cfg, err)
		}
	}
	invalid := map[string]map[string]string{
		"throttled replicas": {"leader.replication.throttled.replicas": "0:a"},
		"no broker":          {"follower.replication.throttled.replicas": "0"},
		"format version":     {"message.format.version": "3.0"},
		"not a version":      {"message.format.version": "latest"},
		"negative diff":      {"message.timestamp.difference.max.ms": "-1"},
		"preallocate":        {"preallocate": "yes please"},
		"negative jitter":    {"segment.jitter.ms": "-5"},
	}
	for name, cfg := range invalid {
		for key := range cfg {
			if err := ValidateTopicConfigs(cfg, false); err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("%s: %v gave %v, want an error naming %s", name, cfg, err, key)
			}
		}
	}
}

func TestDynamicTopicDefaultKeys(t *testing.T) {
	for _, name := range []string{"log.roll.jitter.ms", "log.roll.jitter.hours", "log.preallocate",
		"log.message.timestamp.difference.max.ms", "log.message.downconversion.enable"} {
		if !IsDynamicBrokerKey(name) {
			t.Errorf("%s is not dynamic; Kafka updates it at run time", name)
		}
	}
	if IsDynamicBrokerKey("log.message.format.version") || IsDynamicBrokerKey("") {
		t.Error("log.message.format.version is dynamic; Kafka keeps it static")
	}
}

func TestTimestampDifferenceMax(t *testing.T) {
	b := testBroker(t)
	if _, ok := b.ResolveTopic(nil).TimestampDifferenceMax(); ok {
		t.Error("the default (never) bounds timestamps")
	}
	if ms, ok := b.ResolveTopic(map[string]string{"message.timestamp.difference.max.ms": "10"}).TimestampDifferenceMax(); !ok || ms != 10 {
		t.Errorf("got %d %v, want 10 true", ms, ok)
	}
	if _, ok := b.ResolveTopic(map[string]string{"message.timestamp.difference.max.ms": "10",
		"message.timestamp.type": "LogAppendTime"}).TimestampDifferenceMax(); ok {
		t.Error("a LogAppendTime topic bounds producer timestamps")
	}
}

// TestBooleansAsKafkaReadsThem: a boolean is "true" or "false" in any case,
// as Kafka and the controller (through configvalue.ParseBool) read it; "1"
// is refused, and an override another tool wrote that way is ignored.
func TestBooleansAsKafkaReadsThem(t *testing.T) {
	b := testBroker(t)
	for value, want := range map[string]bool{"TRUE": true, " true ": true, "False": false, "1": false, "yes": false} {
		if got := b.ResolveTopic(map[string]string{"unclean.leader.election.enable": value}).UncleanLeaderElection(); got != want {
			t.Errorf("unclean.leader.election.enable=%q resolves to %v, want %v", value, got, want)
		}
	}
	if err := ValidateTopicConfigs(map[string]string{"unclean.leader.election.enable": "1"}, false); err == nil {
		t.Error(`unclean.leader.election.enable=1 accepted; Kafka refuses it`)
	}
	if err := ValidateTopicConfigs(map[string]string{"unclean.leader.election.enable": "tRuE"}, false); err != nil {
		t.Errorf("unclean.leader.election.enable=tRuE refused: %v", err)
	}
}

// TestTopicQuotaKeys: kzoo's producer.byte.rate and consumer.byte.rate take
// positive byte rates, not on internal topics, and are described only when
// a topic sets them.
func TestTopicQuotaKeys(t *testing.T) {
	for _, key := range []string{"producer.byte.rate", "consumer.byte.rate"} {
		if err := ValidateTopicConfigs(map[string]string{key: "1048576"}, false); err != nil {
			t.Errorf("%s=1048576: %v", key, err)
		}
		for _, bad := range []string{"0", "-5", "fast", "1.5", ""} {
			if err := ValidateTopicConfigs(map[string]string{key: bad}, false); err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("%s=%q: error %v, want one naming the key", key, bad, err)
			}
		}
		err := ValidateTopicConfigs(map[string]string{"retention.ms": "1000", key: "1048576"}, true)
		if err == nil || !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "internal") {
			t.Errorf("%s on an internal topic: error %v, want one naming the key and internal topics", key, err)
		}
		if !slices.ContainsFunc(TopicKeys(), func(k Key) bool { return k.Name == key && strings.Contains(k.Doc, "kzoo's own") }) {
			t.Errorf("TopicKeys lacks %s, documented as kzoo's own", key)
		}
	}
	if err := ValidateTopicConfigs(map[string]string{"retention.ms": "1000"}, true); err != nil {
		t.Errorf("an internal topic's other configs: %v", err)
	}

	b := testBroker(t)
	for _, e := range b.DescribeTopic(nil, Dynamic{}) {
		if strings.HasSuffix(e.Name, ".byte.rate") {
			t.Errorf("a topic without quotas describes %s", e.Name)
		}
	}
	overrides := map[string]string{"producer.byte.rate": "2048"}
	var found bool
	for _, e := range b.DescribeTopic(overrides, Dynamic{}) {
		if e.Name == "producer.byte.rate" {
			found = true
			if e.Value == nil || *e.Value != "2048" || e.Source != SourceDynamicTopic {
				t.Errorf("producer.byte.rate described as %+v", e)
			}
		}
		if e.Name == "consumer.byte.rate" {
			t.Error("consumer.byte.rate described though not set")
		}
	}
	if !found {
		t.Error("producer.byte.rate not described though set")
	}
	if got := b.ResolveTopic(overrides)["producer.byte.rate"]; got != "2048" {
		t.Errorf("resolved producer.byte.rate = %q", got)
	}
}
