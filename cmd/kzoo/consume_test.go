package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func testRecord() *kgo.Record {
	return &kgo.Record{
		Topic:     "orders",
		Partition: 2,
		Offset:    41,
		Key:       []byte("k1"),
		Value:     []byte("hello"),
		Headers:   []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}},
		Timestamp: time.UnixMilli(1700000000123),
	}
}

func TestTemplateFormat(t *testing.T) {
	for _, tc := range []struct{ format, want string }{
		{`%k\t%v\n`, "k1\thello\n"},
		{`%t/%p@%o %h %T %K %V 100%%\\`, "orders/2@41 a=1,b=2 1700000000123 2 5 100%\\"},
		{`plain`, "plain"},
	} {
		tmpl, err := parseTemplate(tc.format)
		if err != nil {
			t.Fatalf("parseTemplate(%q): %v", tc.format, err)
		}
		if got := string(tmpl.appendRecord(nil, testRecord())); got != tc.want {
			t.Errorf("format %q printed %q, want %q", tc.format, got, tc.want)
		}
	}
	for _, bad := range []string{`%x`, `%`, `\q`, `ends with \`} {
		if _, err := parseTemplate(bad); err == nil {
			t.Errorf("parseTemplate(%q) accepted it", bad)
		}
	}
}

func TestPrintOptionsFormat(t *testing.T) {
	r := testRecord()
	for _, tc := range []struct {
		opts printOptions
		rec  *kgo.Record
		want string
	}{
		{printOptions{}, r, "hello\n"},
		{printOptions{key: true, keySeparator: "\t"}, r, "k1\thello\n"},
		{printOptions{timestamp: true, partition: true, offset: true, headers: true, key: true, keySeparator: "|"}, r,
			"CreateTime:1700000000123\tPartition:2\tOffset:41\ta:1,b:2\tk1|hello\n"},
		{printOptions{headers: true, key: true, keySeparator: "\t"}, &kgo.Record{}, "NO_HEADERS\tnull\tnull\n"},
	} {
		if got := string(tc.opts.appendRecord(nil, tc.rec)); got != tc.want {
			t.Errorf("%+v printed %q, want %q", tc.opts, got, tc.want)
		}
	}
}

func TestParseConsumeArgs(t *testing.T) {
	cfg, err := parseConsumeArgs([]string{"--group", "g", "orders", "--from-beginning", "--max-messages", "3", "--timeout-ms", "1500"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.topic != "orders" || cfg.group != "g" || !cfg.fromBeginning || cfg.maxMessages != 3 || cfg.idleTimeout != 1500*time.Millisecond || cfg.partition != -1 {
		t.Errorf("parsed %+v", cfg)
	}
	if cfg.offset.EpochOffset().Offset != kgo.NewOffset().AtStart().EpochOffset().Offset {
		t.Errorf("--from-beginning starts at %v, want the start", cfg.offset)
	}
	cfg, err = parseConsumeArgs([]string{"orders", "--partition", "1", "--offset", "17", "--format", `%v\n`}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.partition != 1 || cfg.offset.EpochOffset().Offset != 17 {
		t.Errorf("partition %d offset %v, want 1 and 17", cfg.partition, cfg.offset)
	}
	if _, ok := cfg.format.(template); !ok {
		t.Errorf("--format gave a %T", cfg.format)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "want exactly one topic"},
		{[]string{"a", "b"}, "want exactly one topic"},
		{[]string{"t", "--no-such-flag"}, "not defined"},
		{[]string{"t", "--group", "g", "--partition", "0"}, "cannot be used together"},
		{[]string{"t", "--offset", "3"}, "needs --partition"},
		{[]string{"t", "--partition", "0", "--offset", "3", "--from-beginning"}, "cannot be used together"},
		{[]string{"t", "--partition", "0", "--offset", "soon"}, "want earliest, latest or an offset"},
		{[]string{"t", "--format", "%v", "--print-key"}, "--format and --print-key"},
		{[]string{"t", "--format", "%z"}, "unknown %z"},
		{[]string{"t", "--max-messages", "-1"}, "must not be negative"},
	} {
		_, err := parseConsumeArgs(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseConsumeArgs(%q) = %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestActivityClock(t *testing.T) {
	start := time.Unix(100, 0)
	now := start
	c := newActivityClock(func() time.Time { return now }, 0)
	if got := c.idleDeadline(time.Second); !got.Equal(start.Add(time.Second)) {
		t.Errorf("deadline %v, want a second after the start", got)
	}
	now = now.Add(time.Minute)
	woken := 0
	c.onTouch(func() { woken++ })
	c.touch()
	if got := c.idleDeadline(time.Second); !got.Equal(now.Add(time.Second)) || woken != 1 {
		t.Errorf("after a touch: deadline %v, woken %d times; want %v and once", got, woken, now.Add(time.Second))
	}
	c.onTouch(nil)
	c.touch()
	if woken != 1 {
		t.Errorf("woken %d times after onTouch(nil), want still once", woken)
	}

	// A group consumer's timeout counts from its assignment, which may
	// take up to groupJoinTimeout.
	grace := idleGrace("g", 2*time.Second)
	c = newActivityClock(func() time.Time { return start }, grace)
	if got := c.idleDeadline(2 * time.Second); !got.Equal(start.Add(groupJoinTimeout)) {
		t.Errorf("group consumer's first deadline %v, want %v", got, start.Add(groupJoinTimeout))
	}
	if g := idleGrace("", 2*time.Second); g != 0 {
		t.Errorf("grace without a group %v, want 0", g)
	}
	if g := idleGrace("g", 2*groupJoinTimeout); g != 0 {
		t.Errorf("grace with a timeout beyond the join timeout %v, want 0", g)
	}
}
