package main

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file reads Java .properties files as java.util.Properties.load does,
// since the files kzoo reads this way (--command-config) are the ones
// written for Kafka's own tools. The bytes are ISO-8859-1, as Kafka's
// Utils.loadProps reads them: a non-ASCII character is written as a
// \uXXXX escape, and UTF-8 text comes out as one character per byte there
// and here alike.

// parseProperties parses the text of a .properties file: key=value,
// key:value or "key value" lines; '#' and '!' comment lines; a line ending
// in an odd number of backslashes continued on the next, whose leading
// white space is dropped; escapes \t \n \r \f \uXXXX, and a backslash
// before any other character standing for that character. A later key
// overrides an earlier one. A malformed \u escape is an error, as it is in
// Java.
func parseProperties(data []byte) (map[string]string, error) {
	text := latin1(data)
	props := map[string]string{}
	lines := logicalLines(text)
	for _, l := range lines {
		key, value := splitProperty(l.text)
		k, err := unescapeProperty(key)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", l.number, err)
		}
		v, err := unescapeProperty(value)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", l.number, err)
		}
		props[k] = v
	}
	return props, nil
}

func latin1(data []byte) string {
	var b strings.Builder
	b.Grow(len(data))
	for _, c := range data {
		b.WriteRune(rune(c))
	}
	return b.String()
}

// logicalLine is a key-value line with its continuations joined, escapes
// still in place, and the number of the natural line it starts on.
type logicalLine struct {
	text   string
	number int
}

// isPropertySpace reports the white space of .properties files, which is
// not Unicode's: space, tab and form feed.
func isPropertySpace(c byte) bool { return c == ' ' || c == '\t' || c == '\f' }

// logicalLines splits text into natural lines (ended by \n, \r or \r\n),
// drops blank and comment lines, and joins continued lines. A comment line
// is never continued, and the first line of a continuation is never a
// comment, as in Java's LineReader.
func logicalLines(text string) []logicalLine {
	var out []logicalLine
	var cur strings.Builder
	continuing, start := false, 0
	number := 0
	for len(text) > 0 {
		number++
		end := strings.IndexAny(text, "\r\n")
		line, rest := text, ""
		if end >= 0 {
			line, rest = text[:end], text[end+1:]
			if text[end] == '\r' && strings.HasPrefix(rest, "\n") {
				rest = rest[1:]
			}
		}
		text = rest
		line = strings.TrimLeftFunc(line, func(r rune) bool { return r < utf8.RuneSelf && isPropertySpace(byte(r)) })
		if !continuing {
			if line == "" || line[0] == '#' || line[0] == '!' {
				continue
			}
			start = number
		}
		// An odd number of trailing backslashes continues the line; the last
		// of them goes.
		trailing := len(line) - len(strings.TrimRight(line, `\`))
		continuing = trailing%2 == 1
		if continuing {
			line = line[:len(line)-1]
		}
		cur.WriteString(line)
		if !continuing {
			out = append(out, logicalLine{text: cur.String(), number: start})
			cur.Reset()
		}
	}
	if continuing {
		// A backslash on the last line continues nothing and is dropped.
		out = append(out, logicalLine{text: cur.String(), number: start})
	}
	return out
}

// splitProperty splits a logical line into its key and value, both still
// escaped: the key ends at the first unescaped '=', ':' or white space;
// white space, then at most one '=' or ':', then white space more
// separate it from the value.
func splitProperty(line string) (key, value string) {
	keyEnd, valueStart := len(line), len(line)
	hasSeparator, escaped := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		if !escaped && (c == '=' || c == ':') {
			keyEnd, valueStart, hasSeparator = i, i+1, true
			break
		}
		if !escaped && isPropertySpace(c) {
			keyEnd, valueStart = i, i+1
			break
		}
		escaped = c == '\\' && !escaped
	}
	for valueStart < len(line) {
		c := line[valueStart]
		if !isPropertySpace(c) {
			if hasSeparator || (c != '=' && c != ':') {
				break
			}
			hasSeparator = true
		}
		valueStart++
	}
	return line[:keyEnd], line[valueStart:]
}

// unescapeProperty resolves the escapes of a key or value. \uXXXX escapes
// are UTF-16 code units; a surrogate pair written as two escapes is one
// character.
func unescapeProperty(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		i++
		if i == len(s) {
			break // a lone trailing backslash stands for nothing
		}
		switch c := s[i]; c {
		case 't':
			b.WriteByte('\t')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			r, n, err := unicodeEscape(s[i+1:])
			if err != nil {
				return "", err
			}
			i += n
			b.WriteRune(r)
		default:
			// s holds Latin-1 characters as runes; copy the whole one.
			r, size := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += size - 1
		}
	}
	return b.String(), nil
}

// unicodeEscape reads the four hex digits after \u, and the low half of a
// surrogate pair when it follows as a second \u escape. It returns the
// character and how many bytes of s it used.
func unicodeEscape(s string) (rune, int, error) {
	unit, err := hex4(s)
	if err != nil {
		return 0, 0, err
	}
	if utf16.IsSurrogate(rune(unit)) && len(s) >= 10 && s[4] == '\\' && s[5] == 'u' {
		if low, err := hex4(s[6:]); err == nil {
			if r := utf16.DecodeRune(rune(unit), rune(low)); r != utf8.RuneError {
				return r, 10, nil
			}
		}
	}
	if utf16.IsSurrogate(rune(unit)) {
		return utf8.RuneError, 4, nil // a lone surrogate, which Go strings cannot hold
	}
	return rune(unit), 4, nil
}

func hex4(s string) (uint16, error) {
	if len(s) < 4 {
		return 0, fmt.Errorf("malformed \\uxxxx escape \\u%s", s)
	}
	var v uint16
	for i := range 4 {
		c := s[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, fmt.Errorf("malformed \\uxxxx escape \\u%s", s[:4])
		}
		v = v<<4 | uint16(d)
	}
	return v, nil
}
