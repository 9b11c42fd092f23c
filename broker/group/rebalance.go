package group

import (
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// The rebalance protocol, as Kafka's GroupCoordinator runs it. These are
// shard methods because they need the shard's writes; every one is called
// with s.mu held. Kafka's delayed operations are deadlines here:
//   - DelayedJoin / InitialDelayedJoin: group.joinDeadline and
//     group.initialDelay, completed early (advanceJoin) once every member
//     rejoined;
//   - DelayedSync: group.syncDeadline;
//   - DelayedHeartbeat: member.heartbeatDeadline and the pending members'
//     deadlines.

// newMemberJoinTimeout bounds how long a new member may wait in its first
// JoinGroup: it cannot heartbeat yet, and a client that gave up would
// otherwise stay in the join phase for ever (Kafka's NewMemberJoinTimeoutMs).
const newMemberJoinTimeout = 5 * time.Minute

// joinRequest is a JoinGroup, whichever version it came as.
type joinRequest struct {
	memberID         string
	instanceID       *string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	sessionTimeout   time.Duration
	protocolType     string
	protocols        []protocol
	// requireKnownMemberID: a dynamic member of JoinGroup v4+ joining
	// without a member id first gets one (MEMBER_ID_REQUIRED, KIP-394).
	requireKnownMemberID bool
	// supportSkippingAssignment: JoinGroup v9+ (KIP-814).
	supportSkippingAssignment bool
	reason                    string
}

// clientReason is the reason the client gave for joining (v8+), for logs.
func (jr joinRequest) clientReason() string {
	if jr.reason == "" {
		return ""
	}
	return " (client reason: " + jr.reason + ")"
}

// deliverJoin answers a waiting JoinGroup unless it was answered already:
// the first answer wins.
func deliverJoin(ch chan joinResult, res joinResult) {
	select {
	case ch <- res:
	default:
	}
}

func deliverSync(ch chan syncResult, res syncResult) {
	select {
	case ch <- res:
	default:
	}
}

func (s *shard) groupLogger(g *group) logrus.FieldLogger {
	return s.logger.WithFields(logrus.Fields{"group": g.id, "generation": g.generation})
}

// acceptJoiningMember reports whether the group has room for memberID, by
// Kafka's rules: while rebalancing, members already waiting and new ones
// up to group.max.size waiting; otherwise current members and new ones up
// to group.max.size members.
func (s *shard) acceptJoiningMember(g *group, memberID string) bool {
	maxSize := s.c.cfg.MaxGroupSize
	switch g.state {
	case statePreparingRebalance:
		if m := g.members[memberID]; m != nil && m.isAwaitingJoin() {
			return true
		}
		return g.numAwaitingJoin() < maxSize
	case stateCompletingRebalance, stateStable:
		return g.has(memberID) || g.size() < maxSize
	}
	return true
}

// join handles a JoinGroup for the group groupID; its answer goes to ch,
// now or when the join phase completes.
func (s *shard) join(groupID string, jr joinRequest, ch chan joinResult, now time.Time) {
	cfg := s.c.cfg
	if jr.sessionTimeout < cfg.MinSessionTimeout || jr.sessionTimeout > cfg.MaxSessionTimeout {
		deliverJoin(ch, joinError(jr.memberID, errInvalidSessionTimeout))
		return
	}
	g := s.groups[groupID]
	if g == nil {
		// Only a member without id creates a group.
		if jr.memberID != "" {
			deliverJoin(ch, joinError(jr.memberID, errUnknownMemberID))
			return
		}
		g = newGroup(groupID, now)
		s.groups[groupID] = g
	}
	switch {
	case !s.acceptJoiningMember(g, jr.memberID):
		g.remove(jr.memberID)
		deliverJoin(ch, joinError("", errGroupMaxSizeReached))
	case jr.memberID == "":
		s.joinNewMember(g, jr, ch, now)
	default:
		s.joinCurrentMember(g, jr, ch, now)
	}
	s.advanceJoin(g, now)
}

// joinNewMember handles a JoinGroup without member id.
func (s *shard) joinNewMember(g *group, jr joinRequest, ch chan joinResult, now time.Time) {
	switch {
	case g.is(stateDead):
		deliverJoin(ch, joinError("", errCoordinatorNotAvailable))
		return
	case !g.supportsProtocols(jr.protocolType, jr.protocols):
		deliverJoin(ch, joinError("", errInconsistentGroupProtocol))
		return
	}
	newID := newMemberID(jr.clientID, jr.instanceID)
	switch {
	case jr.instanceID != nil:
		if oldID, ok := g.staticMembers[*jr.instanceID]; ok {
			s.updateStaticMemberAndRebalance(g, oldID, newID, jr, ch, now)
		} else {
			s.addMemberAndRebalance(g, newID, jr, ch, now)
		}
	case jr.requireKnownMemberID:
		g.pendingMembers[newID] = now.Add(jr.sessionTimeout)
		deliverJoin(ch, joinError(newID, errMemberIDRequired))
	default:
		s.addMemberAndRebalance(g, newID, jr, ch, now)
	}
}

// joinCurrentMember handles a JoinGroup with a member id: a pending member
// completing its two-step join, or a member rejoining.
func (s *shard) joinCurrentMember(g *group, jr joinRequest, ch chan joinResult, now time.Time) {
	memberID := jr.memberID
	switch {
	case g.is(stateDead):
		deliverJoin(ch, joinError(memberID, errCoordinatorNotAvailable))
		return
	case !g.supportsProtocols(jr.protocolType, jr.protocols):
		deliverJoin(ch, joinError(memberID, errInconsistentGroupProtocol))
		return
	}
	if _, pending := g.pendingMembers[memberID]; pending {
		if jr.instanceID != nil {
			// Pending ids are only handed to dynamic members; a static
			// member sending one is confused and should start over.
			deliverJoin(ch, joinError(memberID, errUnknownMemberID))
			return
		}
		s.addMemberAndRebalance(g, memberID, jr, ch, now)
		return
	}
	if code := g.validateMember(memberID, jr.instanceID); code != errNone {
		deliverJoin(ch, joinError(memberID, code))
		return
	}
	m := g.members[memberID]
	switch g.state {
	case statePreparingRebalance:
		s.updateMemberAndRebalance(g, m, jr, ch, now, "member rejoined during the join phase")
	case stateCompletingRebalance:
		if m.matches(jr.protocols) {
			// The member lost its JoinGroup answer: tell it the current
			// generation again.
			deliverJoin(ch, s.currentGeneration(g, m.id, g.isLeader(m.id)))
		} else {
			s.updateMemberAndRebalance(g, m, jr, ch, now, "member changed its metadata during the sync phase")
		}
	case stateStable:
		switch {
		case g.isLeader(memberID):
			// A leader rejoins to have the assignment redone (say, for
			// new partitions of a subscribed topic).
			s.updateMemberAndRebalance(g, m, jr, ch, now, "leader rejoined")
		case !m.matches(jr.protocols):
			s.updateMemberAndRebalance(g, m, jr, ch, now, "member changed its metadata")
		default:
			deliverJoin(ch, s.currentGeneration(g, m.id, false))
		}
	default:
		deliverJoin(ch, joinError(memberID, errUnknownMemberID))
	}
}

// currentGeneration is the JoinGroup answer describing the running
// generation, with every member's metadata when withMembers.
func (s *shard) currentGeneration(g *group, memberID string, withMembers bool) joinResult {
	res := joinResult{
		memberID:     memberID,
		generation:   g.generation,
		protocolType: g.protocolTypeOrNil(),
		protocolName: g.protocolNameOrNil(),
		leaderID:     g.leaderID,
	}
	if withMembers {
		res.members = g.currentMemberMetadata()
	}
	return res
}

// validateMember checks that memberID is a member and, for a static member,
// that it holds instanceID (else FENCED_INSTANCE_ID).
func (g *group) validateMember(memberID string, instanceID *string) int16 {
	if instanceID != nil {
		current, ok := g.staticMembers[*instanceID]
		if !ok {
			return errUnknownMemberID
		}
		if current != memberID {
			return errFencedInstanceID
		}
	}
	if !g.has(memberID) {
		return errUnknownMemberID
	}
	return errNone
}

func (s *shard) addMemberAndRebalance(g *group, memberID string, jr joinRequest, ch chan joinResult, now time.Time) {
	m := &member{
		id:               memberID,
		instanceID:       jr.instanceID,
		clientID:         jr.clientID,
		clientHost:       jr.clientHost,
		rebalanceTimeout: jr.rebalanceTimeout,
		sessionTimeout:   jr.sessionTimeout,
		protocolType:     jr.protocolType,
		protocols:        jr.protocols,
		isNew:            true,
	}
	if g.is(statePreparingRebalance) && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.add(m, ch)
	m.heartbeatDeadline = now.Add(newMemberJoinTimeout)
	s.maybePrepareRebalance(g, now, "new member "+memberID+" joined"+jr.clientReason())
}

func (s *shard) updateMemberAndRebalance(g *group, m *member, jr joinRequest, ch chan joinResult, now time.Time, reason string) {
	g.updateMember(m, jr.protocols, jr.rebalanceTimeout, jr.sessionTimeout, ch)
	s.maybePrepareRebalance(g, now, reason+jr.clientReason())
}

// updateStaticMemberAndRebalance handles a known static member rejoining
// without member id (say, after a restart): it takes over the old member's
// place under a new id. In a Stable group whose protocol would not change,
// that needs no rebalance: the member gets the current generation (and
// keeps its assignment) once the group's new metadata is written.
func (s *shard) updateStaticMemberAndRebalance(g *group, oldID, newID string, jr joinRequest, ch chan joinResult, now time.Time) {
	instanceID := *jr.instanceID
	currentLeader := g.leaderID
	m := g.replaceStaticMember(instanceID, oldID, newID)
	m.heartbeatDeadline = now.Add(m.sessionTimeout)
	oldProtocols, oldRebalanceTimeout, oldSessionTimeout := m.protocols, m.rebalanceTimeout, m.sessionTimeout
	g.updateMember(m, jr.protocols, jr.rebalanceTimeout, jr.sessionTimeout, ch)

	switch g.state {
	case stateStable:
		if next, ok := g.selectProtocol(); !ok || next != g.protocolName {
			s.maybePrepareRebalance(g, now, "static member "+instanceID+" rejoined with other protocols"+jr.clientReason())
			return
		}
		assignment := make(map[string][]byte, g.size())
		g.eachMember(func(m *member) { assignment[m.id] = m.assignment })
		s.storeGroup(g, assignment, func(code int16) {
			now := s.c.now()
			if code != errNone {
				// Undo the replacement, so that the old member id (which
				// the log still has) stays valid.
				if g.members[newID] == m && m.joinWaiter == ch && !g.is(stateDead) {
					g.updateMember(m, oldProtocols, oldRebalanceTimeout, oldSessionTimeout, nil)
					old := g.replaceStaticMember(instanceID, newID, oldID)
					old.heartbeatDeadline = now.Add(old.sessionTimeout)
				}
				res := joinError("", code)
				res.generation = g.generation
				res.protocolType, res.protocolName = g.protocolTypeOrNil(), g.protocolNameOrNil()
				res.leaderID = currentLeader
				deliverJoin(ch, res)
				return
			}
			if m.joinWaiter != ch {
				// Answered meanwhile (fenced by a later rejoin, or gone).
				return
			}
			if jr.supportSkippingAssignment {
				// JoinGroup v9+: a static leader learns it leads but
				// skips the assignment, which the Stable group would
				// not take anyway.
				isLeader := g.isLeader(newID)
				res := s.currentGeneration(g, newID, isLeader)
				res.skipAssignment = isLeader
				g.answerJoin(m, res)
				return
			}
			// Older clients are told the old leader id, so that a
			// rejoining leader does not run an assignment the Stable
			// group would ignore.
			res := s.currentGeneration(g, newID, false)
			res.leaderID = currentLeader
			g.answerJoin(m, res)
		})
	case stateCompletingRebalance:
		// The leader may already be assigning to the old member id.
		s.prepareRebalance(g, now, "static member "+instanceID+" rejoined during the sync phase")
	case statePreparingRebalance:
		// The member now simply waits for the join phase to complete.
	default:
		g.answerJoin(m, joinError("", errUnknownMemberID))
	}
}

func (s *shard) maybePrepareRebalance(g *group, now time.Time, reason string) {
	if g.canRebalance() {
		s.prepareRebalance(g, now, reason)
	}
}

// prepareRebalance starts a join phase. Members waiting for an assignment
// are told to rejoin. The first rebalance of an Empty group waits
// group.initial.rebalance.delay.ms for more members; others end when every
// member rejoined or the rebalance timeout passed.
func (s *shard) prepareRebalance(g *group, now time.Time, reason string) {
	if g.is(stateCompletingRebalance) {
		s.resetAndPropagateAssignmentError(g, errRebalanceInProgress, now)
	}
	clear(g.pendingSync)
	g.syncDeadline = time.Time{}
	if g.is(stateEmpty) {
		delay := s.c.cfg.InitialRebalanceDelay
		g.initialDelay = initialDelay{active: true, delay: delay, remaining: max(g.rebalanceTimeout()-delay, 0)}
		g.joinDeadline = now.Add(delay)
	} else {
		g.initialDelay = initialDelay{}
		g.joinDeadline = now.Add(g.rebalanceTimeout())
	}
	from := g.state
	g.transitionTo(statePreparingRebalance, now)
	s.groupLogger(g).WithFields(logrus.Fields{"from": from, "reason": reason}).Info("preparing to rebalance group")
	s.advanceJoin(g, now)
}

// advanceJoin completes the join phase when it can: once every member
// rejoined (but not while the initial delay runs), or when its deadline
// passed. The initial delay is extended, within the rebalance timeout,
// while new members keep joining.
func (s *shard) advanceJoin(g *group, now time.Time) {
	if !g.is(statePreparingRebalance) {
		return
	}
	if !g.initialDelay.active && g.hasAllMembersJoined() {
		s.completeJoin(g, now)
		return
	}
	if now.Before(g.joinDeadline) {
		return
	}
	if d := &g.initialDelay; d.active {
		if g.newMemberAdded && d.remaining > 0 {
			g.newMemberAdded = false
			next := min(s.c.cfg.InitialRebalanceDelay, d.remaining)
			d.remaining = max(d.remaining-d.delay, 0)
			d.delay = next
			g.joinDeadline = now.Add(next)
			return
		}
		d.active = false
	}
	s.completeJoin(g, now)
}

// completeJoin ends the join phase: dynamic members that did not rejoin
// are dropped, and the next generation starts, answering every waiting
// JoinGroup (the leader gets the members' metadata) and starting the sync
// phase; or the group goes Empty.
func (s *shard) completeJoin(g *group, now time.Time) {
	for _, id := range slices.Clone(g.order) {
		if m := g.members[id]; !m.isAwaitingJoin() && !m.isStatic() {
			s.groupLogger(g).WithField("member", id).Info("removing a member that did not rejoin")
			g.remove(id)
		}
	}
	if !g.maybeElectNewJoinedLeader() && g.size() > 0 {
		// Only static members that did not rejoin are left: wait for
		// them (or their session timeouts) another rebalance timeout.
		s.groupLogger(g).Warn("no member rejoined the group; waiting another rebalance timeout")
		g.initialDelay = initialDelay{}
		g.joinDeadline = now.Add(g.rebalanceTimeout())
		return
	}
	g.initNextGeneration(now)
	if g.is(stateEmpty) {
		s.groupLogger(g).Info("group is empty")
		// A failed write only means a failover brings back the previous
		// generation, whose members will time out.
		s.storeGroup(g, nil, func(int16) {})
		return
	}
	s.groupLogger(g).WithFields(logrus.Fields{"members": g.size(), "protocol": g.protocolName, "leader": g.leaderID}).
		Info("group completed its join phase")
	leaderView := s.currentGeneration(g, "", true).members
	g.eachMember(func(m *member) {
		res := s.currentGeneration(g, m.id, false)
		if g.isLeader(m.id) {
			res.members = leaderView
		}
		g.answerJoin(m, res)
		m.heartbeatDeadline = now.Add(m.sessionTimeout)
		m.isNew = false
		g.pendingSync[m.id] = true
	})
	g.syncGeneration = g.generation
	g.syncDeadline = now.Add(g.rebalanceTimeout())
}

// removeMemberAndUpdateGroup removes a member that left or failed, and
// rebalances (or lets the running join phase complete without it).
func (s *shard) removeMemberAndUpdateGroup(g *group, m *member, now time.Time, reason string) {
	g.answerJoin(m, joinError("", errUnknownMemberID))
	g.remove(m.id)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		s.maybePrepareRebalance(g, now, reason)
	case statePreparingRebalance:
		s.advanceJoin(g, now)
	}
}

// removePendingMember drops a member id handed out with MEMBER_ID_REQUIRED.
func (s *shard) removePendingMember(g *group, memberID string, now time.Time) {
	g.remove(memberID)
	s.advanceJoin(g, now)
}

// removePendingSync notes the member's SyncGroup.
func (s *shard) removePendingSync(g *group, memberID string) {
	delete(g.pendingSync, memberID)
	if len(g.pendingSync) == 0 {
		g.syncDeadline = time.Time{}
	}
}

func (s *shard) resetAndPropagateAssignmentError(g *group, code int16, now time.Time) {
	g.eachMember(func(m *member) { m.assignment = nil })
	s.propagateAssignment(g, code, now)
}

func (s *shard) setAndPropagateAssignment(g *group, assignment map[string][]byte, now time.Time) {
	g.eachMember(func(m *member) { m.assignment = assignment[m.id] })
	s.propagateAssignment(g, errNone, now)
}

// propagateAssignment answers the waiting SyncGroups with the members'
// assignments (or code), restarting the session timers of those answered.
func (s *shard) propagateAssignment(g *group, code int16, now time.Time) {
	var protocolType, protocolName *string
	if code == errNone {
		protocolType, protocolName = g.protocolTypeOrNil(), g.protocolNameOrNil()
	}
	g.eachMember(func(m *member) {
		res := syncResult{code: code, protocolType: protocolType, protocolName: protocolName, assignment: m.assignment}
		if g.answerSync(m, res) {
			m.heartbeatDeadline = now.Add(m.sessionTimeout)
		}
	})
}

// tickGroup fires the group's deadlines that passed at now.
func (s *shard) tickGroup(g *group, now time.Time) {
	var due []string
	for _, id := range g.order {
		if d := g.members[id].heartbeatDeadline; !d.IsZero() && !now.Before(d) {
			due = append(due, id)
		}
	}
	for _, id := range due {
		m := g.members[id]
		if m == nil {
			continue // removed by an earlier expiry's rebalance
		}
		if !m.isNew && (m.isAwaitingJoin() || m.isAwaitingSync()) {
			// A member waiting in a JoinGroup or SyncGroup cannot
			// heartbeat; its timer restarts once it is answered.
			m.heartbeatDeadline = time.Time{}
			continue
		}
		s.groupLogger(g).WithField("member", id).Info("member's session timed out")
		s.removeMemberAndUpdateGroup(g, m, now, "session timeout of member "+id)
	}
	for id, deadline := range g.pendingMembers {
		if !now.Before(deadline) {
			s.removePendingMember(g, id, now)
		}
	}
	if !g.syncDeadline.IsZero() && !now.Before(g.syncDeadline) {
		s.expirePendingSync(g, now)
	}
	s.advanceJoin(g, now)
}

// expirePendingSync ends a sync phase some members never sent their
// SyncGroup in: they are removed and the group rebalances.
func (s *shard) expirePendingSync(g *group, now time.Time) {
	g.syncDeadline = time.Time{}
	if g.generation != g.syncGeneration || !(g.is(stateCompletingRebalance) || g.is(stateStable)) || len(g.pendingSync) == 0 {
		return
	}
	missing := make([]string, 0, len(g.pendingSync))
	for id := range g.pendingSync {
		missing = append(missing, id)
	}
	slices.Sort(missing)
	for _, id := range missing {
		g.remove(id)
	}
	s.prepareRebalance(g, now, "members did not sync in time")
}
