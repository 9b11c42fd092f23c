package tlsconf

import (
	"errors"
	"strings"
	"testing"
)

// Kafka's own examples: the ssl.principal.mapping.rules documentation and
// SslPrincipalMapperTest.
func TestPrincipalMapping(t *testing.T) {
	kafkaTestRules := strings.Join([]string{
		`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L`,
		`RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L`,
		`RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U`,
		`RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U`,
		`DEFAULT`,
	}, ", ")
	docRules := "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\n" +
		"RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,\n" +
		"RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,\n" +
		"DEFAULT"
	tests := []struct {
		rules, dn, want string
	}{
		{"", "CN=client,OU=kzoo,O=kzoo,C=US", "CN=client,OU=kzoo,O=kzoo,C=US"},
		{"DEFAULT", "CN=client,OU=kzoo,O=kzoo,C=US", "CN=client,OU=kzoo,O=kzoo,C=US"},
		{`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/`, "CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown", "serviceuser"},
		{docRules, "CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown", "serviceuser"},
		{docRules, "CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown", "adminuser@admin"},
		{docRules, "OU=JavaSoft,CN=Duke.2,O=Sun Microsystems", "duke.2"},
		{docRules, "OU=JavaSoft,O=Sun Microsystems,C=US", "OU=JavaSoft,O=Sun Microsystems,C=US"},
		{kafkaTestRules, "CN=Duke,OU=ServiceUsers,O=Org,C=US", "duke"},
		{kafkaTestRules, "CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US", "duke@sme"},
		{kafkaTestRules, "cn=duke,ou=sme,dc=mycp,dc=com", "DUKE@SME"},
		{kafkaTestRules, "cN=duke,OU=JavaSoft,O=Sun Microsystems", "DUKE"},
		{kafkaTestRules, "OU=JavaSoft,O=Sun Microsystems,C=US", "OU=JavaSoft,O=Sun Microsystems,C=US"},
		// SslPrincipalMapperTest.testCommaWithWhitespace: an escaped comma
		// inside a value.
		{`RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT`, `CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz`, `Tkac\, Adam`},
		// The first rule that matches wins; later ones are not tried.
		{`RULE:^CN=(.*?),.*$/$1/U, RULE:^CN=(.*?),.*$/$1/L`, "CN=Mixed,O=x", "MIXED"},
		{`RULE:^CN=admin,.*$/root/, RULE:^CN=(.*?),.*$/$1/`, "CN=alice,O=x", "alice"},
		// Java's replacement syntax: \x is x; $n beyond the groups is
		// literal (Kafka escapes it); ${name} names a group.
		{`RULE:^CN=(.*?),.*$/user\/$1/`, "CN=bob,O=x", "user/bob"},
		{`RULE:^CN=(.*?),.*$/$1\$/`, "CN=bob,O=x", "bob$"},
		{`RULE:^CN=(.*?),.*$/$1-$2/`, "CN=bob,O=x", "bob-$2"},
		{`RULE:^CN=(.*?),.*$/$12/`, "CN=bob,O=x", "bob2"},
		{`RULE:^CN=(?P<user>.*?),.*$/${user}/`, "CN=bob,O=x", "bob"},
		{`RULE:^CN=(.*?),.*$/$0!/`, "CN=bob,O=x", "CN=bob,O=x!"},
		// The pattern must match the whole name; replaceAll then replaces
		// what it finds, which for a lazy unanchored pattern is a prefix.
		{`RULE:CN=(.*?)/$1/`, "CN=abc", "abc"},
		{`RULE:CN=([a-z]*)/<$1>/`, "CN=abc", "<abc>"},
		// Java's replaceAll also replaces the empty match at the end.
		{`RULE:.*/x/`, "CN=abc", "xx"},
		{`RULE:^.*/x/`, "CN=abc", "x"},
		// No rule matches, but DEFAULT is last.
		{`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/, DEFAULT`, "CN=x,OU=Other", "CN=x,OU=Other"},
	}
	for _, tc := range tests {
		m, err := ParsePrincipalMappingRules(tc.rules)
		if err != nil {
			t.Errorf("ParsePrincipalMappingRules(%q): %v", tc.rules, err)
			continue
		}
		got, err := m.Map(tc.dn)
		if err != nil || got != tc.want {
			t.Errorf("rules %q: Map(%q) = %q, %v; want %q", tc.rules, tc.dn, got, err, tc.want)
		}
	}
}

func TestPrincipalMappingNoMatch(t *testing.T) {
	m, err := ParsePrincipalMappingRules(`RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/`)
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Map("CN=x,OU=Other")
	if !errors.Is(err, ErrNoMatchingRule) || !strings.Contains(err.Error(), "CN=x,OU=Other") {
		t.Fatalf("Map without a matching rule: %v; want ErrNoMatchingRule naming the DN", err)
	}
}

// SslPrincipalMapperTest.testInvalidRules, and patterns Go cannot compile.
func TestPrincipalMappingMalformed(t *testing.T) {
	for _, rules := range []string{
		"default",
		"DEFAUL",
		"DEFAULT/L",
		"DEFAULT/U",
		"RULE:CN=(.*?),OU=ServiceUsers.*/$1",
		"rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
		"RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
		"DEFAULT, RULE:x",
		`RULE:^CN=(?=x).*$/$1/`, // lookahead: Java only
		`RULE:^CN=(.*$/$1/`,     // unbalanced
		`RULE:^CN=.*$/$1/`,      // a group the pattern lacks
		`RULE:^CN=(.*)$/$1\/`,   // trailing backslash... escapes the slash: no closing slash
		`RULE:^CN=(.*)$/${nope}/`,
		`RULE:^CN=(.*)$/$x/`,
	} {
		if m, err := ParsePrincipalMappingRules(rules); err == nil {
			t.Errorf("ParsePrincipalMappingRules(%q) = %s; want an error", rules, m)
		} else if !strings.Contains(err.Error(), "ssl.principal.mapping.rules") {
			t.Errorf("ParsePrincipalMappingRules(%q): %v; want the error to name the property", rules, err)
		}
	}
}

// SslPrincipalMapperTest.testRulesSplitting: how a list is cut into rules,
// shown as Kafka prints them.
func TestPrincipalMappingSplitting(t *testing.T) {
	tests := []struct{ want, rules string }{
		{"[DEFAULT]", ""}, // Kafka: [] (no rule ever matches); kzoo: DEFAULT
		{"[DEFAULT]", "DEFAULT"},
		{"[RULE:/]", "RULE://"},
		{"[RULE:/.*]", "RULE:/.*/"},
		{"[RULE:/.*/L]", "RULE:/.*/L"},
		{"[RULE:/, DEFAULT]", "RULE://,DEFAULT"},
		{"[RULE:/, DEFAULT]", "  RULE:// ,  DEFAULT  "},
		{"[RULE:   /     , DEFAULT]", "  RULE:   /     / ,  DEFAULT  "},
		{"[RULE:  /     /U, DEFAULT]", "  RULE:  /     /U   ,DEFAULT  "},
		{"[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]", "  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  "},
		{"[DEFAULT]", ",   , , ,      , , ,   "},
		{"[RULE:/, DEFAULT]", ",,RULE://,,,DEFAULT,,"},
		{"[RULE: /   , DEFAULT]", ",  , RULE: /   /    ,,,   DEFAULT, ,   "},
		{"[RULE:   /  /U, DEFAULT]", "     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,"},
		{`[RULE:\/\\\(\)\n\t/\/\/]`, `RULE:\/\\\(\)\n\t/\/\//`},
		{`[RULE:\**\/+/*/L, RULE:\/*\**/**]`, `RULE:\**\/+/*/L,RULE:\/*\**/**/`},
		{
			`[RULE:,RULE:,/,RULE:,\//U, RULE:,/RULE:,, RULE:,RULE:,/L,RULE:,/L, RULE:, DEFAULT, /DEFAULT, DEFAULT]`,
			`RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT`,
		},
	}
	for _, tc := range tests {
		m, err := ParsePrincipalMappingRules(tc.rules)
		if err != nil {
			t.Errorf("ParsePrincipalMappingRules(%q): %v", tc.rules, err)
			continue
		}
		if got := m.String(); got != tc.want {
			t.Errorf("ParsePrincipalMappingRules(%q) = %s; want %s", tc.rules, got, tc.want)
		}
	}
}
