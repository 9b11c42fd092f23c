package tlsconf

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
)

// Kafka's SslPrincipalMapper splits and parses ssl.principal.mapping.rules
// with these two regular expressions. Go's RE2 picks the same matches and
// submatches as Java's backtracking engine for them (leftmost-first, with
// the same preference for lazy and greedy repetition), so using them as they
// are keeps every corner of Kafka's syntax: escaped slashes, commas inside a
// pattern, blank rules between commas, trailing text after the flag.
const rulePattern = `(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)`

var (
	ruleSplitter = regexp.MustCompile(`\s*(` + rulePattern + `)\s*(,\s*|$)`)
	ruleParser   = regexp.MustCompile(`\A(?:` + rulePattern + `)`)
)

// ErrNoMatchingRule is returned (wrapped) by Map when no rule applies to a
// distinguished name; Kafka then fails the client's authentication.
var ErrNoMatchingRule = errors.New("no principal mapping rule applies")

// PrincipalMapper maps the distinguished name of a client certificate to a
// user name by ssl.principal.mapping.rules (KIP-371): rules are tried in
// order and the first whose pattern matches the whole name gives the result.
// It is immutable and safe for concurrent use.
type PrincipalMapper struct {
	rules []mappingRule
}

// mappingRule is one RULE:pattern/replacement/[LU] or DEFAULT.
type mappingRule struct {
	isDefault bool
	source    string         // the pattern as written, for String
	replace   string         // the replacement as written, for String
	find      *regexp.Regexp // the pattern, unanchored, as Java's replaceAll searches with it
	whole     *regexp.Regexp // the pattern anchored at both ends, as Java's Matcher.matches
	template  []replacePart
	lower     bool
	upper     bool
	// mayBeEmpty is false when every match of the pattern has text, so
	// replaceAll need not look for Java's extra empty matches.
	mayBeEmpty bool
}

// replacePart is a piece of a parsed replacement: literal text, or the text
// of a capture group (group >= 0).
type replacePart struct {
	literal string
	group   int
}

// ParsePrincipalMappingRules parses ssl.principal.mapping.rules in Kafka's
// syntax: a comma-separated list of DEFAULT and RULE:pattern/replacement/
// with an optional L or U after the last slash (lower or upper case the
// result). Blank entries between commas are ignored; a list with no rules at
// all ("" included) is DEFAULT, the identity. Patterns are Go regular
// expressions (RE2): Java's lookaround and backreferences are refused here,
// at parse time, rather than failing every client later.
func ParsePrincipalMappingRules(rules string) (*PrincipalMapper, error) {
	var m PrincipalMapper
	for _, split := range ruleSplitter.FindAllStringSubmatch(strings.TrimSpace(rules), -1) {
		rule, err := parseRule(split[1])
		if err != nil {
			return nil, fmt.Errorf("ssl.principal.mapping.rules: %w", err)
		}
		if rule != nil {
			m.rules = append(m.rules, *rule)
		}
	}
	if len(m.rules) == 0 {
		m.rules = []mappingRule{{isDefault: true}}
	}
	return &m, nil
}

// parseRule parses one entry of the list; a blank entry gives nil.
func parseRule(text string) (*mappingRule, error) {
	loc := ruleParser.FindStringSubmatchIndex(text)
	if loc == nil {
		return nil, fmt.Errorf("invalid rule %q", text)
	}
	if loc[1] != len(text) {
		return nil, fmt.Errorf("invalid rule %q: unmatched text %q (a rule is DEFAULT or RULE:pattern/replacement/ with an optional L or U)", text, text[loc[1]:])
	}
	group := func(i int) (string, bool) {
		if loc[2*i] < 0 {
			return "", false
		}
		return text[loc[2*i]:loc[2*i+1]], true
	}
	if _, ok := group(1); ok {
		return &mappingRule{isDefault: true}, nil
	}
	pattern, ok := group(2)
	if !ok {
		return nil, nil // the empty alternative: a blank entry
	}
	replacement, _ := group(4)
	flag, _ := group(6)
	find, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("rule %q: pattern: %w", text, err)
	}
	whole, err := regexp.Compile(`\A(?:` + pattern + `)\z`)
	if err != nil {
		return nil, fmt.Errorf("rule %q: pattern: %w", text, err)
	}
	template, err := parseReplacement(replacement, find)
	if err != nil {
		return nil, fmt.Errorf("rule %q: replacement: %w", text, err)
	}
	syn, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("rule %q: pattern: %w", text, err)
	}
	return &mappingRule{
		mayBeEmpty: minLength(syn.Simplify()) == 0,
		source:     pattern,
		replace:    replacement,
		find:       find,
		whole:      whole,
		template:   template,
		lower:      flag == "L",
		upper:      flag == "U",
	}, nil
}

// parseReplacement reads a replacement as Java's Matcher.appendReplacement
// does after Kafka's escapeLiteralBackReferences: "\x" is x, "$n" is group n
// (the longest run of digits naming an existing group), "${name}" a named
// group. Kafka turns a "$n" naming no group into the literal text "$n" when
// the pattern has groups; with none at all Java fails on every match, which
// is refused here instead.
func parseReplacement(s string, re *regexp.Regexp) ([]replacePart, error) {
	groups := re.NumSubexp()
	var parts []replacePart
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, replacePart{literal: lit.String(), group: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			if i+1 == len(s) {
				return nil, errors.New("a trailing backslash escapes nothing")
			}
			lit.WriteByte(s[i+1])
			i += 2
		case c == '$':
			i++
			if i == len(s) {
				return nil, errors.New(`"$" at the end names no group`)
			}
			if s[i] == '{' {
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return nil, errors.New(`"${" without a closing "}"`)
				}
				name := s[i+1 : i+end]
				idx := -1
				if name != "" {
					idx = re.SubexpIndex(name)
				}
				if idx < 0 {
					return nil, fmt.Errorf("no group named %q", name)
				}
				flush()
				parts = append(parts, replacePart{group: idx})
				i += end + 1
				continue
			}
			if s[i] < '0' || s[i] > '9' {
				return nil, fmt.Errorf(`"$" followed by %q names no group`, s[i])
			}
			run := i
			for run < len(s) && s[run] >= '0' && s[run] <= '9' {
				run++
			}
			digits := s[i:run]
			if digits[0] != '0' && !groupExists(digits, groups) {
				if groups == 0 {
					return nil, fmt.Errorf("$%s names a group, but the pattern has none", digits)
				}
				lit.WriteString("$" + digits)
				i = run
				continue
			}
			// Java takes the longest prefix of the digits that names a group.
			n, used := 0, 0
			for used < len(digits) {
				next := n*10 + int(digits[used]-'0')
				if used > 0 && next > groups {
					break
				}
				n = next
				used++
			}
			if n > groups {
				return nil, fmt.Errorf("$%d names no group (the pattern has %d)", n, groups)
			}
			flush()
			parts = append(parts, replacePart{group: n})
			i += used
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	return parts, nil
}

// groupExists reports whether a run of digits (not starting with 0) names a
// group once cut short as Kafka's escapeLiteralBackReferences cuts it: $123
// with 12 groups is $12 followed by "3".
func groupExists(digits string, groups int) bool {
	n, err := strconv.Atoi(digits)
	if err != nil {
		n = groups + 1 // too long to be a number: cut below
		for len(digits) > 2 {
			digits = digits[:len(digits)-1]
			if v, err := strconv.Atoi(digits); err == nil {
				n = v
				break
			}
		}
	}
	for n > groups && n >= 10 {
		n /= 10
	}
	return n <= groups
}

// Map gives the user name for a distinguished name as SubjectName formats
// it; the error wraps ErrNoMatchingRule when no rule matches.
func (m *PrincipalMapper) Map(distinguishedName string) (string, error) {
	for i := range m.rules {
		if name, ok := m.rules[i].apply(distinguishedName); ok {
			return name, nil
		}
	}
	return "", fmt.Errorf("%w to %q, rules %s", ErrNoMatchingRule, distinguishedName, m)
}

// apply is Kafka's Rule.apply: the pattern must match the whole name, and
// the result is then the name with every match of the pattern replaced, as
// Java's String.replaceAll does.
func (r *mappingRule) apply(dn string) (string, bool) {
	if r.isDefault {
		return dn, true
	}
	if !r.whole.MatchString(dn) {
		return "", false
	}
	out := r.replaceAll(dn)
	switch {
	case r.lower:
		out = strings.ToLower(out)
	case r.upper:
		out = strings.ToUpper(out)
	}
	return out, true
}

// replaceAll is Java's String.replaceAll. Go's regexp finds the same
// matches, except that Java also takes an empty match right where the
// previous match ended ("abc".replaceAll(".*", "X") is "XX"); those are
// looked for and expanded too.
func (r *mappingRule) replaceAll(s string) string {
	var out strings.Builder
	last := 0
	matches := r.find.FindAllStringSubmatchIndex(s, -1)
	for i, loc := range matches {
		out.WriteString(s[last:loc[0]])
		r.expand(&out, s, loc)
		last = loc[1]
		if r.mayBeEmpty && loc[1] > loc[0] && (i+1 == len(matches) || matches[i+1][0] != loc[1]) {
			if empty := r.emptyMatchAt(s, loc[1]); empty != nil {
				r.expand(&out, s, empty)
			}
		}
	}
	out.WriteString(s[last:])
	return out.String()
}

// emptyMatchAt returns the submatches of an empty match of the pattern at
// pos, where Go's search, having found one, skipped it. The pattern is run
// after the literal text before pos so that anchors and word boundaries
// see the real context.
func (r *mappingRule) emptyMatchAt(s string, pos int) []int {
	re, err := regexp.Compile(`\A` + regexp.QuoteMeta(s[:pos]) + `(?:` + r.source + `)`)
	if err != nil {
		return nil
	}
	loc := re.FindStringSubmatchIndex(s)
	if loc == nil || loc[1] != pos {
		return nil
	}
	return loc
}

func (r *mappingRule) expand(out *strings.Builder, s string, loc []int) {
	for _, p := range r.template {
		if p.group < 0 {
			out.WriteString(p.literal)
			continue
		}
		if start := loc[2*p.group]; start >= 0 {
			out.WriteString(s[start:loc[2*p.group+1]])
		}
	}
}

// String lists the rules as Kafka's SslPrincipalMapper prints them.
func (m *PrincipalMapper) String() string {
	parts := make([]string, len(m.rules))
	for i, r := range m.rules {
		parts[i] = r.String()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (r mappingRule) String() string {
	if r.isDefault {
		return "DEFAULT"
	}
	s := "RULE:" + r.source + "/" + r.replace
	switch {
	case r.lower:
		s += "/L"
	case r.upper:
		s += "/U"
	}
	return s
}

// minLength is the fewest runes a match of re holds.
func minLength(re *syntax.Regexp) int {
	const never = 1 << 30
	switch re.Op {
	case syntax.OpNoMatch:
		return never
	case syntax.OpLiteral:
		return len(re.Rune)
	case syntax.OpCharClass, syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return 1
	case syntax.OpCapture, syntax.OpPlus:
		return minLength(re.Sub[0])
	case syntax.OpRepeat:
		return min(never, re.Min*minLength(re.Sub[0]))
	case syntax.OpConcat:
		total := 0
		for _, sub := range re.Sub {
			total = min(never, total+minLength(sub))
		}
		return total
	case syntax.OpAlternate:
		least := never
		for _, sub := range re.Sub {
			least = min(least, minLength(sub))
		}
		return least
	}
	return 0 // empty match, assertions, star, quest
}
