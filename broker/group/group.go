package group

import (
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/zkpaths"
)

// groupState is the state of a group, as Kafka names and orders them.
type groupState int8

const (
	// stateEmpty: no members. The group lingers while it has offsets; a
	// join from a new member starts a rebalance.
	stateEmpty groupState = iota
	// statePreparingRebalance: the join phase. JoinGroups wait until every
	// known member rejoined or the rebalance timeout passed; heartbeats and
	// SyncGroups get REBALANCE_IN_PROGRESS.
	statePreparingRebalance
	// stateCompletingRebalance: the sync phase. Members wait in SyncGroup
	// for the leader's assignment; commits get REBALANCE_IN_PROGRESS.
	stateCompletingRebalance
	// stateStable: members heartbeat and commit in the current generation.
	stateStable
	// stateDead: the group was deleted or unloaded; nothing more happens
	// to it.
	stateDead
)

func (s groupState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	case stateDead:
		return "Dead"
	}
	return "Unknown"
}

// canTransition reports whether a group in state from may move to state
// to, following Kafka's group state machine.
func canTransition(from, to groupState) bool {
	switch to {
	case stateEmpty:
		return from == statePreparingRebalance
	case statePreparingRebalance:
		return from == stateStable || from == stateCompletingRebalance || from == stateEmpty
	case stateCompletingRebalance:
		return from == statePreparingRebalance
	case stateStable:
		return from == stateCompletingRebalance
	case stateDead:
		return true
	}
	return false
}

// consumerProtocolType is the protocol type of Kafka consumers, the only
// one whose member metadata the coordinator reads (for subscriptions).
const consumerProtocolType = "consumer"

// committedOffset is a committed offset as the coordinator keeps it, with
// Kafka's OffsetAndMetadata fields.
type committedOffset struct {
	offset int64
	// leaderEpoch is -1 when the committer did not send one.
	leaderEpoch int32
	metadata    string
	// commitTimestamp and expireTimestamp are Unix milliseconds;
	// expireTimestamp is -1 unless the commit carried a retention time
	// (OffsetCommit v2-v4).
	commitTimestamp int64
	expireTimestamp int64
	// batchOffset is the base offset of the log batch that holds the
	// commit, -1 until its write is done. Of two commits of a partition
	// the one later in the log wins, whatever order they became visible
	// in: a transactional commit made visible by its marker does not undo
	// a plain commit written after it (Kafka's olderThan rule).
	batchOffset int64
}

// supersedes reports whether o, written at o.batchOffset, replaces cur.
func (o committedOffset) supersedes(cur committedOffset) bool {
	return cur.batchOffset < o.batchOffset
}

// initialDelay is the state of Kafka's InitialDelayedJoin: the first
// rebalance from Empty waits group.initial.rebalance.delay.ms, and again
// (within the rebalance timeout) as long as new members keep arriving.
type initialDelay struct {
	active bool
	// delay is the length of the current wait, remaining what is left of
	// the rebalance timeout for further waits.
	delay, remaining time.Duration
}

// group is one group's membership and offsets, as Kafka's GroupMetadata.
// Its methods are pure bookkeeping; the rebalance protocol that drives them
// (with its timers and writes) lives on the shard.
type group struct {
	id    string
	state groupState
	// stateTimestamp is when the group entered its state (zero when
	// unknown, as for a group loaded from an old record); offsets of an
	// Empty group expire relative to it (KIP-211).
	stateTimestamp time.Time
	protocolType   string // "" until a member defines it
	protocolName   string // "" while no generation is running
	generation     int32
	leaderID       string // "" without members

	members map[string]*member
	// order holds the member ids in joining order, so that answers and
	// choices (leader, protocol) do not depend on map iteration.
	order []string
	// staticMembers maps group.instance.id to the member id holding it.
	staticMembers map[string]string
	// pendingMembers are ids handed out with MEMBER_ID_REQUIRED that have
	// not joined yet, with the deadline they must join by.
	pendingMembers map[string]time.Time
	// pendingSync are members of the current generation that have not
	// sent their SyncGroup yet; they are removed at syncDeadline.
	pendingSync    map[string]bool
	syncDeadline   time.Time
	syncGeneration int32
	// supportedProtocols counts, per protocol name, the members supporting
	// it.
	supportedProtocols map[string]int

	// joinDeadline ends the running join phase (PreparingRebalance).
	joinDeadline time.Time
	initialDelay initialDelay
	// newMemberAdded is set when a member joins during the first join
	// phase, so that the initial delay waits once more.
	newMemberAdded bool

	offsets map[zkpaths.TopicPartition]committedOffset
	// pendingCommits holds, per partition, the latest commit whose write is
	// in flight; a write's result is applied only while the partition is
	// still pending (an offset deleted meanwhile stays deleted).
	pendingCommits map[zkpaths.TopicPartition]*pendingCommit
	// pendingTxnOffsets holds, per producer id, the transactional offset
	// commits of the producer's open transaction (TxnOffsetCommit), which
	// stay invisible until the transaction's marker commits them into
	// offsets or aborts them (see txn.go). A producer's entry may be left
	// empty by removeOffsets; it still keeps the group alive until the
	// transaction ends, as in Kafka.
	pendingTxnOffsets map[int64]map[zkpaths.TopicPartition]pendingTxnOffset

	// subscribedTopics are the topics the members of a consumer group
	// subscribe to; subscriptionsKnown is false when they cannot be told
	// (not a consumer group, or metadata that does not parse).
	subscribedTopics   map[string]bool
	subscriptionsKnown bool
}

// pendingCommit identifies one in-flight offset write, by its address. It
// must not be zero-sized: Go may give every allocation of a zero-sized type
// the same address, and then an earlier write finishing would take a later
// write's entry for its own, drop it, and the later write would never reach
// the offsets it committed.
type pendingCommit struct{ _ byte }

func newGroup(id string, now time.Time) *group {
	return &group{
		id:                 id,
		state:              stateEmpty,
		stateTimestamp:     now,
		members:            make(map[string]*member),
		staticMembers:      make(map[string]string),
		pendingMembers:     make(map[string]time.Time),
		pendingSync:        make(map[string]bool),
		supportedProtocols: make(map[string]int),
		offsets:            make(map[zkpaths.TopicPartition]committedOffset),
		pendingCommits:     make(map[zkpaths.TopicPartition]*pendingCommit),
		pendingTxnOffsets:  make(map[int64]map[zkpaths.TopicPartition]pendingTxnOffset),
	}
}

// transitionTo moves the group to state, stamping the time. It reports
// false, leaving the group as it is, for a transition Kafka does not allow;
// the protocol code never asks for one.
func (g *group) transitionTo(state groupState, now time.Time) bool {
	if !canTransition(g.state, state) {
		return false
	}
	g.state = state
	g.stateTimestamp = now
	return true
}

func (g *group) is(state groupState) bool      { return g.state == state }
func (g *group) has(memberID string) bool      { return g.members[memberID] != nil }
func (g *group) isLeader(memberID string) bool { return memberID != "" && g.leaderID == memberID }
func (g *group) size() int                     { return len(g.members) }
func (g *group) isConsumerGroup() bool         { return g.protocolType == consumerProtocolType }
func (g *group) canRebalance() bool            { return canTransition(g.state, statePreparingRebalance) }

// eachMember calls fn for the members in joining order.
func (g *group) eachMember(fn func(*member)) {
	for _, id := range g.order {
		fn(g.members[id])
	}
}

// add makes m a member; waiter, when not nil, is its waiting JoinGroup.
// The first member defines the group's protocol type and becomes leader.
func (g *group) add(m *member, waiter chan joinResult) {
	if m.instanceID != nil {
		g.staticMembers[*m.instanceID] = m.id
	}
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leaderID == "" {
		g.leaderID = m.id
	}
	g.members[m.id] = m
	g.order = append(g.order, m.id)
	g.countProtocols(m, 1)
	m.joinWaiter = waiter
	delete(g.pendingMembers, m.id)
}

// remove drops a member or pending member. A JoinGroup or SyncGroup it
// still has waiting is answered UNKNOWN_MEMBER_ID so that no request is
// left hanging. A leader is succeeded by the oldest remaining member.
func (g *group) remove(memberID string) {
	if m := g.members[memberID]; m != nil {
		g.answerJoin(m, joinError("", errUnknownMemberID))
		g.answerSync(m, syncError(errUnknownMemberID))
		g.countProtocols(m, -1)
		if m.instanceID != nil && g.staticMembers[*m.instanceID] == memberID {
			delete(g.staticMembers, *m.instanceID)
		}
		delete(g.members, memberID)
		g.order = slices.DeleteFunc(g.order, func(id string) bool { return id == memberID })
	}
	if g.isLeader(memberID) {
		g.leaderID = ""
		if len(g.order) > 0 {
			g.leaderID = g.order[0]
		}
	}
	delete(g.pendingMembers, memberID)
	delete(g.pendingSync, memberID)
}

func (g *group) countProtocols(m *member, delta int) {
	for _, p := range m.protocols {
		g.supportedProtocols[p.name] += delta
		if g.supportedProtocols[p.name] == 0 {
			delete(g.supportedProtocols, p.name)
		}
	}
}

// replaceStaticMember gives the static member holding instanceID the new
// member id newID, keeping everything else. Requests of the old id still
// waiting are fenced.
func (g *group) replaceStaticMember(instanceID, oldID, newID string) *member {
	m := g.members[oldID]
	g.answerJoin(m, joinError(oldID, errFencedInstanceID))
	g.answerSync(m, syncError(errFencedInstanceID))
	delete(g.members, oldID)
	m.id = newID
	g.members[newID] = m
	if i := slices.Index(g.order, oldID); i >= 0 {
		g.order[i] = newID
	}
	if g.leaderID == oldID {
		g.leaderID = newID
	}
	g.staticMembers[instanceID] = newID
	return m
}

// updateMember replaces a member's protocols and timeouts from a rejoin;
// waiter is its waiting JoinGroup (nil: none).
func (g *group) updateMember(m *member, protocols []protocol, rebalanceTimeout, sessionTimeout time.Duration, waiter chan joinResult) {
	g.countProtocols(m, -1)
	m.protocols = protocols
	g.countProtocols(m, 1)
	m.rebalanceTimeout = rebalanceTimeout
	m.sessionTimeout = sessionTimeout
	m.joinWaiter = waiter
}

// answerJoin answers the member's waiting JoinGroup, if any.
func (g *group) answerJoin(m *member, res joinResult) {
	if m.joinWaiter != nil {
		deliverJoin(m.joinWaiter, res)
		m.joinWaiter = nil
	}
}

// answerSync answers the member's waiting SyncGroup, if any, and reports
// whether there was one.
func (g *group) answerSync(m *member, res syncResult) bool {
	if m.syncWaiter == nil {
		return false
	}
	deliverSync(m.syncWaiter, res)
	m.syncWaiter = nil
	return true
}

// numAwaitingJoin counts the members waiting in a JoinGroup.
func (g *group) numAwaitingJoin() int {
	n := 0
	for _, m := range g.members {
		if m.isAwaitingJoin() {
			n++
		}
	}
	return n
}

// hasAllMembersJoined reports whether the join phase can complete: every
// member is waiting in a JoinGroup and no handed-out member id is still
// expected.
func (g *group) hasAllMembersJoined() bool {
	return g.numAwaitingJoin() == len(g.members) && len(g.pendingMembers) == 0
}

// rebalanceTimeout is the longest rebalance timeout of the members.
func (g *group) rebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

// maybeElectNewJoinedLeader keeps the leader if it rejoined, or else makes
// the first member that rejoined leader. It reports false when there is no
// leader or no member rejoined.
func (g *group) maybeElectNewJoinedLeader() bool {
	leader := g.members[g.leaderID]
	if leader == nil {
		return false
	}
	if leader.isAwaitingJoin() {
		return true
	}
	for _, id := range g.order {
		if g.members[id].isAwaitingJoin() {
			g.leaderID = id
			return true
		}
	}
	return false
}

// supportsProtocols reports whether a member with this protocol type and
// these protocols may join: any, when the group is Empty; else the same
// type and a protocol every member supports.
func (g *group) supportsProtocols(protocolType string, protocols []protocol) bool {
	if g.is(stateEmpty) {
		return protocolType != "" && len(protocols) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	for _, p := range protocols {
		if g.supportedProtocols[p.name] == len(g.members) {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol of the next generation as Kafka does:
// among the protocols every member supports, each member votes for its most
// preferred one and the most votes win. Ties go to the protocol that got a
// vote first in joining order, so the choice is deterministic.
func (g *group) selectProtocol() (string, bool) {
	candidates := make(map[string]bool)
	for name, n := range g.supportedProtocols {
		if n == len(g.members) {
			candidates[name] = true
		}
	}
	votes := make(map[string]int)
	var order []string
	for _, id := range g.order {
		name, ok := g.members[id].vote(candidates)
		if !ok {
			continue
		}
		if votes[name] == 0 {
			order = append(order, name)
		}
		votes[name]++
	}
	best := ""
	for _, name := range order {
		if best == "" || votes[name] > votes[best] {
			best = name
		}
	}
	return best, best != ""
}

// computeSubscriptions works out the topics a consumer group's members
// subscribe to from their metadata for the group's protocol. Following
// Kafka, only the version-0 prefix of the consumer protocol (the topic
// list) is read, so future versions parse too.
func (g *group) computeSubscriptions() {
	g.subscribedTopics, g.subscriptionsKnown = nil, false
	if !g.isConsumerGroup() {
		return
	}
	if len(g.members) == 0 {
		g.subscribedTopics, g.subscriptionsKnown = map[string]bool{}, true
		return
	}
	if g.protocolName == "" {
		return
	}
	topics := make(map[string]bool)
	for _, m := range g.members {
		subscribed, ok := subscriptionTopics(m.metadata(g.protocolName))
		if !ok {
			return
		}
		for _, t := range subscribed {
			topics[t] = true
		}
	}
	g.subscribedTopics, g.subscriptionsKnown = topics, true
}

// subscriptionTopics reads the topics of a consumer protocol subscription.
func subscriptionTopics(metadata []byte) ([]string, bool) {
	if len(metadata) < 2 || int16(metadata[0])<<8|int16(metadata[1]) < 0 {
		return nil, false
	}
	v0 := slices.Clone(metadata)
	v0[0], v0[1] = 0, 0
	var sub kmsg.ConsumerMemberMetadata
	if err := sub.ReadFrom(v0); err != nil {
		return nil, false
	}
	return sub.Topics, true
}

// isSubscribedTo reports whether a member subscribes to topic; true when
// that cannot be told, to be safe.
func (g *group) isSubscribedTo(topic string) bool {
	if !g.subscriptionsKnown {
		return true
	}
	return g.subscribedTopics[topic]
}

// initNextGeneration starts the next generation once the join phase ends:
// the sync phase with the chosen protocol, or Empty without members.
func (g *group) initNextGeneration(now time.Time) {
	g.generation++
	if len(g.members) > 0 {
		// Every join checks that its protocols overlap the group's, so a
		// protocol is always found (were none, the name would stay empty).
		g.protocolName, _ = g.selectProtocol()
		g.computeSubscriptions()
		g.transitionTo(stateCompletingRebalance, now)
	} else {
		g.protocolName = ""
		g.computeSubscriptions()
		g.transitionTo(stateEmpty, now)
	}
	clear(g.pendingSync)
	g.syncDeadline = time.Time{}
}

// currentMemberMetadata lists every member with its metadata for the
// group's protocol, for the leader's JoinGroup response.
func (g *group) currentMemberMetadata() []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
	g.eachMember(func(m *member) { out = append(out, m.responseMember(g.protocolName)) })
	return out
}

// protocolTypeOrNil and protocolNameOrNil are the group's protocol type and
// name as JoinGroup and SyncGroup answer them: null when not defined.
func (g *group) protocolTypeOrNil() *string {
	if g.protocolType == "" {
		return nil
	}
	return new(g.protocolType)
}

func (g *group) protocolNameOrNil() *string {
	if g.protocolName == "" {
		return nil
	}
	return new(g.protocolName)
}

// inStates reports whether the group's state is one of states, compared
// case-insensitively as ListGroups does.
func (g *group) inStates(states []string) bool {
	for _, s := range states {
		if strings.EqualFold(s, g.state.String()) {
			return true
		}
	}
	return false
}

// hasOffsets reports whether the group has committed offsets, commits in
// flight or transactional commits pending; an Empty group without any is
// deleted.
func (g *group) hasOffsets() bool {
	return len(g.offsets) > 0 || len(g.pendingCommits) > 0 || len(g.pendingTxnOffsets) > 0
}

// removeOffsets deletes the offsets of partitions, with their commits in
// flight and pending in transactions, and returns those the group had
// committed.
func (g *group) removeOffsets(partitions []zkpaths.TopicPartition) []zkpaths.TopicPartition {
	var removed []zkpaths.TopicPartition
	for _, tp := range partitions {
		delete(g.pendingCommits, tp)
		for _, pending := range g.pendingTxnOffsets {
			delete(pending, tp)
		}
		if _, ok := g.offsets[tp]; ok {
			delete(g.offsets, tp)
			removed = append(removed, tp)
		}
	}
	return removed
}

// removeAllOffsets deletes every offset of the group.
func (g *group) removeAllOffsets() []zkpaths.TopicPartition {
	all := make([]zkpaths.TopicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		all = append(all, tp)
	}
	return g.removeOffsets(all)
}

// removeExpiredOffsets deletes and returns the offsets that expired at now
// under retention, with Kafka's (KIP-211) rules:
//   - an Empty group that has a protocol type: retention counts from when
//     the group became Empty (or from the commit when that is unknown);
//   - a Stable consumer group whose subscriptions are known: offsets of
//     topics nobody subscribes to expire by commit time;
//   - a group without protocol type (commits only, "simple" consumers):
//     by commit time.
//
// An offset committed with an explicit retention (OffsetCommit v2-v4)
// expires at its own expire timestamp instead. Offsets with a commit in
// flight never expire.
func (g *group) removeExpiredOffsets(now time.Time, retention time.Duration) []zkpaths.TopicPartition {
	nowMs := now.UnixMilli()
	retentionMs := retention.Milliseconds()
	var base func(committedOffset) int64
	var keep map[string]bool
	switch {
	case g.protocolType != "" && g.is(stateEmpty):
		base = func(o committedOffset) int64 {
			if g.stateTimestamp.IsZero() {
				return o.commitTimestamp
			}
			return g.stateTimestamp.UnixMilli()
		}
	case g.isConsumerGroup() && g.subscriptionsKnown && g.is(stateStable):
		base = func(o committedOffset) int64 { return o.commitTimestamp }
		keep = g.subscribedTopics
	case g.protocolType == "":
		base = func(o committedOffset) int64 { return o.commitTimestamp }
	default:
		return nil
	}
	var expired []zkpaths.TopicPartition
	for tp, o := range g.offsets {
		if keep[tp.Topic] || g.pendingCommits[tp] != nil {
			continue
		}
		if o.expireTimestamp >= 0 && nowMs >= o.expireTimestamp ||
			o.expireTimestamp < 0 && nowMs-base(o) >= retentionMs {
			expired = append(expired, tp)
		}
	}
	for _, tp := range expired {
		delete(g.offsets, tp)
	}
	return expired
}
