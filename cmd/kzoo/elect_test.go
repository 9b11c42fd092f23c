package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestParseElectArgs(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want electRequest
	}{
		{[]string{"--preferred", "--all-topic-partitions"}, electRequest{Type: preferredElection, All: true}},
		{[]string{"--unclean", "--topic", "t"}, electRequest{Type: uncleanElection, Topic: "t"}},
		{[]string{"--election-type", "PREFERRED", "--topic", "t", "--partition", "3"}, electRequest{Type: preferredElection, Topic: "t", Partition: 3, HasPartition: true}},
		{[]string{"--topic", "t", "--partition", "0", "--preferred"}, electRequest{Type: preferredElection, Topic: "t", HasPartition: true}},
	} {
		got, helped, err := parseElectArgs(tc.args, io.Discard)
		if err != nil || helped || got != tc.want {
			t.Errorf("%v: %+v, %v, %v; want %+v", tc.args, got, helped, err, tc.want)
		}
	}
}

func TestParseElectArgsErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--all-topic-partitions"}, "exactly one of --preferred and --unclean"},
		{[]string{"--preferred", "--unclean", "--all-topic-partitions"}, "exactly one"},
		{[]string{"--preferred"}, "give --all-topic-partitions or --topic"},
		{[]string{"--preferred", "--all-topic-partitions", "--topic", "t"}, "exclude each other"},
		{[]string{"--preferred", "--all-topic-partitions", "--partition", "1"}, "--partition needs --topic"},
		{[]string{"--election-type", "random", "--topic", "t"}, `"random"`},
		{[]string{"--preferred", "--topic", "t", "extra"}, `unexpected argument "extra"`},
		{[]string{"--bogus"}, "flag provided but not defined"},
	} {
		_, _, err := parseElectArgs(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
	var help strings.Builder
	if _, helped, err := parseElectArgs([]string{"--help"}, &help); err != nil || !helped || !strings.Contains(help.String(), "Usage: kzoo elect-leaders") {
		t.Errorf("--help: helped %v, err %v, printed %q", helped, err, help.String())
	}
}

func TestReportElections(t *testing.T) {
	var out strings.Builder
	err := reportElections(&out, []electionResult{
		{"t", 1, fmt.Errorf("%w: preferred replica 3 is down", kerr.PreferredLeaderNotAvailable)},
		{"t", 0, nil},
		{"a", 0, kerr.ElectionNotNeeded},
	})
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 3 ||
		lines[0] != "a-0: the chosen replica is already the leader" ||
		lines[1] != "t-0: elected a new leader" ||
		!strings.HasPrefix(lines[2], "t-1: failed: PREFERRED_LEADER_NOT_AVAILABLE") ||
		!strings.HasSuffix(lines[2], "preferred replica 3 is down") {
		t.Errorf("printed\n%s", out.String())
	}
	if err == nil || !strings.Contains(err.Error(), "t-1") || strings.Contains(err.Error(), "a-0") {
		t.Errorf("error %v, want one naming t-1 only", err)
	}

	out.Reset()
	if err := reportElections(&out, []electionResult{{"a", 0, kerr.ElectionNotNeeded}}); err != nil {
		t.Errorf("ELECTION_NOT_NEEDED alone: %v, want success", err)
	}
	if !errors.Is(codeError(kerr.ElectionNotNeeded.Code, nil), kerr.ElectionNotNeeded) {
		t.Error("codeError loses the Kafka error")
	}
}

func kmsgString(s string) *string { return &s }
