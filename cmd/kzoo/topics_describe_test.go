package main

import (
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func metadataFixture() *kmsg.MetadataResponse {
	resp := kmsg.NewPtrMetadataResponse()
	for _, id := range []int32{1, 2} { // broker 3 is down
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID = id
		resp.Brokers = append(resp.Brokers, b)
	}
	topic := func(name string, code int16, partitions ...kmsg.MetadataResponseTopicPartition) {
		t := kmsg.NewMetadataResponseTopic()
		t.Topic, t.ErrorCode, t.Partitions = kmsg.StringPtr(name), code, partitions
		resp.Topics = append(resp.Topics, t)
	}
	partition := func(id, leader int32, replicas, isr []int32) kmsg.MetadataResponseTopicPartition {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition, p.Leader, p.Replicas, p.ISR = id, leader, replicas, isr
		return p
	}
	topic("t",
		0,
		partition(2, 3, []int32{3, 1}, []int32{3, 1}), // its leader died a moment ago
		partition(0, 1, []int32{1, 2}, []int32{1, 2}),
		partition(1, 2, []int32{2, 3}, []int32{2}),
		partition(3, -1, []int32{3}, []int32{3}),
	)
	topic("gone", kerr.UnknownTopicOrPartition.Code)
	return resp
}

func TestPartitionRows(t *testing.T) {
	rows, err := partitionRows(metadataFixture())
	if err == nil || !strings.Contains(err.Error(), "topic gone: this server does not host this topic-partition (UNKNOWN_TOPIC_OR_PARTITION)") {
		t.Errorf("error %v, want one naming topic gone", err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, r.state())
	}
	if want := []string{"Online", "Online", "Offline", "Offline"}; !slices.Equal(got, want) {
		t.Errorf("states by partition = %v, want %v", got, want)
	}
}

func TestPartitionFilters(t *testing.T) {
	rows, _ := partitionRows(metadataFixture())
	for _, tc := range []struct {
		filter partitionFilter
		want   []int32
	}{
		{allPartitions, []int32{0, 1, 2, 3}},
		{underReplicatedPartitions, []int32{1}},
		{unavailablePartitions, []int32{2, 3}},
	} {
		var kept []int32
		for _, r := range rows {
			if tc.filter.keep(r) {
				kept = append(kept, r.Partition)
			}
		}
		if !slices.Equal(kept, tc.want) {
			t.Errorf("filter %d kept %v, want %v", tc.filter, kept, tc.want)
		}
	}
}

func TestWritePartitionTable(t *testing.T) {
	rows, _ := partitionRows(metadataFixture())
	var out strings.Builder
	if err := writePartitionTable(&out, rows, unavailablePartitions); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TOPIC") {
		t.Fatalf("table:\n%s", out.String())
	}
	if fields := strings.Fields(lines[2]); !slices.Equal(fields, []string{"t", "3", "none", "3", "3", "Offline"}) {
		t.Errorf("leaderless row = %v", fields)
	}
}

func TestParseArgsIntersperses(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	n := fs.Int("n", 0, "")
	pos, helped, err := parseArgs(fs, "help", []string{"a", "-n", "3", "b", "--", "-c"}, io.Discard)
	if err != nil || helped || *n != 3 || !slices.Equal(pos, []string{"a", "b", "-c"}) {
		t.Errorf("positional %v, n %d, helped %v, err %v", pos, *n, helped, err)
	}
	var help strings.Builder
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	if _, helped, err := parseArgs(fs, "the help", []string{"a", "--help"}, &help); err != nil || !helped || help.String() != "the help" {
		t.Errorf("--help: helped %v, err %v, printed %q", helped, err, help.String())
	}
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	if _, _, err := parseArgs(fs, "", []string{"--nope"}, io.Discard); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("unknown flag: %v", err)
	}
}
