package coordinator

import (
	"testing"

	"github.com/kzoo/kzoo/zkpaths"
)

func TestPartitionHealth(t *testing.T) {
	for _, c := range []struct {
		name                     string
		p                        Partition
		underReplicated, offline bool
	}{
		{"in sync", Partition{State: zkpaths.StateOnline, Leader: 1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, false, false},
		{"ISR short", Partition{State: zkpaths.StateOnline, Leader: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}}, true, false},
		{"online without leader", Partition{State: zkpaths.StateOnline, Leader: -1, Replicas: []int32{1}, ISR: []int32{1}}, false, true},
		{"offline", Partition{State: zkpaths.StateOffline, Leader: -1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, false, true},
		{"offline, ISR short", Partition{State: zkpaths.StateOffline, Leader: -1, Replicas: []int32{1, 2}, ISR: []int32{2}}, true, true},
		{"new", Partition{State: zkpaths.StateNew, Leader: -1, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}, false, false},
		{"no state znode yet", Partition{State: zkpaths.StateNonExistent, Leader: -1, Replicas: []int32{1, 2}}, true, false},
		{"reassigning, adding replica not in ISR", Partition{State: zkpaths.StateOnline, Leader: 2, Replicas: []int32{2, 3, 1},
			ISR: []int32{1, 2}, AddingReplicas: []int32{3}, RemovingReplicas: []int32{1}}, true, false},
	} {
		if got := c.p.UnderReplicated(); got != c.underReplicated {
			t.Errorf("%s: UnderReplicated() = %v, want %v", c.name, got, c.underReplicated)
		}
		if got := c.p.Offline(); got != c.offline {
			t.Errorf("%s: Offline() = %v, want %v", c.name, got, c.offline)
		}
	}
}
