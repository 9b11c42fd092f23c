package console

import "net/http"

// statesView is what the partition state machine page shows.
type statesView struct {
	Events []Event
}

// states serves /states: the last partition state changes and leader
// elections, newest first, as the console saw them between two cluster
// views.
func (h *handler) states(w http.ResponseWriter, r *http.Request) {
	st := h.r.State()
	h.render(w, r, http.StatusOK, "states", page{Title: "Partition states", Nav: "/states", Version: st.Version,
		Broker: st.Broker, Data: statesView{Events: st.StateEvents}})
}
