package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "broker.yaml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadLayersFileEnvironmentOverrides(t *testing.T) {
	path := writeFile(t, `
broker.id: 1
log.dirs: [/a, /b]
num.partitions: 3
log.segment.bytes: 1000
auto.create.topics.enable: false
`)
	env := []string{
		"KZOO_NUM_PARTITIONS=5",       // beats the file
		"KZOO_LOG_SEGMENT_BYTES=2000", // beaten by the override
		"KZOO_HOME=/tmp/x",            // the scripts' own variable: ignored
		"PATH=/bin",
	}
	vals, err := Load(path, env, []string{"log.segment.bytes=3000", "broker.id = 7"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := vals.Broker()
	if err != nil {
		t.Fatal(err)
	}
	if b.ID != 7 || b.NumPartitions != 5 || b.AutoCreateTopics || strings.Join(b.LogDirs, ",") != "/a,/b" {
		t.Fatalf("got id %d partitions %d autocreate %v dirs %v", b.ID, b.NumPartitions, b.AutoCreateTopics, b.LogDirs)
	}
	if got := b.TopicDefaults["segment.bytes"]; got != "3000" {
		t.Fatalf("segment.bytes default %q, want the override's 3000", got)
	}
	if b.DefaultReplicationFactor != 1 || b.ZooKeeperSessionTimeout != 18*time.Second || b.ZooKeeperConnectTimeout != 18*time.Second {
		t.Fatalf("Kafka's defaults not applied: %+v", b)
	}
}

func TestLoadRejectsBadInput(t *testing.T) {
	cases := map[string]struct {
		file      string
		env       []string
		overrides []string
		want      string
	}{
		"unknown key in file":  {file: "broker.id: 1\nlog.dirz: /x\n", want: `unknown config key "log.dirz"`},
		"unknown override":     {overrides: []string{"nope=1"}, want: `unknown config key "nope"`},
		"override without =":   {overrides: []string{"broker.id"}, want: "want key=value"},
		"not a number":         {file: "broker.id: one\n", want: "broker.id"},
		"below the minimum":    {overrides: []string{"num.partitions=0"}, want: "below the minimum"},
		"not a boolean":        {env: []string{"KZOO_AUTO_CREATE_TOPICS_ENABLE=maybe"}, want: "KZOO_AUTO_CREATE_TOPICS_ENABLE"},
		"not one of the names": {overrides: []string{"log.cleanup.policy=shred"}, want: "not one of"},
		"malformed yaml":       {file: "broker.id: [1\n", want: "parse config"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			_, err := Load(path, tc.env, tc.overrides)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), nil, nil); err == nil {
		t.Fatal("a missing config file was accepted")
	}
}

func TestBrokerNeedsAnID(t *testing.T) {
	vals, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vals.Broker(); err == nil || !strings.Contains(err.Error(), "broker.id is required") {
		t.Fatalf("error %v, want broker.id is required", err)
	}
}

func TestListeners(t *testing.T) {
	vals, err := Load("", nil, []string{"broker.id=1", "listeners=PLAINTEXT://127.0.0.1:9092,internal://:9093",
		"listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := vals.Broker()
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Listeners) != 2 || b.Listeners[1].Name != "INTERNAL" || b.Listeners[1].Port != 9093 {
		t.Fatalf("listeners %+v", b.Listeners)
	}
	if b.AdvertisedListeners[0].String() != "PLAINTEXT://127.0.0.1:9092" || b.AdvertisedListeners[1].Host == "" {
		t.Fatalf("advertised listeners %+v: want listeners, with a wildcard host replaced", b.AdvertisedListeners)
	}
	for _, bad := range []string{"127.0.0.1:9092", "PLAINTEXT://127.0.0.1", "PLAINTEXT://h:99999", ""} {
		if _, err := ParseListeners(bad); err == nil {
			t.Errorf("listener %q accepted", bad)
		}
	}
}

func TestRetentionPrecedence(t *testing.T) {
	cases := []struct {
		overrides []string
		want      string
	}{
		{nil, "604800000"}, // 168 hours
		{[]string{"log.retention.hours=1"}, "3600000"},
		{[]string{"log.retention.hours=1", "log.retention.minutes=2"}, "120000"},
		{[]string{"log.retention.minutes=2", "log.retention.ms=5"}, "5"},
		{[]string{"log.retention.hours=-1"}, "-1"},
	}
	for _, tc := range cases {
		vals, err := Load("", nil, append([]string{"broker.id=1"}, tc.overrides...))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := vals.Broker()
		if got := b.TopicDefaults["retention.ms"]; got != tc.want {
			t.Errorf("%v: retention.ms %s, want %s", tc.overrides, got, tc.want)
		}
	}
}

func TestTopicConfigs(t *testing.T) {
	if err := ValidateTopicConfigs(map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete", "min.insync.replicas": "2"}, false); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []map[string]string{
		{"retention.ms": "soon"},
		{"segment.bytes": "1"},
		{"cleanup.policy": "shred"},
		{"message.timestamp.type": "Now"},
		{"no.such.key": "1"},
	} {
		if err := ValidateTopicConfigs(bad, false); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}

	vals, _ := Load("", nil, []string{"broker.id=1", "log.segment.bytes=4096", "min.insync.replicas=2"})
	b, _ := vals.Broker()
	topic := b.ResolveTopic(map[string]string{"retention.bytes": "100", "message.timestamp.type": "LogAppendTime", "bogus": "x"})
	sc := topic.Storage()
	if sc.SegmentBytes != 4096 || sc.RetentionBytes != 100 || !sc.LogAppendTime || topic.MinInsyncReplicas() != 2 {
		t.Fatalf("resolved storage config %+v, min ISR %d", sc, topic.MinInsyncReplicas())
	}
	if _, ok := topic["bogus"]; ok {
		t.Fatal("an unknown override survived ResolveTopic")
	}
}

func TestEnvName(t *testing.T) {
	if got := EnvName("log.retention-check.interval.ms"); got != "KZOO_LOG_RETENTION_CHECK_INTERVAL_MS" {
		t.Fatalf("EnvName = %s", got)
	}
}

func TestQuotaWindow(t *testing.T) {
	vals, err := Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, size := vals.QuotaWindow(); n != 11 || size != time.Second {
		t.Fatalf("defaults: %d × %v, want Kafka's 11 × 1s", n, size)
	}
	vals, err = Load("", []string{"KZOO_QUOTA_WINDOW_NUM=5"}, []string{"quota.window.size.seconds=2"})
	if err != nil {
		t.Fatal(err)
	}
	if n, size := vals.QuotaWindow(); n != 5 || size != 2*time.Second {
		t.Fatalf("set: %d × %v, want 5 × 2s", n, size)
	}
	for _, o := range []string{"quota.window.num=0", "quota.window.size.seconds=0", "quota.window.num=-3", "quota.window.size.seconds=1.5", "quota.window.num=x"} {
		if _, err := Load("", nil, []string{o}); err == nil {
			t.Errorf("%s accepted", o)
		}
	}
	if IsDynamicBrokerKey("quota.window.num") || IsDynamicBrokerKey("quota.window.size.seconds") {
		t.Error("the quota windows are static in Kafka")
	}
}

func TestConsoleListen(t *testing.T) {
	cases := []struct {
		name, listen, advertised string
		// wantAdvertised is the resolved address; wantErr a part of the
		// error when it should fail.
		wantAdvertised, wantErr string
	}{
		{name: "off by default"},
		{name: "host given", listen: "127.0.0.1:9649", wantAdvertised: "127.0.0.1:9649"},
		{name: "every interface", listen: "0.0.0.0:9645", wantAdvertised: "kzoo1:9645"},
		{name: "no host", listen: ":9645", wantAdvertised: "kzoo1:9645"},
		{name: "advertised", listen: "0.0.0.0:9645", advertised: "b1.example:19651", wantAdvertised: "b1.example:19651"},
		{name: "no port", listen: "127.0.0.1", wantErr: "console.listen"},
		{name: "port not a number", listen: "127.0.0.1:http", wantErr: "console.listen"},
		{name: "port too large", listen: "127.0.0.1:70000", wantErr: "console.listen"},
		{name: "advertised without listen", advertised: "h:1", wantErr: "console.listen is not"},
		{name: "advertised unspecified", listen: ":9645", advertised: "0.0.0.0:9645", wantErr: "console.advertised.address"},
		{name: "advertised bad", listen: ":9645", advertised: "nohost", wantErr: "console.advertised.address"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			overrides := []string{"broker.id=1", "listeners=PLAINTEXT://:9092", "advertised.listeners=PLAINTEXT://kzoo1:9092"}
			if tc.listen != "" {
				overrides = append(overrides, "console.listen="+tc.listen)
			}
			if tc.advertised != "" {
				overrides = append(overrides, "console.advertised.address="+tc.advertised)
			}
			vals, err := Load("", nil, overrides)
			if err != nil {
				t.Fatal(err)
			}
			b, err := vals.Broker()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b.ConsoleListen != tc.listen || b.ConsoleAdvertised != tc.wantAdvertised {
				t.Errorf("listen %q advertised %q, want %q %q", b.ConsoleListen, b.ConsoleAdvertised, tc.listen, tc.wantAdvertised)
			}
		})
	}
}
