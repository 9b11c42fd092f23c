package zkpaths

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// ACLs are where Kafka's AclAuthorizer keeps them, one znode per resource
// pattern holding every entry of that pattern:
//
//	/kafka-acl/<Type>/<name>                      LITERAL patterns
//	/kafka-acl-extended/prefixed/<Type>/<name>    PREFIXED patterns
//
// with <Type> Kafka's name of the resource type ("Topic", "Group",
// "Cluster", "TransactionalId", "DelegationToken", "User") and the payload
// {"version":1,"acls":[{"principal":"User:a","permissionType":"Allow",
// "operation":"Read","host":"*"}]}. A pattern without entries has no znode.
//
// Whoever changes a pattern's znode also creates a persistent-sequential
// notification naming the pattern, which every broker watches for:
// /kafka-acl-changes/acl_changes_<seq> holding "<Type>:<name>" for LITERAL
// patterns, /kafka-acl-extended-changes/acl_changes_<seq> holding
// {"version":1,"resourceType":"<Type>","name":"<name>","patternType":"PREFIXED"}
// for the others. These are the bytes Kafka 2.4.1's kafka-acls.sh writes.
//
// ACLResource and ACLEntry have the fields of internal/acl's Resource and
// Entry, so that each converts to the other (zkpaths depends on nothing of
// kzoo).

// ACL znode folders.
const (
	LiteralACLPath         = "/kafka-acl"
	ExtendedACLPath        = "/kafka-acl-extended"
	PrefixedACLPath        = ExtendedACLPath + "/prefixed"
	LiteralACLChangesPath  = "/kafka-acl-changes"
	ExtendedACLChangesPath = "/kafka-acl-extended-changes"

	// ACLChangePrefix names the notifications of both change folders;
	// ZooKeeper appends a 10-digit sequence number.
	ACLChangePrefix = "acl_changes_"
)

// Payload versions of the ACL znodes.
const (
	ACLVersion               = 1
	ExtendedACLChangeVersion = 1
)

// ACLResource is a resource pattern whose ACLs have a znode: a concrete
// resource type, a name, and LITERAL or PREFIXED.
type ACLResource struct {
	Type    kmsg.ACLResourceType
	Name    string
	Pattern kmsg.ACLResourcePatternType
}

// ACLEntry is one access control entry of a resource pattern's znode.
// Operations and permissions of names this version does not know read as
// UNKNOWN, as in Kafka: such an entry never matches a request.
type ACLEntry struct {
	Principal  string
	Host       string
	Operation  kmsg.ACLOperation
	Permission kmsg.ACLPermissionType
}

// aclResourceTypes are the concrete resource types, in Kafka's order, with
// the names Kafka gives them in ZooKeeper.
var aclResourceTypes = []struct {
	typ  kmsg.ACLResourceType
	name string
}{
	{kmsg.ACLResourceTypeTopic, "Topic"},
	{kmsg.ACLResourceTypeGroup, "Group"},
	{kmsg.ACLResourceTypeCluster, "Cluster"},
	{kmsg.ACLResourceTypeTransactionalId, "TransactionalId"},
	{kmsg.ACLResourceTypeDelegationToken, "DelegationToken"},
	{kmsg.ACLResourceTypeUser, "User"},
}

// aclOperationNames are Kafka's names of the concrete operations.
var aclOperationNames = map[kmsg.ACLOperation]string{
	kmsg.ACLOperationAll:             "All",
	kmsg.ACLOperationRead:            "Read",
	kmsg.ACLOperationWrite:           "Write",
	kmsg.ACLOperationCreate:          "Create",
	kmsg.ACLOperationDelete:          "Delete",
	kmsg.ACLOperationAlter:           "Alter",
	kmsg.ACLOperationDescribe:        "Describe",
	kmsg.ACLOperationClusterAction:   "ClusterAction",
	kmsg.ACLOperationDescribeConfigs: "DescribeConfigs",
	kmsg.ACLOperationAlterConfigs:    "AlterConfigs",
	kmsg.ACLOperationIdempotentWrite: "IdempotentWrite",
	kmsg.ACLOperationCreateTokens:    "CreateTokens",
	kmsg.ACLOperationDescribeTokens:  "DescribeTokens",
}

// ACLResourceTypeName is Kafka's name of a concrete resource type, e.g.
// "TransactionalId"; ok is false for UNKNOWN, ANY and undefined codes.
func ACLResourceTypeName(t kmsg.ACLResourceType) (name string, ok bool) {
	for _, rt := range aclResourceTypes {
		if rt.typ == t {
			return rt.name, true
		}
	}
	return "", false
}

// ParseACLResourceTypeName reverses ACLResourceTypeName exactly: a folder
// of another spelling is not Kafka's and is not read.
func ParseACLResourceTypeName(name string) (kmsg.ACLResourceType, bool) {
	for _, rt := range aclResourceTypes {
		if rt.name == name {
			return rt.typ, true
		}
	}
	return kmsg.ACLResourceTypeUnknown, false
}

// ACLOperationName is Kafka's name of a concrete operation, e.g.
// "DescribeConfigs"; ok is false for UNKNOWN, ANY and undefined codes.
func ACLOperationName(op kmsg.ACLOperation) (name string, ok bool) {
	name, ok = aclOperationNames[op]
	return name, ok
}

// ACLPermissionName is "Allow" or "Deny"; ok is false for anything else.
func ACLPermissionName(p kmsg.ACLPermissionType) (name string, ok bool) {
	switch p {
	case kmsg.ACLPermissionTypeAllow:
		return "Allow", true
	case kmsg.ACLPermissionTypeDeny:
		return "Deny", true
	}
	return "", false
}

// ACLStorePath is the folder of the ACL znodes of a pattern type:
// /kafka-acl (LITERAL) or /kafka-acl-extended/prefixed (PREFIXED); ok is
// false for other pattern types.
func ACLStorePath(pattern kmsg.ACLResourcePatternType) (string, bool) {
	switch pattern {
	case kmsg.ACLResourcePatternTypeLiteral:
		return LiteralACLPath, true
	case kmsg.ACLResourcePatternTypePrefixed:
		return PrefixedACLPath, true
	}
	return "", false
}

// ACLResourceTypePath is the folder of the ACL znodes of one resource type
// and pattern type, e.g. /kafka-acl/Topic.
func ACLResourceTypePath(pattern kmsg.ACLResourcePatternType, t kmsg.ACLResourceType) (string, bool) {
	store, ok := ACLStorePath(pattern)
	if !ok {
		return "", false
	}
	name, ok := ACLResourceTypeName(t)
	if !ok {
		return "", false
	}
	return store + "/" + name, true
}

// ACLResourcePath is the znode holding the ACLs of r, e.g.
// /kafka-acl/Topic/orders. It fails for a pattern type other than LITERAL or
// PREFIXED, a resource type that is not concrete, and a name that is not one
// znode name (empty, ".", "..", or holding '/').
func ACLResourcePath(r ACLResource) (string, error) {
	folder, ok := ACLResourceTypePath(r.Pattern, r.Type)
	if !ok {
		return "", fmt.Errorf("no ACL znode for resource type %s, pattern type %s", r.Type, r.Pattern)
	}
	if r.Name == "" || r.Name == "." || r.Name == ".." || strings.Contains(r.Name, "/") {
		return "", fmt.Errorf("resource name %q cannot name an ACL znode", r.Name)
	}
	return folder + "/" + r.Name, nil
}

// ACLPaths lists the folders Kafka's authorizer creates at start, parents
// first: both stores with a folder per resource type, and both change
// folders.
func ACLPaths() []string {
	var paths []string
	for _, pattern := range []kmsg.ACLResourcePatternType{kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed} {
		store, _ := ACLStorePath(pattern)
		if pattern == kmsg.ACLResourcePatternTypePrefixed {
			paths = append(paths, ExtendedACLPath)
		}
		paths = append(paths, store)
		for _, rt := range aclResourceTypes {
			paths = append(paths, store+"/"+rt.name)
		}
	}
	return append(paths, LiteralACLChangesPath, ExtendedACLChangesPath)
}

// ACLChangesPath is the change folder for a pattern type: LITERAL patterns
// are announced in /kafka-acl-changes, the others in
// /kafka-acl-extended-changes.
func ACLChangesPath(pattern kmsg.ACLResourcePatternType) string {
	if pattern == kmsg.ACLResourcePatternTypeLiteral {
		return LiteralACLChangesPath
	}
	return ExtendedACLChangesPath
}

// ACLChangeSequencePath is the path given to the persistent-sequential create
// of a change notification for a pattern type.
func ACLChangeSequencePath(pattern kmsg.ACLResourcePatternType) string {
	return ACLChangesPath(pattern) + "/" + ACLChangePrefix
}

// ParseACLChangeSequence returns the sequence number of a child name of
// either change folder, "acl_changes_0000000042".
func ParseACLChangeSequence(name string) (int64, bool) {
	return parseSequence(name, ACLChangePrefix)
}

type aclEntryJSON struct {
	Principal      string `json:"principal"`
	PermissionType string `json:"permissionType"`
	Operation      string `json:"operation"`
	Host           string `json:"host"`
}

type aclsJSON struct {
	Version int            `json:"version"`
	ACLs    []aclEntryJSON `json:"acls"`
}

// MarshalACLs encodes the entries of a resource pattern's znode, in the
// order given. Every operation and permission must be concrete.
func MarshalACLs(entries []ACLEntry) ([]byte, error) {
	w := aclsJSON{Version: ACLVersion, ACLs: make([]aclEntryJSON, len(entries))}
	for i, e := range entries {
		op, ok := ACLOperationName(e.Operation)
		if !ok {
			return nil, fmt.Errorf("encode ACLs: operation %s has no name", e.Operation)
		}
		perm, ok := ACLPermissionName(e.Permission)
		if !ok {
			return nil, fmt.Errorf("encode ACLs: permission type %s has no name", e.Permission)
		}
		w.ACLs[i] = aclEntryJSON{Principal: e.Principal, PermissionType: perm, Operation: op, Host: e.Host}
	}
	return marshal(w)
}

// UnmarshalACLs decodes a resource pattern's znode. No data means no
// entries, as in Kafka. Names are read as Kafka writes them ("Read",
// "Allow"), and also in any case, with or without underscores ("READ",
// "describe_configs"); a name this version does not know reads as UNKNOWN.
func UnmarshalACLs(data []byte) ([]ACLEntry, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var w aclsJSON
	if err := decode("ACLs", data, &w); err != nil {
		return nil, err
	}
	if err := checkVersion("ACLs", w.Version); err != nil {
		return nil, err
	}
	entries := make([]ACLEntry, len(w.ACLs))
	for i, e := range w.ACLs {
		if e.Principal == "" || e.Host == "" {
			return nil, fmt.Errorf("decode ACLs %q: an entry without principal or host", truncate(data))
		}
		op, err := kmsg.ParseACLOperation(e.Operation)
		if err != nil || op == kmsg.ACLOperationAny {
			op = kmsg.ACLOperationUnknown
		}
		perm, err := kmsg.ParseACLPermissionType(e.PermissionType)
		if err != nil || perm == kmsg.ACLPermissionTypeAny {
			perm = kmsg.ACLPermissionTypeUnknown
		}
		entries[i] = ACLEntry{Principal: e.Principal, Host: e.Host, Operation: op, Permission: perm}
	}
	return entries, nil
}

type extendedACLChangeJSON struct {
	Version      int    `json:"version"`
	ResourceType string `json:"resourceType"`
	Name         string `json:"name"`
	PatternType  string `json:"patternType"`
}

// MarshalACLChange is the payload of the change notification announcing a
// change to r's ACLs, for the folder ACLChangesPath(r.Pattern): "Topic:foo"
// for a LITERAL pattern, {"version":1,"resourceType":"Topic","name":"foo",
// "patternType":"PREFIXED"} for a PREFIXED one.
func MarshalACLChange(r ACLResource) ([]byte, error) {
	typ, ok := ACLResourceTypeName(r.Type)
	if !ok {
		return nil, fmt.Errorf("encode ACL change: resource type %s has no name", r.Type)
	}
	switch r.Pattern {
	case kmsg.ACLResourcePatternTypeLiteral:
		return []byte(typ + ":" + r.Name), nil
	case kmsg.ACLResourcePatternTypePrefixed:
		return marshal(extendedACLChangeJSON{Version: ExtendedACLChangeVersion, ResourceType: typ, Name: r.Name, PatternType: "PREFIXED"})
	}
	return nil, fmt.Errorf("encode ACL change: pattern type %s has no ACL znodes", r.Pattern)
}

// UnmarshalACLChange decodes a change notification read from the folder
// changesPath (LiteralACLChangesPath or ExtendedACLChangesPath). Resource
// and pattern type names are read in any case, with or without underscores
// (Kafka versions differ: "Topic", "TOPIC"). The pattern of the result is
// LITERAL or PREFIXED; anything else is an error.
func UnmarshalACLChange(changesPath string, data []byte) (ACLResource, error) {
	switch changesPath {
	case LiteralACLChangesPath:
		typ, name, ok := strings.Cut(string(data), ":")
		if !ok {
			return ACLResource{}, fmt.Errorf("decode ACL change %q: want ResourceType:ResourceName", truncate(data))
		}
		r := ACLResource{Name: name, Pattern: kmsg.ACLResourcePatternTypeLiteral}
		var err error
		if r.Type, err = parseACLChangeResourceType(typ); err != nil {
			return ACLResource{}, fmt.Errorf("decode ACL change %q: %w", truncate(data), err)
		}
		return r, nil
	case ExtendedACLChangesPath:
		var w extendedACLChangeJSON
		if err := decode("ACL change", data, &w); err != nil {
			return ACLResource{}, err
		}
		if err := checkVersion("ACL change", w.Version); err != nil {
			return ACLResource{}, err
		}
		if w.Version > ExtendedACLChangeVersion {
			return ACLResource{}, fmt.Errorf("decode ACL change %q: unsupported version %d", truncate(data), w.Version)
		}
		r := ACLResource{Name: w.Name}
		var err error
		if r.Type, err = parseACLChangeResourceType(w.ResourceType); err != nil {
			return ACLResource{}, fmt.Errorf("decode ACL change %q: %w", truncate(data), err)
		}
		if r.Pattern, err = kmsg.ParseACLResourcePatternType(w.PatternType); err != nil || r.Pattern != kmsg.ACLResourcePatternTypePrefixed {
			return ACLResource{}, fmt.Errorf("decode ACL change %q: pattern type %q", truncate(data), w.PatternType)
		}
		return r, nil
	}
	return ACLResource{}, fmt.Errorf("decode ACL change: %s is no ACL change folder", changesPath)
}

func parseACLChangeResourceType(s string) (kmsg.ACLResourceType, error) {
	t, err := kmsg.ParseACLResourceType(s)
	if err != nil {
		return kmsg.ACLResourceTypeUnknown, fmt.Errorf("unknown resource type %q", s)
	}
	if _, ok := ACLResourceTypeName(t); !ok {
		return kmsg.ACLResourceTypeUnknown, fmt.Errorf("resource type %q is not a concrete type", s)
	}
	return t, nil
}
