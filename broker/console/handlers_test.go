package console

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// checkPage checks what every page carries: the version, main, the nav.
func checkPage(t *testing.T, d *doc, version string) {
	t.Helper()
	if got := d.attr("body", "data-version"); got != version {
		t.Errorf("body data-version %q, want %q", got, version)
	}
	d.one("main#main")
	for _, href := range []string{"/", "/topics", "/states", "/groups", "/reassignments", "/controller"} {
		if len(d.all(`header nav a[href="`+href+`"]`)) != 1 {
			t.Errorf("no nav link to %s", href)
		}
	}
}

// getPage gets a page of the fixed cluster that must answer 200 and
// carry what every page carries.
func getPage(t *testing.T, h http.Handler, path string) *doc {
	t.Helper()
	rec, d := get(t, h, path)
	if rec.Code != http.StatusOK {
		t.Fatalf("%s: status %d:\n%s", path, rec.Code, rec.Body)
	}
	checkPage(t, d, "42")
	return d
}

func TestClusterPage(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	d := getPage(t, h, "/")
	d.expect("#controller", "2")
	d.expect("#controller-epoch", "9")
	for state, want := range map[string]string{"NonExistent": "1", "New": "1", "Online": "4", "Offline": "2"} {
		d.expect(`[data-state-count="`+state+`"]`, want)
	}
	// orders-1, events-0 (reassigning, its new replica not in the ISR
	// yet) and fresh-1 (no ISR yet: coordinator.Partition.UnderReplicated
	// is len(ISR) < len(Replicas)); lonely-0 is offline; doomed-0 (being
	// deleted) is neither.
	d.expect("#under-replicated", "3")
	d.expect("#offline", "1")

	rows := d.all("table#brokers tr[data-broker]")
	if len(rows) != 4 {
		t.Fatalf("%d broker rows, want 4 (3 alive, broker 4 gone)", len(rows))
	}
	for _, c := range []struct{ id, addr, rack, alive, led, in, out string }{
		{"1", "10.0.0.1:9092", "r1", "yes", "1", "1.5 KiB/s", "3.0 MiB/s"},
		{"2", "10.0.0.2:9092", "r2", "yes", "2", "–", "–"},
		{"3", "10.0.0.3:9092", "–", "yes", "1", "0 B/s", "0 B/s"},
		{"4", "–", "–", "no", "0", "–", "–"},
	} {
		row := `table#brokers tr[data-broker="` + c.id + `"] `
		d.expect(row+"td.address", c.addr)
		d.expect(row+"td.rack", c.rack)
		d.expect(row+"td.alive", c.alive)
		d.expect(row+"td.led", c.led)
		d.expect(row+"td.bytes-in", c.in)
		d.expect(row+"td.bytes-out", c.out)
	}
	if got := d.attr(`tr[data-broker="1"] td.bytes-in`, "data-value"); got != "1536" {
		t.Errorf("bytes-in data-value %q, want 1536", got)
	}
	servers := d.all("ul#zk-servers li")
	if len(servers) != 3 {
		t.Fatalf("%d ZooKeeper servers, want 3", len(servers))
	}
	connected := d.all(`ul#zk-servers li[data-connected="true"]`)
	if len(connected) != 1 || !strings.HasPrefix(textOf(connected[0]), "zk2:2181") {
		t.Errorf("connected ZooKeeper server: %d elements, want zk2:2181", len(connected))
	}
	if n := len(d.all("svg.throughput-chart")); n != 2 {
		t.Errorf("%d throughput charts, want 2 (in, out)", n)
	}
	// Three live brokers plus broker 4 gone (no figures): three lines.
	if n := len(d.all("svg.throughput-chart polyline")); n != 6 {
		t.Errorf("%d chart lines, want 6", n)
	}
}

func TestTopicsPage(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	d := getPage(t, h, "/topics")
	rows := d.all("table#topics tr[data-topic]")
	var names []string
	for _, r := range rows {
		v, _ := attrOf(r, "data-topic")
		names = append(names, v)
	}
	if got := strings.Join(names, ","); got != "doomed,events,fresh,lonely,orders" {
		t.Errorf("topics %s, want them all in order", got)
	}
	o := `tr[data-topic="orders"] `
	d.expect(o+"td.partitions", "3")
	d.expect(o+"td.rf", "3")
	d.expect(o+"td.size", "5.0 MiB")
	d.expect(o+"td.bytes-in", "1.5 KiB/s")
	d.expect(o+"td.bytes-out", "512 B/s")
	// events is moving from 1,2 to 2,3: RF 2 once done.
	d.expect(`tr[data-topic="events"] td.rf`, "2")
	d.expect(`tr[data-topic="lonely"] td.size`, "–")
	if href := d.attr(o+"td.name a", "href"); href != "/topics/orders" {
		t.Errorf("link %q", href)
	}

	_, d = get(t, h, "/topics?q=RD")
	if n := len(d.all("table#topics tr[data-topic]")); n != 1 {
		t.Errorf("?q=RD: %d topics, want 1 (orders)", n)
	}
	_, d = get(t, h, "/topics?q=nothing-like-it")
	if n := len(d.all("table#topics tr[data-topic]")); n != 0 {
		t.Errorf("?q=nothing-like-it: %d topics, want 0", n)
	}
}

func TestTopicPage(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	d := getPage(t, h, "/topics/orders")
	d.expect("#partition-count", "3")
	if n := len(d.all("table#partitions tr[data-partition]")); n != 3 {
		t.Fatalf("%d partition rows, want 3", n)
	}
	p := func(n string) string { return `table#partitions tr[data-partition="` + n + `"] ` }
	d.expect(p("0")+"td.state", "Online")
	d.expect(p("0")+"td.leader", "1")
	d.expect(p("0")+"td.epoch", "5")
	d.expect(p("0")+"td.replicas", "1,2,3")
	d.expect(p("0")+"td.isr", "1,2,3")
	d.expect(p("0")+"td.log-start", "100")
	d.expect(p("0")+"td.log-end", "2500")
	// partition 1: replica 1 is out of the ISR and marked.
	d.expect(p("1")+"td.isr", "2,3,1")
	d.expect(p("1")+"td.isr s.missing", "1")
	d.expect(p("1")+"td.log-end", "77")
	// partition 2: its leader did not answer.
	d.expect(p("2")+"td.log-end", "–")

	cells := d.all("#partition-grid [data-partition]")
	if len(cells) != 3 {
		t.Fatalf("%d grid cells, want 3", len(cells))
	}
	if cls, _ := attrOf(d.one(`#partition-grid [data-partition="1"]`), "class"); cls != "cell state-online urp" {
		t.Errorf("grid cell of partition 1: class %q", cls)
	}
	if cls, _ := attrOf(d.one(`#partition-grid [data-partition="0"]`), "class"); cls != "cell state-online" {
		t.Errorf("grid cell of partition 0: class %q", cls)
	}

	d.expect(`table#configs tr[data-config="retention.ms"] td.value`, "86400000")
	d.expect(`table#configs tr[data-config="retention.ms"] td.source`, "DYNAMIC_TOPIC_CONFIG")
	d.expect(`table#configs tr[data-config="cleanup.policy"] td.source`, "DEFAULT_CONFIG")
	d.expect(`table#configs tr[data-config="secret.thing"] td.value`, "(sensitive)")

	form := d.one("form#elect-preferred")
	if a, _ := attrOf(form, "action"); a != "/topics/orders/elect-preferred" {
		t.Errorf("form action %q", a)
	}
	if m, _ := attrOf(form, "method"); m != "post" {
		t.Errorf("form method %q", m)
	}
	d.one("svg.throughput-chart")
}

func TestTopicPageStates(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	_, d := get(t, h, "/topics/lonely")
	d.expect(`table#partitions tr[data-partition="0"] td.state`, "Offline")
	d.expect(`table#partitions tr[data-partition="0"] td.leader`, "none")
	d.expect("#offline", "1")
	if cls, _ := attrOf(d.one(`#partition-grid [data-partition="0"]`), "class"); cls != "cell state-offline" {
		t.Errorf("grid class %q", cls)
	}
	_, d = get(t, h, "/topics/fresh")
	for n, want := range map[string]string{"0": "cell state-new", "1": "cell state-nonexistent urp"} {
		if cls, _ := attrOf(d.one(`#partition-grid [data-partition="`+n+`"]`), "class"); cls != want {
			t.Errorf("fresh-%s grid class %q, want %q", n, cls, want)
		}
	}
	_, d = get(t, h, "/topics/doomed")
	d.expect("#offline", "0")
}

func TestTopicConfigError(t *testing.T) {
	src := &fakeSource{configErr: errFake("the broker is shutting down")}
	h := newTestHandler(newFakeReader(), src)
	rec, d := get(t, h, "/topics/orders")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	if !strings.Contains(d.src, "the broker is shutting down") {
		t.Error("the page does not say why the configs are missing")
	}
	d.expect("#partition-count", "3")
}

type errFake string

func (e errFake) Error() string { return string(e) }

func TestStatesPage(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	d := getPage(t, h, "/states")
	rows := d.all("table#state-events tr.event")
	if len(rows) != 2 {
		t.Fatalf("%d events, want 2", len(rows))
	}
	if v, _ := attrOf(rows[0], "data-topic"); v != "lonely" {
		t.Errorf("newest event of %q, want lonely first", v)
	}
	e := `table#state-events tr.event[data-topic="lonely"][data-partition="0"] `
	d.expect(e+"td.time", "05:59:59.000")
	d.expect(e+"td.from", "Online")
	d.expect(e+"td.to", "Offline")
	d.expect(e+"td.leader", "4 → none")
	d.expect(e+"td.epoch", "7")
	d.expect(e+"td.cause", "broker 4 went away")

	_, d = get(t, h, "/states?topic=orders")
	if rows := d.all("table#state-events tr.event"); len(rows) != 1 {
		t.Errorf("?topic=orders: %d events, want 1", len(rows))
	}
	// A topic with no events (or deleted): an empty table, no error.
	if rec, d := get(t, h, "/states?topic=gone"); rec.Code != http.StatusOK || len(d.all("table#state-events tr.event")) != 0 {
		t.Errorf("?topic=gone: status %d", rec.Code)
	}
	for _, bad := range []string{"/states?page=2", "/states?topic=", "/states?topic=a%20b", "/states?topic=" + strings.Repeat("x", 250)} {
		want := `"topic"`
		if strings.Contains(bad, "page") {
			want = `"page"`
		}
		if rec, d := get(t, h, bad); rec.Code != http.StatusBadRequest || !strings.Contains(d.text("main"), want) {
			t.Errorf("%s: status %d, want 400 naming %s", bad, rec.Code, want)
		}
	}
}

func TestControllerPage(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	d := getPage(t, h, "/controller")
	d.expect("#controller", "2")
	rows := d.all("table#controller-events tr.event")
	if len(rows) != 2 {
		t.Fatalf("%d events, want 2", len(rows))
	}
	times, texts := d.all("table#controller-events tr.event td.time"), d.all("table#controller-events tr.event td.text")
	if len(times) != 2 || len(texts) != 2 {
		t.Fatalf("%d times and %d texts, want 2 of each", len(times), len(texts))
	}
	if textOf(times[0]) != "05:59:59.000" || textOf(texts[0]) != "broker 4 left" {
		t.Errorf("newest event %q %q", textOf(times[0]), textOf(texts[0]))
	}
}

func TestReassignmentsPage(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	d := getPage(t, h, "/reassignments")
	rows := d.all("table#reassignments tr[data-topic][data-partition]")
	if len(rows) != 1 {
		t.Fatalf("%d reassignments, want 1", len(rows))
	}
	r := `table#reassignments tr[data-topic="events"][data-partition="0"] `
	d.expect(r+"td.adding", "3")
	d.expect(r+"td.removing", "1")
	d.expect(r+"td.progress", "0 of 1 new replicas in ISR")
	d.expect(r+"td.target", "2,3")
}

func TestGroupsPage(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	d := getPage(t, h, "/groups")
	if n := len(d.all("table#groups tr[data-group]")); n != 3 {
		t.Fatalf("%d groups, want 3", n)
	}
	g := `table#groups tr[data-group="payments"] `
	d.expect(g+"td.state", "Stable")
	d.expect(g+"td.members", "2")
	d.expect(g+"td.lag", "15")
	// The HTML-ish id is an attribute value and a text, both escaped.
	d.expect(`table#groups tr[data-group="<b>x</b>"] td.lag`, "1000")
	if strings.Contains(d.src, "<b>x</b>") {
		t.Error("the group id <b>x</b> reached the page unescaped")
	}
	if !strings.Contains(d.src, "&lt;b&gt;x&lt;/b&gt;") {
		t.Error("the group id <b>x</b> is not shown as text")
	}
	if len(d.all("b")) != 0 {
		t.Error("the page has a <b> element: a group id became markup")
	}
	if href := d.attr(`tr[data-group="<b>x</b>"] td.name a`, "href"); href != "/groups/%3Cb%3Ex%3C%2Fb%3E" {
		t.Errorf("link %q, want the id path-escaped", href)
	}
	// a/b's end offset could not be read: its lag is unknown.
	d.expect(`table#groups tr[data-group="a/b"] td.lag`, "–")

	_, d = get(t, h, "/groups?q=PAY")
	if n := len(d.all("table#groups tr[data-group]")); n != 1 {
		t.Errorf("?q=PAY: %d groups, want 1", n)
	}
	if rec, _ := get(t, h, "/groups?page=2"); rec.Code != http.StatusBadRequest {
		t.Errorf("?page=2 of 1: status %d", rec.Code)
	}
}

func TestGroupPage(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	d := getPage(t, h, "/groups/payments")
	d.expect("#group-state", "Stable")
	d.expect("#group-lag", "15")
	if n := len(d.all("table#members tr[data-member]")); n != 2 {
		t.Errorf("%d members, want 2", n)
	}
	d.expect(`table#members tr[data-member="m-1"] td.assignment`, "orders-0")
	o := `table#offsets tr[data-topic="orders"][data-partition="0"] `
	d.expect(o+"td.committed", "10")
	d.expect(o+"td.end", "25")
	d.expect(o+"td.lag", "15")
	d.one("svg#lag-chart")
	if n := len(d.all("svg#lag-chart polyline")); n != 1 {
		t.Errorf("%d lines in the lag chart, want 1", n)
	}

	// Escaped and slashed ids.
	d = getPage(t, h, "/groups/%3Cb%3Ex%3C%2Fb%3E")
	d.expect("#group-id", "<b>x</b>")
	d.expect("#group-lag", "1000")
	if len(d.all("main b")) != 0 {
		t.Error("group <b>x</b>: its id became markup")
	}
	d = getPage(t, h, "/groups/a%2Fb")
	d.expect("#group-id", "a/b")
	d.expect(`table#offsets tr[data-partition="0"] td.lag`, "–")
}

func TestNotFound(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	for path, says := range map[string]string{
		"/nope":            "/nope",
		"/topics/missing":  `"missing"`,
		"/groups/missing":  `"missing"`,
		"/topics/orders/x": "/topics/orders/x",
		"/topics/%3Cb%3Ey": `"<b>y"`,
	} {
		rec, d := get(t, h, path)
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, rec.Code)
			continue
		}
		if !strings.Contains(d.text("main"), says) {
			t.Errorf("%s: the page does not name %s: %q", path, says, d.text("main"))
		}
		checkPage(t, d, "42")
		if len(d.all("main b")) > 0 {
			t.Errorf("%s: the name asked for became markup", path)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	for _, c := range []struct{ method, path, allow string }{
		{http.MethodDelete, "/", "GET, HEAD"},
		{http.MethodPost, "/topics", "GET, HEAD"},
		{http.MethodPut, "/topics/orders", "GET, HEAD"},
		{http.MethodGet, "/topics/orders/elect-preferred", "POST"},
		{http.MethodDelete, "/topics/orders/elect-preferred", "POST"},
	} {
		req := httptest.NewRequest(c.method, c.path, nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != c.allow {
			t.Errorf("%s %s: status %d, Allow %q; want 405, %q", c.method, c.path, rec.Code, rec.Header().Get("Allow"), c.allow)
		}
		if !strings.Contains(rec.Body.String(), "Method not allowed") {
			t.Errorf("%s %s: not the console's page", c.method, c.path)
		}
	}
	// No page there at all: 404 whatever the method.
	req := httptest.NewRequest(http.MethodDelete, "/nope", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound {
		t.Errorf("DELETE /nope: status %d, want 404", rec.Code)
	}
}

func TestBadQuery(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	for _, path := range []string{
		"/topics?page=x", "/topics?page=0", "/topics?page=2", "/topics?page=", "/topics?page=-1",
		"/topics/orders?page=2", "/topics/orders?page=1.5", "/topics?q=" + strings.Repeat("a", 250),
	} {
		rec, d := get(t, h, path)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", path, rec.Code)
			continue
		}
		param := `"page"`
		if strings.Contains(path, "q=") {
			param = `"q"`
		}
		if !strings.Contains(d.text("main"), param) {
			t.Errorf("%s: the page does not name %s: %q", path, param, d.text("main"))
		}
	}
	for path, param := range map[string]string{
		"/topics?pgae=2": `"pgae"`, "/?x=1": `"x"`, "/controller?page=1": `"page"`, "/topics/orders?q=o": `"q"`,
		"/topics?q=%zz": "does not parse", "/events?v=1": `"v"`,
	} {
		rec, d := get(t, h, path)
		if rec.Code != http.StatusBadRequest || !strings.Contains(d.text("main"), param) {
			t.Errorf("%s: status %d, page %q; want 400 naming %s", path, rec.Code, d.text("main"), param)
		}
	}
	if rec, _ := get(t, h, "/topics?page=1"); rec.Code != http.StatusOK {
		t.Errorf("page=1: status %d", rec.Code)
	}
}

func TestNoSnapshotYet(t *testing.T) {
	r := newFakeReader()
	r.state = State{Broker: 1, Version: 1}
	h := newTestHandler(r, &fakeSource{})
	for _, path := range []string{"/", "/topics", "/states", "/groups", "/reassignments", "/controller"} {
		rec, d := get(t, h, path)
		if rec.Code != http.StatusOK {
			t.Errorf("%s before the first view: status %d", path, rec.Code)
			continue
		}
		checkPage(t, d, "1")
	}
	if rec, _ := get(t, h, "/topics/orders"); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a topic before the first view: status %d, want 503", rec.Code)
	}
}

func TestFragment(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	rec, _ := get(t, h, "/topics/orders", fragmentHeader, "1")
	body := rec.Body.String()
	if strings.Contains(body, "<html") || strings.Contains(body, "<nav") || strings.Contains(body, `id="main"`) {
		t.Errorf("a fragment carries more than main's inner HTML:\n%.300s", body)
	}
	if !strings.Contains(body, `id="partition-count"`) {
		t.Error("the fragment lacks the page's content")
	}
	if v := rec.Header().Values("Vary"); len(v) == 0 || v[0] != fragmentHeader {
		t.Errorf("Vary %q", v)
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	for _, path := range []string{"/", "/nope", "/static/console.css"} {
		rec, _ := get(t, h, path)
		csp := rec.Header().Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP allows inline code", path)
		}
		if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", path)
		}
	}
	// The pages hold no inline script or style for the CSP to block.
	for _, path := range []string{"/", "/topics", "/topics/orders", "/states", "/groups", "/groups/payments", "/reassignments", "/controller"} {
		_, d := get(t, h, path)
		for _, s := range d.all("script") {
			if src, ok := attrOf(s, "src"); !ok || src != "/static/console.js" {
				t.Errorf("%s: a script that is not /static/console.js", path)
			}
		}
		if len(d.all("style")) > 0 || len(d.all("[style]")) > 0 {
			t.Errorf("%s: inline style", path)
		}
		for _, attr := range []string{"onclick", "onload", "onerror", "onsubmit"} {
			if len(d.all("["+attr+"]")) > 0 {
				t.Errorf("%s: inline handler %s", path, attr)
			}
		}
	}
}

func TestStaticAssets(t *testing.T) {
	h := newTestHandler(newFakeReader(), &fakeSource{})
	for path, ctype := range map[string]string{"/static/console.css": "text/css", "/static/console.js": "text/javascript"} {
		rec, _ := get(t, h, path)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), ctype) {
			t.Errorf("%s: status %d, type %q", path, rec.Code, rec.Header().Get("Content-Type"))
		}
		if rec.Body.Len() == 0 {
			t.Errorf("%s: empty", path)
		}
	}
	if rec, _ := get(t, h, "/static/missing.js"); rec.Code != http.StatusNotFound {
		t.Errorf("missing asset: status %d", rec.Code)
	}
	if rec, _ := get(t, h, "/api/broker"); rec.Code != http.StatusOK || rec.Body.String() != `{"broker":1}` {
		t.Errorf("/api/broker is not routed to the report: %d %q", rec.Code, rec.Body)
	}
}

// TestNoExternalAssets: the console loads nothing from the network but
// itself (no CDN), as an air-gapped operator needs.
func TestNoExternalAssets(t *testing.T) {
	for _, dir := range []string{"templates", "static"} {
		entries, err := assets.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := assets.ReadFile(dir + "/" + e.Name())
			if err != nil {
				t.Fatal(err)
			}
			s := strings.ReplaceAll(string(b), `xmlns="http://www.w3.org/2000/svg"`, "")
			for _, ref := range []string{"http://", "https://", "//cdn", "@import"} {
				if strings.Contains(s, ref) {
					t.Errorf("%s/%s refers to %s", dir, e.Name(), ref)
				}
			}
		}
	}
}
