package zkpaths

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
)

func TestPathHelpers(t *testing.T) {
	tests := []struct{ got, want string }{
		{BrokerIDPath(7), "/brokers/ids/7"},
		{TopicPath("orders"), "/brokers/topics/orders"},
		{TopicPartitionsPath("orders"), "/brokers/topics/orders/partitions"},
		{PartitionPath("orders", 3), "/brokers/topics/orders/partitions/3"},
		{PartitionStatePath("orders", 3), "/brokers/topics/orders/partitions/3/state"},
		{TopicConfigPath("orders"), "/config/topics/orders"},
		{ConfigEntityPath(ConfigTypeBroker, DefaultConfigEntity), "/config/brokers/<default>"},
		{ConfigEntityTypePath(ConfigTypeUser), "/config/users"},
		{ConfigChangeSequencePath(), "/config/changes/config_change_"},
		{DeleteTopicPath("orders"), "/admin/delete_topics/orders"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestPersistentPaths(t *testing.T) {
	paths := PersistentPaths()
	want := []string{
		"/brokers/ids", "/brokers/topics", "/brokers/seqid", "/config/topics", "/config/brokers",
		"/config/clients", "/config/users", "/config/ips", "/config/changes", "/admin/delete_topics",
		"/isr_change_notification", "/log_dir_event_notification", "/latest_producer_id_block",
		"/cluster", "/consumers",
	}
	seen := make(map[string]bool)
	for _, p := range paths {
		if seen[p] {
			t.Errorf("%s listed twice", p)
		}
		seen[p] = true
		if !strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
			t.Errorf("malformed path %q", p)
		}
	}
	for _, p := range want {
		if !seen[p] {
			t.Errorf("%s missing from PersistentPaths", p)
		}
	}
}

func TestParsePaths(t *testing.T) {
	if id, ok := ParseBrokerIDPath("/brokers/ids/12"); !ok || id != 12 {
		t.Errorf("ParseBrokerIDPath(/brokers/ids/12) = %d, %v", id, ok)
	}
	for _, bad := range []string{"/brokers/ids", "/brokers/ids/", "/brokers/ids/x", "/brokers/ids/-1", "/brokers/ids/01",
		"/brokers/ids/1/x", "/brokers/idsx/1", "/brokers/ids/99999999999"} {
		if id, ok := ParseBrokerIDPath(bad); ok {
			t.Errorf("ParseBrokerIDPath(%q) = %d, want no match", bad, id)
		}
	}

	if topic, ok := ParseTopicPath("/brokers/topics/a.b-c_d"); !ok || topic != "a.b-c_d" {
		t.Errorf("ParseTopicPath = %q, %v", topic, ok)
	}
	for _, bad := range []string{"/brokers/topics", "/brokers/topics/", "/brokers/topics/a/partitions"} {
		if topic, ok := ParseTopicPath(bad); ok {
			t.Errorf("ParseTopicPath(%q) = %q, want no match", bad, topic)
		}
	}

	if topic, ok := ParseTopicPartitionsPath(TopicPartitionsPath("orders")); !ok || topic != "orders" {
		t.Errorf("ParseTopicPartitionsPath = %q %v", topic, ok)
	}
	for _, bad := range []string{TopicPath("orders"), PartitionPath("orders", 1), "/brokers/topics/partitions", TopicsPath + "//partitions", "/x/partitions"} {
		if topic, ok := ParseTopicPartitionsPath(bad); ok {
			t.Errorf("ParseTopicPartitionsPath(%q) = %q", bad, topic)
		}
	}
	if topic, p, ok := ParsePartitionStatePath(PartitionStatePath("orders", 10)); !ok || topic != "orders" || p != 10 {
		t.Errorf("ParsePartitionStatePath = %q %d %v", topic, p, ok)
	}
	for _, bad := range []string{
		"/brokers/topics/orders/partitions/10", "/brokers/topics/orders/partitions/x/state",
		"/brokers/topics//partitions/1/state", "/brokers/topics/orders/parts/1/state",
		"/brokers/topics/orders/partitions/1/state/x", "/config/topics/orders",
	} {
		if topic, p, ok := ParsePartitionStatePath(bad); ok {
			t.Errorf("ParsePartitionStatePath(%q) = %q %d, want no match", bad, topic, p)
		}
	}
}

func TestUUID(t *testing.T) {
	for range 100 {
		id, err := NewRandomUUID(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s := id.String()
		if len(s) != 22 || s[0] == '-' {
			t.Fatalf("bad uuid text %q", s)
		}
		if id[6]>>4 != 4 {
			t.Fatalf("uuid %x is not version 4", id)
		}
		back, err := ParseUUID(s)
		if err != nil || back != id {
			t.Fatalf("ParseUUID(%q) = %x, %v; want %x", s, back, err, id)
		}
	}
	if got := ZeroUUID.String(); got != "AAAAAAAAAAAAAAAAAAAAAA" {
		t.Errorf("zero uuid = %q", got)
	}
	for _, bad := range []string{"", "AAAA", "AAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAA*", "AAAAAAAAAAAAAAAAAAAAAAA"} {
		if _, err := ParseUUID(bad); err == nil {
			t.Errorf("ParseUUID(%q) succeeded", bad)
		}
	}
	// A source whose every draw encodes with a leading '-' must fail, not spin.
	if _, err := NewRandomUUID(bytes.NewReader(bytes.Repeat([]byte{0xf8}, 16*64))); err == nil {
		t.Error("NewRandomUUID accepted ids starting with '-'")
	}
	if _, err := NewRandomUUID(bytes.NewReader(nil)); err == nil {
		t.Error("NewRandomUUID succeeded on an empty source")
	}
}

func TestIssue3Paths(t *testing.T) {
	if got := DeleteTopicConfirmationPath("foo", 3); got != "/admin/delete_topics/foo/3" {
		t.Errorf("DeleteTopicConfirmationPath = %s", got)
	}
	if got := ControlledShutdownBrokerPath(2); got != "/admin/controlled_shutdown/2" {
		t.Errorf("ControlledShutdownBrokerPath = %s", got)
	}
	for in, want := range map[string][2]string{"topics/foo": {"topics", "foo"}, "brokers/<default>": {"brokers", "<default>"}} {
		typ, name, ok := ParseConfigEntityPath(in)
		if !ok || typ != want[0] || name != want[1] {
			t.Errorf("ParseConfigEntityPath(%q) = %q, %q, %v", in, typ, name, ok)
		}
	}
	for _, bad := range []string{"topics", "/foo", "topics/", "topics/a/b"} {
		if _, _, ok := ParseConfigEntityPath(bad); ok {
			t.Errorf("ParseConfigEntityPath(%q) accepted", bad)
		}
	}
	if topic, ok := ParseDeleteTopicPath("/admin/delete_topics/foo"); !ok || topic != "foo" {
		t.Errorf("ParseDeleteTopicPath = %q, %v", topic, ok)
	}
	if _, ok := ParseDeleteTopicPath("/admin/delete_topics/foo/1"); ok {
		t.Error("ParseDeleteTopicPath accepted a confirmation path")
	}
	if n, ok := ParseConfigChangeSequence("config_change_0000000042"); !ok || n != 42 {
		t.Errorf("ParseConfigChangeSequence = %d, %v", n, ok)
	}
	for _, bad := range []string{"config_change_", "config_change_4x", "isr_change_0000000001"} {
		if _, ok := ParseConfigChangeSequence(bad); ok {
			t.Errorf("ParseConfigChangeSequence(%q) accepted", bad)
		}
	}
}
