package config

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testBroker(t *testing.T, overrides ...string) *Broker {
	t.Helper()
	vals, err := Load("", nil, append([]string{"broker.id=1"}, overrides...))
	if err != nil {
		t.Fatal(err)
	}
	b, err := vals.Broker()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestControlledShutdownAndRebalanceKeys(t *testing.T) {
	b := testBroker(t)
	if !b.ControlledShutdown || b.ControlledShutdownTimeout != 15*time.Second {
		t.Errorf("controlled shutdown = %v within %v, want true within 15s", b.ControlledShutdown, b.ControlledShutdownTimeout)
	}
	if !b.AutoLeaderRebalance || b.LeaderImbalanceCheckInterval != 300*time.Second || b.LeaderImbalancePerBrokerPercentage != 10 {
		t.Errorf("rebalance = %v every %v at %d%%, want Kafka's defaults", b.AutoLeaderRebalance, b.LeaderImbalanceCheckInterval, b.LeaderImbalancePerBrokerPercentage)
	}
	b = testBroker(t, "controlled.shutdown.max.retries=0", "controlled.shutdown.retry.backoff.ms=200",
		"leader.imbalance.check.interval.seconds=1", "auto.leader.rebalance.enable=false")
	if b.ControlledShutdownTimeout != 200*time.Millisecond {
		t.Errorf("timeout with no retries = %v, want one attempt of 200ms", b.ControlledShutdownTimeout)
	}
	if b.AutoLeaderRebalance || b.LeaderImbalanceCheckInterval != time.Second {
		t.Errorf("rebalance = %v every %v, want off every 1s", b.AutoLeaderRebalance, b.LeaderImbalanceCheckInterval)
	}
}

func TestValidateBrokerConfigs(t *testing.T) {
	if err := ValidateBrokerConfigs(map[string]string{"log.retention.ms": "1000", "log.cleanup.policy": "compact,delete"}); err != nil {
		t.Errorf("dynamic keys refused: %v", err)
	}
	if err := ValidateBrokerConfigs(map[string]string{"broker.id": "2"}); !errors.Is(err, ErrNotDynamic) {
		t.Errorf("broker.id: err = %v, want ErrNotDynamic", err)
	}
	if err := ValidateBrokerConfigs(map[string]string{"no.such.key": "1"}); err == nil || errors.Is(err, ErrNotDynamic) {
		t.Errorf("unknown key: err = %v, want an unknown-key error", err)
	}
	if err := ValidateBrokerConfigs(map[string]string{"log.retention.ms": "soon"}); err == nil {
		t.Error("a non-numeric retention was accepted")
	}
}

func TestWithDynamicPrecedence(t *testing.T) {
	b := testBroker(t, "log.segment.bytes=5000", "log.retention.hours=2")
	got := b.WithDynamic(Dynamic{
		Default: map[string]string{"log.segment.bytes": "6000", "log.retention.ms": "60000", "broker.id": "9"},
		Broker:  map[string]string{"log.segment.bytes": "7000", "log.retention.bytes": "bad"},
	})
	topic := got.ResolveTopic(nil)
	if topic["segment.bytes"] != "7000" {
		t.Errorf("segment.bytes = %s, want the per-broker 7000", topic["segment.bytes"])
	}
	if topic["retention.ms"] != "60000" {
		t.Errorf("retention.ms = %s, want the dynamic default's log.retention.ms over the static hours", topic["retention.ms"])
	}
	if topic["retention.bytes"] != "-1" {
		t.Errorf("retention.bytes = %s, want the invalid dynamic value ignored", topic["retention.bytes"])
	}
	if got.ID != 1 || got.Values["broker.id"] != "1" {
		t.Errorf("a read-only key changed dynamically: id %d", got.ID)
	}
	if b.TopicDefaults["segment.bytes"] != "5000" {
		t.Error("WithDynamic modified the static configuration")
	}
}

func entryByName(entries []Entry, name string) (Entry, bool) {
	for _, e := range entries {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}

func TestDescribeTopicSources(t *testing.T) {
	b := testBroker(t, "log.segment.bytes=5000")
	dyn := Dynamic{Default: map[string]string{"log.retention.bytes": "100"}, Broker: map[string]string{"min.insync.replicas": "2"}}
	entries := b.DescribeTopic(map[string]string{"retention.ms": "1000"}, dyn)
	if len(entries) != len(topicKeys) {
		t.Fatalf("%d entries, want every topic key (%d)", len(entries), len(topicKeys))
	}
	for _, tc := range []struct {
		name   string
		value  string
		source Source
	}{
		{"retention.ms", "1000", SourceDynamicTopic},
		{"min.insync.replicas", "2", SourceDynamicBroker},
		{"retention.bytes", "100", SourceDynamicDefaultBroker},
		{"segment.bytes", "5000", SourceStaticBroker},
		{"cleanup.policy", "delete", SourceDefault},
	} {
		e, ok := entryByName(entries, tc.name)
		if !ok || e.Value == nil || *e.Value != tc.value || e.Source != tc.source {
			t.Errorf("%s = %+v, want %s from source %d", tc.name, e, tc.value, tc.source)
		}
	}
	e, _ := entryByName(entries, "retention.ms")
	wantSyn := []Synonym{
		{"retention.ms", "1000", SourceDynamicTopic},
		{"log.retention.hours", "168", SourceDefault},
	}
	if !reflect.DeepEqual(e.Synonyms, wantSyn) {
		t.Errorf("retention.ms synonyms = %+v, want %+v", e.Synonyms, wantSyn)
	}
}

func TestDescribeBroker(t *testing.T) {
	b := testBroker(t, "log.segment.bytes=5000")
	entries := b.DescribeBroker(Dynamic{Broker: map[string]string{"log.segment.bytes": "7000"}})
	if len(entries) != len(brokerKeys) {
		t.Fatalf("%d entries, want every broker key (%d)", len(entries), len(brokerKeys))
	}
	seg, _ := entryByName(entries, "log.segment.bytes")
	if seg.Value == nil || *seg.Value != "7000" || seg.Source != SourceDynamicBroker || seg.ReadOnly {
		t.Errorf("log.segment.bytes = %+v, want 7000, dynamic, writable", seg)
	}
	if len(seg.Synonyms) != 3 || seg.Synonyms[1].Source != SourceStaticBroker || seg.Synonyms[2].Source != SourceDefault {
		t.Errorf("log.segment.bytes synonyms = %+v, want dynamic, static, default", seg.Synonyms)
	}
	id, _ := entryByName(entries, "broker.id")
	if id.Value == nil || *id.Value != "1" || id.Source != SourceStaticBroker || !id.ReadOnly {
		t.Errorf("broker.id = %+v, want 1, static, read-only", id)
	}
	rack, _ := entryByName(entries, "broker.rack")
	if rack.Value != nil || rack.Source != SourceDefault {
		t.Errorf("broker.rack = %+v, want no value from the default", rack)
	}
}

func TestParseBrokerEntity(t *testing.T) {
	for in, want := range map[string]string{"": DefaultEntity, DefaultEntity: DefaultEntity, "3": "3", "007": "7"} {
		if got, err := ParseBrokerEntity(in); err != nil || got != want {
			t.Errorf("ParseBrokerEntity(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"-1", "x", "1.5"} {
		if _, err := ParseBrokerEntity(bad); err == nil {
			t.Errorf("ParseBrokerEntity(%q) accepted", bad)
		}
	}
}

func TestApplyOps(t *testing.T) {
	str := func(s string) *string { return &s }
	isList := func(name string) bool { return IsListKey(name, false) }
	inEffect := func(name string) string {
		if name == "cleanup.policy" {
			return "delete"
		}
		return ""
	}
	current := map[string]string{"retention.ms": "1000", "segment.bytes": "5000"}
	got, err := ApplyOps(current, []Op{
		{Name: "retention.ms", Type: OpSet, Value: str("2000")},
		{Name: "segment.bytes", Type: OpDelete},
		{Name: "cleanup.policy", Type: OpAppend, Value: str("compact")},
	}, isList, inEffect)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"retention.ms": "2000", "cleanup.policy": "delete,compact"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ApplyOps = %v, want %v", got, want)
	}
	if current["retention.ms"] != "1000" || len(current) != 2 {
		t.Errorf("ApplyOps modified its input: %v", current)
	}
	got, err = ApplyOps(want, []Op{{Name: "cleanup.policy", Type: OpSubtract, Value: str("delete")}}, isList, inEffect)
	if err != nil || got["cleanup.policy"] != "compact" {
		t.Errorf("SUBTRACT = %v, %v; want cleanup.policy=compact", got, err)
	}

	for name, ops := range map[string][]Op{
		"twice":        {{Name: "retention.ms", Type: OpDelete}, {Name: "retention.ms", Type: OpSet, Value: str("1")}},
		"set no value": {{Name: "retention.ms", Type: OpSet}},
		"unknown op":   {{Name: "retention.ms", Type: 9}},
	} {
		if _, err := ApplyOps(nil, ops, isList, inEffect); !errors.Is(err, ErrInvalidOp) {
			t.Errorf("%s: err = %v, want ErrInvalidOp", name, err)
		}
	}
	_, err = ApplyOps(nil, []Op{{Name: "retention.ms", Type: OpAppend, Value: str("5")}}, isList, inEffect)
	if err == nil || errors.Is(err, ErrInvalidOp) {
		t.Errorf("APPEND to a non-list: err = %v, want an invalid-config error", err)
	}
}

// TestRuntimeKeysAreDynamic: Kafka's dynamic broker configs that kzoo has an
// equivalent of are accepted, reported with their source, and read back by
// Runtime; Kafka's others are refused with a message naming kzoo.
func TestRuntimeKeysAreDynamic(t *testing.T) {
	dynamic := map[string]string{
		"log.cleaner.threads": "2", "log.cleaner.io.max.bytes.per.second": "1048576",
		"log.cleaner.dedupe.buffer.size": "1000000", "log.cleaner.backoff.ms": "100",
		"num.replica.fetchers": "3", "max.connections": "100", "max.connections.per.ip": "10",
		"message.max.bytes": "2000000", "log.retention.bytes": "1000", "log.segment.bytes": "100000",
		"log.cleanup.policy": "compact", "log.roll.ms": "1000",
	}
	if err := ValidateBrokerConfigs(dynamic); err != nil {
		t.Fatalf("dynamic keys refused: %v", err)
	}
	for name, value := range map[string]string{"num.io.threads": "8", "log.cleaner.enable": "false", "listeners": "PLAINTEXT://:1"} {
		err := ValidateBrokerConfigs(map[string]string{name: value})
		if err == nil || !strings.Contains(err.Error(), "kzoo does not support updating "+name+" dynamically") {
			t.Errorf("%s: err = %v, want kzoo's refusal", name, err)
		}
	}
	for _, bad := range []map[string]string{{"log.cleaner.threads": "0"}, {"log.cleaner.io.max.bytes.per.second": "NaN"}, {"max.connections": "-1"}} {
		if err := ValidateBrokerConfigs(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}

	b := testBroker(t, "log.cleaner.threads=3")
	rt := b.WithDynamic(Dynamic{
		Default: map[string]string{"log.cleaner.threads": "2", "max.connections": "100", "log.cleaner.io.max.bytes.per.second": "1048576"},
		Broker:  map[string]string{"max.connections": "50", "num.replica.fetchers": "4"},
	}).Values.Runtime()
	if rt.Cleaner.Threads != 2 || rt.Cleaner.IOMaxBytesPerSecond != 1<<20 || rt.MaxConnections != 50 || rt.NumReplicaFetchers != 4 || rt.MaxConnectionsPerIP != 2147483647 {
		t.Errorf("runtime = %+v", rt)
	}
	if def := testBroker(t).Values.Runtime(); !math.IsInf(def.Cleaner.IOMaxBytesPerSecond, 1) || def.Cleaner.Threads != 1 {
		t.Errorf("default runtime = %+v, want an unlimited cleaner on one thread", def)
	}

	entries := b.DescribeBroker(Dynamic{
		Default: map[string]string{"log.cleaner.threads": "2", "max.connections": "100"},
		Broker:  map[string]string{"max.connections": "50"},
	})
	for name, want := range map[string]struct {
		value    string
		source   Source
		synonyms []Source
	}{
		"max.connections":        {"50", SourceDynamicBroker, []Source{SourceDynamicBroker, SourceDynamicDefaultBroker, SourceDefault}},
		"log.cleaner.threads":    {"2", SourceDynamicDefaultBroker, []Source{SourceDynamicDefaultBroker, SourceStaticBroker, SourceDefault}},
		"max.connections.per.ip": {"2147483647", SourceDefault, []Source{SourceDefault}},
	} {
		e, ok := entryByName(entries, name)
		if !ok || e.Value == nil || *e.Value != want.value || e.Source != want.source || e.ReadOnly {
			t.Errorf("%s = %+v, want %s from source %d, writable", name, e, want.value, want.source)
			continue
		}
		var got []Source
		for _, s := range e.Synonyms {
			got = append(got, s.Source)
		}
		if !reflect.DeepEqual(got, want.synonyms) {
			t.Errorf("%s synonyms' sources = %v, want %v", name, got, want.synonyms)
		}
	}
}
