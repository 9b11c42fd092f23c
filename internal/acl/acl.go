// Package acl is kzoo's model of Kafka's access control lists and the pure
// rules of Kafka's AclAuthorizer (ZooKeeper mode): bindings of a resource
// pattern to an access control entry, the filters of the DescribeAcls and
// DeleteAcls requests, the validation CreateAcls applies, an immutable Set of
// every ACL of the cluster, and the authorization decision taken against it.
//
// The enumerations are kmsg's, whose codes are Kafka's on the wire. The
// package does no I/O: the coordinator stores ACLs in ZooKeeper (see
// zkpaths/acl.go for the layout) and publishes a Set with each metadata
// snapshot; the broker asks an Authorizer about each request.
package acl

import (
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Wildcards, as in Kafka.
const (
	// WildcardResource as the name of a LITERAL pattern matches every
	// resource of its type.
	WildcardResource = "*"
	// WildcardPrincipal in an entry matches every principal.
	WildcardPrincipal = "User:*"
	// WildcardHost in an entry matches every client host.
	WildcardHost = "*"
	// ClusterName is the only name of the CLUSTER resource.
	ClusterName = "kafka-cluster"
)

// Resource is a resource pattern: a resource type, a name, and how the name
// matches resources: LITERAL (the name itself, or every resource when it is
// "*") or PREFIXED (every resource whose name starts with it).
type Resource struct {
	Type    kmsg.ACLResourceType
	Name    string
	Pattern kmsg.ACLResourcePatternType
}

// String formats the pattern as Kafka's ResourcePattern.toString does.
func (r Resource) String() string {
	return fmt.Sprintf("ResourcePattern(resourceType=%s, name=%s, patternType=%s)", r.Type, r.Name, r.Pattern)
}

// Compare orders resources by type, pattern type and name.
func (r Resource) Compare(o Resource) int {
	return cmp.Or(cmp.Compare(r.Type, o.Type), cmp.Compare(r.Pattern, o.Pattern), strings.Compare(r.Name, o.Name))
}

// Entry is an access control entry: who ("Type:name" principal, or
// WildcardPrincipal), from where (a host address, or WildcardHost), may or
// may not (Permission ALLOW or DENY) do what (Operation).
type Entry struct {
	Principal  string
	Host       string
	Operation  kmsg.ACLOperation
	Permission kmsg.ACLPermissionType
}

// String formats the entry as Kafka's AccessControlEntry.toString does.
func (e Entry) String() string {
	return fmt.Sprintf("(principal=%s, host=%s, operation=%s, permissionType=%s)", e.Principal, e.Host, e.Operation, e.Permission)
}

// Compare orders entries by principal, host, operation and permission.
func (e Entry) Compare(o Entry) int {
	return cmp.Or(strings.Compare(e.Principal, o.Principal), strings.Compare(e.Host, o.Host),
		cmp.Compare(e.Operation, o.Operation), cmp.Compare(e.Permission, o.Permission))
}

// Binding is one ACL: an entry applied to a resource pattern.
type Binding struct {
	Resource Resource
	Entry    Entry
}

// String formats the binding as Kafka's AclBinding.toString does.
func (b Binding) String() string {
	return fmt.Sprintf("(pattern=%s, entry=%s)", b.Resource, b.Entry)
}

// Compare orders bindings by resource, then entry.
func (b Binding) Compare(o Binding) int {
	return cmp.Or(b.Resource.Compare(o.Resource), b.Entry.Compare(o.Entry))
}

// supportedOperations are the operations each resource type has besides
// ALL, as Kafka's AclEntry.supportedOperations lists them.
var supportedOperations = map[kmsg.ACLResourceType][]kmsg.ACLOperation{
	kmsg.ACLResourceTypeTopic: {
		kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDescribe,
		kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs,
	},
	kmsg.ACLResourceTypeGroup: {kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete},
	kmsg.ACLResourceTypeCluster: {
		kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe,
	},
	kmsg.ACLResourceTypeTransactionalId: {kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite},
	kmsg.ACLResourceTypeDelegationToken: {kmsg.ACLOperationDescribe},
}

// SupportedOperations lists the operations a resource type has besides ALL,
// in Kafka's order (AclEntry.supportedOperations); nil for a type without
// any. The slice is shared: do not modify it.
func SupportedOperations(t kmsg.ACLResourceType) []kmsg.ACLOperation {
	return supportedOperations[t]
}

// ErrInvalid marks the errors of ValidateBinding and ValidateFilter: a
// request carrying such a binding or filter gets INVALID_REQUEST.
var ErrInvalid = errors.New("invalid ACL")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// knownResourceType reports a concrete resource type (not UNKNOWN or ANY).
func knownResourceType(t kmsg.ACLResourceType) bool {
	return t >= kmsg.ACLResourceTypeTopic && t <= kmsg.ACLResourceTypeUser
}

// knownOperation reports a concrete operation (not UNKNOWN or ANY).
func knownOperation(op kmsg.ACLOperation) bool {
	return op >= kmsg.ACLOperationAll && op <= kmsg.ACLOperationDescribeTokens
}

// ValidateBinding checks a binding as Kafka does before storing it, and
// refuses what could not be stored as a znode. It returns an error wrapping
// ErrInvalid for:
//   - a resource type, pattern type, operation or permission that is UNKNOWN,
//     ANY or MATCH, or a code Kafka does not define;
//   - an empty resource name, a name holding '/' (it names a znode), "." or
//     "..", or characters ZooKeeper refuses in paths;
//   - a CLUSTER resource not named kafka-cluster;
//   - the wildcard "*" in a PREFIXED pattern (it is only meaningful LITERAL);
//   - a principal that is not "Type:name" with both parts non-empty;
//   - an empty host.
func ValidateBinding(b Binding) error {
	r, e := b.Resource, b.Entry
	if !knownResourceType(r.Type) {
		return invalid("resource type %s is not a concrete resource type", r.Type)
	}
	if r.Pattern != kmsg.ACLResourcePatternTypeLiteral && r.Pattern != kmsg.ACLResourcePatternTypePrefixed {
		return invalid("pattern type %s: an ACL's pattern is LITERAL or PREFIXED", r.Pattern)
	}
	if err := validateName(r.Name); err != nil {
		return err
	}
	if r.Type == kmsg.ACLResourceTypeCluster && r.Name != ClusterName {
		return invalid("the only valid name for the CLUSTER resource is %s, not %q", ClusterName, r.Name)
	}
	if r.Pattern == kmsg.ACLResourcePatternTypePrefixed && r.Name == WildcardResource {
		return invalid("the wildcard resource name %q is only valid in a LITERAL pattern", WildcardResource)
	}
	if err := ValidatePrincipal(e.Principal); err != nil {
		return err
	}
	if e.Host == "" {
		return invalid("empty host: use %q for every host", WildcardHost)
	}
	if !knownOperation(e.Operation) {
		return invalid("operation %s is not a concrete operation", e.Operation)
	}
	if e.Permission != kmsg.ACLPermissionTypeAllow && e.Permission != kmsg.ACLPermissionTypeDeny {
		return invalid("permission type %s: an ACL allows or denies", e.Permission)
	}
	return nil
}

// ValidatePrincipal checks that p has Kafka's principal form "Type:name",
// e.g. "User:alice"; the name may hold further colons.
func ValidatePrincipal(p string) error {
	typ, name, ok := strings.Cut(p, ":")
	if !ok || typ == "" || name == "" {
		return invalid("principal %q is not of the form principalType:principalName", p)
	}
	return nil
}

// validateName refuses resource names that cannot be a znode name.
func validateName(name string) error {
	switch name {
	case "":
		return invalid("empty resource name")
	case ".", "..":
		return invalid("resource name %q", name)
	}
	if strings.Contains(name, "/") {
		return invalid("resource name %q contains '/'", name)
	}
	for _, c := range name {
		// The characters ZooKeeper's PathUtils refuses.
		if c == 0 || c > 0 && c <= 0x1f || c >= 0x7f && c <= 0x9f || c >= 0xd800 && c <= 0xf8ff || c >= 0xfff0 && c <= 0xffff {
			return invalid("resource name %q contains the character %U, which ZooKeeper refuses", name, c)
		}
	}
	return nil
}
