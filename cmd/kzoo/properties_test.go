package main

import (
	"maps"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want map[string]string
	}{
		{"separators", "a=1\nb:2\nc 3\nd\t=\t4\ne = : 5\nf :=6\n", map[string]string{
			"a": "1", "b": "2", "c": "3", "d": "4", "e": ": 5", "f": "=6",
		}},
		{"comments and blank lines", "# a comment\n! another\n   # indented comment\n\n \t \nkey=value\n", map[string]string{"key": "value"}},
		{"a key without a value", "alone\nempty=\nspaced   \n", map[string]string{"alone": "", "empty": "", "spaced": ""}},
		{"leading white space of a line goes, trailing stays", "   key = value  \n", map[string]string{"key": "value  "}},
		{"later keys win", "k=1\nk=2\n", map[string]string{"k": "2"}},
		{"line endings", "a=1\r\nb=2\rc=3\n", map[string]string{"a": "1", "b": "2", "c": "3"}},
		{"continuation", "list=a,\\\n    b,\\\n\tc\nnext=1\n", map[string]string{"list": "a,b,c", "next": "1"}},
		{"a continued line may start with #", "k=a\\\n#b\n", map[string]string{"k": "a#b"}},
		{"a comment is never continued", "# note \\\nk=v\n", map[string]string{"k": "v"}},
		{"an even number of backslashes does not continue", "k=a\\\\\nj=b\n", map[string]string{"k": `a\`, "j": "b"}},
		{"a blank line ends a continuation", "k=a\\\n\nj=b\n", map[string]string{"k": "a", "j": "b"}},
		{"a backslash at the end of the file", "k=a\\", map[string]string{"k": "a"}},
		{"escapes", `k=tab\tnl\ncr\rff\f\q\\\=` + "\n", map[string]string{"k": "tab\tnl\ncr\rff\fq\\="}},
		{"escaped separators in keys", `a\=b=c` + "\n" + `x\:y:z` + "\n" + `sp\ ace=1` + "\n", map[string]string{"a=b": "c", "x:y": "z", "sp ace": "1"}},
		{"unicode escapes", `k=\u00e9\u20AC` + "\n", map[string]string{"k": "é€"}},
		{"a surrogate pair", `k=\uD83D\uDE00` + "\n", map[string]string{"k": "😀"}},
		{"jaas config over several lines", "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required \\\n" +
			"    username=\"alice\" \\\n    password=\"alice-secret\";\n", map[string]string{
			"sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";`,
		}},
		{"windows paths need doubled backslashes", `ssl.truststore.location=C:\\certs\\ca.pem` + "\n", map[string]string{"ssl.truststore.location": `C:\certs\ca.pem`}},
		{"a single backslash is dropped, as in Java", `p=C:\certs` + "\n", map[string]string{"p": "C:certs"}},
	} {
		got, err := parseProperties([]byte(tc.text))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

// The bytes of a .properties file are ISO-8859-1, as Java's
// Properties.load(InputStream) reads them: a UTF-8 "é" is two characters.
func TestParsePropertiesLatin1(t *testing.T) {
	got, err := parseProperties([]byte("k=caf\xe9\nu=\xc3\xa9\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got["k"] != "café" || got["u"] != "Ã©" {
		t.Errorf("got %q", got)
	}
}

func TestParsePropertiesErrors(t *testing.T) {
	for _, text := range []string{`k=\u12`, `k=\uzzzz`, "a=1\n" + `\u00g0=2`} {
		_, err := parseProperties([]byte(text))
		if err == nil || !strings.Contains(err.Error(), "malformed \\uxxxx") {
			t.Errorf("%q: error %v, want a malformed escape", text, err)
		}
	}
	_, err := parseProperties([]byte("a=1\n\nb=\\\n  \\u00zz\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "line 3:") {
		t.Errorf("error %v, want one naming line 3, where the bad logical line starts", err)
	}
}
