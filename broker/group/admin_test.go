package group

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDescribeListAndDeleteGroups(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2)
	h.commit(commitReq("g", ids[0], gen, map[string]map[int32]int64{"t": {0: 3}}))
	h.commit(commitReq("simple", "", -1, map[string]map[int32]int64{"t": {0: 1}}))

	describe := func(version int16, groups ...string) []kmsg.DescribeGroupsResponseGroup {
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Version = version
		r.Groups = groups
		r.IncludeAuthorizedOperations = true
		return h.c.DescribeGroups(context.Background(), r).Groups
	}
	ds := describe(5, "g", "unknown", "simple")
	g, unknown, simple := ds[0], ds[1], ds[2]
	if g.ErrorCode != errNone || g.State != "Stable" || g.Protocol != "range" || g.ProtocolType != "consumer" || len(g.Members) != 2 {
		t.Fatalf("describe g: %+v", g)
	}
	for _, m := range g.Members {
		if m.ClientHost != "10.0.0.1" || len(m.ProtocolMetadata) == 0 || len(m.MemberAssignment) == 0 || m.ClientID == "" {
			t.Fatalf("described member: %+v", m)
		}
	}
	if unknown.ErrorCode != errNone || unknown.State != "Dead" || len(unknown.Members) != 0 {
		t.Fatalf("describe unknown: %+v", unknown)
	}
	if simple.State != "Empty" || simple.ProtocolType != "" {
		t.Fatalf("describe simple: %+v", simple)
	}
	if d := describe(6, "unknown")[0]; d.ErrorCode != errGroupIDNotFound {
		t.Fatalf("describe v6 of an unknown group: %s", codeName(d.ErrorCode))
	}

	list := func(states ...string) map[string]string {
		r := kmsg.NewPtrListGroupsRequest()
		r.Version = 4
		r.StatesFilter = states
		resp := h.c.ListGroups(context.Background(), r)
		if resp.ErrorCode != errNone {
			t.Fatalf("list: %s", codeName(resp.ErrorCode))
		}
		out := map[string]string{}
		for _, g := range resp.Groups {
			out[g.Group] = g.GroupState + "/" + g.ProtocolType
		}
		return out
	}
	if got := list(); len(got) != 2 || got["g"] != "Stable/consumer" || got["simple"] != "Empty/" {
		t.Fatalf("list: %v", got)
	}
	if got := list("empty"); len(got) != 1 || got["simple"] == "" {
		t.Fatalf("list of Empty groups: %v", got)
	}

	del := func(groups ...string) map[string]int16 {
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Version = 2
		r.Groups = groups
		out := map[string]int16{}
		for _, g := range h.c.DeleteGroups(context.Background(), r).Groups {
			out[g.Group] = g.ErrorCode
		}
		return out
	}
	got := del("g", "unknown", "simple")
	if got["g"] != errNonEmptyGroup || got["unknown"] != errGroupIDNotFound || got["simple"] != errNone {
		t.Fatalf("delete: %v", codes(got))
	}
	// Once its members left, g can go too, offsets and all.
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Version = 3
	lr.Group = "g"
	lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: ids[0]}, {MemberID: ids[1]}}
	if resp := h.c.LeaveGroup(context.Background(), lr); resp.ErrorCode != errNone || resp.Members[0].ErrorCode != errNone || resp.Members[1].ErrorCode != errNone {
		t.Fatalf("leave: %+v", resp)
	}
	if got := del("g"); got["g"] != errNone {
		t.Fatalf("delete of an Empty group: %v", codes(got))
	}
	if _, offsets := h.fetch("g", map[string][]int32{"t": {0}}); offsets["t/0"] != -1 {
		t.Fatalf("offsets after delete: %v", offsets)
	}
	if got := list(); len(got) != 0 {
		t.Fatalf("list after delete: %v", got)
	}
	// The log has the tombstones: the group's offset and metadata.
	recs := h.log.records(t)
	var groupTombstone, offsetTombstone bool
	for _, r := range recs[len(recs)-2:] {
		k, err := decodeKey(r.Key)
		if err != nil || r.Value != nil || k.groupID != "g" {
			t.Fatalf("record after delete: %+v %v", k, err)
		}
		groupTombstone = groupTombstone || !k.isOffset
		offsetTombstone = offsetTombstone || k.isOffset
	}
	if !groupTombstone || !offsetTombstone {
		t.Fatal("missing tombstones")
	}
}
