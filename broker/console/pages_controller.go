package console

import "net/http"

// controllerView is what the controller page shows.
type controllerView struct {
	HasSnap         bool
	Controller      int32
	ControllerEpoch int32
	Events          []Event
}

// controller serves /controller: who the controller is and the controller
// events seen (controller moves, brokers coming and going, topics created
// and deleted, reassignments), newest first.
func (h *handler) controller(w http.ResponseWriter, r *http.Request) {
	st := h.r.State()
	v := controllerView{Controller: -1, Events: st.ControllerEvents}
	if st.Snap != nil {
		v.HasSnap = true
		v.Controller, v.ControllerEpoch = st.Snap.ControllerID, st.Snap.ControllerEpoch
	}
	h.render(w, r, http.StatusOK, "controller", page{Title: "Controller", Nav: "/controller", Version: st.Version,
		Broker: st.Broker, Data: v})
}
