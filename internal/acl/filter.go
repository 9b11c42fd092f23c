package acl

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Filter selects bindings, as the filters of DescribeAcls and DeleteAcls do
// (Kafka's AclBindingFilter). ResourceType ANY, Operation ANY and Permission
// ANY match any value, and so do nil Name, Principal and Host; a non-nil
// string matches only itself exactly (no wildcard expansion).
//
// Pattern says how Name is compared with a binding's pattern:
//   - LITERAL or PREFIXED: the binding's pattern type must be that one, and
//     its name equal Name;
//   - ANY: any pattern type, name equal to Name;
//   - MATCH: the bindings that would apply to a resource named Name: LITERAL
//     ones named Name or "*", and PREFIXED ones whose name is a prefix of
//     Name.
type Filter struct {
	ResourceType kmsg.ACLResourceType
	Name         *string
	Pattern      kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// MatchAll is the filter that matches every binding.
func MatchAll() Filter {
	return Filter{
		ResourceType: kmsg.ACLResourceTypeAny,
		Pattern:      kmsg.ACLResourcePatternTypeAny,
		Operation:    kmsg.ACLOperationAny,
		Permission:   kmsg.ACLPermissionTypeAny,
	}
}

// ResourceFilter is the filter of every binding of the resource pattern r.
// r.Pattern may also be ANY or MATCH, which filter patterns by r.Name as a
// Filter's Pattern does; r.Type must be concrete (MatchAll filters every
// type).
func ResourceFilter(r Resource) Filter {
	f := MatchAll()
	f.ResourceType, f.Name, f.Pattern = r.Type, &r.Name, r.Pattern
	return f
}

// BindingFilter is the filter of exactly b's entry on the resource pattern
// (or, as in ResourceFilter, the patterns) b.Resource.
func BindingFilter(b Binding) Filter {
	f := ResourceFilter(b.Resource)
	f.Principal, f.Host = &b.Entry.Principal, &b.Entry.Host
	f.Operation, f.Permission = b.Entry.Operation, b.Entry.Permission
	return f
}

// FilterFromDescribe is the filter of a DescribeAcls request. Version 0
// requests have no pattern type: they mean LITERAL, as Kafka reads them (and
// ANY, which a v0 client cannot ask for, is narrowed to LITERAL as Kafka
// does).
func FilterFromDescribe(r *kmsg.DescribeACLsRequest) Filter {
	return Filter{
		ResourceType: r.ResourceType,
		Name:         r.ResourceName,
		Pattern:      v0Pattern(r.Version, r.ResourcePatternType),
		Principal:    r.Principal,
		Host:         r.Host,
		Operation:    r.Operation,
		Permission:   r.PermissionType,
	}
}

// FilterFromDelete is one filter of a DeleteAcls request of the given
// version, read as FilterFromDescribe reads a DescribeAcls request.
func FilterFromDelete(version int16, f *kmsg.DeleteACLsRequestFilter) Filter {
	return Filter{
		ResourceType: f.ResourceType,
		Name:         f.ResourceName,
		Pattern:      v0Pattern(version, f.ResourcePatternType),
		Principal:    f.Principal,
		Host:         f.Host,
		Operation:    f.Operation,
		Permission:   f.PermissionType,
	}
}

// BindingFromCreation is one creation of a CreateAcls request of the given
// version (version 0 has no pattern type: LITERAL). Validate it with
// ValidateBinding.
func BindingFromCreation(version int16, c *kmsg.CreateACLsRequestCreation) Binding {
	pattern := c.ResourcePatternType
	if version == 0 {
		pattern = kmsg.ACLResourcePatternTypeLiteral
	}
	return Binding{
		Resource: Resource{Type: c.ResourceType, Name: c.ResourceName, Pattern: pattern},
		Entry:    Entry{Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType},
	}
}

// DescribeRequest is the DescribeAcls request of f, which
// FilterFromDescribe reads back (at version 1 and later).
func (f Filter) DescribeRequest() *kmsg.DescribeACLsRequest {
	r := kmsg.NewPtrDescribeACLsRequest()
	r.ResourceType, r.ResourceName, r.ResourcePatternType = f.ResourceType, f.Name, f.Pattern
	r.Principal, r.Host, r.Operation, r.PermissionType = f.Principal, f.Host, f.Operation, f.Permission
	return r
}

// DeleteFilter is f as one filter of a DeleteAcls request, which
// FilterFromDelete reads back (at version 1 and later).
func (f Filter) DeleteFilter() kmsg.DeleteACLsRequestFilter {
	d := kmsg.NewDeleteACLsRequestFilter()
	d.ResourceType, d.ResourceName, d.ResourcePatternType = f.ResourceType, f.Name, f.Pattern
	d.Principal, d.Host, d.Operation, d.PermissionType = f.Principal, f.Host, f.Operation, f.Permission
	return d
}

// Creation is b as one creation of a CreateAcls request, which
// BindingFromCreation reads back (at version 1 and later).
func (b Binding) Creation() kmsg.CreateACLsRequestCreation {
	c := kmsg.NewCreateACLsRequestCreation()
	c.ResourceType, c.ResourceName, c.ResourcePatternType = b.Resource.Type, b.Resource.Name, b.Resource.Pattern
	c.Principal, c.Host, c.Operation, c.PermissionType = b.Entry.Principal, b.Entry.Host, b.Entry.Operation, b.Entry.Permission
	return c
}

// v0Pattern is the pattern type of a version 0 filter, which has none on the
// wire: LITERAL.
func v0Pattern(version int16, p kmsg.ACLResourcePatternType) kmsg.ACLResourcePatternType {
	if version == 0 {
		return kmsg.ACLResourcePatternTypeLiteral
	}
	return p
}

// ValidateFilter checks a filter as Kafka does when it reads DescribeAcls and
// DeleteAcls requests: no UNKNOWN (or undefined) resource type, pattern type,
// operation or permission. The error wraps ErrInvalid.
func ValidateFilter(f Filter) error {
	if f.ResourceType != kmsg.ACLResourceTypeAny && !knownResourceType(f.ResourceType) {
		return invalid("filter resource type %s", f.ResourceType)
	}
	switch f.Pattern {
	case kmsg.ACLResourcePatternTypeAny, kmsg.ACLResourcePatternTypeMatch,
		kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed:
	default:
		return invalid("filter pattern type %s", f.Pattern)
	}
	if f.Operation != kmsg.ACLOperationAny && !knownOperation(f.Operation) {
		return invalid("filter operation %s", f.Operation)
	}
	switch f.Permission {
	case kmsg.ACLPermissionTypeAny, kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny:
	default:
		return invalid("filter permission type %s", f.Permission)
	}
	return nil
}

// Matches reports whether the filter selects b.
func (f Filter) Matches(b Binding) bool {
	return f.MatchesResource(b.Resource) && f.MatchesEntry(b.Entry)
}

// MatchesResource applies the resource half of the filter (Kafka's
// ResourcePatternFilter.matches).
func (f Filter) MatchesResource(r Resource) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != r.Type {
		return false
	}
	anyPattern := f.Pattern == kmsg.ACLResourcePatternTypeAny
	if !anyPattern && f.Pattern != kmsg.ACLResourcePatternTypeMatch && f.Pattern != r.Pattern {
		return false
	}
	if f.Name == nil {
		return true
	}
	name := *f.Name
	if anyPattern || f.Pattern == r.Pattern {
		return name == r.Name
	}
	// MATCH: does the binding apply to a resource called name?
	switch r.Pattern {
	case kmsg.ACLResourcePatternTypeLiteral:
		return name == r.Name || r.Name == WildcardResource
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, r.Name)
	}
	return false
}

// MatchesEntry applies the entry half of the filter (Kafka's
// AccessControlEntryFilter.matches).
func (f Filter) MatchesEntry(e Entry) bool {
	return (f.Principal == nil || *f.Principal == e.Principal) &&
		(f.Host == nil || *f.Host == e.Host) &&
		(f.Operation == kmsg.ACLOperationAny || f.Operation == e.Operation) &&
		(f.Permission == kmsg.ACLPermissionTypeAny || f.Permission == e.Permission)
}

// ExactResources lists the resource patterns a filter can only match, when
// it names them: a concrete resource type and a name with pattern type
// LITERAL or PREFIXED (that pattern) or ANY (both). It is nil for filters
// that may match any number of patterns (ANY type, nil name, MATCH). A
// deletion looks these up in ZooKeeper itself, as Kafka does, so that ACLs
// created elsewhere but not yet seen are deleted too.
func (f Filter) ExactResources() []Resource {
	if !knownResourceType(f.ResourceType) || f.Name == nil {
		return nil
	}
	literal := Resource{Type: f.ResourceType, Name: *f.Name, Pattern: kmsg.ACLResourcePatternTypeLiteral}
	prefixed := Resource{Type: f.ResourceType, Name: *f.Name, Pattern: kmsg.ACLResourcePatternTypePrefixed}
	switch f.Pattern {
	case kmsg.ACLResourcePatternTypeLiteral:
		return []Resource{literal}
	case kmsg.ACLResourcePatternTypePrefixed:
		return []Resource{prefixed}
	case kmsg.ACLResourcePatternTypeAny:
		return []Resource{literal, prefixed}
	}
	return nil
}
