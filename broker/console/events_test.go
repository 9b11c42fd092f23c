package console

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kzoo/kzoo/coordinator"
	"github.com/kzoo/kzoo/zkpaths"
)

var t0 = time.Date(2026, 12, 7, 5, 0, 0, 0, time.UTC)

// cluster builds snapshots for the tests: brokers 1-3 live, controller 1.
func baseSnapshot() *coordinator.Snapshot {
	snap := &coordinator.Snapshot{
		ControllerID:    1,
		ControllerEpoch: 4,
		Brokers:         map[int32]coordinator.Broker{},
		Topics:          map[string]*coordinator.Topic{},
		BrokerConfigs:   map[string]map[string]string{},
	}
	for id := int32(1); id <= 3; id++ {
		snap.Brokers[id] = coordinator.Broker{ID: id, Host: "127.0.0.1", Port: 9090 + id, Epoch: int64(id), Console: fmt.Sprintf("127.0.0.1:%d", 9647+id)}
	}
	snap.Topics["orders"] = onlineTopic("orders", [][]int32{{1, 2, 3}, {2, 3, 1}})
	return snap
}

func onlineTopic(name string, assignment [][]int32) *coordinator.Topic {
	t := &coordinator.Topic{Name: name, ID: [16]byte{1}, Configs: map[string]string{}}
	for i, replicas := range assignment {
		t.Partitions = append(t.Partitions, coordinator.Partition{
			Topic: name, Partition: int32(i), Replicas: replicas, Leader: replicas[0], LeaderEpoch: 0,
			ISR: slices.Clone(replicas), State: zkpaths.StateOnline, ControllerEpoch: 4,
		})
	}
	return t
}

// next returns a copy of snap whose topics are shared (as the coordinator
// shares unchanged ones) and whose maps may be changed freely.
func nextView(snap *coordinator.Snapshot) *coordinator.Snapshot {
	n := *snap
	n.Brokers = maps.Clone(snap.Brokers)
	n.Topics = maps.Clone(snap.Topics)
	n.BrokerConfigs = maps.Clone(snap.BrokerConfigs)
	return &n
}

// change replaces topic name of snap by a copy changed by f.
func changeTopic(snap *coordinator.Snapshot, name string, f func(t *coordinator.Topic)) {
	t := *snap.Topics[name]
	t.Partitions = slices.Clone(t.Partitions)
	for i := range t.Partitions {
		p := &t.Partitions[i]
		p.Replicas, p.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
	}
	t.Configs = maps.Clone(t.Configs)
	f(&t)
	snap.Topics[name] = &t
}

// describe renders events one a line for comparison.
func describe(evs []Event) []string {
	var out []string
	for _, e := range evs {
		if e.Kind == EventController {
			out = append(out, "controller: "+e.Text)
			continue
		}
		out = append(out, fmt.Sprintf("%s %s→%s leader %d→%d epoch %d: %s", e.Partition, e.From, e.To, e.PrevLeader, e.Leader, e.LeaderEpoch, e.Cause))
	}
	return out
}

func TestDiffSnapshots(t *testing.T) {
	tests := []struct {
		name   string
		before func(p *coordinator.Snapshot)
		change func(n *coordinator.Snapshot)
		want   []string
	}{{
		name:   "nothing changed",
		change: func(n *coordinator.Snapshot) {},
		want:   nil,
	}, {
		name: "new topic: partitions appear without state, then New",
		change: func(n *coordinator.Snapshot) {
			tp := onlineTopic("logs", [][]int32{{3, 1}, {1, 2}})
			tp.Partitions[0].State, tp.Partitions[0].Leader, tp.Partitions[0].ISR = zkpaths.StateNonExistent, -1, nil
			tp.Partitions[1].State = zkpaths.StateNew
			n.Topics["logs"] = tp
		},
		want: []string{
			"logs-1 NonExistent→New leader -1→1 epoch 0: new partition",
			"controller: topic logs created with 2 partitions, replication factor 2",
		},
	}, {
		name: "new partition goes online",
		before: func(p *coordinator.Snapshot) {
			pt := &p.Topics["orders"].Partitions[1]
			pt.State, pt.Leader, pt.LeaderEpoch = zkpaths.StateNew, -1, -1
		},
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) {
				p := &tp.Partitions[1]
				p.State, p.Leader, p.LeaderEpoch = zkpaths.StateOnline, 2, 0
			})
		},
		want: []string{"orders-1 New→Online leader -1→2 epoch 0: new partition"},
	}, {
		name: "leader's broker went away",
		change: func(n *coordinator.Snapshot) {
			delete(n.Brokers, 2)
			changeTopic(n, "orders", func(tp *coordinator.Topic) {
				p := &tp.Partitions[1]
				p.Leader, p.LeaderEpoch, p.ISR = 3, 1, []int32{3, 1}
				tp.Partitions[0].ISR = []int32{1, 3}
			})
		},
		want: []string{
			"orders-0 Online→Online leader 1→1 epoch 0: broker 2 went away; ISR shrank: removed 2 (1,2,3 → 1,3)",
			"orders-1 Online→Online leader 2→3 epoch 1: broker 2 went away; leader 2 → 3; ISR shrank: removed 2 (2,3,1 → 3,1)",
			"controller: broker 2 went away (was at 127.0.0.1:9092)",
		},
	}, {
		name: "preferred leader election",
		before: func(p *coordinator.Snapshot) {
			pt := &p.Topics["orders"].Partitions[0]
			pt.Leader, pt.LeaderEpoch = 2, 2
		},
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) {
				p := &tp.Partitions[0]
				p.Leader, p.LeaderEpoch = 1, 3
			})
		},
		want: []string{"orders-0 Online→Online leader 2→1 epoch 3: preferred leader election; leader 2 → 1"},
	}, {
		name: "leader epoch bumped without a new leader",
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) { tp.Partitions[0].LeaderEpoch = 1 })
		},
		want: []string{"orders-0 Online→Online leader 1→1 epoch 1: leader epoch 0 → 1"},
	}, {
		name: "offline partition back online when its broker returns",
		before: func(p *coordinator.Snapshot) {
			delete(p.Brokers, 1)
			pt := &p.Topics["orders"].Partitions[0]
			pt.State, pt.Leader, pt.LeaderEpoch, pt.ISR = zkpaths.StateOffline, -1, 1, []int32{1}
		},
		change: func(n *coordinator.Snapshot) {
			n.Brokers[1] = coordinator.Broker{ID: 1, Host: "127.0.0.1", Port: 9091, Epoch: 10}
			changeTopic(n, "orders", func(tp *coordinator.Topic) {
				p := &tp.Partitions[0]
				p.State, p.Leader, p.LeaderEpoch = zkpaths.StateOnline, 1, 2
			})
		},
		want: []string{
			"orders-0 Offline→Online leader -1→1 epoch 2: broker 1 came back; leader none → 1",
			"controller: broker 1 registered at 127.0.0.1:9091",
		},
	}, {
		name: "reassignment completed",
		before: func(p *coordinator.Snapshot) {
			pt := &p.Topics["orders"].Partitions[0]
			pt.Replicas, pt.AddingReplicas, pt.RemovingReplicas, pt.ISR = []int32{1, 2, 4, 3}, []int32{4}, []int32{3}, []int32{1, 2, 3, 4}
		},
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) {
				p := &tp.Partitions[0]
				p.Replicas, p.AddingReplicas, p.RemovingReplicas, p.ISR = []int32{1, 2, 4}, nil, nil, []int32{1, 2, 4}
			})
		},
		want: []string{
			"orders-0 Online→Online leader 1→1 epoch 0: reassignment completed: replicas 1,2,4; ISR shrank: removed 3 (1,2,3,4 → 1,2,4)",
			"controller: reassignment of topic orders finished: partitions [0]",
		},
	}, {
		name: "leader moved off by a reassignment",
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) {
				p := &tp.Partitions[1]
				p.Replicas, p.Leader, p.LeaderEpoch, p.ISR = []int32{3, 1}, 3, 1, []int32{3, 1}
			})
		},
		want: []string{"orders-1 Online→Online leader 2→3 epoch 1: reassignment moved the partition off broker 2; replicas changed: 2,3,1 → 3,1; leader 2 → 3; ISR shrank: removed 2 (2,3,1 → 3,1)"},
	}, {
		name: "unclean leader election of an offline partition",
		before: func(p *coordinator.Snapshot) {
			delete(p.Brokers, 1)
			pt := &p.Topics["orders"].Partitions[0]
			pt.State, pt.Leader, pt.LeaderEpoch, pt.ISR = zkpaths.StateOffline, -1, 1, []int32{1}
		},
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) {
				p := &tp.Partitions[0]
				p.State, p.Leader, p.LeaderEpoch, p.ISR = zkpaths.StateOnline, 2, 2, []int32{2}
			})
		},
		want: []string{
			"orders-0 Offline→Online leader -1→2 epoch 2: unclean leader election: 2 was not in the ISR (committed records may be lost); broker 1 is down; leader none → 2; ISR changed: removed 1, added 2 (1 → 2)",
			"controller: unclean leader election: 2 was not in the ISR (committed records may be lost) for orders-0",
		},
	}, {
		name: "unclean leader election from a live leader's ISR",
		before: func(p *coordinator.Snapshot) {
			p.Topics["orders"].Partitions[1].ISR = []int32{2}
		},
		change: func(n *coordinator.Snapshot) {
			delete(n.Brokers, 2)
			changeTopic(n, "orders", func(tp *coordinator.Topic) {
				p := &tp.Partitions[1]
				p.Leader, p.LeaderEpoch, p.ISR = 3, 1, []int32{3}
				tp.Partitions[0].ISR = []int32{1, 3}
			})
		},
		want: []string{
			"orders-0 Online→Online leader 1→1 epoch 0: broker 2 went away; ISR shrank: removed 2 (1,2,3 → 1,3)",
			"orders-1 Online→Online leader 2→3 epoch 1: unclean leader election: 3 was not in the ISR (committed records may be lost); broker 2 went away; leader 2 → 3; ISR changed: removed 2, added 3 (2 → 3)",
			"controller: broker 2 went away (was at 127.0.0.1:9092)",
			"controller: unclean leader election: 3 was not in the ISR (committed records may be lost) for orders-1",
		},
	}, {
		name:   "an id assigned to a topic created without one is no re-creation",
		before: func(p *coordinator.Snapshot) { p.Topics["orders"].ID = [16]byte{} },
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) { tp.ID = [16]byte{9} })
		},
		want: nil,
	}, {
		name: "topic re-created under a new id",
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) { tp.ID = [16]byte{9} })
		},
		want: []string{"controller: topic orders re-created with 2 partitions"},
	}, {
		name:   "controller went away, no controller",
		change: func(n *coordinator.Snapshot) { n.ControllerID = -1 },
		want:   []string{"controller: controller 1 resigned or went away; no controller (epoch 4)"},
	}, {
		name: "broker registered again",
		change: func(n *coordinator.Snapshot) {
			b := n.Brokers[3]
			b.Epoch = 77
			n.Brokers[3] = b
		},
		want: []string{"controller: broker 3 registered again at 127.0.0.1:9093 (it restarted or lost its session)"},
	}, {
		name: "reassignment started",
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) {
				p := &tp.Partitions[0]
				p.Replicas, p.AddingReplicas, p.RemovingReplicas = []int32{1, 2, 4, 3}, []int32{4}, []int32{3}
			})
		},
		want: []string{
			"orders-0 Online→Online leader 1→1 epoch 0: reassignment started: adding 4, removing 3",
			"controller: reassignment of topic orders started: partitions [0]",
		},
	}, {
		name: "ISR expands",
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) { tp.Partitions[0].ISR = []int32{1, 2, 3, 4} })
		},
		want: []string{"orders-0 Online→Online leader 1→1 epoch 0: ISR expanded: added 4 (1,2,3 → 1,2,3,4)"},
	}, {
		name: "partition goes offline",
		change: func(n *coordinator.Snapshot) {
			delete(n.Brokers, 1)
			changeTopic(n, "orders", func(tp *coordinator.Topic) {
				p := &tp.Partitions[0]
				p.State, p.Leader, p.LeaderEpoch, p.ISR = zkpaths.StateOffline, -1, 1, []int32{1}
			})
		},
		want: []string{
			"orders-0 Online→Offline leader 1→-1 epoch 1: broker 1 went away; no live replica in the ISR; leader 1 → none",
			"controller: broker 1 went away (was at 127.0.0.1:9091)",
		},
	}, {
		name: "controller moved, broker registered",
		change: func(n *coordinator.Snapshot) {
			n.ControllerID, n.ControllerEpoch = 3, 5
			n.Brokers[4] = coordinator.Broker{ID: 4, Host: "10.0.0.4", Port: 9092, Rack: "r1", Epoch: 9}
		},
		want: []string{
			"controller: controller moved from broker 1 to broker 3 (epoch 5)",
			"controller: broker 4 registered at 10.0.0.4:9092 rack r1",
		},
	}, {
		name: "topic marked for deletion, then deleted",
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) { tp.Deleting = true })
		},
		want: []string{"controller: topic orders marked for deletion"},
	}, {
		name: "a topic being deleted goes offline",
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) {
				tp.Deleting = true
				p := &tp.Partitions[0]
				p.State, p.Leader, p.LeaderEpoch = zkpaths.StateOffline, -1, 1
			})
		},
		want: []string{
			"orders-0 Online→Offline leader 1→-1 epoch 1: topic being deleted",
			"controller: topic orders marked for deletion",
		},
	}, {
		name:   "topic deleted",
		change: func(n *coordinator.Snapshot) { delete(n.Topics, "orders") },
		want: []string{
			"orders-0 Online→NonExistent leader 1→-1 epoch 0: topic deleted",
			"orders-1 Online→NonExistent leader 2→-1 epoch 0: topic deleted",
			"controller: topic orders deleted",
		},
	}, {
		name: "partitions added and config changed",
		change: func(n *coordinator.Snapshot) {
			changeTopic(n, "orders", func(tp *coordinator.Topic) {
				tp.Partitions = append(tp.Partitions, coordinator.Partition{Topic: "orders", Partition: 2, Replicas: []int32{3, 1, 2}, Leader: -1, LeaderEpoch: -1, State: zkpaths.StateNonExistent})
				tp.Configs["retention.ms"] = "1000"
			})
		},
		want: []string{
			"controller: topic orders: partitions added, 2 → 3",
			"controller: topic orders config changed: retention.ms set",
		},
	}, {
		name: "broker config changed: keys named, values not",
		change: func(n *coordinator.Snapshot) {
			n.BrokerConfigs["<default>"] = map[string]string{"listener.name.x.password": "secret"}
		},
		want: []string{"controller: broker config of every broker (<default>) changed: listener.name.x.password set"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prev := baseSnapshot()
			if tt.before != nil {
				tt.before(prev)
			}
			n := nextView(prev)
			tt.change(n)
			evs := diffSnapshots(prev, n, t0)
			got := describe(evs)
			if !slices.Equal(got, tt.want) {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			for _, e := range evs {
				if !e.Time.Equal(t0) {
					t.Errorf("event at %v, want %v", e.Time, t0)
				}
			}
		})
	}
}

func TestDiffBaseline(t *testing.T) {
	snap := baseSnapshot()
	snap.ControllerID = -1
	got := describe(diffSnapshots(nil, snap, t0))
	if len(got) != 1 || got[0] != "controller: console started: view of 1 topics, 3 live brokers, no controller" {
		t.Errorf("baseline events %q", got)
	}
	if evs := diffSnapshots(snap, snap, t0); evs != nil {
		t.Errorf("the same view gives events %q", describe(evs))
	}
}

func TestISRChange(t *testing.T) {
	tests := []struct {
		prev, next []int32
		want       string
	}{
		{[]int32{3, 2, 1}, []int32{2, 1}, "ISR shrank: removed 3 (3,2,1 → 2,1)"},
		{[]int32{2, 1}, []int32{2, 1, 3}, "ISR expanded: added 3 (2,1 → 2,1,3)"},
		{[]int32{1, 2}, []int32{1, 4}, "ISR changed: removed 2, added 4 (1,2 → 1,4)"},
		{[]int32{1}, nil, "ISR shrank: removed 1 (1 → none)"},
		{[]int32{1, 2}, []int32{2, 1}, "ISR reordered (1,2 → 2,1)"},
		{[]int32{1, 2}, []int32{1, 2}, ""},
	}
	for _, tt := range tests {
		if got := isrChange(tt.prev, tt.next); got != tt.want {
			t.Errorf("isrChange(%v, %v) = %q, want %q", tt.prev, tt.next, got, tt.want)
		}
	}
}
