package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kzoo/kzoo/zkpaths"
)

func TestPlanReset(t *testing.T) {
	tps := []zkpaths.TopicPartition{tp("t", 1), tp("t", 0), tp("t", 2)}
	earliest := map[zkpaths.TopicPartition]int64{tp("t", 0): 5, tp("t", 1): 0, tp("t", 2): 0}
	latest := map[zkpaths.TopicPartition]int64{tp("t", 0): 50, tp("t", 1): 8, tp("t", 2): 20}
	for _, c := range []struct {
		name string
		spec resetSpec
		want []resetTarget
	}{
		{"earliest", resetSpec{strategy: toEarliest}, []resetTarget{
			{TopicPartition: tp("t", 0), Offset: 5}, {TopicPartition: tp("t", 1), Offset: 0}, {TopicPartition: tp("t", 2), Offset: 0},
		}},
		{"latest", resetSpec{strategy: toLatest}, []resetTarget{
			{TopicPartition: tp("t", 0), Offset: 50}, {TopicPartition: tp("t", 1), Offset: 8}, {TopicPartition: tp("t", 2), Offset: 20},
		}},
		{"offset, moved into each log", resetSpec{strategy: toOffset, offset: 10}, []resetTarget{
			{TopicPartition: tp("t", 0), Offset: 10},
			{TopicPartition: tp("t", 1), Offset: 8, Note: "offset 10 is past the log end, using 8"},
			{TopicPartition: tp("t", 2), Offset: 10},
		}},
		{"offset before a log start", resetSpec{strategy: toOffset, offset: 2}, []resetTarget{
			{TopicPartition: tp("t", 0), Offset: 5, Note: "offset 2 is before the log start, using 5"},
			{TopicPartition: tp("t", 1), Offset: 2},
			{TopicPartition: tp("t", 2), Offset: 2},
		}},
	} {
		got, err := planReset(c.spec, tps, earliest, latest)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: planReset = %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
	// toLatest needs no earliest offsets, but every latest one.
	if _, err := planReset(resetSpec{strategy: toLatest}, tps, nil, latest); err != nil {
		t.Errorf("toLatest without earliest offsets: %v", err)
	}
	delete(latest, tp("t", 2))
	if _, err := planReset(resetSpec{strategy: toOffset, offset: 1}, tps, earliest, latest); err == nil || !strings.Contains(err.Error(), "latest offset of t-2 is unknown") {
		t.Errorf("toOffset without the latest offset of t-2: error %v", err)
	}
}

func TestPlanResetByDatetimeAndShift(t *testing.T) {
	tps := []zkpaths.TopicPartition{tp("t", 0), tp("t", 1), tp("t", 2)}
	in := resetInputs{
		earliest:  map[zkpaths.TopicPartition]int64{tp("t", 0): 5, tp("t", 1): 0, tp("t", 2): 0},
		latest:    map[zkpaths.TopicPartition]int64{tp("t", 0): 50, tp("t", 1): 8, tp("t", 2): 20},
		byTime:    map[zkpaths.TopicPartition]int64{tp("t", 0): 7, tp("t", 1): -1, tp("t", 2): 20},
		committed: map[zkpaths.TopicPartition]int64{tp("t", 0): 6, tp("t", 1): 4, tp("t", 2): 19},
	}
	at := int64(1_700_000_000_000)
	got, err := planResetFrom(resetSpec{strategy: toDatetime, offset: at}, tps, in)
	want := []resetTarget{
		{TopicPartition: tp("t", 0), Offset: 7},
		{TopicPartition: tp("t", 1), Offset: 8, Note: "no record at or after 2023-11-14T22:13:20.000, using the log end 8"},
		{TopicPartition: tp("t", 2), Offset: 20},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("to-datetime: planResetFrom = %+v, %v; want %+v", got, err, want)
	}
	got, err = planResetFrom(resetSpec{strategy: shiftBy, offset: -3}, tps, in)
	want = []resetTarget{
		{TopicPartition: tp("t", 0), Offset: 5, Note: "offset 3 is before the log start, using 5"},
		{TopicPartition: tp("t", 1), Offset: 1},
		{TopicPartition: tp("t", 2), Offset: 16},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("shift-by -3: planResetFrom = %+v, %v; want %+v", got, err, want)
	}
	got, err = planResetFrom(resetSpec{strategy: shiftBy, offset: 5}, tps, in)
	if err != nil || got[2].Offset != 20 || got[2].Note == "" {
		t.Errorf("shift-by 5 past the log end of t-2: %+v, %v", got, err)
	}
	delete(in.committed, tp("t", 1))
	if _, err := planResetFrom(resetSpec{strategy: shiftBy, offset: 1}, tps, in); err == nil || !strings.Contains(err.Error(), "committed offset of t-1 is unknown") {
		t.Errorf("shift-by without a committed offset: error %v", err)
	}
}

func TestParseDatetime(t *testing.T) {
	utc := time.UTC
	for in, want := range map[string]int64{
		"2023-11-14T22:13:20.000":       1_700_000_000_000,
		"2023-11-14T22:13:20.000Z":      1_700_000_000_000,
		"2023-11-14T23:13:20.000+01:00": 1_700_000_000_000,
		"2023-11-14T22:13:20":           1_700_000_000_000,
	} {
		if got, err := parseDatetime(in, utc); err != nil || got != want {
			t.Errorf("parseDatetime(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestParseTopicSelection(t *testing.T) {
	for _, c := range []struct {
		in   string
		want topicSelection
	}{
		{"orders", topicSelection{Topic: "orders"}},
		{"orders:0", topicSelection{Topic: "orders", Partitions: []int32{0}}},
		{"orders:2, 0,1", topicSelection{Topic: "orders", Partitions: []int32{2, 0, 1}}},
	} {
		if got, err := parseTopicSelection(c.in); err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseTopicSelection(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", ":0", "orders:", "orders:x", "orders:-1", "orders:0,,1", "orders:99999999999"} {
		if got, err := parseTopicSelection(bad); err == nil {
			t.Errorf("parseTopicSelection(%q) = %+v, want an error", bad, got)
		}
	}
}

func TestParseResetOptions(t *testing.T) {
	opts, err := parseResetOptions([]string{"g", "--topic", "a:1", "--topic", "b", "--to-offset", "0", "--execute"})
	if err != nil {
		t.Fatal(err)
	}
	want := resetOptions{
		group:   "g",
		topics:  []topicSelection{{Topic: "a", Partitions: []int32{1}}, {Topic: "b"}},
		spec:    resetSpec{strategy: toOffset, offset: 0},
		execute: true,
	}
	if !reflect.DeepEqual(opts, want) {
		t.Errorf("parseResetOptions = %+v, want %+v", opts, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "want a group name first"},
		{[]string{"--topic", "a"}, "want a group name first"},
		{[]string{"g", "--to-earliest"}, "--topic"},
		{[]string{"g", "--topic", "a"}, "exactly one of"},
		{[]string{"g", "--topic", "a", "--to-earliest", "--to-latest"}, "exactly one of"},
		{[]string{"g", "--topic", "a", "--to-offset", "-3"}, "non-negative"},
		{[]string{"g", "--topic", "a", "--to-latest", "extra"}, `unexpected argument "extra"`},
		{[]string{"g", "--topic", "a", "--shift-by", "2", "--to-earliest"}, "exactly one of"},
		{[]string{"g", "--topic", "a", "--to-datetime", "yesterday"}, `datetime "yesterday"`},
		{[]string{"g", "--topic", "a", "--to-latest", "--execute", "--dry-run"}, "exclude each other"},
	} {
		if _, err := parseResetOptions(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseResetOptions(%q): error %v, want one containing %q", c.args, err, c.want)
		}
	}
}

func TestResetOffsetsDryRunCommitsNothing(t *testing.T) {
	f := activeGroup()
	out, err := runFake(t, f, "reset-offsets", "idle", "--topic", "orders", "--to-earliest")
	if err != nil {
		t.Fatalf("reset-offsets: %v\n%s", err, out)
	}
	want := [][]string{{"idle", "orders", "0", "2"}, {"idle", "orders", "1", "0"}, {"idle", "orders", "2", "0"}}
	if rows := tableRows(out, "idle"); !reflect.DeepEqual(rows, want) {
		t.Errorf("plan %q, want %q\n%s", rows, want, out)
	}
	if !strings.Contains(out, "Dry run") || f.commits != nil {
		t.Errorf("a dry run committed %v or did not say it is one:\n%s", f.commits, out)
	}
}

func TestResetOffsetsExecute(t *testing.T) {
	f := activeGroup()
	out, err := runFake(t, f, "reset-offsets", "idle", "--topic", "orders:0,2", "--to-offset", "25", "--execute")
	if err != nil {
		t.Fatalf("reset-offsets: %v\n%s", err, out)
	}
	want := map[zkpaths.TopicPartition]int64{tp("orders", 0): 10, tp("orders", 2): 25}
	if !reflect.DeepEqual(f.commits["idle"], want) {
		t.Errorf("committed %v, want %v", f.commits["idle"], want)
	}
	if !strings.Contains(out, "Note: orders-0: offset 25 is past the log end, using 10.") ||
		!strings.Contains(out, "Committed the new offsets of 2 partitions for group idle.") {
		t.Errorf("output:\n%s", out)
	}
}

func TestResetOffsetsOfNewGroup(t *testing.T) {
	f := activeGroup()
	if out, err := runFake(t, f, "reset-offsets", "fresh", "--topic", "orders:1", "--to-latest", "--execute"); err != nil {
		t.Fatalf("reset-offsets of a group that does not exist yet: %v\n%s", err, out)
	}
	if want := map[zkpaths.TopicPartition]int64{tp("orders", 1): 20}; !reflect.DeepEqual(f.commits["fresh"], want) {
		t.Errorf("committed %v, want %v", f.commits["fresh"], want)
	}
}

func TestResetOffsetsRefusals(t *testing.T) {
	for _, c := range []struct {
		name  string
		args  []string
		setup func(*fakeAdmin)
		want  string
		// committing starts before the refusal, so other partitions may be committed
		commitStarted bool
	}{
		{"active group", []string{"app", "--topic", "orders", "--to-earliest", "--execute"}, nil,
			"cannot reset offsets of group app: it has active members (state Stable, 2 members)", false},
		{"members joined since", []string{"idle", "--topic", "orders", "--to-earliest", "--execute"},
			func(f *fakeAdmin) {
				f.commitErrs = map[zkpaths.TopicPartition]error{tp("orders", 1): kerr.UnknownMemberID}
			},
			"the coordinator refused the commit because the group has active members", true},
		{"other commit error", []string{"idle", "--topic", "orders:0", "--to-earliest", "--execute"},
			func(f *fakeAdmin) {
				f.commitErrs = map[zkpaths.TopicPartition]error{tp("orders", 0): kerr.OffsetMetadataTooLarge}
			},
			"commit offset of group idle for orders-0: OFFSET_METADATA_TOO_LARGE", true},
		{"unknown topic", []string{"idle", "--topic", "nope", "--to-earliest"}, nil, "topic nope", false},
		{"unknown partition", []string{"idle", "--topic", "orders:7", "--to-earliest"}, nil, "topic orders has no partition 7", false},
		{"offset lookup fails", []string{"idle", "--topic", "orders", "--to-latest"},
			func(f *fakeAdmin) { delete(f.logEnd, tp("orders", 2)) },
			"offsets of orders-2: UNKNOWN_TOPIC_OR_PARTITION", false},
	} {
		f := activeGroup()
		if c.setup != nil {
			c.setup(f)
		}
		out, err := runFake(t, f, append([]string{"reset-offsets"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q\n%s", c.name, err, c.want, out)
		}
		if !c.commitStarted && f.commits != nil {
			t.Errorf("%s: committed %v although refused", c.name, f.commits)
		}
	}
}

// planReset computes the new offset of every partition in tps, sorted.
// earliest and latest are the partitions' log start offsets and high
// watermarks; toEarliest needs only the first, toLatest only the second,
// toOffset both, since, as in Kafka, an offset outside the log is moved to
// its nearer end (a consumer would otherwise start from its
// auto.offset.reset, which is rarely what was asked for).
func planReset(spec resetSpec, tps []zkpaths.TopicPartition, earliest, latest map[zkpaths.TopicPartition]int64) ([]resetTarget, error) {
	return planResetFrom(spec, tps, resetInputs{earliest: earliest, latest: latest})
}
