package group

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/poll"
)

func TestErrorCodesMatchKerr(t *testing.T) {
	for code, want := range map[int16]*kerr.Error{
		errUnknownServerError:        kerr.UnknownServerError,
		errRequestTimedOut:           kerr.RequestTimedOut,
		errOffsetMetadataTooLarge:    kerr.OffsetMetadataTooLarge,
		errCoordinatorLoadInProgress: kerr.CoordinatorLoadInProgress,
		errCoordinatorNotAvailable:   kerr.CoordinatorNotAvailable,
		errNotCoordinator:            kerr.NotCoordinator,
		errIllegalGeneration:         kerr.IllegalGeneration,
		errInconsistentGroupProtocol: kerr.InconsistentGroupProtocol,
		errInvalidGroupID:            kerr.InvalidGroupID,
		errUnknownMemberID:           kerr.UnknownMemberID,
		errInvalidSessionTimeout:     kerr.InvalidSessionTimeout,
		errRebalanceInProgress:       kerr.RebalanceInProgress,
		errInvalidCommitOffsetSize:   kerr.InvalidCommitOffsetSize,
		errInvalidProducerIDMapping:  kerr.InvalidProducerIDMapping,
		errNonEmptyGroup:             kerr.NonEmptyGroup,
		errGroupIDNotFound:           kerr.GroupIDNotFound,
		errMemberIDRequired:          kerr.MemberIDRequired,
		errGroupMaxSizeReached:       kerr.GroupMaxSizeReached,
		errFencedInstanceID:          kerr.FencedInstanceID,
		errGroupSubscribedToTopic:    kerr.GroupSubscribedToTopic,
		errUnstableOffsetCommit:      kerr.UnstableOffsetCommit,
	} {
		if code != want.Code {
			t.Errorf("%s: code %d, kerr has %d", want.Message, code, want.Code)
		}
	}
}

func TestTwoStepJoin(t *testing.T) {
	h := newHarness(t)
	first := h.c.JoinGroup(clientCtx("my-client"), joinReq("g", "", rangeProtocol("t")))
	if first.ErrorCode != errMemberIDRequired || !strings.HasPrefix(first.MemberID, "my-client-") || first.Generation != -1 {
		t.Fatalf("first join: %v member %q generation %d", kerr.ErrorForCode(first.ErrorCode), first.MemberID, first.Generation)
	}
	// The id must be used: another one is unknown.
	if r := h.join(joinReq("g", "someone-else", rangeProtocol("t"))); r.ErrorCode != errUnknownMemberID {
		t.Fatalf("join with an unknown id: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	second := h.join(joinReq("g", first.MemberID, rangeProtocol("t")))
	if second.ErrorCode != errNone || second.Generation != 1 || second.LeaderID != first.MemberID || second.MemberID != first.MemberID {
		t.Fatalf("second join: %+v", second)
	}
	if len(second.Members) != 1 || second.Members[0].MemberID != first.MemberID || *second.Protocol != "range" || *second.ProtocolType != "consumer" {
		t.Fatalf("leader's view: %+v", second)
	}

	// JoinGroup v3 knows no MEMBER_ID_REQUIRED: the id comes at once.
	old := joinReq("g3", "", rangeProtocol("t"))
	old.Version = 3
	r := h.join(old)
	if r.ErrorCode != errNone || r.MemberID == "" || r.Generation != 1 {
		t.Fatalf("v3 join: %+v", r)
	}

	// A handed-out id that never joins expires with the session timeout.
	third := h.c.JoinGroup(clientCtx("c"), joinReq("g", "", rangeProtocol("t")))
	h.withGroup("g", func(g *group) {
		if len(g.pendingMembers) != 1 {
			t.Fatalf("pending members: %v", g.pendingMembers)
		}
	})
	h.tick(11 * time.Second)
	h.withGroup("g", func(g *group) {
		if len(g.pendingMembers) != 0 {
			t.Fatalf("pending member %s did not expire", third.MemberID)
		}
	})
}

func TestJoinValidation(t *testing.T) {
	h := newHarness(t)
	r := joinReq("g", "", rangeProtocol("t"))
	r.SessionTimeoutMillis = 500
	if got := h.join(r).ErrorCode; got != errInvalidSessionTimeout {
		t.Errorf("short session timeout: %s", codeName(got))
	}
	r = joinReq("", "", rangeProtocol("t"))
	if got := h.join(r).ErrorCode; got != errInvalidGroupID {
		t.Errorf("empty group id: %s", codeName(got))
	}
	r = joinReq("g", "", nil)
	if got := h.join(r).ErrorCode; got != errInconsistentGroupProtocol {
		t.Errorf("no protocols: %s", codeName(got))
	}
	h.stableGroup("g", 1)
	r = joinReq("g", "", []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin"}})
	if got := h.join(r).ErrorCode; got != errInconsistentGroupProtocol {
		t.Errorf("protocol no member supports: %s", codeName(got))
	}
	r = joinReq("g", "", rangeProtocol("t"))
	r.ProtocolType = "connect"
	if got := h.join(r).ErrorCode; got != errInconsistentGroupProtocol {
		t.Errorf("other protocol type: %s", codeName(got))
	}
	if got := h.join(joinReq("nope", "some-id", rangeProtocol("t"))).ErrorCode; got != errUnknownMemberID {
		t.Errorf("member id for a group that does not exist: %s", codeName(got))
	}

	full := newHarness(t, func(c *Config) { c.MaxGroupSize = 1 })
	full.stableGroup("g", 1)
	if got := full.join(joinReq("g", "", rangeProtocol("t"))).ErrorCode; got != errGroupMaxSizeReached {
		t.Errorf("join beyond group.max.size: %s", codeName(got))
	}
}

func TestThreeMembersJoinAndSync(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.InitialRebalanceDelay = 3 * time.Second })
	var ids []string
	var joins []<-chan *kmsg.JoinGroupResponse
	for i, client := range []string{"c0", "c1", "c2"} {
		ids = append(ids, h.memberID("g", client))
		joins = append(joins, h.joinAsync(clientCtx(client), joinReq("g", ids[i], rangeProtocol("t", client))))
		h.waitAwaitingJoin("g", i+1)
	}
	// group.initial.rebalance.delay.ms: the first join phase waits 3s, and
	// 3s more since members kept arriving (rebalance timeout 20s).
	h.tick(3 * time.Second)
	if st := h.state("g"); st != "PreparingRebalance" {
		t.Fatalf("after the first delay the group is %s", st)
	}
	for _, ch := range joins {
		noAnswer(t, ch)
	}
	h.tick(3 * time.Second)
	resps := make([]*kmsg.JoinGroupResponse, 3)
	for i, ch := range joins {
		resps[i] = recv(t, ch)
	}
	leader := resps[0].LeaderID
	for i, r := range resps {
		if r.ErrorCode != errNone || r.Generation != 1 || r.LeaderID != leader || r.MemberID != ids[i] {
			t.Fatalf("join %d: %+v", i, r)
		}
		if (r.MemberID == leader) != (len(r.Members) == 3) {
			t.Fatalf("member %s got %d members (leader %s)", r.MemberID, len(r.Members), leader)
		}
	}
	clientOf := map[string]string{ids[0]: "c0", ids[1]: "c1", ids[2]: "c2"}
	for _, r := range resps {
		if r.MemberID != leader {
			continue
		}
		// The leader sees each member's own subscription.
		for _, m := range r.Members {
			if !bytes.Equal(m.ProtocolMetadata, consumerMetadata("t", clientOf[m.MemberID])) {
				t.Fatalf("leader's view of %s: %q", m.MemberID, m.ProtocolMetadata)
			}
		}
	}

	// Followers' SyncGroup waits for the leader's.
	var followerSyncs []<-chan *kmsg.SyncGroupResponse
	var followers []string
	for _, id := range ids {
		if id != leader {
			followers = append(followers, id)
			followerSyncs = append(followerSyncs, h.syncAsync(syncReq("g", id, 1, nil)))
		}
	}
	poll.Until(t, waitTimeout, "both followers to await their assignments", func() bool {
		n := 0
		h.withGroup("g", func(g *group) {
			for _, m := range g.members {
				if m.isAwaitingSync() {
					n++
				}
			}
		})
		return n == 2
	})
	for _, ch := range followerSyncs {
		noAnswer(t, ch)
	}
	assign := map[string][]byte{ids[0]: []byte("p0"), ids[1]: []byte("p1"), ids[2]: []byte("p2")}
	lr := recv(t, h.syncAsync(syncReq("g", leader, 1, assign)))
	if lr.ErrorCode != errNone || !bytes.Equal(lr.MemberAssignment, assign[leader]) {
		t.Fatalf("leader sync: %+v", lr)
	}
	for i, ch := range followerSyncs {
		r := recv(t, ch)
		if r.ErrorCode != errNone || !bytes.Equal(r.MemberAssignment, assign[followers[i]]) {
			t.Fatalf("follower %s sync: %+v", followers[i], r)
		}
	}
	if st := h.state("g"); st != "Stable" {
		t.Fatalf("group is %s", st)
	}

	// The group went to the log with the assignments before the answers.
	recs := h.log.records(t)
	last := recs[len(recs)-1]
	v, err := decodeGroupValue(last.Value)
	if err != nil {
		t.Fatal(err)
	}
	if v.Version != 3 || v.Generation != 1 || *v.Protocol != "range" || *v.Leader != leader || len(v.Members) != 3 {
		t.Fatalf("stored group: %+v", v)
	}
	for _, m := range v.Members {
		if !bytes.Equal(m.Assignment, assign[m.MemberID]) || m.ClientHost != "10.0.0.1" || m.SessionTimeoutMillis != 10_000 || m.RebalanceTimeoutMillis != 20_000 {
			t.Fatalf("stored member: %+v", m)
		}
	}

	// Everyone heartbeats fine in the new generation.
	for _, id := range ids {
		if code := h.heartbeat("g", id, 1); code != errNone {
			t.Fatalf("heartbeat of %s: %s", id, codeName(code))
		}
	}
	if code := h.heartbeat("g", ids[0], 0); code != errIllegalGeneration {
		t.Fatalf("heartbeat of an old generation: %s", codeName(code))
	}
}

func TestRebalanceOnJoin(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 1)
	newID := h.memberID("g", "late")
	late := h.joinAsync(clientCtx("late"), joinReq("g", newID, rangeProtocol("t")))
	h.waitState("g", "PreparingRebalance")
	if code := h.heartbeat("g", ids[0], gen); code != errRebalanceInProgress {
		t.Fatalf("heartbeat during the join phase: %s", codeName(code))
	}
	// A commit of the previous generation is still taken.
	if got := h.commit(commitReq("g", ids[0], gen, map[string]map[int32]int64{"t": {0: 5}})); got["t/0"] != errNone {
		t.Fatalf("commit during the join phase: %v", codes(got))
	}
	old := h.join(joinReq("g", ids[0], rangeProtocol("t")))
	newer := recv(t, late)
	if old.ErrorCode != errNone || newer.ErrorCode != errNone || old.Generation != gen+1 || newer.Generation != gen+1 {
		t.Fatalf("rejoins: %+v / %+v", old, newer)
	}
	if old.LeaderID != ids[0] || len(old.Members) != 2 || len(newer.Members) != 0 {
		t.Fatalf("leader %s kept? members %d/%d", old.LeaderID, len(old.Members), len(newer.Members))
	}
}

func TestRebalanceOnLeave(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2)
	r := kmsg.NewPtrLeaveGroupRequest()
	r.Version = 1
	r.Group, r.MemberID = "g", ids[1]
	if resp := h.c.LeaveGroup(context.Background(), r); resp.ErrorCode != errNone {
		t.Fatalf("leave: %s", codeName(resp.ErrorCode))
	}
	if code := h.heartbeat("g", ids[0], gen); code != errRebalanceInProgress {
		t.Fatalf("heartbeat after a leave: %s", codeName(code))
	}
	if code := h.heartbeat("g", ids[1], gen); code != errUnknownMemberID {
		t.Fatalf("heartbeat of the member that left: %s", codeName(code))
	}
	j := h.join(joinReq("g", ids[0], rangeProtocol("t")))
	if j.ErrorCode != errNone || j.Generation != gen+1 || len(j.Members) != 1 {
		t.Fatalf("rejoin: %+v", j)
	}
	// v0-v2 carry a member's error as the response's.
	r.MemberID = "nobody"
	if resp := h.c.LeaveGroup(context.Background(), r); resp.ErrorCode != errUnknownMemberID {
		t.Fatalf("leave of an unknown member: %s", codeName(resp.ErrorCode))
	}
}

func TestHeartbeatExpiryRemovesMember(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2)
	h.tick(6 * time.Second)
	if code := h.heartbeat("g", ids[0], gen); code != errNone {
		t.Fatalf("heartbeat: %s", codeName(code))
	}
	h.tick(5 * time.Second) // ids[1] last heard of 11s ago, session 10s
	if st := h.state("g"); st != "PreparingRebalance" {
		t.Fatalf("after a session timeout the group is %s", st)
	}
	h.withGroup("g", func(g *group) {
		if g.has(ids[1]) || !g.has(ids[0]) {
			t.Fatalf("members after expiry: %v", g.order)
		}
	})
	j := h.join(joinReq("g", ids[0], rangeProtocol("t")))
	if j.ErrorCode != errNone || j.Generation != gen+1 || len(j.Members) != 1 {
		t.Fatalf("rejoin: %+v", j)
	}
	if s := recv(t, h.syncAsync(syncReq("g", ids[0], gen+1, map[string][]byte{ids[0]: []byte("all")}))); s.ErrorCode != errNone {
		t.Fatalf("sync: %s", codeName(s.ErrorCode))
	}
	// The last member times out too: the group is Empty in a new
	// generation, and says so in the log.
	h.tick(11 * time.Second)
	if st, g := h.state("g"), h.generation("g"); st != "Empty" || g != gen+2 {
		t.Fatalf("group is %s in generation %d", st, g)
	}
	poll.Until(t, waitTimeout, "the empty group's metadata in the log", func() bool {
		recs := h.log.records(t)
		v, err := decodeGroupValue(recs[len(recs)-1].Value)
		return err == nil && v.Generation == gen+2 && len(v.Members) == 0 && v.Protocol == nil
	})
}

func TestRebalanceTimeoutRemovesMember(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2)
	// The leader rejoins (to have the assignment redone); the follower
	// keeps heartbeating but never rejoins.
	leaderJoin := h.joinAsync(clientCtx("c"), joinReq("g", ids[0], rangeProtocol("t")))
	h.waitState("g", "PreparingRebalance")
	for range 3 {
		h.tick(6 * time.Second)
		if code := h.heartbeat("g", ids[1], gen); code != errRebalanceInProgress && code != errUnknownMemberID {
			t.Fatalf("follower heartbeat: %s", codeName(code))
		}
	}
	noAnswer(t, leaderJoin)
	h.tick(3 * time.Second) // 21s > the 20s rebalance timeout
	j := recv(t, leaderJoin)
	if j.ErrorCode != errNone || j.Generation != gen+1 || len(j.Members) != 1 || j.Members[0].MemberID != ids[0] {
		t.Fatalf("leader's join: %+v", j)
	}
	if code := h.heartbeat("g", ids[1], gen); code != errUnknownMemberID {
		t.Fatalf("heartbeat of the removed member: %s", codeName(code))
	}
}

func TestPendingSyncExpiry(t *testing.T) {
	h := newHarness(t)
	ids, _ := h.stableGroup("g", 2)
	// Rebalance; both rejoin but only the leader syncs.
	a := h.joinAsync(clientCtx("c"), joinReq("g", ids[0], rangeProtocol("t")))
	h.waitState("g", "PreparingRebalance")
	b := h.join(joinReq("g", ids[1], rangeProtocol("t")))
	ra := recv(t, a)
	if ra.ErrorCode != errNone || b.ErrorCode != errNone {
		t.Fatalf("joins: %v %v", codeName(ra.ErrorCode), codeName(b.ErrorCode))
	}
	s := recv(t, h.syncAsync(syncReq("g", ids[0], ra.Generation, map[string][]byte{ids[0]: []byte("x"), ids[1]: []byte("y")})))
	if s.ErrorCode != errNone {
		t.Fatalf("leader sync: %s", codeName(s.ErrorCode))
	}
	// Both keep heartbeating, but ids[1] never syncs.
	for range 2 {
		h.tick(7 * time.Second)
		for _, id := range ids {
			if code := h.heartbeat("g", id, ra.Generation); code != errNone {
				t.Fatalf("heartbeat of %s: %s", id, codeName(code))
			}
		}
	}
	h.tick(7 * time.Second) // 21s: past the 20s rebalance timeout
	h.withGroup("g", func(g *group) {
		if g.has(ids[1]) || !g.has(ids[0]) || g.state != statePreparingRebalance {
			t.Fatalf("member that never synced: still there %v, group %s", g.has(ids[1]), g.state)
		}
	})
}

func TestMoreMembersThanPartitions(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 4)
	// Rebalance with a leader that assigns the only two partitions to two
	// members and says nothing of the others.
	joins := []<-chan *kmsg.JoinGroupResponse{h.joinAsync(clientCtx("c"), joinReq("g", ids[0], rangeProtocol("t")))}
	h.waitState("g", "PreparingRebalance")
	for _, id := range ids[1:] {
		joins = append(joins, h.joinAsync(clientCtx("c"), joinReq("g", id, rangeProtocol("t"))))
	}
	for _, ch := range joins {
		if r := recv(t, ch); r.ErrorCode != errNone || r.Generation != gen+1 {
			t.Fatalf("join: %+v", r)
		}
	}
	var syncs []<-chan *kmsg.SyncGroupResponse
	for _, id := range ids[1:] {
		syncs = append(syncs, h.syncAsync(syncReq("g", id, gen+1, nil)))
	}
	assign := map[string][]byte{ids[0]: []byte("t-0"), ids[2]: []byte("t-1")}
	if r := recv(t, h.syncAsync(syncReq("g", ids[0], gen+1, assign))); r.ErrorCode != errNone || string(r.MemberAssignment) != "t-0" {
		t.Fatalf("leader sync: %+v", r)
	}
	for i, ch := range syncs {
		r := recv(t, ch)
		want := string(assign[ids[i+1]])
		if r.ErrorCode != errNone || string(r.MemberAssignment) != want {
			t.Fatalf("sync of member %d: %s %q, want %q", i+1, codeName(r.ErrorCode), r.MemberAssignment, want)
		}
	}
}

func TestStaticMemberRejoinsWithoutRebalance(t *testing.T) {
	h := newHarness(t)
	static := func(memberID string, instance string, version int16) *kmsg.JoinGroupRequest {
		r := joinReq("g", memberID, rangeProtocol("t"))
		r.Version = version
		r.InstanceID = new(instance)
		return r
	}
	// Static members get their id at once (no MEMBER_ID_REQUIRED).
	a := h.join(static("", "instance-a", 7))
	if a.ErrorCode != errNone || !strings.HasPrefix(a.MemberID, "instance-a-") || a.Generation != 1 {
		t.Fatalf("static join: %+v", a)
	}
	bID := h.memberID("g", "b")
	bJoin := h.joinAsync(clientCtx("b"), joinReq("g", bID, rangeProtocol("t")))
	h.waitAwaitingJoin("g", 1)
	a2 := h.join(static(a.MemberID, "instance-a", 7))
	b := recv(t, bJoin)
	gen := a2.Generation
	assign := map[string][]byte{a.MemberID: []byte("A"), bID: []byte("B")}
	bSync := h.syncAsync(syncReq("g", bID, gen, nil))
	leaderID := a2.LeaderID
	if leaderID != a.MemberID || b.LeaderID != leaderID {
		t.Fatalf("leader %s", leaderID)
	}
	if r := recv(t, h.syncAsync(syncReq("g", a.MemberID, gen, assign))); r.ErrorCode != errNone {
		t.Fatalf("leader sync: %s", codeName(r.ErrorCode))
	}
	if r := recv(t, bSync); r.ErrorCode != errNone {
		t.Fatalf("follower sync: %s", codeName(r.ErrorCode))
	}

	// The static leader restarts: it rejoins without member id and the same
	// metadata. No rebalance: a new member id, the same generation, and it
	// is not told it leads (JoinGroup v7).
	re := h.join(static("", "instance-a", 7))
	if re.ErrorCode != errNone || re.MemberID == a.MemberID || re.Generation != gen || re.LeaderID != a.MemberID || len(re.Members) != 0 {
		t.Fatalf("static rejoin: %+v", re)
	}
	if st := h.state("g"); st != "Stable" {
		t.Fatalf("group is %s after a static rejoin", st)
	}
	if code := h.heartbeat("g", bID, gen); code != errNone {
		t.Fatalf("other member's heartbeat: %s", codeName(code))
	}
	sr := recv(t, h.syncAsync(syncReq("g", re.MemberID, gen, nil)))
	if sr.ErrorCode != errNone || string(sr.MemberAssignment) != "A" {
		t.Fatalf("sync after the static rejoin: %+v", sr)
	}
	// The old member id is fenced.
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 3
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = "g", a.MemberID, gen, new("instance-a")
	if code := h.c.Heartbeat(context.Background(), hb).ErrorCode; code != errFencedInstanceID {
		t.Fatalf("heartbeat of the old id: %s", codeName(code))
	}
	// JoinGroup v9: the static leader learns it leads, and to skip the
	// assignment.
	re9 := h.join(static("", "instance-a", 9))
	if re9.ErrorCode != errNone || re9.LeaderID != re9.MemberID || !re9.SkipAssignment || len(re9.Members) != 2 || re9.Generation != gen {
		t.Fatalf("v9 static rejoin: %+v", re9)
	}
	// Static members do not leave by session close; a LeaveGroup by
	// instance id removes them.
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Version = 4
	lr.Group = "g"
	lr.Members = []kmsg.LeaveGroupRequestMember{
		{InstanceID: new("instance-a")},
		{MemberID: "nobody"},
		{MemberID: bID, InstanceID: new("not-b")},
	}
	resp := h.c.LeaveGroup(context.Background(), lr)
	if resp.ErrorCode != errNone || len(resp.Members) != 3 ||
		resp.Members[0].ErrorCode != errNone || resp.Members[1].ErrorCode != errUnknownMemberID || resp.Members[2].ErrorCode != errUnknownMemberID {
		t.Fatalf("batched leave: %+v", resp)
	}
	h.withGroup("g", func(g *group) {
		if g.has(re9.MemberID) || len(g.staticMembers) != 0 {
			t.Fatalf("static member still there: %v", g.order)
		}
	})
}

func TestStaticMemberWithNewProtocolsRebalances(t *testing.T) {
	h := newHarness(t)
	r := joinReq("g", "", rangeProtocol("t"))
	r.InstanceID = new("i")
	a := h.join(r)
	if s := recv(t, h.syncAsync(syncReq("g", a.MemberID, a.Generation, map[string][]byte{a.MemberID: []byte("x")}))); s.ErrorCode != errNone {
		t.Fatal(codeName(s.ErrorCode))
	}
	r2 := joinReq("g", "", []kmsg.JoinGroupRequestProtocol{{Name: "roundrobin", Metadata: []byte("m")}, {Name: "range", Metadata: []byte("m")}})
	r2.InstanceID = new("i")
	re := h.join(r2)
	// With a single member the rebalance completes at once, choosing the
	// member's new favourite.
	if re.ErrorCode != errNone || re.Generation != a.Generation+1 || *re.Protocol != "roundrobin" {
		t.Fatalf("rejoin with new protocols: %+v", re)
	}
}

func TestProtocolSelection(t *testing.T) {
	g := newGroup("g", time.Time{})
	for i, protos := range [][]string{{"range", "roundrobin", "sticky"}, {"roundrobin", "range"}, {"roundrobin", "range", "sticky"}} {
		m := &member{id: string(rune('a' + i))}
		for _, p := range protos {
			m.protocols = append(m.protocols, protocol{name: p})
		}
		g.add(m, nil)
	}
	// Candidates are range and roundrobin (sticky is not everyone's);
	// roundrobin wins two votes to one.
	if got, ok := g.selectProtocol(); !ok || got != "roundrobin" {
		t.Fatalf("selected %q", got)
	}
}

func TestJoinCanceledCountsAsNotRejoined(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 3)
	// The leader rejoins, ids[1] rejoins but gives up, ids[2] never does.
	leader := h.joinAsync(clientCtx("c"), joinReq("g", ids[0], rangeProtocol("t")))
	h.waitState("g", "PreparingRebalance")
	ctx, cancel := context.WithCancel(clientCtx("c"))
	follower := h.joinAsync(ctx, joinReq("g", ids[1], rangeProtocol("t")))
	h.waitAwaitingJoin("g", 2)
	cancel()
	if r := recv(t, follower); r.ErrorCode != errRebalanceInProgress {
		t.Fatalf("canceled join: %s", codeName(r.ErrorCode))
	}
	if n := h.awaitingJoin("g"); n != 1 {
		t.Fatalf("%d members awaiting join after the cancel", n)
	}
	// The leader's rejoin completes without the follower at the rebalance
	// timeout.
	noAnswer(t, leader)
	h.tick(21 * time.Second)
	if r := recv(t, leader); r.ErrorCode != errNone || len(r.Members) != 1 || r.Generation != gen+1 {
		t.Fatalf("leader's join: %+v", r)
	}
}

func TestSyncValidation(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 1)
	cases := []struct {
		name string
		req  *kmsg.SyncGroupRequest
		want int16
	}{
		{"unknown member", syncReq("g", "nobody", gen, nil), errUnknownMemberID},
		{"wrong generation", syncReq("g", ids[0], gen+5, nil), errIllegalGeneration},
		{"unknown group", syncReq("other", ids[0], gen, nil), errUnknownMemberID},
		{"empty group id", syncReq("", ids[0], gen, nil), errInvalidGroupID},
	}
	v5 := syncReq("g", ids[0], gen, nil)
	v5.Version = 5
	cases = append(cases, struct {
		name string
		req  *kmsg.SyncGroupRequest
		want int16
	}{"v5 without protocol", v5, errInconsistentGroupProtocol})
	v5b := syncReq("g", ids[0], gen, nil)
	v5b.Version = 5
	v5b.ProtocolType, v5b.Protocol = new("consumer"), new("roundrobin")
	cases = append(cases, struct {
		name string
		req  *kmsg.SyncGroupRequest
		want int16
	}{"v5 other protocol", v5b, errInconsistentGroupProtocol})
	for _, tc := range cases {
		if got := recv(t, h.syncAsync(tc.req)).ErrorCode; got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, codeName(got), codeName(tc.want))
		}
	}
	ok := syncReq("g", ids[0], gen, nil)
	ok.Version = 5
	ok.ProtocolType, ok.Protocol = new("consumer"), new("range")
	r := recv(t, h.syncAsync(ok))
	if r.ErrorCode != errNone || string(r.MemberAssignment) != "a-0" || *r.Protocol != "range" || *r.ProtocolType != "consumer" {
		t.Fatalf("v5 sync of a Stable group: %+v", r)
	}
}

func TestStaticRejoinWriteFailureKeepsOldMember(t *testing.T) {
	h := newHarness(t)
	r := joinReq("g", "", rangeProtocol("t"))
	r.InstanceID = new("i")
	a := h.join(r)
	if s := recv(t, h.syncAsync(syncReq("g", a.MemberID, a.Generation, map[string][]byte{a.MemberID: []byte("x")}))); s.ErrorCode != errNone {
		t.Fatal(codeName(s.ErrorCode))
	}
	h.log.setAppendErr(kerr.NotEnoughReplicas)
	re := h.join(r)
	if re.ErrorCode != errCoordinatorNotAvailable || re.MemberID != "" {
		t.Fatalf("static rejoin with a failing write: %+v", re)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 3
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = "g", a.MemberID, a.Generation, new("i")
	if code := h.c.Heartbeat(context.Background(), hb).ErrorCode; code != errNone {
		t.Fatalf("old member's heartbeat after the failed rejoin: %s", codeName(code))
	}
	if st := h.state("g"); st != "Stable" {
		t.Fatalf("group is %s", st)
	}
}

func TestRunDrivesTimers(t *testing.T) {
	h := newHarness(t)
	h.stableGroup("g", 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.c.Run(ctx)
	}()
	h.clock.Advance(11 * time.Second) // past the session timeout
	h.waitState("g", "Empty")
	cancel()
	recv(t, done)
}
