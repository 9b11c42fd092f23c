package console

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// readEvent reads one SSE message (up to a blank line), skipping nothing.
func readEvent(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the stream: %v (so far %q)", err, lines)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return strings.Join(lines, "\n")
		}
		lines = append(lines, line)
	}
}

func TestEventsStream(t *testing.T) {
	fr := newFakeReader()
	h := &handler{r: fr, src: &fakeSource{}, log: orDiscard(nil), heartbeat: 20 * time.Millisecond}
	srv := httptest.NewServer(h.routes(testAPI))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reqCtx, closeStream := context.WithCancel(ctx)
	req, _ := http.NewRequestWithContext(reqCtx, http.MethodGet, srv.URL+"/events", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	br := bufio.NewReader(resp.Body)
	// The version now, at once.
	if got := readEvent(t, br); got != "retry: 5000\nevent: version\ndata: 42" {
		t.Fatalf("first message %q", got)
	}
	// A newer version, then heartbeats (comments) while nothing changes.
	fr.versions <- 43
	sawVersion, sawComment := false, false
	for !sawVersion || !sawComment {
		switch got := readEvent(t, br); {
		case got == "event: version\ndata: 43":
			sawVersion = true
		case strings.HasPrefix(got, ":"):
			sawComment = true
		default:
			t.Fatalf("unexpected message %q", got)
		}
	}
	// The browser leaves: the subscription ends.
	closeStream()
	select {
	case <-fr.cancelled:
	case <-ctx.Done():
		t.Fatal("the subscription outlived its request")
	}
}

func TestEventsTooMany(t *testing.T) {
	fr := newFakeReader()
	fr.full = true
	rec, _ := get(t, newTestHandler(fr, &fakeSource{}), "/events")
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", rec.Code)
	}
	if rec.Header().Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

// TestServerStopsWithStreamsOpen: a live page does not hold the console's
// shutdown for the shutdown timeout.
func TestServerStopsWithStreamsOpen(t *testing.T) {
	fr := newFakeReader()
	s, err := Listen("127.0.0.1:0", newTestHandler(fr, &fakeSource{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()

	base := "http://" + s.Addr().String()
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `id="brokers"`) {
		t.Fatalf("GET /: %d", resp.StatusCode)
	}
	stream, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	readEvent(t, bufio.NewReader(stream.Body))

	start := time.Now()
	stop()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("Serve did not return")
	}
	if d := time.Since(start); d >= shutdownTimeout {
		t.Errorf("shutdown took %v: the open stream held it", d)
	}
	select {
	case <-fr.cancelled:
	default:
		t.Error("the stream's subscription was not cancelled")
	}
}

func TestListenConflict(t *testing.T) {
	s, err := Listen("127.0.0.1:0", http.NotFoundHandler(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = s.Serve(ctx) }()
	if _, err := Listen(s.Addr().String(), http.NotFoundHandler(), nil); err == nil {
		t.Error("a second console bound the same address")
	}
}
