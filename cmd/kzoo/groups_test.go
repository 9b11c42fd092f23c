package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/zkpaths"
)

// fakeAdmin is a cluster held in maps. Groups absent from groups do not
// exist.
type fakeAdmin struct {
	listings   []groupListing
	listErr    error
	groups     map[string]groupDescription
	committed  map[string]map[zkpaths.TopicPartition]int64
	logStart   map[zkpaths.TopicPartition]int64
	logEnd     map[zkpaths.TopicPartition]int64
	partitions map[string][]int32
	deleteErrs map[string]error
	commitErrs map[zkpaths.TopicPartition]error

	described [][]string                                  // every DescribeGroups call
	deleted   []string                                    // groups DeleteGroups removed
	commits   map[string]map[zkpaths.TopicPartition]int64 // what CommitOffsets stored
}

func (f *fakeAdmin) ListGroups(context.Context) ([]groupListing, error) {
	return slices.Clone(f.listings), f.listErr
}

func (f *fakeAdmin) DescribeGroups(_ context.Context, groups []string) []groupDescription {
	f.described = append(f.described, groups)
	var out []groupDescription
	for _, g := range groups {
		d, ok := f.groups[g]
		if !ok {
			d = groupDescription{Group: g, Err: &groupNotFoundError{group: g}}
		}
		out = append(out, d)
	}
	return out
}

func (f *fakeAdmin) CommittedOffsets(_ context.Context, group string) (map[zkpaths.TopicPartition]int64, error) {
	return maps.Clone(f.committed[group]), nil
}

func (f *fakeAdmin) ListOffsets(_ context.Context, tps []zkpaths.TopicPartition, at offsetSpec) offsetLookups {
	source := f.logEnd
	if at == earliestOffset {
		source = f.logStart
	}
	found := offsetLookups{Offsets: map[zkpaths.TopicPartition]int64{}, Failed: map[zkpaths.TopicPartition]error{}}
	for _, tp := range tps {
		if o, ok := source[tp]; ok {
			found.Offsets[tp] = o
		} else {
			found.Failed[tp] = kerr.UnknownTopicOrPartition
		}
	}
	return found
}

func (f *fakeAdmin) Partitions(_ context.Context, topics []string) (map[string][]int32, error) {
	out := map[string][]int32{}
	var failed error
	for _, topic := range topics {
		if ps, ok := f.partitions[topic]; ok {
			out[topic] = ps
		} else {
			failed = errors.Join(failed, fmt.Errorf("topic %s: %w", topic, kerr.UnknownTopicOrPartition))
		}
	}
	return out, failed
}

func (f *fakeAdmin) DeleteGroups(_ context.Context, groups []string) map[string]error {
	failed := map[string]error{}
	for _, g := range groups {
		switch err, ok := f.deleteErrs[g]; {
		case ok:
			failed[g] = err
		case f.groups[g].Group == "":
			failed[g] = kerr.GroupIDNotFound
		default:
			delete(f.groups, g)
			f.deleted = append(f.deleted, g)
		}
	}
	return failed
}

func (f *fakeAdmin) CommitOffsets(_ context.Context, group string, offsets map[zkpaths.TopicPartition]int64) (map[zkpaths.TopicPartition]error, error) {
	refused := map[zkpaths.TopicPartition]error{}
	for tp, o := range offsets {
		if err, ok := f.commitErrs[tp]; ok {
			refused[tp] = err
			continue
		}
		if f.commits == nil {
			f.commits = map[string]map[zkpaths.TopicPartition]int64{}
		}
		if f.commits[group] == nil {
			f.commits[group] = map[zkpaths.TopicPartition]int64{}
		}
		f.commits[group][tp] = o
	}
	return refused, nil
}

// runFake runs `kzoo groups args...` against f.
func runFake(t *testing.T, f *fakeAdmin, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := runGroups(context.Background(), f, args, &out)
	return out.String(), err
}

// tableRows returns the whitespace-separated fields of every output line
// whose first field is first.
func tableRows(out, first string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == first {
			rows = append(rows, f)
		}
	}
	return rows
}

func tp(topic string, p int32) zkpaths.TopicPartition {
	return zkpaths.TopicPartition{Topic: topic, Partition: p}
}

func activeGroup() *fakeAdmin {
	return &fakeAdmin{
		groups: map[string]groupDescription{
			"app": {
				Group: "app", State: "Stable", ProtocolType: "consumer", Protocol: "range",
				Coordinator: brokerInfo{ID: 2, Host: "127.0.0.1", Port: 9093},
				Members: []groupMember{
					{MemberID: "m-1", InstanceID: "static-1", ClientID: "c-1", Host: "/10.0.0.1", Assignment: []zkpaths.TopicPartition{tp("orders", 0), tp("orders", 1)}},
					{MemberID: "m-2", ClientID: "c-2", Host: "/10.0.0.2", Assignment: []zkpaths.TopicPartition{tp("orders", 2)}},
				},
			},
			"idle": {Group: "idle", State: "Empty", ProtocolType: "consumer", Coordinator: brokerInfo{ID: 1, Host: "127.0.0.1", Port: 9092}},
		},
		committed: map[string]map[zkpaths.TopicPartition]int64{
			"app":  {tp("orders", 0): 4, tp("orders", 2): 30, tp("old", 0): 7},
			"idle": {tp("orders", 0): 1},
		},
		logStart:   map[zkpaths.TopicPartition]int64{tp("orders", 0): 2, tp("orders", 1): 0, tp("orders", 2): 0},
		logEnd:     map[zkpaths.TopicPartition]int64{tp("orders", 0): 10, tp("orders", 1): 20, tp("orders", 2): 30},
		partitions: map[string][]int32{"orders": {0, 1, 2}},
	}
}

func TestDescribeGroupShowsMembersAndLag(t *testing.T) {
	out, err := runFake(t, activeGroup(), "describe", "app")
	if err != nil {
		t.Fatalf("describe: %v\n%s", err, out)
	}
	for _, want := range []string{"Group:        app", "State:        Stable", "Coordinator:  2 (127.0.0.1:9093)", "Protocol:     consumer (range)", "Members:      2"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	members := append(tableRows(out, "m-1"), tableRows(out, "m-2")...)
	wantMembers := [][]string{
		{"m-1", "static-1", "c-1", "/10.0.0.1", "orders:0,1"},
		{"m-2", "-", "c-2", "/10.0.0.2", "orders:2"},
	}
	if !reflect.DeepEqual(members, wantMembers) {
		t.Errorf("member rows %q, want %q\n%s", members, wantMembers, out)
	}
	// old-0 has a commit but its topic is gone: no log end, no lag.
	rows := append(tableRows(out, "old"), tableRows(out, "orders")...)
	wantRows := [][]string{
		{"old", "0", "7", "-", "-", "-", "-", "-"},
		{"orders", "0", "4", "10", "6", "m-1", "/10.0.0.1", "c-1"},
		{"orders", "1", "-", "20", "-", "m-1", "/10.0.0.1", "c-1"},
		{"orders", "2", "30", "30", "0", "m-2", "/10.0.0.2", "c-2"},
	}
	if !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("partition rows %q, want %q\n%s", rows, wantRows, out)
	}
	if !strings.Contains(out, "Log end offset of old-0 unknown: UNKNOWN_TOPIC_OR_PARTITION") {
		t.Errorf("output does not say why old-0 has no log end offset:\n%s", out)
	}
}

func TestDescribeEmptyGroup(t *testing.T) {
	out, err := runFake(t, activeGroup(), "describe", "idle")
	if err != nil {
		t.Fatalf("describe: %v\n%s", err, out)
	}
	if !strings.Contains(out, "Consumer group 'idle' has no active members.") {
		t.Errorf("output does not say the group has no members:\n%s", out)
	}
	if rows, want := tableRows(out, "orders"), [][]string{{"orders", "0", "1", "10", "9", "-", "-", "-"}}; !reflect.DeepEqual(rows, want) {
		t.Errorf("rows %q, want %q\n%s", rows, want, out)
	}
}

func TestDescribeUnknownGroupFails(t *testing.T) {
	f := activeGroup()
	out, err := runFake(t, f, "describe", "nope", "idle", "nope")
	if err == nil || err.Error() != "consumer group 'nope' does not exist" {
		t.Fatalf("describe of an unknown group: error %v, want \"consumer group 'nope' does not exist\"", err)
	}
	if !strings.Contains(out, "Group:        idle") {
		t.Errorf("the group that exists was not described:\n%s", out)
	}
	if want := [][]string{{"nope", "idle"}}; !reflect.DeepEqual(f.described, want) {
		t.Errorf("described %q, want %q (each group once)", f.described, want)
	}
}

func TestListGroups(t *testing.T) {
	f := activeGroup()
	f.listings = []groupListing{
		{Group: "idle", State: "Empty", ProtocolType: "consumer", Coordinator: 1},
		// From a broker below ListGroups v4: no state.
		{Group: "app", ProtocolType: "consumer", Coordinator: 2},
		// Listed twice while moving between coordinators.
		{Group: "idle", State: "Empty", ProtocolType: "consumer", Coordinator: 3},
		{Group: "offsets-only", State: "Empty", Coordinator: 3},
	}
	f.listErr = errors.New("list groups of broker 3 (127.0.0.1:9094): connection refused")
	out, err := runFake(t, f, "list")
	if err == nil || !strings.Contains(err.Error(), "broker 3") {
		t.Errorf("list with a failed broker: error %v, want one naming broker 3", err)
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	want := [][]string{
		{"GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR"},
		{"app", "Stable", "consumer", "2"},
		{"idle", "Empty", "consumer", "1"},
		{"offsets-only", "Empty", "-", "3"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Errorf("list printed %q, want %q", rows, want)
	}
	if want := [][]string{{"app"}}; !reflect.DeepEqual(f.described, want) {
		t.Errorf("described %q, want only the group without a state, %q", f.described, want)
	}
}

func TestDeleteGroups(t *testing.T) {
	f := activeGroup()
	f.deleteErrs = map[string]error{"app": kerr.NonEmptyGroup}
	out, err := runFake(t, f, "delete", "idle", "app", "nope")
	if out != "Deleted group idle.\n" {
		t.Errorf("delete printed %q, want only idle deleted", out)
	}
	if !reflect.DeepEqual(f.deleted, []string{"idle"}) {
		t.Errorf("deleted %q, want [idle]", f.deleted)
	}
	if err == nil {
		t.Fatal("delete of a non-empty and an unknown group succeeded")
	}
	for _, want := range []string{"cannot delete group app: it has active members", "NON_EMPTY_GROUP", "consumer group 'nope' does not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestGroupsUsageErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "want list, describe, delete or reset-offsets"},
		{[]string{"shred"}, `unknown subcommand "shred"`},
		{[]string{"list", "x"}, `unexpected argument "x"`},
		{[]string{"describe"}, "name at least one group"},
		{[]string{"delete"}, "name at least one group"},
	} {
		if _, err := runFake(t, activeGroup(), c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("groups %q: error %v, want one containing %q", c.args, err, c.want)
		}
	}
}

func TestNewGroupDescription(t *testing.T) {
	coordinator := brokerInfo{ID: 1, Host: "h", Port: 9092}
	dead := kmsg.NewDescribeGroupsResponseGroup()
	dead.Group, dead.State = "gone", "Dead"
	if d := newGroupDescription(dead, coordinator); !isGroupNotFound(d.Err) {
		t.Errorf("a Dead group: Err %v, want does not exist", d.Err)
	}
	notFound := kmsg.NewDescribeGroupsResponseGroup()
	notFound.Group, notFound.ErrorCode = "gone", kerr.GroupIDNotFound.Code
	if d := newGroupDescription(notFound, coordinator); !isGroupNotFound(d.Err) {
		t.Errorf("GROUP_ID_NOT_FOUND: Err %v, want does not exist", d.Err)
	}
	loading := kmsg.NewDescribeGroupsResponseGroup()
	loading.Group, loading.ErrorCode = "g", kerr.CoordinatorLoadInProgress.Code
	if d := newGroupDescription(loading, coordinator); !errors.Is(d.Err, kerr.CoordinatorLoadInProgress) || isGroupNotFound(d.Err) {
		t.Errorf("COORDINATOR_LOAD_IN_PROGRESS: Err %v", d.Err)
	}

	assignment := kmsg.NewConsumerMemberAssignment()
	for _, topic := range []struct {
		name       string
		partitions []int32
	}{{"b", []int32{3, 1}}, {"a", []int32{0}}} {
		at := kmsg.NewConsumerMemberAssignmentTopic()
		at.Topic, at.Partitions = topic.name, topic.partitions
		assignment.Topics = append(assignment.Topics, at)
	}
	stable := kmsg.NewDescribeGroupsResponseGroup()
	stable.Group, stable.State, stable.ProtocolType, stable.Protocol = "g", "Stable", "consumer", "sticky"
	static := kmsg.NewDescribeGroupsResponseGroupMember()
	static.MemberID, static.InstanceID, static.ClientID, static.ClientHost = "m-1", kmsg.StringPtr("i-1"), "c", "/h"
	static.MemberAssignment = assignment.AppendTo(nil)
	syncing := kmsg.NewDescribeGroupsResponseGroupMember()
	syncing.MemberID = "m-2" // no assignment yet
	broken := kmsg.NewDescribeGroupsResponseGroupMember()
	broken.MemberID, broken.MemberAssignment = "m-3", []byte{0, 1, 0, 0, 0, 9}
	stable.Members = []kmsg.DescribeGroupsResponseGroupMember{static, syncing, broken}

	d := newGroupDescription(stable, coordinator)
	if d.Err != nil {
		t.Fatalf("Stable group: Err %v", d.Err)
	}
	want := groupMember{MemberID: "m-1", InstanceID: "i-1", ClientID: "c", Host: "/h",
		Assignment: []zkpaths.TopicPartition{tp("a", 0), tp("b", 1), tp("b", 3)}}
	if !reflect.DeepEqual(d.Members[0], want) {
		t.Errorf("member %+v, want %+v", d.Members[0], want)
	}
	if m := d.Members[1]; m.Assignment != nil || m.AssignmentErr != nil {
		t.Errorf("member without an assignment: %+v", m)
	}
	if m := d.Members[2]; m.AssignmentErr == nil {
		t.Errorf("member with a truncated assignment: no error (%+v)", m)
	}
	if got := formatAssignment(d.Members[0]); got != "a:0 b:1,3" {
		t.Errorf("formatAssignment = %q, want \"a:0 b:1,3\"", got)
	}
}

func TestHelpOfEveryTopicsAndGroupsCommand(t *testing.T) {
	for _, args := range [][]string{
		{"topics", "--help"}, {"topics", "create", "--help"}, {"topics", "delete", "-h"}, {"topics", "list", "--help"},
		{"groups", "--help"}, {"groups", "describe", "--help"}, {"groups", "reset-offsets", "--help"},
	} {
		var out strings.Builder
		// An unreachable bootstrap server: help must not need the cluster.
		if err := run(append([]string{"--bootstrap-server", "127.0.0.1:1"}, args...), &out); err != nil {
			t.Errorf("kzoo %s: %v", strings.Join(args, " "), err)
		}
		if want := "Usage: kzoo [--bootstrap-server HOST:PORT] " + args[0] + " SUBCOMMAND"; !strings.Contains(out.String(), want) {
			t.Errorf("kzoo %s printed %q, want the %s usage", strings.Join(args, " "), out.String(), args[0])
		}
	}
}
