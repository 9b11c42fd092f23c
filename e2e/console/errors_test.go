package console

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// checkErrorPages checks that unknown pages, topics and groups get a 404
// page saying what was not found, and a bad query parameter a 400 page
// naming it.
func checkErrorPages(t *testing.T, b *browser) {
	t.Helper()
	for _, tc := range []struct {
		path   string
		status int
		names  string
	}{
		{"/topics/no-such-topic", http.StatusNotFound, "no-such-topic"},
		{"/groups/no-such-group", http.StatusNotFound, "no-such-group"},
		{"/no-such-page", http.StatusNotFound, ""},
		{"/topics?page=first", http.StatusBadRequest, "page"},
		{"/topics/" + topic + "?page=-1", http.StatusBadRequest, "page"},
	} {
		status, contentType, body := get(t, b.base+tc.path)
		if status != tc.status || !strings.HasPrefix(contentType, "text/html") || !strings.Contains(body, tc.names) {
			t.Errorf("GET %s: %d (%s), body %.300q; want %d, an HTML page naming %q", tc.path, status, contentType, body, tc.status, tc.names)
		}
	}
	b.openStatus("/topics/no-such-topic", http.StatusNotFound)
	b.screenshot("not-found")
}

// checkEvents checks that /events is an SSE stream that carries a version:
// at once or, at the latest, at one of the next ticks.
func checkEvents(t *testing.T, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /events: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("GET /events: %s (%s), want 200 text/event-stream", resp.Status, resp.Header.Get("Content-Type"))
	}
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if n := len(lines); n >= 2 && lines[n-2] == "event: version" && strings.HasPrefix(lines[n-1], "data: ") {
			if _, ok := number(strings.TrimPrefix(lines[n-1], "data: ")); ok {
				return
			}
		}
	}
	t.Errorf("GET /events: no \"event: version\" with a numeric data line in %q (%v)", lines, sc.Err())
}
