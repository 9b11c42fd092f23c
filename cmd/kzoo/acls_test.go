package main

import (
	"flag"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/acl"
)

func parseACLTestFlags(t *testing.T, action aclAction, args ...string) *aclFlags {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := addACLFlags(fs, action)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	return f
}

// aclLines renders changes as "RESOURCE ENTRY" lines, one per ACL (or the
// resource alone for one without entries), to compare compactly.
func aclLines(changes []aclChange) []string {
	var out []string
	for _, c := range changes {
		r := c.Resource.Type.String() + ":" + c.Resource.Pattern.String() + ":" + c.Resource.Name
		if len(c.Entries) == 0 {
			out = append(out, r)
		}
		for _, e := range c.Entries {
			out = append(out, r+" "+e.Permission.String()+" "+e.Principal+"@"+e.Host+" "+e.Operation.String())
		}
	}
	return out
}

func TestACLChanges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		action aclAction
		args   []string
		want   []string
	}{
		{"operations default to All and hosts to *", aclAdd,
			[]string{"--allow-principal", "User:alice", "--topic", "t"},
			[]string{"TOPIC:LITERAL:t ALLOW User:alice@* ALL"}},
		{"every combination of principal, host, operation and resource", aclAdd,
			[]string{"--allow-principal", "User:a", "--allow-principal", "User:b", "--allow-host", "10.0.0.1", "--allow-host", " 10.0.0.2 ",
				"--operation", "Read", "--operation", "DESCRIBE", "--topic", "t", "--group", "g"},
			[]string{
				"TOPIC:LITERAL:t ALLOW User:a@10.0.0.1 READ", "TOPIC:LITERAL:t ALLOW User:a@10.0.0.1 DESCRIBE",
				"TOPIC:LITERAL:t ALLOW User:a@10.0.0.2 READ", "TOPIC:LITERAL:t ALLOW User:a@10.0.0.2 DESCRIBE",
				"TOPIC:LITERAL:t ALLOW User:b@10.0.0.1 READ", "TOPIC:LITERAL:t ALLOW User:b@10.0.0.1 DESCRIBE",
				"TOPIC:LITERAL:t ALLOW User:b@10.0.0.2 READ", "TOPIC:LITERAL:t ALLOW User:b@10.0.0.2 DESCRIBE",
				"GROUP:LITERAL:g ALLOW User:a@10.0.0.1 READ", "GROUP:LITERAL:g ALLOW User:a@10.0.0.1 DESCRIBE",
				"GROUP:LITERAL:g ALLOW User:a@10.0.0.2 READ", "GROUP:LITERAL:g ALLOW User:a@10.0.0.2 DESCRIBE",
				"GROUP:LITERAL:g ALLOW User:b@10.0.0.1 READ", "GROUP:LITERAL:g ALLOW User:b@10.0.0.1 DESCRIBE",
				"GROUP:LITERAL:g ALLOW User:b@10.0.0.2 READ", "GROUP:LITERAL:g ALLOW User:b@10.0.0.2 DESCRIBE",
			}},
		{"allow and deny, with their own hosts", aclAdd,
			[]string{"--allow-principal", "User:*", "--deny-principal", "User:mallory", "--deny-host", "10.0.0.9", "--operation", "Write", "--topic", "t"},
			[]string{"TOPIC:LITERAL:t ALLOW User:*@* WRITE", "TOPIC:LITERAL:t DENY User:mallory@10.0.0.9 WRITE"}},
		{"duplicates go", aclAdd,
			[]string{"--allow-principal", "User:a", "--allow-principal", " User:a", "--operation", "Read", "--operation", "read", "--topic", "t", "--topic", " t "},
			[]string{"TOPIC:LITERAL:t ALLOW User:a@* READ"}},
		{"prefixed", aclAdd,
			[]string{"--allow-principal", "User:a", "--operation", "Write", "--topic", "logs-", "--resource-pattern-type", "PREFIXED"},
			[]string{"TOPIC:PREFIXED:logs- ALLOW User:a@* WRITE"}},
		{"cluster and transactional id", aclAdd,
			[]string{"--allow-principal", "User:a", "--operation", "Describe", "--cluster", "--transactional-id", " tx "},
			[]string{"CLUSTER:LITERAL:kafka-cluster ALLOW User:a@* DESCRIBE", "TRANSACTIONAL_ID:LITERAL: tx  ALLOW User:a@* DESCRIBE"}},
		// kafka-acls' --producer: Write, Describe, Create on topics; Write,
		// Describe on transactional ids; groups get nothing.
		{"producer", aclAdd,
			[]string{"--producer", "--allow-principal", "User:p", "--topic", "t", "--transactional-id", "tx", "--group", "ignored"},
			[]string{
				"TOPIC:LITERAL:t ALLOW User:p@* WRITE", "TOPIC:LITERAL:t ALLOW User:p@* CREATE", "TOPIC:LITERAL:t ALLOW User:p@* DESCRIBE",
				"TRANSACTIONAL_ID:LITERAL:tx ALLOW User:p@* WRITE", "TRANSACTIONAL_ID:LITERAL:tx ALLOW User:p@* DESCRIBE",
			}},
		{"producer, idempotent, prefixed: IdempotentWrite on the literal cluster", aclAdd,
			[]string{"--producer", "--idempotent", "--allow-principal", "User:p", "--topic", "t-", "--resource-pattern-type", "prefixed"},
			[]string{
				"TOPIC:PREFIXED:t- ALLOW User:p@* WRITE", "TOPIC:PREFIXED:t- ALLOW User:p@* CREATE", "TOPIC:PREFIXED:t- ALLOW User:p@* DESCRIBE",
				"CLUSTER:LITERAL:kafka-cluster ALLOW User:p@* IDEMPOTENT_WRITE",
			}},
		{"consumer", aclAdd,
			[]string{"--consumer", "--allow-principal", "User:c", "--allow-host", "h", "--topic", "t", "--group", "g"},
			[]string{
				"TOPIC:LITERAL:t ALLOW User:c@h READ", "TOPIC:LITERAL:t ALLOW User:c@h DESCRIBE",
				"GROUP:LITERAL:g ALLOW User:c@h READ",
			}},
		{"producer and consumer merge on a topic they share", aclAdd,
			[]string{"--producer", "--consumer", "--allow-principal", "User:pc", "--topic", "t", "--group", "g"},
			[]string{
				"TOPIC:LITERAL:t ALLOW User:pc@* READ", "TOPIC:LITERAL:t ALLOW User:pc@* WRITE",
				"TOPIC:LITERAL:t ALLOW User:pc@* CREATE", "TOPIC:LITERAL:t ALLOW User:pc@* DESCRIBE",
				"GROUP:LITERAL:g ALLOW User:pc@* READ",
			}},
		{"remove without principals removes every ACL of the resources", aclRemove,
			[]string{"--topic", "t", "--resource-pattern-type", "match"},
			[]string{"TOPIC:MATCH:t"}},
		{"remove with principals removes those ACLs", aclRemove,
			[]string{"--topic", "t", "--deny-principal", "User:x", "--operation", "Read", "--resource-pattern-type", "any"},
			[]string{"TOPIC:ANY:t DENY User:x@* READ"}},
		{"remove filters the cluster with any", aclRemove,
			[]string{"--cluster", "--resource-pattern-type", "any"},
			[]string{"CLUSTER:ANY:kafka-cluster"}},
	} {
		got, err := parseACLTestFlags(t, tc.action, tc.args...).changes(tc.action)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if lines := aclLines(got); !slices.Equal(lines, tc.want) {
			t.Errorf("%s: got\n\t%s\nwant\n\t%s", tc.name, strings.Join(lines, "\n\t"), strings.Join(tc.want, "\n\t"))
		}
	}
}

func TestACLChangeErrors(t *testing.T) {
	for _, tc := range []struct {
		action aclAction
		args   []string
		want   string
	}{
		{aclAdd, []string{"--allow-principal", "User:a"}, "give at least one resource"},
		{aclAdd, []string{"--topic", "t"}, "give --allow-principal or --deny-principal"},
		{aclAdd, []string{"--allow-host", "h", "--topic", "t"}, "give --allow-principal or --deny-principal"},
		{aclAdd, []string{"--allow-principal", "alice", "--topic", "t"}, `--allow-principal "alice": want a principal as Type:name`},
		{aclAdd, []string{"--deny-principal", "User:", "--topic", "t"}, "want a principal as Type:name"},
		{aclAdd, []string{"--allow-principal", "User:a", "--allow-host", " ", "--topic", "t"}, "--allow-host: an empty host"},
		{aclAdd, []string{"--allow-principal", "User:a", "--topic", " "}, "--topic: an empty name"},
		{aclAdd, []string{"--allow-principal", "User:a", "--operation", "Fly", "--topic", "t"}, `--operation "Fly": want Read, Write`},
		{aclAdd, []string{"--allow-principal", "User:a", "--operation", "CLUSTER_ACTION", "--cluster"}, `--operation "CLUSTER_ACTION"`},
		{aclAdd, []string{"--allow-principal", "User:a", "--operation", "Any", "--topic", "t"}, `--operation "Any"`},
		{aclAdd, []string{"--allow-principal", "User:a", "--operation", "ClusterAction", "--topic", "t"}, "operation ClusterAction does not apply to a topic"},
		{aclAdd, []string{"--allow-principal", "User:a", "--operation", "Write", "--group", "g"}, "operation Write does not apply to a group, which takes Read, Describe, Delete or All"},
		{aclAdd, []string{"--allow-principal", "User:a", "--operation", "Read", "--transactional-id", "x"}, "does not apply to a transactional id"},
		{aclAdd, []string{"--allow-principal", "User:a", "--operation", "Read", "--cluster"}, "does not apply to the cluster"},
		{aclAdd, []string{"--allow-principal", "User:a", "--topic", "t", "--resource-pattern-type", "match"}, "--resource-pattern-type match: ACLs are added to literal or prefixed patterns"},
		{aclAdd, []string{"--allow-principal", "User:a", "--topic", "t", "--resource-pattern-type", "any"}, "literal or prefixed"},
		{aclAdd, []string{"--allow-principal", "User:a", "--topic", "t", "--resource-pattern-type", "glob"}, `--resource-pattern-type "glob"`},
		{aclAdd, []string{"--allow-principal", "User:a", "--cluster", "--resource-pattern-type", "prefixed"}, "the cluster resource is literal"},
		{aclAdd, []string{"--producer", "--allow-principal", "User:a", "--group", "g"}, "--producer needs a --topic"},
		{aclAdd, []string{"--producer", "--operation", "Read", "--allow-principal", "User:a", "--topic", "t"}, "give no --operation"},
		{aclAdd, []string{"--consumer", "--deny-principal", "User:a", "--topic", "t", "--group", "g"}, "give no --operation, --deny-principal"},
		{aclAdd, []string{"--producer", "--deny-host", "h", "--allow-principal", "User:a", "--topic", "t"}, "--deny-host"},
		{aclAdd, []string{"--idempotent", "--allow-principal", "User:a", "--topic", "t"}, "--idempotent goes with --producer"},
		{aclAdd, []string{"--consumer", "--allow-principal", "User:a", "--topic", "t"}, "--consumer needs a --topic and a --group"},
		{aclAdd, []string{"--consumer", "--allow-principal", "User:a", "--group", "g"}, "--consumer needs a --topic and a --group"},
		{aclAdd, []string{"--consumer", "--allow-principal", "User:a", "--topic", "t", "--group", "g", "--cluster"}, "--consumer takes no --cluster"},
		{aclAdd, []string{"--consumer", "--allow-principal", "User:a", "--topic", "t", "--group", "g", "--transactional-id", "x"}, "--consumer takes no --cluster or --transactional-id"},
		{aclRemove, nil, "give at least one resource"},
		{aclRemove, []string{"--topic", "t", "--operation", "Create", "--group", "g", "--allow-principal", "User:a"}, "operation Create does not apply to a group"},
	} {
		_, err := parseACLTestFlags(t, tc.action, tc.args...).changes(tc.action)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
	// --producer with --consumer may name the cluster and transactional ids.
	if _, err := parseACLTestFlags(t, aclAdd, "--producer", "--consumer", "--allow-principal", "User:a", "--topic", "t", "--group", "g",
		"--transactional-id", "x").changes(aclAdd); err != nil {
		t.Errorf("producer and consumer with a transactional id: %v", err)
	}
}

func TestACLListFilters(t *testing.T) {
	filters, principals, err := parseACLTestFlags(t, aclList).listFilters()
	if err != nil || !reflect.DeepEqual(filters, []acl.Filter{acl.MatchAll()}) || principals != nil {
		t.Errorf("no flags: %+v %q %v, want the filter of every ACL", filters, principals, err)
	}
	filters, principals, err = parseACLTestFlags(t, aclList, "--topic", "t", "--cluster", "--resource-pattern-type", "Match",
		"--principal", "User:a", "--principal", "User:b", "--principal", "User:a").listFilters()
	want := []acl.Filter{
		acl.ResourceFilter(acl.Resource{Type: kmsg.ACLResourceTypeTopic, Name: "t", Pattern: kmsg.ACLResourcePatternTypeMatch}),
		acl.ResourceFilter(acl.Resource{Type: kmsg.ACLResourceTypeCluster, Name: "kafka-cluster", Pattern: kmsg.ACLResourcePatternTypeMatch}),
	}
	if err != nil || !reflect.DeepEqual(filters, want) || !slices.Equal(principals, []string{"User:a", "User:b"}) {
		t.Errorf("got %+v %q %v, want %+v and User:a, User:b", filters, principals, err, want)
	}
	if _, _, err := parseACLTestFlags(t, aclList, "--principal", "nobody").listFilters(); err == nil || !strings.Contains(err.Error(), "--principal") {
		t.Errorf("a bad --principal: %v", err)
	}
	// list has no flags that make ACLs.
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addACLFlags(fs, aclList)
	for _, name := range []string{"allow-principal", "deny-principal", "allow-host", "deny-host", "producer", "consumer", "operation", "force"} {
		if fs.Lookup(name) != nil {
			t.Errorf("acls list takes --%s", name)
		}
	}
}

func TestACLChangeFilters(t *testing.T) {
	topic := acl.Resource{Type: kmsg.ACLResourceTypeTopic, Name: "t", Pattern: kmsg.ACLResourcePatternTypeLiteral}
	all := aclChange{Resource: topic}.filters()
	if !reflect.DeepEqual(all, []acl.Filter{acl.ResourceFilter(topic)}) {
		t.Errorf("a change without entries: filters %+v, want one matching every entry", all)
	}
	e1 := acl.Entry{Principal: "User:a", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}
	e2 := acl.Entry{Principal: "User:b", Host: "h", Operation: kmsg.ACLOperationAll, Permission: kmsg.ACLPermissionTypeDeny}
	some := aclChange{Resource: topic, Entries: []acl.Entry{e1, e2}}.filters()
	want := []acl.Filter{acl.BindingFilter(acl.Binding{Resource: topic, Entry: e1}), acl.BindingFilter(acl.Binding{Resource: topic, Entry: e2})}
	if !reflect.DeepEqual(some, want) {
		t.Errorf("filters %+v, want one per entry", some)
	}
}

// The output is kafka-acls', byte for byte.
func TestWriteACLBindings(t *testing.T) {
	topic := acl.Resource{Type: kmsg.ACLResourceTypeTopic, Name: "orders", Pattern: kmsg.ACLResourcePatternTypeLiteral}
	group := acl.Resource{Type: kmsg.ACLResourceTypeGroup, Name: "billing", Pattern: kmsg.ACLResourcePatternTypePrefixed}
	read := acl.Entry{Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}
	deny := acl.Entry{Principal: "User:bob", Host: "10.0.0.1", Operation: kmsg.ACLOperationDescribeConfigs, Permission: kmsg.ACLPermissionTypeDeny}
	var out strings.Builder
	writeACLBindings(&out, "Current ACLs for resource", []acl.Binding{{Resource: group, Entry: read}, {Resource: topic, Entry: deny},
		{Resource: topic, Entry: read}, {Resource: topic, Entry: read}})
	want := "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)`: \n" +
		" \t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)\n" +
		"\t(principal=User:bob, host=10.0.0.1, operation=DESCRIBE_CONFIGS, permissionType=DENY) \n\n" +
		"Current ACLs for resource `ResourcePattern(resourceType=GROUP, name=billing, patternType=PREFIXED)`: \n" +
		" \t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW) \n\n"
	if out.String() != want {
		t.Errorf("got\n%q\nwant\n%q", out.String(), want)
	}
}

func TestACLsWithoutSubcommand(t *testing.T) {
	err := run([]string{"--bootstrap-server", "127.0.0.1:1", "acls"}, io.Discard)
	if want := "acls: want add, list or remove (try kzoo acls --help)"; err == nil || err.Error() != want {
		t.Errorf("kzoo acls: %v, want %q", err, want)
	}
	// Flag errors come before any request.
	err = run([]string{"--bootstrap-server", "127.0.0.1:1", "acls", "add", "--topic", "t"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "give --allow-principal or --deny-principal") {
		t.Errorf("acls add without a principal: %v", err)
	}
}
