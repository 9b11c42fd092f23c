package console

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/kzoo/kzoo/coordinator/placement"
)

// serveBrokerReport answers /api/broker: this broker's own figures, which
// the other brokers' consoles gather every tick (and, with ?topic=, the
// local replicas of one topic for a topic page). It is bounded by three
// quarters of PeerTimeout: the asking console waits PeerTimeout, and a
// report that cannot be made in time should reach it as a 503 that says
// why rather than as a timeout.
func (c *Console) serveBrokerReport(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed: /api/broker answers GET", http.StatusMethodNotAllowed)
		return
	}
	query := r.URL.Query()
	topic := query.Get("topic")
	if _, set := query["topic"]; set {
		if err := placement.ValidateTopicName(topic); err != nil {
			http.Error(w, "bad parameter topic: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.cfg.PeerTimeout*3/4)
	defer cancel()
	rep, err := c.src.Report(ctx, topic)
	if err != nil {
		http.Error(w, "this broker's report is unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	body, err := json.Marshal(rep)
	if err != nil {
		http.Error(w, "encoding the report: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}
