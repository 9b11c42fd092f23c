package broker

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/acl"
)

// aclCreation is an ALLOW READ of topic for principal from any host.
func aclCreation(principal, topic string) kmsg.CreateACLsRequestCreation {
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = kmsg.ACLResourceTypeTopic, topic, kmsg.ACLResourcePatternTypeLiteral
	c.Principal, c.Host = principal, "*"
	c.Operation, c.PermissionType = kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow
	return c
}

// describeAllACLs is a DescribeAcls request matching every ACL.
func describeAllACLs(version int16) *kmsg.DescribeACLsRequest {
	in := kmsg.NewPtrDescribeACLsRequest()
	in.Version = version
	in.ResourceType, in.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	in.Operation, in.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	if version == 0 {
		in.ResourcePatternType = kmsg.ACLResourcePatternTypeLiteral
	}
	return in
}

// deleteFilter matches every ACL of principal.
func deleteFilter(principal string) kmsg.DeleteACLsRequestFilter {
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	f.Principal = kmsg.StringPtr(principal)
	return f
}

// adminCall runs body as the super user.
func adminCall(s *Server, body kmsg.Request) any {
	req := &request{key: body.Key(), version: body.GetVersion(), body: body, listener: "PLAINTEXT", principal: "User:admin", host: testHost}
	return callHandler(s, context.Background(), req)
}

func TestCreateACLsValidatesEachBinding(t *testing.T) {
	s, _ := authzServer(t)
	in := kmsg.NewPtrCreateACLsRequest()
	in.Version = 2
	bad := func(change func(c *kmsg.CreateACLsRequestCreation)) kmsg.CreateACLsRequestCreation {
		c := aclCreation("User:bob", "t")
		change(&c)
		return c
	}
	in.Creations = []kmsg.CreateACLsRequestCreation{
		aclCreation("User:bob", "t"),
		bad(func(c *kmsg.CreateACLsRequestCreation) { c.Principal = "bob" }),
		bad(func(c *kmsg.CreateACLsRequestCreation) { c.ResourceName = "" }),
		bad(func(c *kmsg.CreateACLsRequestCreation) {
			c.ResourceName, c.ResourcePatternType = "*", kmsg.ACLResourcePatternTypePrefixed
		}),
		bad(func(c *kmsg.CreateACLsRequestCreation) { c.ResourcePatternType = kmsg.ACLResourcePatternTypeMatch }),
		bad(func(c *kmsg.CreateACLsRequestCreation) { c.Operation = kmsg.ACLOperationUnknown }),
		bad(func(c *kmsg.CreateACLsRequestCreation) { c.Operation = kmsg.ACLOperationAny }),
		bad(func(c *kmsg.CreateACLsRequestCreation) { c.PermissionType = kmsg.ACLPermissionTypeAny }),
		bad(func(c *kmsg.CreateACLsRequestCreation) { c.ResourceType = kmsg.ACLResourceType(42) }),
		bad(func(c *kmsg.CreateACLsRequestCreation) {
			c.ResourceType, c.ResourceName = kmsg.ACLResourceTypeCluster, "other"
		}),
		bad(func(c *kmsg.CreateACLsRequestCreation) { c.Host = "" }),
		bad(func(c *kmsg.CreateACLsRequestCreation) { c.ResourceName = "a/b" }),
		aclCreation("User:carol", "prefix-"),
	}
	resp := adminCall(s, in).(*kmsg.CreateACLsResponse)
	if len(resp.Results) != len(in.Creations) {
		t.Fatalf("%d results for %d creations", len(resp.Results), len(in.Creations))
	}
	for i, r := range resp.Results {
		want := kerr.InvalidRequest.Code
		if i == 0 || i == len(in.Creations)-1 {
			want = 0
		}
		if r.ErrorCode != want || (want != 0) != (r.ErrorMessage != nil) {
			t.Errorf("creation %d (%+v): error %d %v, want %d", i, in.Creations[i], r.ErrorCode, r.ErrorMessage, want)
		}
	}
	var got []string
	for _, b := range s.snapshot().ACLs.Bindings() {
		got = append(got, b.Entry.Principal)
	}
	if !sameElements(got, []string{"User:bob", "User:carol"}) {
		t.Errorf("stored %v, want the two valid bindings", got)
	}

	// The stored ACLs are listed, by resource.
	described := adminCall(s, describeAllACLs(3)).(*kmsg.DescribeACLsResponse)
	if described.ErrorCode != 0 || len(described.Resources) != 2 {
		t.Fatalf("described %+v, want the 2 resources", described)
	}
	for _, r := range described.Resources {
		if len(r.ACLs) != 1 || r.ResourceType != kmsg.ACLResourceTypeTopic || r.ACLs[0].Operation != kmsg.ACLOperationRead {
			t.Errorf("described resource %+v", r)
		}
	}
}

func TestCreateACLsStoreErrorIsPerBinding(t *testing.T) {
	s, meta := authzServer(t)
	meta.createACLsErr = errors.New("zookeeper is gone")
	in := kmsg.NewPtrCreateACLsRequest()
	in.Version = 1
	in.Creations = []kmsg.CreateACLsRequestCreation{aclCreation("User:bob", "t"), aclCreation("bob", "t")}
	resp := adminCall(s, in).(*kmsg.CreateACLsResponse)
	if c0, c1 := resp.Results[0].ErrorCode, resp.Results[1].ErrorCode; c0 != kerr.UnknownServerError.Code || c1 != kerr.InvalidRequest.Code {
		t.Errorf("errors %d, %d; want UNKNOWN_SERVER_ERROR for the stored one, INVALID_REQUEST for the invalid one", c0, c1)
	}
}

func TestACLAPIsWithoutAnAuthorizer(t *testing.T) {
	s, _ := authzServer(t)
	s.authorizer = nil
	create := kmsg.NewPtrCreateACLsRequest()
	create.Creations = []kmsg.CreateACLsRequestCreation{aclCreation("User:bob", "t"), aclCreation("User:bob", "u")}
	del := kmsg.NewPtrDeleteACLsRequest()
	del.Filters = []kmsg.DeleteACLsRequestFilter{deleteFilter("User:bob")}
	got := []int16{adminCall(s, describeAllACLs(1)).(*kmsg.DescribeACLsResponse).ErrorCode}
	for _, r := range adminCall(s, create).(*kmsg.CreateACLsResponse).Results {
		got = append(got, r.ErrorCode)
	}
	for _, r := range adminCall(s, del).(*kmsg.DeleteACLsResponse).Results {
		got = append(got, r.ErrorCode)
	}
	want := slices.Repeat([]int16{kerr.SecurityDisabled.Code}, 4)
	if !slices.Equal(got, want) {
		t.Errorf("error codes %v, want SECURITY_DISABLED everywhere", got)
	}
}

func TestDescribeACLsFilters(t *testing.T) {
	s, meta := authzServer(t)
	prefixed := grant(kmsg.ACLResourceTypeTopic, "orders-", kmsg.ACLOperationWrite)
	prefixed.Resource.Pattern = kmsg.ACLResourcePatternTypePrefixed
	meta.setACLs([]acl.Binding{
		grant(kmsg.ACLResourceTypeTopic, "orders-eu", kmsg.ACLOperationRead),
		prefixed,
		grant(kmsg.ACLResourceTypeGroup, "g", kmsg.ACLOperationRead),
	})
	describe := func(version int16, change func(*kmsg.DescribeACLsRequest)) *kmsg.DescribeACLsResponse {
		in := describeAllACLs(version)
		change(in)
		return adminCall(s, in).(*kmsg.DescribeACLsResponse)
	}
	names := func(resp *kmsg.DescribeACLsResponse) []string {
		var out []string
		for _, r := range resp.Resources {
			out = append(out, r.ResourceName)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		version int16
		change  func(*kmsg.DescribeACLsRequest)
		want    []string
	}{
		{"all", 3, func(*kmsg.DescribeACLsRequest) {}, []string{"orders-", "orders-eu", "g"}},
		{"MATCH a topic", 3, func(r *kmsg.DescribeACLsRequest) {
			r.ResourceType, r.ResourceName, r.ResourcePatternType = kmsg.ACLResourceTypeTopic, kmsg.StringPtr("orders-eu"), kmsg.ACLResourcePatternTypeMatch
		}, []string{"orders-", "orders-eu"}},
		{"v0 means LITERAL", 0, func(*kmsg.DescribeACLsRequest) {}, []string{"orders-eu", "g"}},
		{"by operation", 3, func(r *kmsg.DescribeACLsRequest) { r.Operation = kmsg.ACLOperationWrite }, []string{"orders-"}},
	} {
		resp := describe(tc.version, tc.change)
		if got := names(resp); resp.ErrorCode != 0 || !sameElements(got, tc.want) {
			t.Errorf("%s: error %d, resources %v; want %v", tc.name, resp.ErrorCode, got, tc.want)
		}
	}
	if resp := describe(3, func(r *kmsg.DescribeACLsRequest) { r.ResourceType = kmsg.ACLResourceTypeUnknown }); resp.ErrorCode != kerr.InvalidRequest.Code || resp.ErrorMessage == nil {
		t.Errorf("UNKNOWN resource type: error %d, want INVALID_REQUEST with a message", resp.ErrorCode)
	}
}

func sameElements(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestDeleteACLsAnswersWhatEachFilterDeleted(t *testing.T) {
	s, meta := authzServer(t)
	bob := grant(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationRead)
	bob.Entry.Principal = "User:bob"
	meta.setACLs([]acl.Binding{bob, grant(kmsg.ACLResourceTypeTopic, "t", kmsg.ACLOperationWrite)})
	in := kmsg.NewPtrDeleteACLsRequest()
	in.Version = 3
	unknown := deleteFilter("User:bob")
	unknown.Operation = kmsg.ACLOperationUnknown
	in.Filters = []kmsg.DeleteACLsRequestFilter{deleteFilter("User:bob"), deleteFilter("User:nobody"), unknown}
	resp := adminCall(s, in).(*kmsg.DeleteACLsResponse)
	if len(resp.Results) != 3 {
		t.Fatalf("%d results for 3 filters", len(resp.Results))
	}
	r := resp.Results[0]
	if r.ErrorCode != 0 || len(r.MatchingACLs) != 1 || r.MatchingACLs[0].Principal != "User:bob" ||
		r.MatchingACLs[0].ResourceName != "t" || r.MatchingACLs[0].Operation != kmsg.ACLOperationRead {
		t.Errorf("bob's filter: %+v", r)
	}
	if r := resp.Results[1]; r.ErrorCode != 0 || len(r.MatchingACLs) != 0 {
		t.Errorf("nobody's filter: %+v", r)
	}
	if r := resp.Results[2]; r.ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("UNKNOWN operation: error %d, want INVALID_REQUEST", r.ErrorCode)
	}
	if left := s.snapshot().ACLs.Bindings(); len(left) != 1 || left[0].Entry.Principal != testPrincipal {
		t.Errorf("left %v, want alice's ACL alone", left)
	}
}
