package main

import (
	"flag"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestParseConfigOps(t *testing.T) {
	ops, err := parseConfigOps("retention.ms=1000, cleanup.policy=[compact,delete],empty=", "segment.bytes,flush.ms")
	if err != nil {
		t.Fatal(err)
	}
	want := []configOp{
		{Name: "retention.ms", Value: "1000"},
		{Name: "cleanup.policy", Value: "compact,delete"},
		{Name: "empty", Value: ""},
		{Name: "segment.bytes", Delete: true},
		{Name: "flush.ms", Delete: true},
	}
	if !slices.Equal(ops, want) {
		t.Fatalf("ops = %+v\nwant %+v", ops, want)
	}
}

func TestParseConfigOpsErrors(t *testing.T) {
	for _, tc := range []struct{ adds, deletes, want string }{
		{"", "", "give --add-config or --delete-config"},
		{"retention.ms", "", "not key=value"},
		{"=5", "", "not key=value"},
		{"a=1,a=2", "", `"a" is given more than once`},
		{"a=1", "a", `"a" is given more than once`},
		{"a=[1,2", "", "unbalanced '['"},
		{"a=1]", "", "unbalanced ']'"},
	} {
		if _, err := parseConfigOps(tc.adds, tc.deletes); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConfigOps(%q, %q) = %v, want an error containing %q", tc.adds, tc.deletes, err, tc.want)
		}
	}
}

func TestEntityFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want configEntity
		err  string
	}{
		{[]string{"--topic", "t"}, configEntity{kmsg.ConfigResourceTypeTopic, "t"}, ""},
		{[]string{"--broker", "2"}, configEntity{kmsg.ConfigResourceTypeBroker, "2"}, ""},
		{[]string{"--broker-defaults"}, configEntity{kmsg.ConfigResourceTypeBroker, ""}, ""},
		{[]string{}, configEntity{}, "exactly one"},
		{[]string{"--topic", "t", "--broker", "1"}, configEntity{}, "exactly one"},
		{[]string{"--broker", "one"}, configEntity{}, "want a broker id"},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		f := addEntityFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		got, err := f.entity()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want one containing %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%v: entity %v, %v; want %v", tc.args, got, err, tc.want)
		}
	}
}

func TestWriteConfigTable(t *testing.T) {
	entries := []configEntry{
		{Name: "retention.ms", Value: kmsg.StringPtr("60000"), Source: kmsg.ConfigSourceDynamicTopicConfig},
		{Name: "segment.bytes", Value: kmsg.StringPtr("1073741824"), Source: kmsg.ConfigSourceDefaultConfig},
		{Name: "ssl.key.password", Source: kmsg.ConfigSourceStaticBrokerConfig, Sensitive: true, ReadOnly: true},
	}
	var dynamic strings.Builder
	if err := writeConfigTable(&dynamic, configEntity{kmsg.ConfigResourceTypeTopic, "t"}, entries, false); err != nil {
		t.Fatal(err)
	}
	out := dynamic.String()
	if !strings.Contains(out, "Dynamic configs for topic t:") || !strings.Contains(out, "retention.ms") ||
		!strings.Contains(out, "DYNAMIC_TOPIC_CONFIG") || strings.Contains(out, "segment.bytes") {
		t.Errorf("without --all, want only the override:\n%s", out)
	}
	var all strings.Builder
	if err := writeConfigTable(&all, configEntity{kmsg.ConfigResourceTypeTopic, "t"}, entries, true); err != nil {
		t.Fatal(err)
	}
	out = all.String()
	if !strings.Contains(out, "segment.bytes") || !strings.Contains(out, "DEFAULT_CONFIG") {
		t.Errorf("with --all, want every config:\n%s", out)
	}
	fields := strings.Fields(lineWith(out, "ssl.key.password"))
	if want := []string{"ssl.key.password", "(sensitive)", "STATIC_BROKER_CONFIG", "true", "true"}; !slices.Equal(fields, want) {
		t.Errorf("sensitive read-only entry printed as %v, want %v", fields, want)
	}
}

func lineWith(s, substr string) string {
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			return line
		}
	}
	return ""
}
