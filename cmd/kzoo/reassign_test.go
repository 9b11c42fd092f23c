package main

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestParseReassignment(t *testing.T) {
	moves, err := parseReassignment([]byte(`{"version":1,"partitions":[
		{"topic":"b","partition":1,"replicas":[3,1],"log_dirs":["any","any"]},
		{"topic":"a","partition":0,"replicas":[2]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []partitionMove{{"b", 1, []int32{3, 1}}, {"a", 0, []int32{2}}}
	if !slices.EqualFunc(moves, want, equalMove) {
		t.Fatalf("moves = %v, want %v", moves, want)
	}
}

func equalMove(a, b partitionMove) bool {
	return a.Topic == b.Topic && a.Partition == b.Partition && slices.Equal(a.Replicas, b.Replicas)
}

func TestParseReassignmentErrors(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"version":1,"partitions":[`, "malformed reassignment JSON"},
		{`{"version":1,"partitions":[]} {}`, "malformed reassignment JSON"},
		{`{"version":2,"partitions":[{"topic":"t","partition":0,"replicas":[1]}]}`, "version 2"},
		{`{"version":1}`, `no "partitions"`},
		{`{"version":1,"partitions":[{"partition":0,"replicas":[1]}]}`, `no "topic"`},
		{`{"version":1,"partitions":[{"topic":"t","replicas":[1]}]}`, `no "partition"`},
		{`{"version":1,"partitions":[{"topic":"t","partition":-1,"replicas":[1]}]}`, "negative"},
		{`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[]}]}`, "t-0 has an empty replica list"},
		{`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2,1]}]}`, "lists broker 1 more than once"},
		{`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1]},{"topic":"t","partition":0,"replicas":[2]}]}`, "t-0 appears more than once"},
		{`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2],"log_dirs":["any"]}]}`, "1 log_dirs for 2 replicas"},
		{`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1],"log_dirs":["/data"]}]}`, `log dir "/data"`},
		{`{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":"1"}]}`, "malformed reassignment JSON"},
	} {
		_, err := parseReassignment([]byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseReassignment(%s) = %v, want an error containing %q", tc.json, err, tc.want)
		}
	}
}

func TestParseTopicsToMove(t *testing.T) {
	topics, err := parseTopicsToMove([]byte(`{"topics":[{"topic":"foo"},{"topic":"bar"}],"version":1}`))
	if err != nil || !slices.Equal(topics, []string{"foo", "bar"}) {
		t.Fatalf("parseTopicsToMove = %v, %v", topics, err)
	}
	for _, tc := range []struct{ json, want string }{
		{`{"topics":[{"topic":"foo"}`, "malformed"},
		{`{"topics":[]}`, `no "topics"`},
		{`{"topics":[{"name":"foo"}]}`, `no "topic"`},
		{`{"topics":[{"topic":"foo"},{"topic":"foo"}]}`, "foo appears more than once"},
		{`{"version":3,"topics":[{"topic":"foo"}]}`, "version 3"},
	} {
		if _, err := parseTopicsToMove([]byte(tc.json)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseTopicsToMove(%s) = %v, want an error containing %q", tc.json, err, tc.want)
		}
	}
}

func TestFormatReassignmentIsKafkasFormat(t *testing.T) {
	got, err := formatReassignment([]partitionMove{{"b", 0, []int32{2}}, {"a", 1, []int32{1, 3}}, {"a", 0, []int32{3, 1}}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"version":1,"partitions":[` +
		`{"topic":"a","partition":0,"replicas":[3,1],"log_dirs":["any","any"]},` +
		`{"topic":"a","partition":1,"replicas":[1,3],"log_dirs":["any","any"]},` +
		`{"topic":"b","partition":0,"replicas":[2],"log_dirs":["any"]}]}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// What generate prints, execute reads back.
	moves, err := parseReassignment([]byte(got))
	if err != nil || len(moves) != 3 {
		t.Fatalf("round trip: %v, %v", moves, err)
	}
}

func TestCheckMoves(t *testing.T) {
	c := clusterAssignment{
		Replicas: map[string]map[int32][]int32{"t": {0: {1, 2}, 1: {2, 3}}},
		Brokers:  []int32{1, 2, 3},
	}
	if err := c.checkMoves([]partitionMove{{"t", 0, []int32{3, 1}}, {"t", 1, []int32{1}}}); err != nil {
		t.Fatalf("valid moves: %v", err)
	}
	for _, tc := range []struct {
		move partitionMove
		want string
	}{
		{partitionMove{"nope", 0, []int32{1}}, "topic nope does not exist"},
		{partitionMove{"t", 5, []int32{1}}, "partition t-5 does not exist"},
		{partitionMove{"t", 0, []int32{1, 9}}, "broker 9 is not a live broker"},
	} {
		if err := c.checkMoves([]partitionMove{tc.move}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("checkMoves(%v) = %v, want an error containing %q", tc.move, err, tc.want)
		}
	}
	if err := c.checkBrokers([]int32{1, 4}); err == nil || !strings.Contains(err.Error(), "broker 4") {
		t.Errorf("checkBrokers = %v, want broker 4 refused", err)
	}
}

func TestProposeReassignment(t *testing.T) {
	current := []partitionMove{
		{"t", 0, []int32{1, 2}}, {"t", 1, []int32{2, 3}}, {"t", 2, []int32{3, 1}},
		{"u", 0, []int32{1}},
	}
	brokers := []int32{4, 5, 6}
	proposed, err := proposeReassignment(current, brokers, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	if len(proposed) != len(current) {
		t.Fatalf("proposed %d partitions, want %d", len(proposed), len(current))
	}
	leaders := map[int32]int{}
	for _, m := range proposed {
		wantRF := 2
		if m.Topic == "u" {
			wantRF = 1
		}
		if len(m.Replicas) != wantRF {
			t.Errorf("%s: replicas %v, want replication factor %d kept", m, m.Replicas, wantRF)
		}
		for j, id := range m.Replicas {
			if !slices.Contains(brokers, id) || slices.Contains(m.Replicas[:j], id) {
				t.Errorf("%s: replicas %v: want distinct brokers of %v", m, m.Replicas, brokers)
			}
		}
		if m.Topic == "t" {
			leaders[m.Replicas[0]]++
		}
	}
	if len(leaders) != 3 {
		t.Errorf("leaders of t: %v, want one partition led by each broker", leaders)
	}
	if _, err := proposeReassignment(current, []int32{4}, nil); err == nil || !strings.Contains(err.Error(), "topic t") {
		t.Errorf("replication factor 2 on one broker: %v, want an error naming topic t", err)
	}
}

func TestParseBrokerList(t *testing.T) {
	if ids, err := parseBrokerList("1, 2,3"); err != nil || !slices.Equal(ids, []int32{1, 2, 3}) {
		t.Fatalf("parseBrokerList = %v, %v", ids, err)
	}
	for _, bad := range []string{"", "1,x", "1,1", "-1", "1.5"} {
		if _, err := parseBrokerList(bad); err == nil {
			t.Errorf("parseBrokerList(%q) succeeded", bad)
		}
	}
}

func TestProgressOf(t *testing.T) {
	for _, tc := range []struct {
		inProgress      bool
		current, target []int32
		want            reassignmentProgress
	}{
		{true, []int32{1, 2, 3}, []int32{3}, reassignmentInProgress},
		{false, []int32{3, 1}, []int32{3, 1}, reassignmentComplete},
		{false, []int32{1, 3}, []int32{3, 1}, reassignmentDiverged},
	} {
		if got := progressOf(tc.inProgress, tc.current, tc.target); got != tc.want {
			t.Errorf("progressOf(%v, %v, %v) = %v, want %v", tc.inProgress, tc.current, tc.target, got, tc.want)
		}
	}
}
