package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordFormat renders one consumed record as text.
type recordFormat interface {
	// appendRecord appends the rendering of r to buf.
	appendRecord(buf []byte, r *kgo.Record) []byte
}

// printOptions is what Kafka's DefaultMessageFormatter prints: the
// timestamp, partition, offset, headers and key before the value, each
// only when asked, with null keys and values shown as "null".
type printOptions struct {
	timestamp, partition, offset, headers, key bool
	keySeparator                               string
}

func (p printOptions) appendRecord(buf []byte, r *kgo.Record) []byte {
	if p.timestamp {
		kind := "CreateTime"
		if r.Attrs.TimestampType() == 1 {
			kind = "LogAppendTime"
		}
		buf = fmt.Appendf(buf, "%s:%d\t", kind, r.Timestamp.UnixMilli())
	}
	if p.partition {
		buf = fmt.Appendf(buf, "Partition:%d\t", r.Partition)
	}
	if p.offset {
		buf = fmt.Appendf(buf, "Offset:%d\t", r.Offset)
	}
	if p.headers {
		if len(r.Headers) == 0 {
			buf = append(buf, "NO_HEADERS"...)
		}
		for i, h := range r.Headers {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, h.Key...)
			buf = append(buf, ':')
			buf = appendNullable(buf, h.Value)
		}
		buf = append(buf, '\t')
	}
	if p.key {
		buf = appendNullable(buf, r.Key)
		buf = append(buf, p.keySeparator...)
	}
	buf = appendNullable(buf, r.Value)
	return append(buf, '\n')
}

func appendNullable(buf, b []byte) []byte {
	if b == nil {
		return append(buf, "null"...)
	}
	return append(buf, b...)
}

// template is a compiled --format string, in the style of kcat's -f:
//
//	%t topic  %p partition  %o offset  %k key  %v value  %h headers (k=v,...)
//	%T timestamp (ms)  %K key length  %V value length  %% a percent sign
//	\n newline  \t tab  \\ backslash
//
// Nothing is added: a line ends only where the template has a \n.
type template []templatePart

// templatePart is literal text, or a directive when verb is not 0.
type templatePart struct {
	literal string
	verb    byte
}

const templateVerbs = "tpokvhTKV"

// parseTemplate compiles a --format string, refusing unknown directives
// and escapes so a typo is not printed verbatim for every record.
func parseTemplate(s string) (template, error) {
	var parts template
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, templatePart{literal: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' && c != '\\' {
			lit.WriteByte(c)
			continue
		}
		if i+1 == len(s) {
			return nil, fmt.Errorf("format %q ends with a lone %q", s, c)
		}
		i++
		next := s[i]
		switch {
		case c == '%' && next == '%':
			lit.WriteByte('%')
		case c == '%' && strings.IndexByte(templateVerbs, next) >= 0:
			flush()
			parts = append(parts, templatePart{verb: next})
		case c == '\\' && next == 'n':
			lit.WriteByte('\n')
		case c == '\\' && next == 't':
			lit.WriteByte('\t')
		case c == '\\' && next == '\\':
			lit.WriteByte('\\')
		default:
			return nil, fmt.Errorf("format %q: unknown %c%c at byte %d (want %%t %%p %%o %%k %%v %%h %%T %%K %%V %%%% \\n \\t \\\\)", s, c, next, i-1)
		}
	}
	flush()
	return parts, nil
}

func (t template) appendRecord(buf []byte, r *kgo.Record) []byte {
	for _, part := range t {
		switch part.verb {
		case 0:
			buf = append(buf, part.literal...)
		case 't':
			buf = append(buf, r.Topic...)
		case 'p':
			buf = strconv.AppendInt(buf, int64(r.Partition), 10)
		case 'o':
			buf = strconv.AppendInt(buf, r.Offset, 10)
		case 'k':
			buf = append(buf, r.Key...)
		case 'v':
			buf = append(buf, r.Value...)
		case 'h':
			for i, h := range r.Headers {
				if i > 0 {
					buf = append(buf, ',')
				}
				buf = append(buf, h.Key...)
				buf = append(buf, '=')
				buf = append(buf, h.Value...)
			}
		case 'T':
			buf = strconv.AppendInt(buf, r.Timestamp.UnixMilli(), 10)
		case 'K':
			buf = strconv.AppendInt(buf, int64(len(r.Key)), 10)
		case 'V':
			buf = strconv.AppendInt(buf, int64(len(r.Value)), 10)
		}
	}
	return buf
}
