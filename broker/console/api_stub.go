package console

import "net/http"

// serveBrokerReport is a stand-in until the state helper's api.go serves
// this broker's report to the other consoles. Delete this file then.
func (c *Console) serveBrokerReport(w http.ResponseWriter, r *http.Request) {
	http.Error(w, "console: /api/broker is not served yet", http.StatusNotImplemented)
}
