// Package jaas parses Kafka's sasl.jaas.config values: the body of a JAAS
// login context, as Kafka's JaasConfig reads it with Java's StreamTokenizer,
//
//	<LoginModuleClass> <flag> (<option>=<value>)* ; ...
//
// for example
//
//	org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="a\"b";
//
// Values are bare words or strings in double or single quotes, with Java's
// backslash escapes; "//" and "/*...*/" are comments, and so is a lone "/"
// outside quotes, which starts a comment to the end of the line (so a value
// holding a slash must be quoted). Where Java's tokenizer silently ends an
// unterminated string or comment at the end of the input, Parse refuses it.
package jaas

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Entry is one login module of a JAAS login context.
type Entry struct {
	// LoginModule is the class name, e.g.
	// org.apache.kafka.common.security.plain.PlainLoginModule.
	LoginModule string
	// Flag is the control flag in lower case: required, requisite,
	// sufficient or optional.
	Flag string
	// Options holds the module's options (never nil). A key given twice
	// keeps its last value, as in Kafka.
	Options map[string]string
}

// Well-known login modules.
const (
	PlainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"
	ScramLoginModule = "org.apache.kafka.common.security.scram.ScramLoginModule"
)

// Parse reads every entry of config. An empty config (nothing but blanks and
// comments) is an error, as in Kafka. Errors give the byte offset of the
// problem but never quote values, which are often passwords.
func Parse(config string) ([]Entry, error) {
	t := tokenizer{s: config}
	var entries []Entry
	for {
		tok, err := t.next()
		if err != nil {
			return nil, err
		}
		if tok.kind == tokEOF {
			break
		}
		e, err := parseEntry(&t, tok)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return nil, errors.New("JAAS config: no login module")
	}
	return entries, nil
}

func parseEntry(t *tokenizer, first token) (Entry, error) {
	if first.kind != tokWord && first.kind != tokQuoted {
		return Entry{}, fmt.Errorf("JAAS config: at offset %d: want a login module class name, found %s", first.pos, first.kind)
	}
	e := Entry{LoginModule: first.text, Options: make(map[string]string)}
	tok, err := t.next()
	if err != nil {
		return Entry{}, err
	}
	if tok.kind != tokWord && tok.kind != tokQuoted {
		return Entry{}, fmt.Errorf("JAAS config: at offset %d: login module %s: want a control flag (required, requisite, sufficient or optional), found %s", tok.pos, e.LoginModule, tok.kind)
	}
	switch flag := strings.ToLower(tok.text); flag {
	case "required", "requisite", "sufficient", "optional":
		e.Flag = flag
	default:
		return Entry{}, fmt.Errorf("JAAS config: at offset %d: login module %s: invalid control flag %q: want required, requisite, sufficient or optional", tok.pos, e.LoginModule, tok.text)
	}
	for {
		key, err := t.next()
		if err != nil {
			return Entry{}, err
		}
		switch key.kind {
		case tokSemicolon:
			return e, nil
		case tokEOF:
			return Entry{}, fmt.Errorf("JAAS config: login module %s: entry not terminated by a semicolon", e.LoginModule)
		case tokEquals:
			return Entry{}, fmt.Errorf("JAAS config: at offset %d: login module %s: option without a name", key.pos, e.LoginModule)
		}
		eq, err := t.next()
		if err != nil {
			return Entry{}, err
		}
		if eq.kind != tokEquals {
			return Entry{}, fmt.Errorf("JAAS config: at offset %d: login module %s: option %q: want '=' and a value, found %s", eq.pos, e.LoginModule, key.text, eq.kind)
		}
		value, err := t.next()
		if err != nil {
			return Entry{}, err
		}
		if value.kind != tokWord && value.kind != tokQuoted {
			return Entry{}, fmt.Errorf("JAAS config: at offset %d: login module %s: no value for option %q", value.pos, e.LoginModule, key.text)
		}
		e.Options[key.text] = value.text
	}
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokWord
	tokQuoted
	tokSemicolon
	tokEquals
)

func (k tokenKind) String() string {
	switch k {
	case tokEOF:
		return "the end of the config"
	case tokWord:
		return "a word"
	case tokQuoted:
		return "a quoted string"
	case tokSemicolon:
		return "';'"
	default:
		return "'='"
	}
}

type token struct {
	kind tokenKind
	text string
	pos  int
}

// tokenizer splits a config as Kafka's StreamTokenizer set-up does: bytes up
// to ' ' are blanks; ';' and '=' are tokens of their own; double and single
// quotes enclose strings; '/' starts a comment; everything else makes up
// words.
type tokenizer struct {
	s   string
	pos int
}

func (t *tokenizer) next() (token, error) {
	if err := t.skipBlanksAndComments(); err != nil {
		return token{}, err
	}
	if t.pos >= len(t.s) {
		return token{kind: tokEOF, pos: t.pos}, nil
	}
	start := t.pos
	switch c := t.s[t.pos]; c {
	case ';':
		t.pos++
		return token{kind: tokSemicolon, pos: start}, nil
	case '=':
		t.pos++
		return token{kind: tokEquals, pos: start}, nil
	case '"', '\'':
		text, err := t.quoted(c)
		return token{kind: tokQuoted, text: text, pos: start}, err
	}
	for t.pos < len(t.s) && isWordByte(t.s[t.pos]) {
		t.pos++
	}
	return token{kind: tokWord, text: t.s[start:t.pos], pos: start}, nil
}

func isWordByte(c byte) bool {
	return c > ' ' && c != ';' && c != '=' && c != '"' && c != '\'' && c != '/'
}

func (t *tokenizer) skipBlanksAndComments() error {
	for t.pos < len(t.s) {
		c := t.s[t.pos]
		switch {
		case c <= ' ':
			t.pos++
		case c == '/' && strings.HasPrefix(t.s[t.pos:], "/*"):
			end := strings.Index(t.s[t.pos+2:], "*/")
			if end < 0 {
				return fmt.Errorf("JAAS config: at offset %d: unterminated /* comment", t.pos)
			}
			t.pos += 2 + end + 2
		case c == '/':
			// "//" and a lone '/' both comment out the rest of the line.
			end := strings.IndexAny(t.s[t.pos:], "\r\n")
			if end < 0 {
				t.pos = len(t.s)
			} else {
				t.pos += end
			}
		default:
			return nil
		}
	}
	return nil
}

// quoted reads a string from its opening quote to the matching one,
// decoding Java's escapes: \a \b \f \n \r \t \v, octal \ooo (up to \377) and
// a backslash before any other character standing for that character.
func (t *tokenizer) quoted(quote byte) (string, error) {
	start := t.pos
	t.pos++
	var b strings.Builder
	for t.pos < len(t.s) {
		c := t.s[t.pos]
		switch {
		case c == quote:
			t.pos++
			return b.String(), nil
		case c == '\n' || c == '\r':
			// StreamTokenizer ends a string at a line end; a
			// value cut short is worse than an error.
			return "", fmt.Errorf("JAAS config: at offset %d: string not closed before the end of the line", start)
		case c != '\\':
			b.WriteByte(c)
			t.pos++
			continue
		}
		t.pos++
		if t.pos >= len(t.s) {
			break
		}
		c = t.s[t.pos]
		t.pos++
		switch c {
		case 'a':
			b.WriteByte(7)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '0', '1', '2', '3', '4', '5', '6', '7':
			// As StreamTokenizer: up to three octal digits when the
			// first is 0-3, two otherwise.
			v := rune(c - '0')
			maxDigits := 2
			if c <= '3' {
				maxDigits = 3
			}
			for n := 1; n < maxDigits && t.pos < len(t.s) && t.s[t.pos] >= '0' && t.s[t.pos] <= '7'; n++ {
				v = v*8 + rune(t.s[t.pos]-'0')
				t.pos++
			}
			// Java's chars are UTF-16 code units; \ooo is at most
			// U+00FF, written here in UTF-8.
			b.WriteRune(v)
		default:
			// The escaped character itself, whole if it is not ASCII.
			t.pos--
			r, size := utf8.DecodeRuneInString(t.s[t.pos:])
			if r == utf8.RuneError && size == 1 {
				b.WriteByte(t.s[t.pos])
			} else {
				b.WriteRune(r)
			}
			t.pos += size
		}
	}
	return "", fmt.Errorf("JAAS config: at offset %d: string not closed", start)
}
