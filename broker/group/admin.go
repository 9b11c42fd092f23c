package group

import (
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The administrative APIs: DescribeGroups, ListGroups, DeleteGroups.

func (c *Coordinator) describeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := kmsg.NewPtrDescribeGroupsResponse()
	resp.Version = req.Version
	for _, id := range req.Groups {
		// The broker fills in AuthorizedOperations (KIP-430) from its
		// authorizer.
		d := c.describeGroup(id, req.Version)
		resp.Groups = append(resp.Groups, d)
	}
	return resp
}

// describeGroup describes one group: its state, protocol and members; the
// members' metadata and assignments only while Stable. An unknown group is
// described as Dead (v6+: GROUP_ID_NOT_FOUND).
func (c *Coordinator) describeGroup(id string, version int16) kmsg.DescribeGroupsResponseGroup {
	d := kmsg.NewDescribeGroupsResponseGroup()
	d.Group = id
	s, code := c.acquire(id)
	if code != errNone {
		d.ErrorCode = code
		return d
	}
	defer s.mu.Unlock()
	g := s.groups[id]
	if g == nil {
		if version >= 6 {
			d.ErrorCode = errGroupIDNotFound
			d.ErrorMessage = new(fmt.Sprintf("Group %s not found.", id))
			return d
		}
		d.State = stateDead.String()
		return d
	}
	d.State = g.state.String()
	d.ProtocolType = g.protocolType
	stable := g.is(stateStable)
	if stable {
		d.Protocol = g.protocolName
	}
	g.eachMember(func(m *member) {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		dm.ProtocolMetadata, dm.MemberAssignment = []byte{}, []byte{}
		if stable {
			dm.ProtocolMetadata, dm.MemberAssignment = m.metadata(g.protocolName), m.assignment
		}
		d.Members = append(d.Members, dm)
	})
	return d
}

func (c *Coordinator) listGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := kmsg.NewPtrListGroupsResponse()
	resp.Version = req.Version
	var states, types []string
	if req.Version >= 4 {
		states = req.StatesFilter
	}
	if req.Version >= 5 {
		types = req.TypesFilter
	}
	// Every group of this coordinator is a classic group.
	if len(types) > 0 && !slices.ContainsFunc(types, func(t string) bool { return strings.EqualFold(t, "classic") }) {
		return resp
	}
	if c.shards.Closed() {
		resp.ErrorCode = errCoordinatorNotAvailable
		return resp
	}
	for _, s := range c.heldShards() {
		s.mu.Lock()
		switch {
		case s.closed:
		case !s.loaded:
			// The groups of loading partitions cannot be listed yet.
			resp.ErrorCode = errCoordinatorLoadInProgress
		default:
			for _, g := range s.groups {
				if g.is(stateDead) || len(states) > 0 && !g.inStates(states) {
					continue
				}
				lg := kmsg.NewListGroupsResponseGroup()
				lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.id, g.protocolType, g.state.String(), "classic"
				resp.Groups = append(resp.Groups, lg)
			}
		}
		s.mu.Unlock()
	}
	slices.SortFunc(resp.Groups, func(a, b kmsg.ListGroupsResponseGroup) int { return strings.Compare(a.Group, b.Group) })
	return resp
}

func (c *Coordinator) deleteGroups(req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := kmsg.NewPtrDeleteGroupsResponse()
	resp.Version = req.Version
	seen := make(map[string]bool)
	for _, id := range req.Groups {
		if seen[id] {
			continue
		}
		seen[id] = true
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group, rg.ErrorCode = id, c.deleteGroup(id)
		resp.Groups = append(resp.Groups, rg)
	}
	return resp
}

// deleteGroup deletes an Empty group and its offsets (NON_EMPTY_GROUP for a
// group with members), returning once the tombstones are written.
func (c *Coordinator) deleteGroup(id string) int16 {
	s, code := c.acquire(id)
	if code != errNone {
		return code
	}
	g := s.groups[id]
	switch {
	case g == nil || g.is(stateDead):
		s.mu.Unlock()
		return errGroupIDNotFound
	case !g.is(stateEmpty):
		s.mu.Unlock()
		return errNonEmptyGroup
	}
	removed := g.removeAllOffsets()
	g.transitionTo(stateDead, c.now())
	delete(s.groups, id)
	done := s.writeTombstones(g, removed, g.generation > 0)
	s.mu.Unlock()
	<-done
	s.logger.WithField("group", id).WithField("offsets", len(removed)).Info("deleted group")
	return errNone
}
