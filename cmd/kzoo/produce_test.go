package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestSplitLine(t *testing.T) {
	for _, tc := range []struct {
		line, sep  string
		key, value string
		nilKey, ok bool
	}{
		{"hello", "", "", "hello", true, true},
		{"k:v:w", ":", "k", "v:w", false, true},
		{":v", ":", "", "v", false, true},
		{"k::v", "::", "k", "v", false, true},
		{"no separator", ":", "", "", true, false},
	} {
		key, value, ok := splitLine([]byte(tc.line), tc.sep)
		if ok != tc.ok || string(key) != tc.key || string(value) != tc.value || (key == nil) != tc.nilKey {
			t.Errorf("splitLine(%q, %q) = %q, %q, %v; want %q, %q, %v (nil key %v)", tc.line, tc.sep, key, value, ok, tc.key, tc.value, tc.ok, tc.nilKey)
		}
	}
}

func TestTrimNewline(t *testing.T) {
	for in, want := range map[string]string{"a\n": "a", "a\r\n": "a", "a": "a", "\n": "", "a\n\n": "a\n"} {
		if got := string(trimNewline([]byte(in))); got != want {
			t.Errorf("trimNewline(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseProduceArgs(t *testing.T) {
	cfg, err := parseProduceArgs([]string{"--acks", "1", "orders", "--key-separator", ":", "--header", "a=1", "--header", "b=x=y", "--partition", "2", "--compression", "zstd"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.topic != "orders" || cfg.keySeparator != ":" || cfg.partition != 2 {
		t.Errorf("parsed %+v", cfg)
	}
	if got := fmt.Sprint(headerFlags(cfg.headers)); len(cfg.headers) != 2 || cfg.headers[1].Key != "b" || string(cfg.headers[1].Value) != "x=y" {
		t.Errorf("headers %s, want a=1 then b=x=y", got)
	}
	if cfg, err := parseProduceArgs([]string{"t"}, io.Discard); err != nil || cfg.partition != -1 {
		t.Errorf("defaults: partition %d, err %v; want -1 (by key)", cfg.partition, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "want exactly one topic"},
		{[]string{"--acks", "1"}, "want exactly one topic"},
		{[]string{"a", "b"}, "want exactly one topic"},
		{[]string{"t", "--bogus"}, "not defined"},
		{[]string{"t", "--acks", "2"}, `--acks "2"`},
		{[]string{"t", "--compression", "brotli"}, `--compression "brotli"`},
		{[]string{"t", "--header", "novalue"}, "want key=value"},
		{[]string{"t", "--partition", "-2"}, "negative"},
		{[]string{"t", "--max-block-ms", "0"}, "must be positive"},
	} {
		_, err := parseProduceArgs(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseProduceArgs(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestExplainProduceError(t *testing.T) {
	err := explainProduceError("orders", kerr.UnknownTopicOrPartition)
	if !strings.Contains(err.Error(), `topic "orders"`) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("unknown topic explained as %q", err)
	}
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Error("the explanation does not wrap the broker's error")
	}
	if err := explainProduceError("orders", kgo.ErrRecordTimeout); !strings.Contains(err.Error(), "not acknowledged in time") {
		t.Errorf("timeout explained as %q", err)
	}
}
