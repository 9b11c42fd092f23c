package group

import (
	"bytes"
	"context"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The membership APIs: JoinGroup, SyncGroup, Heartbeat, LeaveGroup.

func millis(ms int32) time.Duration { return time.Duration(max(ms, 0)) * time.Millisecond }

func cloneString(s *string) *string {
	if s == nil {
		return nil
	}
	return new(*s)
}

// newJoinRequest reads a JoinGroup of any version. Byte fields are copied:
// the coordinator keeps them beyond the request.
func newJoinRequest(ctx context.Context, req *kmsg.JoinGroupRequest) joinRequest {
	cl := clientFrom(ctx)
	jr := joinRequest{
		memberID:                  req.MemberID,
		clientID:                  cl.id,
		clientHost:                cl.host,
		sessionTimeout:            millis(req.SessionTimeoutMillis),
		rebalanceTimeout:          millis(req.RebalanceTimeoutMillis),
		protocolType:              req.ProtocolType,
		supportSkippingAssignment: req.Version >= 9,
	}
	if req.Version == 0 {
		// v0 has no rebalance timeout: the session timeout bounds both.
		jr.rebalanceTimeout = jr.sessionTimeout
	}
	if req.Version >= 5 {
		jr.instanceID = cloneString(req.InstanceID)
	}
	if req.Version >= 8 && req.Reason != nil {
		jr.reason = *req.Reason
	}
	jr.requireKnownMemberID = req.Version >= 4 && jr.instanceID == nil
	for _, p := range req.Protocols {
		jr.protocols = append(jr.protocols, protocol{name: p.Name, metadata: bytes.Clone(p.Metadata)})
	}
	return jr
}

func (c *Coordinator) joinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) joinResult {
	jr := newJoinRequest(ctx, req)
	if req.Group == "" {
		return joinError(jr.memberID, errInvalidGroupID)
	}
	s, code := c.acquire(req.Group)
	if code != errNone {
		return joinError(jr.memberID, code)
	}
	ch := make(chan joinResult, 1)
	s.join(req.Group, jr, ch, c.now())
	s.mu.Unlock()

	// If the client is gone (or the broker stops), the member counts as
	// one that did not rejoin.
	return awaitAnswer(ctx, s, req.Group, ch, func(m *member) bool {
		if m.joinWaiter != ch {
			return false
		}
		m.joinWaiter = nil
		return true
	}, joinError(jr.memberID, errRebalanceInProgress))
}

// awaitAnswer waits for the answer to a request on ch. If ctx ends first,
// it withdraws the request from the member that holds it (detach, as
// abandon takes it) and returns the answer if one came meanwhile, else
// gaveUp.
func awaitAnswer[T any](ctx context.Context, s *shard, groupID string, ch <-chan T, detach func(m *member) bool, gaveUp T) T {
	select {
	case res := <-ch:
		return res
	case <-ctx.Done():
	}
	s.abandon(groupID, detach)
	select {
	case res := <-ch:
		return res
	default:
		return gaveUp
	}
}

// abandon withdraws a request whose client gave up: drop reports whether m
// had it waiting and drops it. Such a member must heartbeat again; if its
// session timer lapsed while it waited, it restarts now.
func (s *shard) abandon(groupID string, drop func(m *member) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groups[groupID]
	if g == nil {
		return
	}
	g.eachMember(func(m *member) {
		if drop(m) && m.heartbeatDeadline.IsZero() {
			m.heartbeatDeadline = s.c.now().Add(m.sessionTimeout)
		}
	})
}

// joinResponse renders res as a JoinGroup response of version.
func joinResponse(version int16, res joinResult) *kmsg.JoinGroupResponse {
	resp := kmsg.NewPtrJoinGroupResponse()
	resp.Version = version
	resp.ErrorCode = res.code
	resp.Generation = res.generation
	resp.LeaderID = res.leaderID
	resp.MemberID = res.memberID
	resp.Members = res.members
	resp.SkipAssignment = version >= 9 && res.skipAssignment
	if version >= 7 {
		resp.ProtocolType, resp.Protocol = res.protocolType, res.protocolName
	} else {
		name := ""
		if res.protocolName != nil {
			name = *res.protocolName
		}
		resp.Protocol = &name
	}
	return resp
}

func (c *Coordinator) syncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) syncResult {
	if req.Version >= 5 && (req.ProtocolType == nil || req.Protocol == nil) {
		// Mandatory from v5 on.
		return syncError(errInconsistentGroupProtocol)
	}
	if req.Group == "" {
		return syncError(errInvalidGroupID)
	}
	s, code := c.acquire(req.Group)
	switch code {
	case errNone:
	case errCoordinatorLoadInProgress:
		// The rebalance's state is lost with the old coordinator: have the
		// member rejoin (older clients do not expect a load error here).
		return syncError(errRebalanceInProgress)
	default:
		return syncError(code)
	}
	ch := make(chan syncResult, 1)
	s.sync(req, ch, c.now())
	s.mu.Unlock()

	return awaitAnswer(ctx, s, req.Group, ch, func(m *member) bool {
		if m.syncWaiter != ch {
			return false
		}
		m.syncWaiter = nil
		return true
	}, syncError(errRebalanceInProgress))
}

// sync handles a SyncGroup; its answer goes to ch, now or when the leader's
// assignment is written.
func (s *shard) sync(req *kmsg.SyncGroupRequest, ch chan syncResult, now time.Time) {
	g := s.groups[req.Group]
	if g == nil {
		deliverSync(ch, syncError(errUnknownMemberID))
		return
	}
	if code := validateSync(g, req); code != errNone {
		deliverSync(ch, syncError(code))
		return
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		deliverSync(ch, syncError(errUnknownMemberID))
	case statePreparingRebalance:
		deliverSync(ch, syncError(errRebalanceInProgress))
	case stateStable:
		s.removePendingSync(g, m.id)
		deliverSync(ch, syncResult{protocolType: g.protocolTypeOrNil(), protocolName: g.protocolNameOrNil(), assignment: m.assignment})
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
	case stateCompletingRebalance:
		// A repeated SyncGroup replaces the earlier one, whose client has
		// given up on it.
		g.answerSync(m, syncError(errRebalanceInProgress))
		m.syncWaiter = ch
		s.removePendingSync(g, m.id)
		if g.isLeader(m.id) {
			s.completeSync(g, req.GroupAssignment)
		}
	}
}

// validateSync checks that a SyncGroup comes from a member of the current
// generation that agrees on the protocol (v5+).
func validateSync(g *group, req *kmsg.SyncGroupRequest) int16 {
	var instanceID *string
	if req.Version >= 3 {
		instanceID = req.InstanceID
	}
	if code := g.validateGenerationMember(req.MemberID, instanceID, req.Generation); code != errNone {
		return code
	}
	if req.Version >= 5 && (*req.ProtocolType != g.protocolType || *req.Protocol != g.protocolName) {
		return errInconsistentGroupProtocol
	}
	return errNone
}

// completeSync takes the leader's assignment: it is written with the
// group's metadata, and once that is done every member waiting in
// SyncGroup gets its part and the group is Stable. If the write fails, the
// members get the error and the group rebalances.
func (s *shard) completeSync(g *group, assignments []kmsg.SyncGroupRequestGroupAssignment) {
	assignment := make(map[string][]byte, g.size())
	for _, a := range assignments {
		if g.has(a.MemberID) {
			assignment[a.MemberID] = bytes.Clone(a.MemberAssignment)
		}
	}
	var missing []string
	g.eachMember(func(m *member) {
		if _, ok := assignment[m.id]; !ok {
			assignment[m.id] = []byte{}
			missing = append(missing, m.id)
		}
	})
	if len(missing) > 0 {
		s.groupLogger(g).WithField("members", missing).Warn("the leader assigned nothing to some members")
	}
	s.groupLogger(g).WithField("members", g.size()).Info("assignment received from the leader")
	generation := g.generation
	s.storeGroup(g, assignment, func(code int16) {
		// Members may have joined or left while the write was out.
		if !g.is(stateCompletingRebalance) || g.generation != generation || s.groups[g.id] != g {
			return
		}
		now := s.c.now()
		if code != errNone {
			s.resetAndPropagateAssignmentError(g, code, now)
			s.maybePrepareRebalance(g, now, "writing the group's assignment failed")
			return
		}
		s.setAndPropagateAssignment(g, assignment, now)
		g.transitionTo(stateStable, now)
	})
}

// syncResponse renders res as a SyncGroup response of version.
func syncResponse(version int16, res syncResult) *kmsg.SyncGroupResponse {
	resp := kmsg.NewPtrSyncGroupResponse()
	resp.Version = version
	resp.ErrorCode = res.code
	resp.MemberAssignment = res.assignment
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	if version >= 5 {
		resp.ProtocolType, resp.Protocol = res.protocolType, res.protocolName
	}
	return resp
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if req.Group == "" {
		return errInvalidGroupID
	}
	s, code := c.acquire(req.Group)
	switch code {
	case errNone:
	case errCoordinatorLoadInProgress:
		// The group is still loading: answer blindly, as Kafka does.
		return errNone
	default:
		return code
	}
	defer s.mu.Unlock()
	g := s.groups[req.Group]
	if g == nil {
		return errUnknownMemberID
	}
	var instanceID *string
	if req.Version >= 3 {
		instanceID = req.InstanceID
	}
	if code := g.validateGenerationMember(req.MemberID, instanceID, req.Generation); code != errNone {
		return code
	}
	m := g.members[req.MemberID]
	switch g.state {
	case stateEmpty:
		return errUnknownMemberID
	case statePreparingRebalance:
		m.heartbeatDeadline = c.now().Add(m.sessionTimeout)
		return errRebalanceInProgress
	default:
		// CompletingRebalance too: members may heartbeat between their
		// JoinGroup and SyncGroup.
		m.heartbeatDeadline = c.now().Add(m.sessionTimeout)
		return errNone
	}
}

func (c *Coordinator) leaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := kmsg.NewPtrLeaveGroupResponse()
	resp.Version = req.Version
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	top, errs := c.leave(req.Group, leaving)
	if req.Version < 3 {
		// One member, one error: the group's or else the member's.
		resp.ErrorCode = top
		if top == errNone && len(errs) > 0 {
			resp.ErrorCode = errs[0]
		}
		return resp
	}
	resp.ErrorCode = top
	for i, l := range leaving {
		if i >= len(errs) {
			break
		}
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = l.MemberID, l.InstanceID, errs[i]
		resp.Members = append(resp.Members, rm)
	}
	return resp
}

// leave removes the leaving members (by member id, or by instance id alone
// for an administrative removal of a static member) and returns the
// group's error and, without one, each member's.
func (c *Coordinator) leave(groupID string, leaving []kmsg.LeaveGroupRequestMember) (int16, []int16) {
	if groupID == "" {
		return errInvalidGroupID, nil
	}
	s, code := c.acquire(groupID)
	if code != errNone {
		return code, nil
	}
	defer s.mu.Unlock()
	errs := make([]int16, len(leaving))
	g := s.groups[groupID]
	if g == nil {
		for i := range errs {
			errs[i] = errUnknownMemberID
		}
		return errNone, errs
	}
	if g.is(stateDead) {
		return errCoordinatorNotAvailable, nil
	}
	now := c.now()
	removeMember := func(memberID string) {
		s.groupLogger(g).WithFields(logrus.Fields{"member": memberID}).Info("member left the group")
		s.removeMemberAndUpdateGroup(g, g.members[memberID], now, "member "+memberID+" left")
	}
	for i, l := range leaving {
		switch _, pending := g.pendingMembers[l.MemberID]; {
		case l.MemberID == "":
			current, ok := "", false
			if l.InstanceID != nil {
				current, ok = g.staticMembers[*l.InstanceID]
			}
			if !ok {
				errs[i] = errUnknownMemberID
				continue
			}
			removeMember(current)
		case pending:
			s.removePendingMember(g, l.MemberID, now)
		default:
			if errs[i] = g.validateMember(l.MemberID, l.InstanceID); errs[i] == errNone {
				removeMember(l.MemberID)
			}
		}
	}
	return errNone, errs
}

// validateGenerationMember checks that a request comes from a member of the
// group's current generation, as SyncGroup and Heartbeat require.
func (g *group) validateGenerationMember(memberID string, instanceID *string, generation int32) int16 {
	if g.is(stateDead) {
		return errCoordinatorNotAvailable
	}
	if code := g.validateMember(memberID, instanceID); code != errNone {
		return code
	}
	if generation != g.generation {
		return errIllegalGeneration
	}
	return errNone
}
