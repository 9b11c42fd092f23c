package console

import (
	"errors"
	"net"
	"net/http"
	"slices"
)

// maxFormBytes bounds an action's form: it holds one field.
const maxFormBytes = 4 << 10

// electResult is one partition that did not get its preferred leader.
type electResult struct {
	Partition int32
	Err       string
}

// actionView is what the confirmation and result pages show.
type actionView struct {
	Topic     string
	Principal string
	// Partitions is the topic's partition count.
	Partitions int
	// Failed holds the partitions left without their preferred leader;
	// Err is set when the election could not run at all.
	Failed []electResult
	Err    string
}

// electPreferred serves POST /topics/NAME/elect-preferred. Without
// confirm=yes it shows what would happen and asks to confirm; with it, it
// runs the election. Either way the request must be allowed to: with
// security on that takes Basic credentials of a principal with ALTER on
// the cluster, as for an ElectLeaders request. Nothing else changes the
// cluster, and nothing here deletes anything.
func (h *handler) electPreferred(w http.ResponseWriter, r *http.Request) {
	st, t, ok := h.topicOf(w, r)
	if !ok {
		return
	}
	name := t.Name
	var creds Credentials
	creds.User, creds.Password, creds.Present = r.BasicAuth()
	creds.Host = remoteHost(r)
	principal, err := h.src.Authorize(r.Context(), creds, ActionElectPreferred, name)
	switch {
	case errors.Is(err, ErrAuthRequired):
		w.Header().Set("WWW-Authenticate", `Basic realm="kzoo console", charset="UTF-8"`)
		h.fail(w, r, http.StatusUnauthorized, "Authentication required",
			"A preferred leader election needs the credentials of a user allowed to alter the cluster.")
		return
	case errors.Is(err, ErrDenied):
		h.fail(w, r, http.StatusForbidden, "Not allowed",
			"You may not run a preferred leader election: it takes ALTER on the cluster.")
		return
	case err != nil:
		h.log.WithError(err).Warn("console: authorizing a preferred election")
		h.fail(w, r, http.StatusInternalServerError, "Authorization failed", err.Error())
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.fail(w, r, http.StatusBadRequest, "Bad request", "The form could not be read: "+err.Error())
		return
	}
	v := actionView{Topic: name, Principal: principal, Partitions: len(t.Partitions)}
	p := page{Title: "Preferred leader election", Nav: "/topics", Version: st.Version, Broker: st.Broker, Data: &v}
	switch r.PostForm.Get("confirm") {
	case "":
		h.render(w, r, http.StatusOK, "confirm", p)
		return
	case "yes":
	default:
		h.fail(w, r, http.StatusBadRequest, "Bad request", `Form field "confirm": only "yes" confirms.`)
		return
	}
	h.log.WithField("topic", name).WithField("principal", principal).Info("console: preferred leader election")
	failed, err := h.src.ElectPreferred(r.Context(), name)
	status := http.StatusOK
	if err != nil {
		v.Err = err.Error()
		status = http.StatusInternalServerError
	}
	for part, e := range failed {
		msg := "unknown"
		if e != nil {
			msg = e.Error()
		}
		v.Failed = append(v.Failed, electResult{Partition: part, Err: msg})
	}
	slices.SortFunc(v.Failed, func(a, b electResult) int { return int(a.Partition - b.Partition) })
	h.render(w, r, status, "result", p)
}

// remoteHost is the host of the address r came from, without its port.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
