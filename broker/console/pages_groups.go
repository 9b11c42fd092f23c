package console

import (
	"html/template"
	"net/http"
	"slices"
	"strings"
)

// groupLag is a group's total lag: the sum over the partitions whose end
// offset could be read; Unknown counts the others.
type groupLag struct {
	Total   int64
	Unknown int
	// Known is false when no partition's lag could be read (or the group
	// committed nothing).
	Known bool
}

func lagOf(offsets []OffsetReport) groupLag {
	var l groupLag
	for _, o := range offsets {
		if o.Lag < 0 {
			l.Unknown++
			continue
		}
		l.Total += o.Lag
		l.Known = true
	}
	return l
}

// groupRow is one group of the group list.
type groupRow struct {
	ID          string
	State       string
	Protocol    string
	Coordinator int32
	Members     int
	Partitions  int
	Lag         groupLag
}

// groupsView is what the group list shows.
type groupsView struct {
	Gathered bool
	Query    string
	Rows     []groupRow
	Pager    pager
	// All is the number of groups before filtering.
	All int
}

// maxGroupFilter bounds ?q= on the group list.
const maxGroupFilter = 1024

// groups serves /groups: every group of every coordinator the console
// reached at its last tick, with its total lag; ?q= filters by id, ?page=
// pages by 200.
func (h *handler) groups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	if len(q) > maxGroupFilter {
		h.badRequest(w, r, "q", "longer than "+itoa(maxGroupFilter)+" bytes")
		return
	}
	st := h.r.State()
	v := groupsView{Gathered: !st.Stats.Time.IsZero(), Query: q, All: len(st.Stats.Groups)}
	lq := strings.ToLower(q)
	var match []*GroupReport
	for i := range st.Stats.Groups {
		if g := &st.Stats.Groups[i]; strings.Contains(strings.ToLower(g.Group), lq) {
			match = append(match, g)
		}
	}
	slices.SortFunc(match, func(a, b *GroupReport) int { return strings.Compare(a.Group, b.Group) })
	pg, ok := h.paging(w, r, len(match), pageSize)
	if !ok {
		return
	}
	v.Pager = pg
	for _, g := range match[pg.lo:pg.hi] {
		v.Rows = append(v.Rows, groupRow{ID: g.Group, State: g.State, Protocol: g.Protocol, Coordinator: g.Coordinator,
			Members: len(g.Members), Partitions: len(g.Offsets), Lag: lagOf(g.Offsets)})
	}
	h.render(w, r, http.StatusOK, "groups", page{Title: "Consumer groups", Nav: "/groups", Version: st.Version,
		Broker: st.Broker, Data: v})
}

// groupView is what a group's page shows.
type groupView struct {
	GroupReport
	Lag   groupLag
	Chart template.HTML
	// Page holds the committed offsets shown (200 a page).
	Page  []OffsetReport
	Pager pager
}

// group serves /groups/ID: the group's members and their assignments, its
// committed offsets with their lag (?page= pages them by 200), and its lag
// over the kept history.
func (h *handler) group(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("group")
	st := h.r.State()
	i := slices.IndexFunc(st.Stats.Groups, func(g GroupReport) bool { return g.Group == id })
	if i < 0 {
		msg := "There is no group " + quote(id) + "."
		if st.Stats.Time.IsZero() {
			msg += " The console has not gathered the groups yet; try again in a moment."
		}
		h.fail(w, r, http.StatusNotFound, "Group not found", msg)
		return
	}
	g := st.Stats.Groups[i]
	pg, ok := h.paging(w, r, len(g.Offsets), pageSize)
	if !ok {
		return
	}
	v := groupView{GroupReport: g, Lag: lagOf(g.Offsets), Page: g.Offsets[pg.lo:pg.hi], Pager: pg}
	v.Chart = lineChart(chart{ID: "lag-chart", Class: "lag-chart", Title: "Total lag (records)",
		Format: formatCount, Series: []series{{Name: g.Group, Points: h.r.LagHistory(id)}}})
	h.render(w, r, http.StatusOK, "group", page{Title: "Group " + id, Nav: "/groups", Version: st.Version,
		Broker: st.Broker, Data: v})
}
