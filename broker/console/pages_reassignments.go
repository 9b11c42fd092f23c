package console

import (
	"net/http"
	"slices"
	"strings"

	"github.com/kzoo/kzoo/coordinator"
)

// reassignmentRow is one partition being reassigned.
type reassignmentRow struct {
	P coordinator.Partition
	// Target is the replica set once done.
	Target []int32
	// Caught is how many adding replicas are in the ISR already.
	Caught int
}

// reassignmentsView is what the reassignments page shows.
type reassignmentsView struct {
	HasSnap bool
	Rows    []reassignmentRow
	// Adding and Caught sum the rows'.
	Adding, Caught int
}

// reassignments serves /reassignments: the partitions being reassigned and
// how far each is (its adding replicas that joined the ISR).
func (h *handler) reassignments(w http.ResponseWriter, r *http.Request) {
	st := h.r.State()
	var v reassignmentsView
	if st.Snap != nil {
		v.HasSnap = true
		for _, t := range st.Snap.Topics {
			for _, p := range t.Partitions {
				if len(p.AddingReplicas)+len(p.RemovingReplicas) == 0 {
					continue
				}
				row := reassignmentRow{P: p}
				for _, id := range p.Replicas {
					if !slices.Contains(p.RemovingReplicas, id) {
						row.Target = append(row.Target, id)
					}
				}
				for _, id := range p.AddingReplicas {
					if slices.Contains(p.ISR, id) {
						row.Caught++
					}
				}
				v.Adding += len(p.AddingReplicas)
				v.Caught += row.Caught
				v.Rows = append(v.Rows, row)
			}
		}
	}
	slices.SortFunc(v.Rows, func(a, b reassignmentRow) int {
		if c := strings.Compare(a.P.Topic, b.P.Topic); c != 0 {
			return c
		}
		return int(a.P.Partition - b.P.Partition)
	})
	h.render(w, r, http.StatusOK, "reassignments", page{Title: "Reassignments", Nav: "/reassignments",
		Version: st.Version, Broker: st.Broker, Data: v})
}
