package jaas

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	scram := "org.apache.kafka.common.security.scram.ScramLoginModule"
	plain := "org.apache.kafka.common.security.plain.PlainLoginModule"
	tests := []struct {
		name, in string
		want     []Entry
	}{
		{"scram client", scram + ` required username="alice" password="alice-secret";`,
			[]Entry{{scram, "required", map[string]string{"username": "alice", "password": "alice-secret"}}}},
		{"bare words and flag case", plain + ` REQUIRED username=admin password=admin-secret user_admin=admin-secret user_bob=b0b;`,
			[]Entry{{plain, "required", map[string]string{"username": "admin", "password": "admin-secret", "user_admin": "admin-secret", "user_bob": "b0b"}}}},
		{"no options", scram + " optional;", []Entry{{scram, "optional", map[string]string{}}}},
		{"blanks around everything", "\n\t " + scram + "\n  sufficient\n  username = \"a\"\n  password\t=\t'b' ;\n",
			[]Entry{{scram, "sufficient", map[string]string{"username": "a", "password": "b"}}}},
		{"escapes", scram + ` required password="a\"b\\c\nd\te\101\7x\q" other='it';`,
			[]Entry{{scram, "required", map[string]string{"password": "a\"b\\c\nd\teA\x07xq", "other": "it"}}}},
		{"single quote holds double", scram + ` requisite password='say "hi"; ok';`,
			[]Entry{{scram, "requisite", map[string]string{"password": `say "hi"; ok`}}}},
		{"quoted slash and non-ASCII", scram + ` required path="/etc/kafka" password="pässwörd" user=jörg;`,
			[]Entry{{scram, "required", map[string]string{"path": "/etc/kafka", "password": "pässwörd", "user": "jörg"}}}},
		{"comments", "// leading\n/* block\n comment */" + scram + " required /* inline */ username=\"a\" // trailing\n password=\"b\"; / lone slash comment",
			[]Entry{{scram, "required", map[string]string{"username": "a", "password": "b"}}}},
		{"two entries", plain + ` required username="a" password="b"; ` + scram + ` optional username="c" password="d";`,
			[]Entry{
				{plain, "required", map[string]string{"username": "a", "password": "b"}},
				{scram, "optional", map[string]string{"username": "c", "password": "d"}},
			}},
		{"last duplicate wins", scram + ` required username="a" username="b";`,
			[]Entry{{scram, "required", map[string]string{"username": "b"}}}},
		{"empty quoted value", scram + ` required password="";`,
			[]Entry{{scram, "required", map[string]string{"password": ""}}}},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("%s: Parse(%q): %v", tc.name, tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Parse(%q)\n got %#v\nwant %#v", tc.name, tc.in, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	scram := "org.apache.kafka.common.security.scram.ScramLoginModule"
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "no login module"},
		{"only comments", "  // nothing\n/* here */ ", "no login module"},
		{"no flag", scram, "control flag"},
		{"no flag before semicolon", scram + ";", "control flag"},
		{"bad flag", scram + " mandatory username=a;", `invalid control flag "mandatory"`},
		{"no semicolon", scram + ` required username="a"`, "not terminated by a semicolon"},
		{"no value", scram + ` required username=;`, `no value for option "username"`},
		{"no equals", scram + ` required username "a";`, `option "username": want '='`},
		{"no name", scram + ` required ="a";`, "option without a name"},
		{"value at end", scram + ` required username=`, `no value for option "username"`},
		{"unterminated string", scram + ` required password="secret;`, "string not closed"},
		{"string across lines", scram + " required password=\"sec\nret\";", "not closed before the end of the line"},
		{"unterminated comment", scram + " required /* password=\"x\";", "unterminated /* comment"},
		{"starts with semicolon", "; " + scram + " required;", "want a login module class name"},
		{"starts with equals", "=x", "want a login module class name"},
		{"slash cuts the value", scram + " required path=/etc/kafka;", "no value for option"},
	}
	for _, tc := range tests {
		got, err := Parse(tc.in)
		if err == nil {
			t.Errorf("%s: Parse(%q) = %v, want an error", tc.name, tc.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Parse(%q) error %q, want it to say %q", tc.name, tc.in, err, tc.want)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error quotes a value: %v", tc.name, err)
		}
	}
}

// TestParseNeverPanics feeds prefixes of valid and odd configs.
func TestParseNeverPanics(t *testing.T) {
	inputs := []string{
		`org.x.M required a="b\` + "\x00" + `" c='\377\400\0' d=e;`,
		"a b c=d; e f g=\"\\",
		"\xff\xfe required x=\xff;",
		strings.Repeat("/*", 1000),
		strings.Repeat(`m required k="v"; `, 100),
	}
	for _, in := range inputs {
		for i := 0; i <= len(in); i++ {
			_, _ = Parse(in[:i])
		}
	}
}
