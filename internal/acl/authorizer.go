package acl

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorizer takes Kafka AclAuthorizer's decisions against a Set. It holds
// the authorizer's configuration: super.users (principals such as
// "User:admin", allowed everything) and allow.everyone.if.no.acl.found.
type Authorizer struct {
	SuperUsers                []string
	AllowEveryoneIfNoACLFound bool
}

// IsSuperUser reports whether principal is one of SuperUsers.
func (a *Authorizer) IsSuperUser(principal string) bool {
	return slices.Contains(a.SuperUsers, principal)
}

// Authorize reports whether principal, connected from host (the client's IP
// address), may do op on the resource typ/name, by AclAuthorizer's rule:
//
//   - super users may do anything;
//   - the ACLs that apply are those of the LITERAL pattern of the name, of
//     the LITERAL wildcard "*", and of every PREFIXED pattern that is a
//     prefix of the name; when there are none, the answer is
//     AllowEveryoneIfNoACLFound;
//   - an entry matches when its principal is principal or "User:*", its host
//     is host or "*", and its operation is op or ALL;
//   - a matching DENY entry refuses; otherwise a matching ALLOW entry
//     allows, where an ALLOW of READ, WRITE, DELETE or ALTER also allows
//     DESCRIBE, and an ALLOW of ALTER_CONFIGS also allows DESCRIBE_CONFIGS
//     (a DENY implies nothing of the kind).
func (a *Authorizer) Authorize(s *Set, principal, host string, op kmsg.ACLOperation, typ kmsg.ACLResourceType, name string) bool {
	if a.IsSuperUser(principal) {
		return true
	}
	found, denied, allowed := false, false, false
	s.applicable(typ, name, func(entries []Entry) bool {
		found = true
		for _, e := range entries {
			if !e.appliesTo(principal, host) {
				continue
			}
			switch e.Permission {
			case kmsg.ACLPermissionTypeDeny:
				if e.Operation == op || e.Operation == kmsg.ACLOperationAll {
					denied = true
					return false
				}
			case kmsg.ACLPermissionTypeAllow:
				allowed = allowed || grants(e.Operation, op)
			}
		}
		return true
	})
	if !found {
		return a.AllowEveryoneIfNoACLFound
	}
	return allowed && !denied
}

// appliesTo reports whether the entry is about principal connecting from
// host.
func (e Entry) appliesTo(principal, host string) bool {
	return (e.Principal == principal || e.Principal == WildcardPrincipal) &&
		(e.Host == host || e.Host == WildcardHost)
}

// grants reports whether an ALLOW entry for operation allowed grants op.
func grants(allowed, op kmsg.ACLOperation) bool {
	if allowed == op || allowed == kmsg.ACLOperationAll {
		return true
	}
	switch op {
	case kmsg.ACLOperationDescribe:
		return allowed == kmsg.ACLOperationRead || allowed == kmsg.ACLOperationWrite ||
			allowed == kmsg.ACLOperationDelete || allowed == kmsg.ACLOperationAlter
	case kmsg.ACLOperationDescribeConfigs:
		return allowed == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// AuthorizeByResourceType reports whether principal from host may do op on
// at least one resource of type typ, as Kafka's authorizeByResourceType
// (KIP-679: an idempotent producer needs WRITE on some topic rather than
// IDEMPOTENT_WRITE on the cluster). Only entries for op itself or ALL count
// (no implied operations):
//
//   - super users may;
//   - a matching DENY on the LITERAL wildcard "*" refuses;
//   - otherwise AllowEveryoneIfNoACLFound allows;
//   - otherwise some matching ALLOW must remain once DENYs are applied: an
//     ALLOW on "*", or on a LITERAL name that has no matching DENY on the
//     same name nor on a PREFIXED pattern that is a prefix of it, or on a
//     PREFIXED pattern with no matching DENY on a PREFIXED pattern that is a
//     prefix of it.
func (a *Authorizer) AuthorizeByResourceType(s *Set, principal, host string, op kmsg.ACLOperation, typ kmsg.ACLResourceType) bool {
	if a.IsSuperUser(principal) {
		return true
	}
	matches := func(e Entry, perm kmsg.ACLPermissionType) bool {
		return e.Permission == perm && e.appliesTo(principal, host) &&
			(e.Operation == op || e.Operation == kmsg.ACLOperationAll)
	}
	names := func(pattern kmsg.ACLResourcePatternType, perm kmsg.ACLPermissionType) map[string]bool {
		out := make(map[string]bool)
		if s == nil {
			return out
		}
		for r, entries := range s.acls {
			if r.Type != typ || r.Pattern != pattern {
				continue
			}
			if slices.ContainsFunc(entries, func(e Entry) bool { return matches(e, perm) }) {
				out[r.Name] = true
			}
		}
		return out
	}
	denyLiterals := names(kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLPermissionTypeDeny)
	if denyLiterals[WildcardResource] {
		return false
	}
	if a.AllowEveryoneIfNoACLFound {
		return true
	}
	denyPrefixes := names(kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLPermissionTypeDeny)
	deniedByPrefix := func(name string) bool {
		for p := range denyPrefixes {
			if strings.HasPrefix(name, p) {
				return true
			}
		}
		return false
	}
	for p := range names(kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLPermissionTypeAllow) {
		if !deniedByPrefix(p) {
			return true
		}
	}
	for l := range names(kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLPermissionTypeAllow) {
		if l == WildcardResource || !denyLiterals[l] && !deniedByPrefix(l) {
			return true
		}
	}
	return false
}
