package console

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// A tiny subset of CSS selectors over a parsed page, enough for the DOM
// contract: compound selectors (tag, #id, .class, [attr], [attr="v"])
// joined by the descendant combinator (a space).

// doc is a parsed page.
type doc struct {
	t    testing.TB
	root *html.Node
	src  string
}

func parseDoc(t testing.TB, src string) *doc {
	t.Helper()
	n, err := html.Parse(strings.NewReader(src))
	if err != nil {
		t.Fatalf("parse page: %v", err)
	}
	return &doc{t: t, root: n, src: src}
}

// compound is one simple selector sequence.
type compound struct {
	tag, id string
	classes []string
	attrs   [][2]string // name, value ("\x00" for presence only)
}

func parseSelector(t testing.TB, sel string) []compound {
	t.Helper()
	var out []compound
	for _, part := range splitOutsideBrackets(sel) {
		var c compound
		s := part
		for len(s) > 0 {
			switch s[0] {
			case '#', '.':
				end := strings.IndexAny(s[1:], "#.[")
				if end < 0 {
					end = len(s) - 1
				}
				name := s[1 : end+1]
				if s[0] == '#' {
					c.id = name
				} else {
					c.classes = append(c.classes, name)
				}
				s = s[end+1:]
			case '[':
				end := strings.IndexByte(s, ']')
				if end < 0 {
					t.Fatalf("selector %q: unclosed [", sel)
				}
				body := s[1:end]
				if k, v, ok := strings.Cut(body, "="); ok {
					c.attrs = append(c.attrs, [2]string{k, strings.Trim(v, `"`)})
				} else {
					c.attrs = append(c.attrs, [2]string{body, "\x00"})
				}
				s = s[end+1:]
			default:
				end := strings.IndexAny(s, "#.[")
				if end < 0 {
					end = len(s)
				}
				c.tag = s[:end]
				s = s[end:]
			}
		}
		out = append(out, c)
	}
	return out
}

// splitOutsideBrackets splits sel on spaces that are not inside [...].
func splitOutsideBrackets(sel string) []string {
	var parts []string
	depth, start := 0, 0
	for i, r := range sel {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case r == ' ' && depth == 0:
			if i > start {
				parts = append(parts, sel[start:i])
			}
			start = i + 1
		}
	}
	if start < len(sel) {
		parts = append(parts, sel[start:])
	}
	return parts
}

func attrOf(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val, true
		}
	}
	return "", false
}

func (c compound) matches(n *html.Node) bool {
	if n.Type != html.ElementNode {
		return false
	}
	if c.tag != "" && n.Data != c.tag {
		return false
	}
	if c.id != "" {
		if v, _ := attrOf(n, "id"); v != c.id {
			return false
		}
	}
	if len(c.classes) > 0 {
		have := strings.Fields(func() string { v, _ := attrOf(n, "class"); return v }())
		for _, want := range c.classes {
			found := false
			for _, h := range have {
				found = found || h == want
			}
			if !found {
				return false
			}
		}
	}
	for _, a := range c.attrs {
		v, ok := attrOf(n, a[0])
		if !ok || (a[1] != "\x00" && v != a[1]) {
			return false
		}
	}
	return true
}

// all returns the elements matching sel, in document order.
func (d *doc) all(sel string) []*html.Node {
	d.t.Helper()
	return queryAll(d.root, parseSelector(d.t, sel))
}

func queryAll(root *html.Node, chain []compound) []*html.Node {
	var out []*html.Node
	seen := map[*html.Node]bool{}
	var walk func(n *html.Node, step int)
	walk = func(n *html.Node, step int) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			next := step
			if chain[step].matches(c) {
				if step == len(chain)-1 {
					if !seen[c] {
						seen[c] = true
						out = append(out, c)
					}
				} else {
					walk(c, step+1)
				}
			}
			walk(c, next)
		}
	}
	walk(root, 0)
	// document order: walk may find deeper matches out of order only when
	// selectors nest; the pages' checks do not depend on it beyond rows.
	return out
}

// one returns the only element matching sel.
func (d *doc) one(sel string) *html.Node {
	d.t.Helper()
	ns := d.all(sel)
	if len(ns) != 1 {
		d.t.Fatalf("%d elements match %q, want 1", len(ns), sel)
	}
	return ns[0]
}

// text returns the text of the only element matching sel, spaces trimmed.
func (d *doc) text(sel string) string {
	d.t.Helper()
	return textOf(d.one(sel))
}

// attr returns attribute name of the only element matching sel.
func (d *doc) attr(sel, name string) string {
	d.t.Helper()
	v, ok := attrOf(d.one(sel), name)
	if !ok {
		d.t.Fatalf("%q has no attribute %s", sel, name)
	}
	return v
}

// expect checks the text of the only element matching sel.
func (d *doc) expect(sel, want string) {
	d.t.Helper()
	if got := d.text(sel); got != want {
		d.t.Errorf("%s: text %q, want %q", sel, got, want)
	}
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}
