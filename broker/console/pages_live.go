package console

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// streamWriteTimeout bounds one write to a live stream: a browser that
// stopped reading loses its stream rather than holding a goroutine.
const streamWriteTimeout = 10 * time.Second

// events serves GET /events: a Server-Sent Events stream that sends
// "event: version" with the State's Version when the stream opens and each
// time it grows, and a comment every heartbeat. The page's script refetches
// itself on each. The stream ends with the request's context (the browser
// leaving, the console stopping). When too many pages are subscribed the
// answer is 503 and the page simply stays as it is.
func (h *handler) events(w http.ResponseWriter, r *http.Request) {
	versions, cancel, ok := h.r.Subscribe()
	if !ok {
		w.Header().Set("Retry-After", "30")
		h.fail(w, r, http.StatusServiceUnavailable, "Too many live pages",
			"The console serves a bounded number of live pages; this one will not update by itself.")
		return
	}
	defer cancel()
	rc := http.NewResponseController(w)
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // a proxy in front must not buffer it
	w.WriteHeader(http.StatusOK)

	send := func(msg string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) // unsupported only in tests' recorders
		if _, err := fmt.Fprint(w, msg); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	version := func(v uint64) string {
		return "event: version\ndata: " + strconv.FormatUint(v, 10) + "\n\n"
	}
	if !send("retry: 5000\n" + version(h.r.State().Version)) {
		return
	}
	beat := time.NewTicker(h.heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case v, open := <-versions:
			if !open || !send(version(v)) {
				return
			}
		case <-beat.C:
			if !send(": keep-alive\n\n") {
				return
			}
		}
	}
}
