package acl

import (
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Set is every ACL of a cluster, by resource pattern. It is immutable: a
// change builds a new Set, and readers share one without locks. The zero
// value and a nil *Set are empty.
type Set struct {
	acls map[Resource][]Entry
	// longestPrefix holds, per resource type, the length of the longest
	// PREFIXED pattern name, which bounds the lookups of a name's prefixes.
	longestPrefix map[kmsg.ACLResourceType]int
	size          int
}

// NewSet builds a Set of acls. The entries of each resource are copied,
// sorted and deduplicated (Kafka keeps a set of entries per resource);
// resources without entries are left out.
func NewSet(acls map[Resource][]Entry) *Set {
	s := &Set{
		acls:          make(map[Resource][]Entry, len(acls)),
		longestPrefix: make(map[kmsg.ACLResourceType]int),
	}
	for r, entries := range acls {
		if len(entries) == 0 {
			continue
		}
		sorted := slices.Clone(entries)
		slices.SortFunc(sorted, Entry.Compare)
		sorted = slices.Compact(sorted)
		s.acls[r] = sorted
		s.size += len(sorted)
		if r.Pattern == kmsg.ACLResourcePatternTypePrefixed {
			s.longestPrefix[r.Type] = max(s.longestPrefix[r.Type], len(r.Name))
		}
	}
	return s
}

// Len is the number of bindings.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return s.size
}

// Resources lists the resource patterns that have ACLs, sorted.
func (s *Set) Resources() []Resource {
	if s == nil {
		return nil
	}
	return slices.SortedFunc(maps.Keys(s.acls), Resource.Compare)
}

// Entries returns a copy of the entries of one resource pattern, sorted; nil
// when it has none.
func (s *Set) Entries(r Resource) []Entry {
	if s == nil {
		return nil
	}
	return slices.Clone(s.acls[r])
}

// Bindings lists every binding, sorted by resource and entry.
func (s *Set) Bindings() []Binding {
	return s.Matching(MatchAll())
}

// Matching lists the bindings f matches, sorted.
func (s *Set) Matching(f Filter) []Binding {
	if s == nil {
		return nil
	}
	var out []Binding
	for _, r := range s.Resources() {
		if !f.MatchesResource(r) {
			continue
		}
		for _, e := range s.acls[r] {
			if f.MatchesEntry(e) {
				out = append(out, Binding{Resource: r, Entry: e})
			}
		}
	}
	return out
}

// Equal reports whether two sets hold the same bindings.
func (s *Set) Equal(o *Set) bool {
	if s.Len() != o.Len() {
		return false
	}
	if s.Len() == 0 {
		return true
	}
	return maps.EqualFunc(s.acls, o.acls, slices.Equal)
}

// applicable calls yield with the entries of every pattern that applies to
// the resource typ/name, as Kafka's AclAuthorizer.matchingAcls collects
// them: the LITERAL wildcard "*", the LITERAL name, and each PREFIXED
// pattern whose name is a prefix of name. yield returns false to stop.
func (s *Set) applicable(typ kmsg.ACLResourceType, name string, yield func([]Entry) bool) {
	if s == nil || len(s.acls) == 0 {
		return
	}
	if e := s.acls[Resource{typ, WildcardResource, kmsg.ACLResourcePatternTypeLiteral}]; len(e) > 0 && !yield(e) {
		return
	}
	if name != WildcardResource {
		if e := s.acls[Resource{typ, name, kmsg.ACLResourcePatternTypeLiteral}]; len(e) > 0 && !yield(e) {
			return
		}
	}
	for n := min(len(name), s.longestPrefix[typ]); n > 0; n-- {
		if e := s.acls[Resource{typ, name[:n], kmsg.ACLResourcePatternTypePrefixed}]; len(e) > 0 && !yield(e) {
			return
		}
	}
}
