package acl

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	topic    = kmsg.ACLResourceTypeTopic
	group    = kmsg.ACLResourceTypeGroup
	cluster  = kmsg.ACLResourceTypeCluster
	literal  = kmsg.ACLResourcePatternTypeLiteral
	prefixed = kmsg.ACLResourcePatternTypePrefixed
	allow    = kmsg.ACLPermissionTypeAllow
	deny     = kmsg.ACLPermissionTypeDeny

	opAll             = kmsg.ACLOperationAll
	opRead            = kmsg.ACLOperationRead
	opWrite           = kmsg.ACLOperationWrite
	opCreate          = kmsg.ACLOperationCreate
	opDelete          = kmsg.ACLOperationDelete
	opAlter           = kmsg.ACLOperationAlter
	opDescribe        = kmsg.ACLOperationDescribe
	opDescribeConfigs = kmsg.ACLOperationDescribeConfigs
	opAlterConfigs    = kmsg.ACLOperationAlterConfigs
	opIdempotentWrite = kmsg.ACLOperationIdempotentWrite
	opClusterAction   = kmsg.ACLOperationClusterAction
)

func b(typ kmsg.ACLResourceType, name string, pattern kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) Binding {
	return Binding{Resource{typ, name, pattern}, Entry{principal, host, op, perm}}
}

func setOf(bindings ...Binding) *Set {
	m := make(map[Resource][]Entry)
	for _, b := range bindings {
		m[b.Resource] = append(m[b.Resource], b.Entry)
	}
	return NewSet(m)
}

func TestAuthorize(t *testing.T) {
	type request struct {
		principal, host string
		op              kmsg.ACLOperation
		typ             kmsg.ACLResourceType
		name            string
	}
	alice := func(op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) request {
		return request{"User:alice", "10.0.0.1", op, typ, name}
	}
	tests := []struct {
		name       string
		acls       []Binding
		super      []string
		allowNoACL bool
		req        request
		want       bool
	}{
		{name: "no ACLs, default deny", req: alice(opRead, topic, "t"), want: false},
		{name: "no ACLs, allow everyone", allowNoACL: true, req: alice(opRead, topic, "t"), want: true},
		{
			name:       "ACLs on the resource for someone else: allow.everyone does not apply",
			acls:       []Binding{b(topic, "t", literal, "User:bob", "*", opRead, allow)},
			allowNoACL: true, req: alice(opRead, topic, "t"), want: false,
		},
		{
			name:       "ACLs on another resource only: allow.everyone applies",
			acls:       []Binding{b(topic, "other", literal, "User:bob", "*", opRead, allow)},
			allowNoACL: true, req: alice(opRead, topic, "t"), want: true,
		},
		{
			name:       "a prefixed ACL counts as an ACL on the resource",
			acls:       []Binding{b(topic, "t", prefixed, "User:bob", "*", opRead, allow)},
			allowNoACL: true, req: alice(opRead, topic, "tx"), want: false,
		},
		{
			name:       "a wildcard ACL counts as an ACL on the resource",
			acls:       []Binding{b(topic, "*", literal, "User:bob", "*", opRead, allow)},
			allowNoACL: true, req: alice(opRead, topic, "t"), want: false,
		},
		{
			name:       "same name, other resource type: no ACL",
			acls:       []Binding{b(group, "t", literal, "User:bob", "*", opRead, allow)},
			allowNoACL: true, req: alice(opRead, topic, "t"), want: true,
		},
		{name: "literal allow", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opRead, allow)}, req: alice(opRead, topic, "t"), want: true},
		{name: "literal allow, other name", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opRead, allow)}, req: alice(opRead, topic, "t2"), want: false},
		{name: "literal allow, other operation", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opRead, allow)}, req: alice(opWrite, topic, "t"), want: false},
		{name: "literal allow, other principal", acls: []Binding{b(topic, "t", literal, "User:bob", "*", opRead, allow)}, req: alice(opRead, topic, "t"), want: false},
		{name: "principal type matters", acls: []Binding{b(topic, "t", literal, "Group:alice", "*", opRead, allow)}, req: alice(opRead, topic, "t"), want: false},
		{name: "prefixed allow", acls: []Binding{b(topic, "pay", prefixed, "User:alice", "*", opWrite, allow)}, req: alice(opWrite, topic, "payments"), want: true},
		{name: "prefixed equal to the name", acls: []Binding{b(topic, "pay", prefixed, "User:alice", "*", opWrite, allow)}, req: alice(opWrite, topic, "pay"), want: true},
		{name: "prefixed longer than the name", acls: []Binding{b(topic, "payments", prefixed, "User:alice", "*", opWrite, allow)}, req: alice(opWrite, topic, "pay"), want: false},
		{name: "prefixed is not a wildcard", acls: []Binding{b(topic, "*", prefixed, "User:alice", "*", opWrite, allow)}, req: alice(opWrite, topic, "t"), want: false},
		{name: "literal is not a prefix", acls: []Binding{b(topic, "pay", literal, "User:alice", "*", opWrite, allow)}, req: alice(opWrite, topic, "payments"), want: false},
		{name: "wildcard resource", acls: []Binding{b(topic, "*", literal, "User:alice", "*", opRead, allow)}, req: alice(opRead, topic, "anything"), want: true},
		{name: "wildcard resource of another type", acls: []Binding{b(group, "*", literal, "User:alice", "*", opRead, allow)}, req: alice(opRead, topic, "t"), want: false},
		{name: "wildcard principal", acls: []Binding{b(topic, "t", literal, "User:*", "*", opRead, allow)}, req: alice(opRead, topic, "t"), want: true},
		{name: "wildcard principal matches other principal types", acls: []Binding{b(topic, "t", literal, "User:*", "*", opRead, allow)}, req: request{"Group:x", "10.0.0.1", opRead, topic, "t"}, want: true},
		{name: "host matches", acls: []Binding{b(topic, "t", literal, "User:alice", "10.0.0.1", opRead, allow)}, req: alice(opRead, topic, "t"), want: true},
		{name: "host does not match", acls: []Binding{b(topic, "t", literal, "User:alice", "10.0.0.2", opRead, allow)}, req: alice(opRead, topic, "t"), want: false},
		{
			name: "deny from one host, allow from all",
			acls: []Binding{b(topic, "t", literal, "User:alice", "*", opRead, allow), b(topic, "t", literal, "User:alice", "10.0.0.1", opRead, deny)},
			req:  alice(opRead, topic, "t"), want: false,
		},
		{
			name: "deny from another host does not apply",
			acls: []Binding{b(topic, "t", literal, "User:alice", "*", opRead, allow), b(topic, "t", literal, "User:alice", "10.0.0.9", opRead, deny)},
			req:  alice(opRead, topic, "t"), want: true,
		},
		{
			name: "deny over allow, same pattern",
			acls: []Binding{b(topic, "t", literal, "User:alice", "*", opRead, allow), b(topic, "t", literal, "User:alice", "*", opRead, deny)},
			req:  alice(opRead, topic, "t"), want: false,
		},
		{
			name: "wildcard deny over literal allow",
			acls: []Binding{b(topic, "t", literal, "User:alice", "*", opRead, allow), b(topic, "*", literal, "User:*", "*", opRead, deny)},
			req:  alice(opRead, topic, "t"), want: false,
		},
		{
			name: "prefixed deny over literal allow",
			acls: []Binding{b(topic, "secret-t", literal, "User:alice", "*", opRead, allow), b(topic, "secret", prefixed, "User:alice", "*", opRead, deny)},
			req:  alice(opRead, topic, "secret-t"), want: false,
		},
		{
			name: "literal deny over prefixed allow",
			acls: []Binding{b(topic, "p", prefixed, "User:alice", "*", opRead, allow), b(topic, "p1", literal, "User:alice", "*", opRead, deny)},
			req:  alice(opRead, topic, "p1"), want: false,
		},
		{
			name: "literal deny elsewhere leaves the prefixed allow",
			acls: []Binding{b(topic, "p", prefixed, "User:alice", "*", opRead, allow), b(topic, "p1", literal, "User:alice", "*", opRead, deny)},
			req:  alice(opRead, topic, "p2"), want: true,
		},
		{
			name: "deny of another operation does not apply",
			acls: []Binding{b(topic, "t", literal, "User:alice", "*", opRead, allow), b(topic, "t", literal, "User:alice", "*", opWrite, deny)},
			req:  alice(opRead, topic, "t"), want: true,
		},
		{
			name: "deny ALL denies every operation",
			acls: []Binding{b(topic, "t", literal, "User:alice", "*", opRead, allow), b(topic, "t", literal, "User:*", "*", opAll, deny)},
			req:  alice(opRead, topic, "t"), want: false,
		},
		{name: "allow ALL", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opAll, allow)}, req: alice(opDelete, topic, "t"), want: true},
		{name: "allow ALL implies DESCRIBE", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opAll, allow)}, req: alice(opDescribe, topic, "t"), want: true},
		{name: "READ implies DESCRIBE", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opRead, allow)}, req: alice(opDescribe, topic, "t"), want: true},
		{name: "WRITE implies DESCRIBE", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opWrite, allow)}, req: alice(opDescribe, topic, "t"), want: true},
		{name: "DELETE implies DESCRIBE", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opDelete, allow)}, req: alice(opDescribe, topic, "t"), want: true},
		{name: "ALTER implies DESCRIBE", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opAlter, allow)}, req: alice(opDescribe, topic, "t"), want: true},
		{name: "CREATE does not imply DESCRIBE", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opCreate, allow)}, req: alice(opDescribe, topic, "t"), want: false},
		{name: "DESCRIBE does not imply READ", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opDescribe, allow)}, req: alice(opRead, topic, "t"), want: false},
		{name: "ALTER_CONFIGS implies DESCRIBE_CONFIGS", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opAlterConfigs, allow)}, req: alice(opDescribeConfigs, topic, "t"), want: true},
		{name: "ALTER_CONFIGS does not imply DESCRIBE", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opAlterConfigs, allow)}, req: alice(opDescribe, topic, "t"), want: false},
		{name: "DESCRIBE_CONFIGS does not imply ALTER_CONFIGS", acls: []Binding{b(topic, "t", literal, "User:alice", "*", opDescribeConfigs, allow)}, req: alice(opAlterConfigs, topic, "t"), want: false},
		{
			name: "a DENY of READ does not deny the DESCRIBE it would imply",
			acls: []Binding{b(topic, "t", literal, "User:alice", "*", opDescribe, allow), b(topic, "t", literal, "User:alice", "*", opRead, deny)},
			req:  alice(opDescribe, topic, "t"), want: true,
		},
		{
			name: "a DENY of DESCRIBE beats the DESCRIBE implied by READ",
			acls: []Binding{b(topic, "t", literal, "User:alice", "*", opRead, allow), b(topic, "t", literal, "User:alice", "*", opDescribe, deny)},
			req:  alice(opDescribe, topic, "t"), want: false,
		},
		{name: "cluster operation", acls: []Binding{b(cluster, "kafka-cluster", literal, "User:alice", "*", opIdempotentWrite, allow)}, req: alice(opIdempotentWrite, cluster, "kafka-cluster"), want: true},
		{name: "cluster, other operation", acls: []Binding{b(cluster, "kafka-cluster", literal, "User:alice", "*", opIdempotentWrite, allow)}, req: alice(opClusterAction, cluster, "kafka-cluster"), want: false},
		{
			name:  "super user without ACLs",
			super: []string{"User:admin", "User:alice"}, req: alice(opAlter, cluster, "kafka-cluster"), want: true,
		},
		{
			name:  "super user despite a DENY",
			acls:  []Binding{b(topic, "t", literal, "User:alice", "*", opAll, deny)},
			super: []string{"User:alice"}, req: alice(opRead, topic, "t"), want: true,
		},
		{
			name:  "super user is an exact principal",
			super: []string{"User:Alice", "alice"}, req: alice(opRead, topic, "t"), want: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Authorizer{SuperUsers: tt.super, AllowEveryoneIfNoACLFound: tt.allowNoACL}
			r := tt.req
			if got := a.Authorize(setOf(tt.acls...), r.principal, r.host, r.op, r.typ, r.name); got != tt.want {
				t.Errorf("Authorize(%s from %s, %s on %s %q) = %v, want %v; ACLs %v", r.principal, r.host, r.op, r.typ, r.name, got, tt.want, tt.acls)
			}
		})
	}
}

func TestAuthorizeNilSet(t *testing.T) {
	a := &Authorizer{AllowEveryoneIfNoACLFound: true}
	if !a.Authorize(nil, "User:a", "h", opRead, topic, "t") {
		t.Error("a nil set has no ACLs: allow.everyone.if.no.acl.found should allow")
	}
	a.AllowEveryoneIfNoACLFound = false
	if a.Authorize(nil, "User:a", "h", opRead, topic, "t") {
		t.Error("a nil set allowed without allow.everyone.if.no.acl.found")
	}
}

func TestAuthorizeByResourceType(t *testing.T) {
	alice := "User:alice"
	tests := []struct {
		name       string
		acls       []Binding
		allowNoACL bool
		want       bool
	}{
		{name: "nothing", want: false},
		{name: "nothing, allow everyone", allowNoACL: true, want: true},
		{name: "literal allow", acls: []Binding{b(topic, "t", literal, alice, "*", opWrite, allow)}, want: true},
		{name: "ALL allow", acls: []Binding{b(topic, "t", literal, "User:*", "*", opAll, allow)}, want: true},
		{name: "no implication", acls: []Binding{b(topic, "t", literal, alice, "*", opRead, allow)}, want: false},
		{name: "other type", acls: []Binding{b(group, "t", literal, alice, "*", opWrite, allow)}, want: false},
		{name: "other host", acls: []Binding{b(topic, "t", literal, alice, "10.9.9.9", opWrite, allow)}, want: false},
		{name: "prefixed allow", acls: []Binding{b(topic, "p", prefixed, alice, "*", opWrite, allow)}, want: true},
		{
			name: "literal allow denied on the same name",
			acls: []Binding{b(topic, "t", literal, alice, "*", opWrite, allow), b(topic, "t", literal, alice, "*", opWrite, deny)},
			want: false,
		},
		{
			name: "literal allow denied by a prefix",
			acls: []Binding{b(topic, "tx", literal, alice, "*", opWrite, allow), b(topic, "t", prefixed, alice, "*", opWrite, deny)},
			want: false,
		},
		{
			name: "prefixed allow dominated by a shorter prefixed deny",
			acls: []Binding{b(topic, "tx", prefixed, alice, "*", opWrite, allow), b(topic, "t", prefixed, alice, "*", opWrite, deny)},
			want: false,
		},
		{
			name: "prefixed allow not dominated by a longer prefixed deny",
			acls: []Binding{b(topic, "t", prefixed, alice, "*", opWrite, allow), b(topic, "tx", prefixed, alice, "*", opWrite, deny)},
			want: true,
		},
		{
			name:       "wildcard deny beats everything, even allow everyone",
			acls:       []Binding{b(topic, "t", literal, alice, "*", opWrite, allow), b(topic, "*", literal, alice, "*", opWrite, deny)},
			allowNoACL: true, want: false,
		},
		{
			name: "wildcard allow survives literal denies",
			acls: []Binding{b(topic, "*", literal, alice, "*", opWrite, allow), b(topic, "t", literal, alice, "*", opWrite, deny)},
			want: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Authorizer{AllowEveryoneIfNoACLFound: tt.allowNoACL}
			if got := a.AuthorizeByResourceType(setOf(tt.acls...), alice, "10.0.0.1", opWrite, topic); got != tt.want {
				t.Errorf("AuthorizeByResourceType = %v, want %v; ACLs %v", got, tt.want, tt.acls)
			}
		})
	}
	a := &Authorizer{SuperUsers: []string{alice}}
	if !a.AuthorizeByResourceType(nil, alice, "h", opWrite, topic) {
		t.Error("a super user was refused")
	}
}
