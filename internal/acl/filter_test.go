package acl

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func str(s string) *string { return &s }

func TestFilterMatchesResource(t *testing.T) {
	lit := func(name string) Resource { return Resource{topic, name, literal} }
	pre := func(name string) Resource { return Resource{topic, name, prefixed} }
	filter := func(typ kmsg.ACLResourceType, name *string, pattern kmsg.ACLResourcePatternType) Filter {
		f := MatchAll()
		f.ResourceType, f.Name, f.Pattern = typ, name, pattern
		return f
	}
	anyT := kmsg.ACLResourceTypeAny
	anyP := kmsg.ACLResourcePatternTypeAny
	match := kmsg.ACLResourcePatternTypeMatch
	tests := []struct {
		name   string
		filter Filter
		match  []Resource
		miss   []Resource
	}{
		{
			name:   "ANY type, no name, ANY pattern: everything",
			filter: filter(anyT, nil, anyP),
			match:  []Resource{lit("a"), pre("a"), lit("*"), {group, "g", literal}, {cluster, "kafka-cluster", literal}},
		},
		{
			name:   "type only",
			filter: filter(group, nil, anyP),
			match:  []Resource{{group, "g", literal}, {group, "g", prefixed}},
			miss:   []Resource{lit("g")},
		},
		{
			name:   "LITERAL name: that pattern exactly",
			filter: filter(topic, str("foo"), literal),
			match:  []Resource{lit("foo")},
			miss:   []Resource{pre("foo"), lit("*"), lit("fo"), pre("f"), lit("foo2")},
		},
		{
			name:   "LITERAL wildcard name: the wildcard pattern only",
			filter: filter(topic, str("*"), literal),
			match:  []Resource{lit("*")},
			miss:   []Resource{lit("foo")},
		},
		{
			name:   "PREFIXED name: that pattern exactly",
			filter: filter(topic, str("foo"), prefixed),
			match:  []Resource{pre("foo")},
			miss:   []Resource{lit("foo"), pre("f"), pre("foo2")},
		},
		{
			name:   "LITERAL without name: every literal",
			filter: filter(topic, nil, literal),
			match:  []Resource{lit("a"), lit("*")},
			miss:   []Resource{pre("a")},
		},
		{
			name:   "ANY pattern with name: both patterns of the name, no wildcard expansion",
			filter: filter(topic, str("foo"), anyP),
			match:  []Resource{lit("foo"), pre("foo")},
			miss:   []Resource{lit("*"), pre("f"), lit("fo")},
		},
		{
			name:   "MATCH: what applies to the name",
			filter: filter(topic, str("foo"), match),
			match:  []Resource{lit("foo"), lit("*"), pre("foo"), pre("fo"), pre("f")},
			miss:   []Resource{lit("fo"), pre("foo2"), pre("x"), {group, "foo", literal}, pre("*")},
		},
		{
			name:   "MATCH without name: everything of the type",
			filter: filter(topic, nil, match),
			match:  []Resource{lit("a"), pre("b"), lit("*")},
			miss:   []Resource{{group, "a", literal}},
		},
		{
			name:   "MATCH of ANY type",
			filter: filter(anyT, str("foo"), match),
			match:  []Resource{lit("foo"), {group, "foo", literal}, {group, "f", prefixed}},
			miss:   []Resource{{group, "bar", literal}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range tt.match {
				if !tt.filter.MatchesResource(r) {
					t.Errorf("does not match %v", r)
				}
			}
			for _, r := range tt.miss {
				if tt.filter.MatchesResource(r) {
					t.Errorf("matches %v", r)
				}
			}
		})
	}
}

func TestFilterMatchesEntry(t *testing.T) {
	e := Entry{"User:alice", "10.0.0.1", opRead, allow}
	tests := []struct {
		name string
		mod  func(*Filter)
		want bool
	}{
		{"any", func(*Filter) {}, true},
		{"principal", func(f *Filter) { f.Principal = str("User:alice") }, true},
		{"other principal", func(f *Filter) { f.Principal = str("User:bob") }, false},
		{"wildcard principal is exact in filters", func(f *Filter) { f.Principal = str("User:*") }, false},
		{"host", func(f *Filter) { f.Host = str("10.0.0.1") }, true},
		{"wildcard host is exact in filters", func(f *Filter) { f.Host = str("*") }, false},
		{"operation", func(f *Filter) { f.Operation = opRead }, true},
		{"ALL is exact in filters", func(f *Filter) { f.Operation = opAll }, false},
		{"permission", func(f *Filter) { f.Permission = allow }, true},
		{"other permission", func(f *Filter) { f.Permission = deny }, false},
	}
	for _, tt := range tests {
		f := MatchAll()
		tt.mod(&f)
		if got := f.MatchesEntry(e); got != tt.want {
			t.Errorf("%s: MatchesEntry = %v, want %v", tt.name, got, tt.want)
		}
		if got := f.Matches(Binding{Resource{topic, "t", literal}, e}); got != tt.want {
			t.Errorf("%s: Matches = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestFilterFromRequests(t *testing.T) {
	d := kmsg.NewPtrDescribeACLsRequest()
	d.Version = 0
	d.ResourceType, d.ResourceName, d.ResourcePatternType = topic, str("t"), kmsg.ACLResourcePatternTypeMatch
	d.Principal, d.Host, d.Operation, d.PermissionType = str("User:a"), nil, opRead, kmsg.ACLPermissionTypeAny
	want := Filter{ResourceType: topic, Name: str("t"), Pattern: literal, Principal: str("User:a"), Operation: opRead, Permission: kmsg.ACLPermissionTypeAny}
	if got := FilterFromDescribe(d); !reflect.DeepEqual(got, want) {
		t.Errorf("v0 describe: %+v, want %+v", got, want)
	}
	d.Version = 1
	want.Pattern = kmsg.ACLResourcePatternTypeMatch
	if got := FilterFromDescribe(d); !reflect.DeepEqual(got, want) {
		t.Errorf("v1 describe: %+v, want %+v", got, want)
	}

	df := kmsg.NewDeleteACLsRequestFilter()
	df.ResourceType, df.ResourcePatternType, df.Host, df.Operation, df.PermissionType = group, prefixed, str("h"), kmsg.ACLOperationAny, deny
	want = Filter{ResourceType: group, Pattern: prefixed, Host: str("h"), Operation: kmsg.ACLOperationAny, Permission: deny}
	if got := FilterFromDelete(2, &df); !reflect.DeepEqual(got, want) {
		t.Errorf("v2 delete: %+v, want %+v", got, want)
	}
	want.Pattern = literal
	if got := FilterFromDelete(0, &df); !reflect.DeepEqual(got, want) {
		t.Errorf("v0 delete: %+v, want %+v", got, want)
	}

	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = topic, "t", prefixed
	c.Principal, c.Host, c.Operation, c.PermissionType = "User:a", "*", opWrite, allow
	wantB := b(topic, "t", prefixed, "User:a", "*", opWrite, allow)
	if got := BindingFromCreation(1, &c); got != wantB {
		t.Errorf("v1 creation: %v, want %v", got, wantB)
	}
	wantB.Resource.Pattern = literal
	if got := BindingFromCreation(0, &c); got != wantB {
		t.Errorf("v0 creation: %v, want %v", got, wantB)
	}
}

func TestFiltersOfResourcesAndBindings(t *testing.T) {
	r := Resource{topic, "t", kmsg.ACLResourcePatternTypeMatch}
	want := Filter{ResourceType: topic, Name: str("t"), Pattern: kmsg.ACLResourcePatternTypeMatch,
		Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
	if got := ResourceFilter(r); !reflect.DeepEqual(got, want) {
		t.Errorf("ResourceFilter: %+v, want %+v", got, want)
	}
	bind := b(topic, "t", literal, "User:a", "h", opRead, deny)
	want = Filter{ResourceType: topic, Name: str("t"), Pattern: literal, Principal: str("User:a"), Host: str("h"), Operation: opRead, Permission: deny}
	f := BindingFilter(bind)
	if !reflect.DeepEqual(f, want) {
		t.Errorf("BindingFilter: %+v, want %+v", f, want)
	}
	if !f.Matches(bind) {
		t.Errorf("BindingFilter(%v) does not match it", bind)
	}
	other := bind
	other.Entry.Host = "*"
	if f.Matches(other) {
		t.Errorf("BindingFilter(%v) matches %v", bind, other)
	}
}

// The requests a client builds read back as the same filters and bindings.
func TestRequestsOfFilters(t *testing.T) {
	for _, f := range []Filter{MatchAll(), ResourceFilter(Resource{group, "g", prefixed}), BindingFilter(b(topic, "t", literal, "User:a", "*", opWrite, allow))} {
		d := f.DescribeRequest()
		if d.Version = 1; !reflect.DeepEqual(FilterFromDescribe(d), f) {
			t.Errorf("describe request of %+v reads back as %+v", f, FilterFromDescribe(d))
		}
		df := f.DeleteFilter()
		if got := FilterFromDelete(1, &df); !reflect.DeepEqual(got, f) {
			t.Errorf("delete filter of %+v reads back as %+v", f, got)
		}
	}
	bind := b(topic, "t-", prefixed, "User:a", "*", opWrite, allow)
	c := bind.Creation()
	if got := BindingFromCreation(1, &c); got != bind {
		t.Errorf("creation of %v reads back as %v", bind, got)
	}
}

func TestExactResources(t *testing.T) {
	f := MatchAll()
	if f.ExactResources() != nil {
		t.Error("MatchAll names resources")
	}
	f.ResourceType, f.Name = topic, str("t")
	want := []Resource{{topic, "t", literal}, {topic, "t", prefixed}}
	if got := f.ExactResources(); !reflect.DeepEqual(got, want) {
		t.Errorf("ANY pattern: %v, want %v", got, want)
	}
	f.Pattern = prefixed
	if got := f.ExactResources(); !reflect.DeepEqual(got, want[1:]) {
		t.Errorf("PREFIXED: %v, want %v", got, want[1:])
	}
	f.Pattern = kmsg.ACLResourcePatternTypeMatch
	if got := f.ExactResources(); got != nil {
		t.Errorf("MATCH: %v, want nil", got)
	}
}

func TestValidateBinding(t *testing.T) {
	good := b(topic, "orders", literal, "User:alice", "*", opRead, allow)
	if err := ValidateBinding(good); err != nil {
		t.Fatalf("valid binding refused: %v", err)
	}
	for _, ok := range []Binding{
		b(topic, "*", literal, "User:*", "10.0.0.1", opAll, deny),
		b(topic, "or", prefixed, "User:CN=a,O=b", "*", opWrite, allow),
		b(cluster, "kafka-cluster", literal, "User:a", "*", opIdempotentWrite, allow),
		b(kmsg.ACLResourceTypeTransactionalId, "tx-1", prefixed, "Group:ops", "::1", opDescribe, allow),
		b(topic, "名前", literal, "User:a:b", "*", opRead, allow),
	} {
		if err := ValidateBinding(ok); err != nil {
			t.Errorf("%v refused: %v", ok, err)
		}
	}
	tests := []struct {
		name string
		mod  func(*Binding)
		want string
	}{
		{"unknown resource type", func(b *Binding) { b.Resource.Type = kmsg.ACLResourceTypeUnknown }, "resource type"},
		{"ANY resource type", func(b *Binding) { b.Resource.Type = kmsg.ACLResourceTypeAny }, "resource type"},
		{"undefined resource type", func(b *Binding) { b.Resource.Type = 42 }, "resource type"},
		{"ANY pattern", func(b *Binding) { b.Resource.Pattern = kmsg.ACLResourcePatternTypeAny }, "pattern type"},
		{"MATCH pattern", func(b *Binding) { b.Resource.Pattern = kmsg.ACLResourcePatternTypeMatch }, "pattern type"},
		{"UNKNOWN pattern", func(b *Binding) { b.Resource.Pattern = kmsg.ACLResourcePatternTypeUnknown }, "pattern type"},
		{"empty name", func(b *Binding) { b.Resource.Name = "" }, "empty resource name"},
		{"slash in name", func(b *Binding) { b.Resource.Name = "a/b" }, "'/'"},
		{"dot name", func(b *Binding) { b.Resource.Name = "." }, `"."`},
		{"dot-dot name", func(b *Binding) { b.Resource.Name = ".." }, `".."`},
		{"NUL in name", func(b *Binding) { b.Resource.Name = "a\x00b" }, "ZooKeeper refuses"},
		{"control character in name", func(b *Binding) { b.Resource.Name = "a\nb" }, "ZooKeeper refuses"},
		{"invalid UTF-8 in name", func(b *Binding) { b.Resource.Name = "a\xffb" }, "ZooKeeper refuses"},
		{"cluster of another name", func(b *Binding) { b.Resource.Type, b.Resource.Name = cluster, "my-cluster" }, "kafka-cluster"},
		{"prefixed wildcard", func(b *Binding) { b.Resource.Name, b.Resource.Pattern = "*", prefixed }, "only valid in a LITERAL"},
		{"principal without type", func(b *Binding) { b.Entry.Principal = "alice" }, "principalType:principalName"},
		{"principal with empty type", func(b *Binding) { b.Entry.Principal = ":alice" }, "principalType:principalName"},
		{"principal with empty name", func(b *Binding) { b.Entry.Principal = "User:" }, "principalType:principalName"},
		{"empty principal", func(b *Binding) { b.Entry.Principal = "" }, "principalType:principalName"},
		{"empty host", func(b *Binding) { b.Entry.Host = "" }, "empty host"},
		{"ANY operation", func(b *Binding) { b.Entry.Operation = kmsg.ACLOperationAny }, "operation"},
		{"UNKNOWN operation", func(b *Binding) { b.Entry.Operation = kmsg.ACLOperationUnknown }, "operation"},
		{"undefined operation", func(b *Binding) { b.Entry.Operation = 99 }, "operation"},
		{"ANY permission", func(b *Binding) { b.Entry.Permission = kmsg.ACLPermissionTypeAny }, "permission"},
		{"UNKNOWN permission", func(b *Binding) { b.Entry.Permission = kmsg.ACLPermissionTypeUnknown }, "permission"},
	}
	for _, tt := range tests {
		bad := good
		tt.mod(&bad)
		err := ValidateBinding(bad)
		if err == nil {
			t.Errorf("%s: %v accepted", tt.name, bad)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %q: want ErrInvalid mentioning %q", tt.name, err, tt.want)
		}
	}
}

func TestValidateFilter(t *testing.T) {
	if err := ValidateFilter(MatchAll()); err != nil {
		t.Fatalf("MatchAll refused: %v", err)
	}
	ok := MatchAll()
	ok.ResourceType, ok.Pattern, ok.Operation, ok.Permission = cluster, kmsg.ACLResourcePatternTypeMatch, opAll, deny
	if err := ValidateFilter(ok); err != nil {
		t.Errorf("%+v refused: %v", ok, err)
	}
	for name, mod := range map[string]func(*Filter){
		"unknown resource type":   func(f *Filter) { f.ResourceType = kmsg.ACLResourceTypeUnknown },
		"undefined resource type": func(f *Filter) { f.ResourceType = 8 },
		"unknown pattern":         func(f *Filter) { f.Pattern = kmsg.ACLResourcePatternTypeUnknown },
		"undefined pattern":       func(f *Filter) { f.Pattern = 5 },
		"unknown operation":       func(f *Filter) { f.Operation = kmsg.ACLOperationUnknown },
		"undefined operation":     func(f *Filter) { f.Operation = -1 },
		"unknown permission":      func(f *Filter) { f.Permission = kmsg.ACLPermissionTypeUnknown },
	} {
		f := MatchAll()
		mod(&f)
		if err := ValidateFilter(f); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: error %v, want ErrInvalid", name, err)
		}
	}
}

func TestSet(t *testing.T) {
	r1 := Resource{topic, "b", literal}
	r2 := Resource{topic, "a", prefixed}
	r3 := Resource{group, "g", literal}
	e1 := Entry{"User:x", "*", opRead, allow}
	e2 := Entry{"User:a", "*", opWrite, deny}
	input := map[Resource][]Entry{r1: {e1, e2, e1}, r2: {e1}, r3: {}}
	s := NewSet(input)
	input[r1][0] = e2 // the set keeps its own copy
	if s.Len() != 3 {
		t.Errorf("Len = %d, want 3 (duplicates dropped)", s.Len())
	}
	want := []Binding{{r1, e2}, {r1, e1}, {r2, e1}}
	if got := s.Bindings(); !reflect.DeepEqual(got, want) {
		t.Errorf("Bindings = %v\nwant %v", got, want)
	}
	if got := s.Resources(); !reflect.DeepEqual(got, []Resource{r1, r2}) {
		t.Errorf("Resources = %v (a resource without entries is left out)", got)
	}
	f := MatchAll()
	f.Permission = deny
	if got := s.Matching(f); !reflect.DeepEqual(got, []Binding{{r1, e2}}) {
		t.Errorf("Matching(DENY) = %v", got)
	}
	entries := s.Entries(r1)
	entries[0] = Entry{}
	if s.Entries(r1)[0] != e2 {
		t.Error("Entries returned the set's own slice")
	}
	if !s.Equal(NewSet(map[Resource][]Entry{r2: {e1}, r1: {e1, e2}})) {
		t.Error("equal sets not Equal")
	}
	if s.Equal(NewSet(map[Resource][]Entry{r2: {e1}, r1: {e1}, r3: {e2}})) {
		t.Error("different sets Equal")
	}
	var nilSet *Set
	if nilSet.Len() != 0 || nilSet.Bindings() != nil || !nilSet.Equal(NewSet(nil)) {
		t.Error("a nil set is not empty")
	}
}

func TestStrings(t *testing.T) {
	got := b(topic, "t", literal, "User:a", "*", opDescribeConfigs, allow).String()
	want := "(pattern=ResourcePattern(resourceType=TOPIC, name=t, patternType=LITERAL), entry=(principal=User:a, host=*, operation=DESCRIBE_CONFIGS, permissionType=ALLOW))"
	if got != want {
		t.Errorf("String:\n got %s\nwant %s", got, want)
	}
}
