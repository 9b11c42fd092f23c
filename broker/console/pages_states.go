package console

import (
	"net/http"

	"github.com/kzoo/kzoo/coordinator/placement"
)

// statesView is what the partition state machine page shows.
type statesView struct {
	// Topic is the ?topic= filter ("" for every topic).
	Topic  string
	Events []Event
	Pager  pager
	// All is the number of events kept, before filtering.
	All int
}

// states serves /states: the last partition state changes and leader
// elections, newest first, as the console saw them between two cluster
// views, 100 a page (?page=); ?topic= keeps one topic's (a topic page
// links there). An unknown topic is no error: a deleted topic's events
// stay.
func (h *handler) states(w http.ResponseWriter, r *http.Request) {
	topic := r.URL.Query().Get("topic")
	if r.URL.Query().Has("topic") {
		if err := placement.ValidateTopicName(topic); err != nil {
			h.badRequest(w, r, "topic", err.Error())
			return
		}
	}
	st := h.r.State()
	v := statesView{Topic: topic, Events: st.StateEvents, All: len(st.StateEvents)}
	if topic != "" {
		v.Events = nil
		for _, e := range st.StateEvents {
			if e.Partition.Topic == topic {
				v.Events = append(v.Events, e)
			}
		}
	}
	pg, ok := h.paging(w, r, len(v.Events), eventPageSize)
	if !ok {
		return
	}
	v.Pager, v.Events = pg, v.Events[pg.lo:pg.hi]
	h.render(w, r, http.StatusOK, "states", page{Title: "Partition states", Nav: "/states", Version: st.Version,
		Broker: st.Broker, Data: v})
}
