package zkpaths

import (
	"strings"
	"testing"
)

// TestSanitizeMatchesKafka pins Sanitize to what Kafka's Sanitizer gives
// (values worked out from Java's URLEncoder rules and Kafka's two extra
// replacements).
func TestSanitizeMatchesKafka(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"alice", "alice"},
		{"my.client-id_2", "my.client-id_2"},
		{"User:CN=alice,O=org", "User%3ACN%3Dalice%2CO%3Dorg"},
		{"a b", "a%20b"},
		{"a+b", "a%2Bb"},
		{"a*b", "a%2Ab"},
		{"a~b", "a%7Eb"},
		{"a/b", "a%2Fb"},
		{"100%", "100%25"},
		{"<default>", "%3Cdefault%3E"},
		{"é", "%C3%A9"},
		{"日本", "%E6%97%A5%E6%9C%AC"},
		{"", ""},
	} {
		if got := Sanitize(tc.name); got != tc.want {
			t.Errorf("Sanitize(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestDesanitize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice", "alice"},
		{"a%20b", "a b"},
		{"a+b", "a b"}, // Java's URLDecoder: '+' is a space
		{"%c3%a9", "é"},
		{"a~b", "a~b"},
	} {
		got, err := Desanitize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Desanitize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"%", "a%2", "%zz", "%2g"} {
		if got, err := Desanitize(bad); err == nil {
			t.Errorf("Desanitize(%q) = %q, want an error", bad, got)
		}
	}
}

// TestSanitizeRoundTrips: every name, however odd, comes back from its
// znode name, and its znode name is one path element.
func TestSanitizeRoundTrips(t *testing.T) {
	for _, name := range []string{
		"alice", "a b", "a+b", "a*b", "a/b/c", "..", ".", "%", "%25", "User:CN=x,OU=y", "\x00\x01\xff",
		"tab\there", "newline\n", "日本語", "emoji 🙂", "<default>x", "x<default>", strings.Repeat("z", 300),
	} {
		s := Sanitize(name)
		if strings.Contains(s, "/") {
			t.Errorf("Sanitize(%q) = %q holds a slash", name, s)
		}
		back, err := Desanitize(s)
		if err != nil || back != name {
			t.Errorf("Desanitize(Sanitize(%q)) = %q, %v", name, back, err)
		}
		for _, e := range []QuotaEntity{{User: name}, {ClientID: name}, {User: name, ClientID: name}, {User: DefaultConfigEntity, ClientID: name}} {
			if name == "" {
				continue
			}
			p := QuotaEntityPath(e)
			rest, ok := strings.CutPrefix(p, ConfigPath+"/")
			if !ok {
				t.Fatalf("QuotaEntityPath(%v) = %q", e, p)
			}
			got, ok := ParseQuotaEntityPath(rest)
			if !ok || got != e {
				t.Errorf("ParseQuotaEntityPath(%q) = %v, %t; want %v", rest, got, ok, e)
			}
			if n := NewQuotaConfigChangeNotification(e); n.EntityPath != rest {
				t.Errorf("notification of %v names %q, want %q", e, n.EntityPath, rest)
			}
		}
	}
}

func TestQuotaEntityPaths(t *testing.T) {
	for _, tc := range []struct {
		e    QuotaEntity
		path string
		str  string
	}{
		{QuotaEntity{User: "alice"}, "/config/users/alice", "user=alice"},
		{QuotaEntity{User: "alice", ClientID: "app 1"}, "/config/users/alice/clients/app%201", "user=alice, client-id=app 1"},
		{QuotaEntity{User: "<default>", ClientID: "<default>"}, "/config/users/<default>/clients/<default>", "user=<default>, client-id=<default>"},
		{QuotaEntity{User: "<default>"}, "/config/users/<default>", "user=<default>"},
		{QuotaEntity{ClientID: "<default>"}, "/config/clients/<default>", "client-id=<default>"},
		{QuotaEntity{ClientID: "c/d"}, "/config/clients/c%2Fd", "client-id=c/d"},
		{QuotaEntity{}, "", "(no entity)"},
	} {
		if got := QuotaEntityPath(tc.e); got != tc.path {
			t.Errorf("QuotaEntityPath(%#v) = %q, want %q", tc.e, got, tc.path)
		}
		if got := tc.e.String(); got != tc.str {
			t.Errorf("%#v.String() = %q, want %q", tc.e, got, tc.str)
		}
		if err := tc.e.Validate(); (err == nil) != (tc.path != "") {
			t.Errorf("%#v.Validate() = %v", tc.e, err)
		}
	}
	if got := QuotaUserClientsPath("a b"); got != "/config/users/a%20b/clients" {
		t.Errorf("QuotaUserClientsPath = %q", got)
	}
}

func TestParseQuotaEntityPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want QuotaEntity
		ok   bool
	}{
		{"users/alice", QuotaEntity{User: "alice"}, true},
		{"users/<default>", QuotaEntity{User: "<default>"}, true},
		{"users/a%20b/clients/<default>", QuotaEntity{User: "a b", ClientID: "<default>"}, true},
		{"clients/c", QuotaEntity{ClientID: "c"}, true},
		{"clients/<default>", QuotaEntity{ClientID: "<default>"}, true},
		// Not a quota entity, or not one znode name per entity.
		{"<default>", QuotaEntity{}, false},
		{"topics/t", QuotaEntity{}, false},
		{"users", QuotaEntity{}, false},
		{"users/", QuotaEntity{}, false},
		{"users/a/clients", QuotaEntity{}, false},
		{"users/a/clients/", QuotaEntity{}, false},
		{"users/a/topics/c", QuotaEntity{}, false},
		{"users/a/clients/c/d", QuotaEntity{}, false},
		{"clients/c/clients/d", QuotaEntity{}, false},
		{"clients/a+b", QuotaEntity{}, false},           // Kafka writes a%2Bb or a%20b
		{"clients/a%7eb", QuotaEntity{}, false},         // lower-case hex
		{"clients/a~b", QuotaEntity{}, false},           // Kafka writes a%7Eb
		{"clients/%3Cdefault%3E", QuotaEntity{}, false}, // a client named <default>
		{"clients/%zz", QuotaEntity{}, false},
	} {
		got, ok := ParseQuotaEntityPath(tc.in)
		if ok != tc.ok || got != tc.want {
			t.Errorf("ParseQuotaEntityPath(%q) = %#v, %t; want %#v, %t", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
