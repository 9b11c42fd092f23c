package console

import (
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/kzoo/kzoo/coordinator"
)

// maxFilter bounds ?q=: a topic name has at most 249 characters.
const maxFilter = 249

// topicRow is one topic of the topic list.
type topicRow struct {
	Name        string
	Partitions  int
	RF          int
	Deleting    bool
	URP         int
	Offline     int
	Stats       TopicStats
	HasStats    bool
	Reassigning bool
}

// topicsView is what the topic list shows.
type topicsView struct {
	HasSnap bool
	Query   string
	Rows    []topicRow
	Pager   pager
	// All is the number of topics before filtering.
	All int
}

// replicationFactor is a partition's replica count once a reassignment in
// progress is done (Replicas then also holds the replicas being removed).
func replicationFactor(p *coordinator.Partition) int {
	return len(p.Replicas) - len(p.RemovingReplicas)
}

// topics serves /topics: every topic (filtered by ?q=, paged by ?page=).
func (h *handler) topics(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	if len(q) > maxFilter {
		h.badRequest(w, r, "q", "longer than a topic name can be")
		return
	}
	st := h.r.State()
	v := topicsView{Query: q}
	var names []string
	if st.Snap != nil {
		v.HasSnap = true
		v.All = len(st.Snap.Topics)
		lq := strings.ToLower(q)
		for name := range st.Snap.Topics {
			if strings.Contains(strings.ToLower(name), lq) {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	pg, ok := h.paging(w, r, len(names), pageSize)
	if !ok {
		return
	}
	v.Pager = pg
	for _, name := range names[pg.lo:pg.hi] {
		t := st.Snap.Topics[name]
		row := topicRow{Name: name, Partitions: len(t.Partitions), Deleting: t.Deleting}
		for i := range t.Partitions {
			p := &t.Partitions[i]
			row.RF = max(row.RF, replicationFactor(p))
			if len(p.AddingReplicas)+len(p.RemovingReplicas) > 0 {
				row.Reassigning = true
			}
			if t.Deleting {
				continue
			}
			if p.UnderReplicated() {
				row.URP++
			}
			if p.Offline() {
				row.Offline++
			}
		}
		row.Stats, row.HasStats = st.Stats.Topics[name]
		v.Rows = append(v.Rows, row)
	}
	h.render(w, r, http.StatusOK, "topics", page{Title: "Topics", Nav: "/topics", Version: st.Version, Broker: st.Broker, Data: v})
}

// partitionRow is one partition of a topic page.
type partitionRow struct {
	P            coordinator.Partition
	URP, Offline bool
	// Offsets are from the leader's report; HasOffsets is false when the
	// leader did not answer.
	Offsets    PartitionReport
	HasOffsets bool
}

// configRow is one config of a topic.
type configRow struct {
	Name, Value, Source string
	Sensitive           bool
}

// topicView is what a topic page shows.
type topicView struct {
	Name           string
	Deleting       bool
	PartitionCount int
	Health         health
	Rows           []partitionRow
	Pager          pager
	Grid           template.HTML
	// GridPaged is true when the grid shows only this page's partitions
	// (a topic with more than gridMax).
	GridPaged bool
	Stats     TopicStats
	HasStats  bool
	Chart     template.HTML
	Configs   []configRow
	ConfigErr string
	// Reachable counts the partitions whose leader reported offsets.
	Reachable int
}

// gridMax bounds the partitions the grid draws at once: beyond it the grid
// shows the page's partitions, like the table.
const gridMax = 5000

// topicOf reads the State and the topic of r's path ({topic}). When there
// is none it answers (503 before the first cluster view, 404 for a topic
// the view lacks) and ok is false.
func (h *handler) topicOf(w http.ResponseWriter, r *http.Request) (st State, t *coordinator.Topic, ok bool) {
	name := r.PathValue("topic")
	st = h.r.State()
	if st.Snap == nil {
		h.fail(w, r, http.StatusServiceUnavailable, "No cluster view yet",
			"The broker has not read the cluster's metadata yet; try again in a moment.")
		return st, nil, false
	}
	if t, ok = st.Snap.Topics[name]; !ok {
		h.fail(w, r, http.StatusNotFound, "Topic not found", "There is no topic "+quote(name)+".")
	}
	return st, t, ok
}

// topic serves /topics/NAME: every partition, the topic's configs and its
// throughput; the preferred-election form.
func (h *handler) topic(w http.ResponseWriter, r *http.Request) {
	st, t, ok := h.topicOf(w, r)
	if !ok {
		return
	}
	name := t.Name
	pg, ok := h.paging(w, r, len(t.Partitions), pageSize)
	if !ok {
		return
	}
	v := topicView{Name: name, Deleting: t.Deleting, PartitionCount: len(t.Partitions), Pager: pg}
	v.Stats, v.HasStats = st.Stats.Topics[name]
	for i := range t.Partitions {
		v.Health.add(&t.Partitions[i], t.Deleting)
	}

	// The leaders' offsets come over the network and the configs from
	// the broker: ask for both at once.
	type configs struct {
		entries []ConfigEntry
		err     error
	}
	cfgc := make(chan configs, 1)
	go func() {
		e, err := h.src.TopicConfigs(r.Context(), name)
		cfgc <- configs{e, err}
	}()
	offsets := h.r.TopicPartitions(r.Context(), name)
	cfg := <-cfgc

	for _, p := range t.Partitions[pg.lo:pg.hi] {
		row := partitionRow{P: p}
		if !t.Deleting {
			row.URP, row.Offline = p.UnderReplicated(), p.Offline()
		}
		row.Offsets, row.HasOffsets = offsets[p.Partition]
		v.Rows = append(v.Rows, row)
	}
	v.Reachable = len(offsets)
	if len(t.Partitions) > gridMax {
		v.Grid, v.GridPaged = partitionGrid(t.Partitions[pg.lo:pg.hi], t.Deleting), true
	} else {
		v.Grid = partitionGrid(t.Partitions, t.Deleting)
	}
	in, out := h.r.ThroughputHistory(-1, name)
	v.Chart = lineChart(chart{Class: "throughput-chart", Title: "Bytes per second", Format: formatRate, Binary: true,
		Series: []series{{Name: "in", Points: in}, {Name: "out", Points: out}}})
	if cfg.err != nil {
		v.ConfigErr = cfg.err.Error()
	}
	for _, e := range cfg.entries {
		row := configRow{Name: e.Name, Source: e.Source, Sensitive: e.Sensitive || e.Value == nil}
		if e.Value != nil {
			row.Value = *e.Value
		}
		v.Configs = append(v.Configs, row)
	}
	slices.SortFunc(v.Configs, func(a, b configRow) int { return strings.Compare(a.Name, b.Name) })
	h.render(w, r, http.StatusOK, "topic", page{Title: "Topic " + name, Nav: "/topics", Version: st.Version, Broker: st.Broker, Data: v})
}
