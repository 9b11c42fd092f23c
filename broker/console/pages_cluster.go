package console

import (
	"html/template"
	"net/http"
	"slices"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

// partitionStates are the states of the controller's partition state
// machine in the order the pages show them.
var partitionStates = []zkpaths.PartitionStatus{
	zkpaths.StateNonExistent, zkpaths.StateNew, zkpaths.StateOnline, zkpaths.StateOffline,
}

// health counts a set of partitions by state and trouble.
type health struct {
	// ByState is indexed like partitionStates.
	ByState                         [4]int
	Partitions, URP, Offline        int
	Topics, Deleting, Reassignments int
}

// add counts one partition of a topic (being deleted or not).
func (hl *health) add(p *coordinator.Partition, deleting bool) {
	hl.Partitions++
	if i := slices.Index(partitionStates, p.State); i >= 0 {
		hl.ByState[i]++
	}
	if deleting {
		return
	}
	if p.UnderReplicated() {
		hl.URP++
	}
	if p.Offline() {
		hl.Offline++
	}
}

// stateCount is one state's count, as the cluster page shows it.
type stateCount struct {
	State string
	Count int
}

func (hl *health) counts() []stateCount {
	out := make([]stateCount, len(partitionStates))
	for i, s := range partitionStates {
		out[i] = stateCount{State: string(s), Count: hl.ByState[i]}
	}
	return out
}

// brokerRow is one broker of the cluster page.
type brokerRow struct {
	ID      int32
	Address string
	Rack    string
	// Alive is true when the broker is registered (in the snapshot).
	Alive bool
	// Led is the number of partitions it leads.
	Led int
	// Stats are its figures at the last tick; Known is false when it had
	// none (not a live broker then, or no tick yet).
	Stats BrokerStats
	Known bool
}

// zkServer is one member of the ZooKeeper ensemble.
type zkServer struct {
	Addr      string
	Connected bool
}

// clusterView is what the cluster page shows.
type clusterView struct {
	HasSnap         bool
	ClusterID       string
	Controller      int32
	ControllerEpoch int32
	Brokers         []brokerRow
	StateCounts     []stateCount
	Health          health
	ZooKeeper       coordinator.ZooKeeperStatus
	ZKServers       []zkServer
	StatsTime       string
	InChart         template.HTML
	OutChart        template.HTML
}

// cluster serves /: brokers, controller, partition health, ZooKeeper.
func (h *handler) cluster(w http.ResponseWriter, r *http.Request) {
	st := h.r.State()
	v := clusterView{ZooKeeper: st.ZooKeeper, Controller: -1, StatsTime: formatClock(st.Stats.Time)}
	for _, s := range st.ZooKeeper.Servers {
		v.ZKServers = append(v.ZKServers, zkServer{Addr: s, Connected: s == st.ZooKeeper.Connected})
	}
	rows := map[int32]*brokerRow{}
	row := func(id int32) *brokerRow {
		b := rows[id]
		if b == nil {
			b = &brokerRow{ID: id, Address: "–", Rack: "–"}
			rows[id] = b
		}
		return b
	}
	if snap := st.Snap; snap != nil {
		v.HasSnap = true
		v.ClusterID = snap.ClusterID
		v.Controller, v.ControllerEpoch = snap.ControllerID, snap.ControllerEpoch
		for id, b := range snap.Brokers {
			br := row(id)
			br.Alive = true
			if b.Host != "" {
				br.Address = b.Host + ":" + itoa(b.Port)
			}
			if b.Rack != "" {
				br.Rack = b.Rack
			}
		}
		for _, t := range snap.Topics {
			v.Health.Topics++
			if t.Deleting {
				v.Health.Deleting++
			}
			for i := range t.Partitions {
				p := &t.Partitions[i]
				v.Health.add(p, t.Deleting)
				if p.Leader >= 0 {
					row(p.Leader).Led++
				}
				// A replica on a broker that is gone still names it:
				// the page lists it as not alive.
				for _, id := range p.Replicas {
					row(id)
				}
			}
		}
	}
	for id, s := range st.Stats.Brokers {
		br := row(id)
		br.Stats, br.Known = s, true
	}
	ids := make([]int32, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var in, out []series
	for _, id := range ids {
		v.Brokers = append(v.Brokers, *rows[id])
		if rows[id].Alive || rows[id].Known {
			i, o := h.r.ThroughputHistory(id, "")
			name := "broker " + itoa(id)
			in = append(in, series{Name: name, Points: i})
			out = append(out, series{Name: name, Points: o})
		}
	}
	v.StateCounts = v.Health.counts()
	v.InChart = lineChart(chart{Class: "throughput-chart", Title: "Bytes in per second, by broker", Format: formatRate, Binary: true, Series: in})
	v.OutChart = lineChart(chart{Class: "throughput-chart", Title: "Bytes out per second, by broker", Format: formatRate, Binary: true, Series: out})
	h.render(w, r, http.StatusOK, "cluster", page{Title: "Cluster", Nav: "/", Version: st.Version, Broker: st.Broker, Data: v})
}
