package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// assets are the templates and the static files, built into the binary: a
// console needs nothing installed and nothing from the network.
//
//go:embed templates/*.html static/*
var assets embed.FS

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{
	"cluster", "topics", "topic", "states", "groups", "group",
	"reassignments", "controller", "confirm", "result", "error",
}

// templates holds one template set per page: the layout plus the page's
// "main". Parsed once; a template that does not parse fails every test.
var templates = parseTemplates()

func parseTemplates() map[string]*template.Template {
	funcs := template.FuncMap{
		"bytes":     formatBytes,
		"lower":     func(s any) string { return strings.ToLower(fmt.Sprint(s)) },
		"rate":      formatRate,
		"clock":     formatClock,
		"ids":       formatIDs,
		"pathEsc":   url.PathEscape,
		"isMissing": func(isr []int32, id int32) bool { return !slices.Contains(isr, id) },
	}
	sets := make(map[string]*template.Template, len(pageNames))
	for _, name := range pageNames {
		t := template.New(name).Funcs(funcs)
		sets[name] = template.Must(t.ParseFS(assets, "templates/layout.html", "templates/"+name+".html"))
	}
	return sets
}

// staticHandler serves static/ at /static/.
func staticHandler() http.Handler {
	sub, err := fs.Sub(assets, "static")
	if err != nil { // static is embedded: it is there
		panic(err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		files.ServeHTTP(w, r)
	})
}

// page is what the layout renders around a page's own Data.
type page struct {
	Title string
	// Nav is the nav link of the page ("/", "/topics", ...).
	Nav     string
	Version uint64
	Broker  int32
	// Live is true when the script should refresh the page as the state
	// changes (not for the answers to a POST).
	Live bool
	Data any
}

// fragmentHeader asks for main's inner HTML only: the script swaps it in
// when the live stream says the state changed.
const fragmentHeader = "X-Console-Fragment"

// render executes page name into a buffer, so that a failing template
// gives a clean 500, and writes it with status.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t := templates[name]
	if p.Title == "" {
		p.Title = name
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		p.Live = true
	}
	entry := "layout"
	if r.Header.Get(fragmentHeader) == "1" {
		entry = "main"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, entry, p); err != nil {
		h.log.WithError(err).WithField("page", name).Error("console: rendering a page")
		http.Error(w, "console: rendering the page failed", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Add("Vary", fragmentHeader)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a client gone away is no error of ours
}

// pageSize is how many rows a topic list or a partition table shows: a
// page stays quick at 1,000 partitions and more.
const pageSize = 200

// pager is one page of a list and the links to its neighbours.
type pager struct {
	Page, Pages int
	// Total is the number of rows; From and To (1-based, inclusive) the
	// rows shown.
	Total, From, To int
	Prev, Next      string
	// lo and hi are the slice bounds of the page.
	lo, hi int
}

// eventPageSize is how many state changes /states shows a page.
const eventPageSize = 100

// paginate reads ?page= (1-based, default 1) for total rows, size a page.
// The error says what is wrong with the parameter.
func paginate(r *http.Request, total, size int) (pager, error) {
	pages := max(1, (total+size-1)/size)
	n := 1
	if v := r.URL.Query().Get("page"); v != "" || r.URL.Query().Has("page") {
		var err error
		n, err = strconv.Atoi(v)
		if err != nil {
			return pager{}, fmt.Errorf("%q is not a page number", v)
		}
		if n < 1 || n > pages {
			return pager{}, fmt.Errorf("page %d is out of range 1..%d", n, pages)
		}
	}
	p := pager{Page: n, Pages: pages, Total: total, lo: (n - 1) * size}
	p.hi = min(total, p.lo+size)
	if total > 0 {
		p.From, p.To = p.lo+1, p.hi
	}
	link := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return r.URL.Path + "?" + q.Encode()
	}
	if n > 1 {
		p.Prev = link(n - 1)
	}
	if n < pages {
		p.Next = link(n + 1)
	}
	return p, nil
}

// paging reads r's ?page= like paginate; when it is wrong it answers 400
// naming the parameter and ok is false.
func (h *handler) paging(w http.ResponseWriter, r *http.Request, total, size int) (p pager, ok bool) {
	p, err := paginate(r, total, size)
	if err != nil {
		h.badRequest(w, r, "page", err.Error())
		return pager{}, false
	}
	return p, true
}

// formatBytes writes a size in binary units: "0 B", "999 B", "1.5 KiB",
// "12 MiB".
func formatBytes(n int64) string {
	if n < 0 {
		return "–"
	}
	return humanBinary(float64(n), "B")
}

// formatRate writes bytes per second in binary units.
func formatRate(perSec float64) string {
	if perSec < 0 {
		return "–"
	}
	return humanBinary(perSec, "B/s")
}

// humanBinary writes v with a binary prefix and three significant figures
// at most (one decimal below 10, none above).
func humanBinary(v float64, unit string) string {
	prefixes := []string{"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
	i := 0
	for v >= 1024 && i < len(prefixes)-1 {
		v /= 1024
		i++
	}
	switch {
	case i == 0 && v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10) + " " + unit
	case v < 10:
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + prefixes[i] + unit
	default:
		return strconv.FormatFloat(v, 'f', 0, 64) + " " + prefixes[i] + unit
	}
}

// formatClock writes an event's time of day in UTC; the zero time is "–".
func formatClock(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("15:04:05.000")
}

// formatIDs writes broker ids as "1,2,3".
func formatIDs(ids []int32) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(int64(id), 10))
	}
	return b.String()
}

// itoa writes an integer in decimal.
func itoa[T ~int | ~int32 | ~int64](v T) string { return strconv.FormatInt(int64(v), 10) }

// quote writes a name the cluster gave (a topic, a group) between quotes,
// non-printable characters escaped.
func quote(s string) string { return strconv.Quote(s) }

// formatCount writes a count on a chart's axis: 950, 1.5k, 12M.
func formatCount(v float64) string {
	switch {
	case v >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 3, 64) + "G"
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 3, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'g', 3, 64) + "k"
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}
