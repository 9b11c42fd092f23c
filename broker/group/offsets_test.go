package group

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
)

func TestOffsetCommitChecksGeneration(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2)
	offsets := map[string]map[int32]int64{"t": {0: 10, 1: 20}}
	cases := []struct {
		name      string
		memberID  string
		gen       int32
		want      int16
		groupName string
	}{
		{"wrong generation", ids[0], gen + 1, errIllegalGeneration, "g"},
		{"unknown member", "nobody", gen, errUnknownMemberID, "g"},
		{"simple commit to a group with members", "", -1, errUnknownMemberID, "g"},
		{"generation of a group that does not exist", "m", 3, errIllegalGeneration, "nope"},
		{"empty group id is allowed", "", -1, errNone, ""},
		{"member of the current generation", ids[1], gen, errNone, "g"},
	}
	for _, tc := range cases {
		got := h.commit(commitReq(tc.groupName, tc.memberID, tc.gen, offsets))
		if got["t/0"] != tc.want || got["t/1"] != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, codes(got), codeName(tc.want))
		}
	}
	if _, got := h.fetch("g", nil); got["t/0"] != 10 || got["t/1"] != 20 {
		t.Fatalf("fetched %v", got)
	}

	// During the sync phase commits get REBALANCE_IN_PROGRESS.
	a := h.joinAsync(clientCtx("c"), joinReq("g", ids[0], rangeProtocol("t")))
	h.waitState("g", "PreparingRebalance")
	b := h.join(joinReq("g", ids[1], rangeProtocol("t")))
	recv(t, a)
	if got := h.commit(commitReq("g", ids[1], b.Generation, offsets)); got["t/0"] != errRebalanceInProgress {
		t.Fatalf("commit in CompletingRebalance: %v", codes(got))
	}
}

func TestOffsetCommitMetadataTooLarge(t *testing.T) {
	h := newHarness(t)
	req := commitReq("simple", "", -1, map[string]map[int32]int64{"t": {0: 1, 1: 2}})
	req.Topics[0].Partitions[1].Metadata = new(strings.Repeat("x", 65))
	got := h.commit(req)
	if got["t/0"] != errNone || got["t/1"] != errOffsetMetadataTooLarge {
		t.Fatalf("commit: %v", codes(got))
	}
	if _, fetched := h.fetch("simple", map[string][]int32{"t": {0, 1}}); fetched["t/0"] != 1 || fetched["t/1"] != -1 {
		t.Fatalf("fetched %v", fetched)
	}
	// Java counts UTF-16 units: 32 two-byte runes are 32 units, allowed.
	req = commitReq("simple", "", -1, map[string]map[int32]int64{"t": {2: 3}})
	req.Topics[0].Partitions[0].Metadata = new(strings.Repeat("é", 64))
	if got := h.commit(req); got["t/2"] != errNone {
		t.Fatalf("commit with 64 two-byte runes: %v", codes(got))
	}
}

// TestOverlappingCommitsKeepTheLatest commits twice to one partition with
// the first write still out when the second is taken: the second, written
// after it, must be the committed offset.
func TestOverlappingCommitsKeepTheLatest(t *testing.T) {
	h := newHarness(t)
	gate := make(chan struct{})
	h.log.mu.Lock()
	h.log.appendGate = gate
	h.log.mu.Unlock()
	results := make(chan map[string]int16, 2)
	go func() { results <- h.commit(commitReq("g", "", -1, map[string]map[int32]int64{"a": {0: 5}})) }()
	poll.Until(t, waitTimeout, "the first commit's write to wait at the gate", func() bool {
		h.log.mu.Lock()
		defer h.log.mu.Unlock()
		return h.log.appendsWaiting == 1
	})
	// The second commit is taken once it has queued its write behind the
	// first one's.
	writeTail := func() <-chan struct{} {
		s, _ := h.c.shards.Get(0)
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.writeTails["g"]
	}
	first := writeTail()
	go func() { results <- h.commit(commitReq("g", "", -1, map[string]map[int32]int64{"a": {0: 7}})) }()
	poll.Until(t, waitTimeout, "the second commit to queue its write", func() bool { return writeTail() != first })
	h.log.mu.Lock()
	h.log.appendGate = nil
	h.log.mu.Unlock()
	close(gate)
	for range 2 {
		if got := recv(t, results); got["a/0"] != errNone {
			t.Fatalf("commit: %v", codes(got))
		}
	}
	if code, got := h.fetch("g", map[string][]int32{"a": {0}}); code != errNone || got["a/0"] != 7 {
		t.Fatalf("committed offset after two overlapping commits: %s %v, want 7", codeName(code), got)
	}
}

func TestSimpleCommitAndFetch(t *testing.T) {
	h := newHarness(t)
	if got := h.commit(commitReq("simple", "", -1, map[string]map[int32]int64{"a": {0: 7}, "b": {3: 9}})); got["a/0"] != errNone || got["b/3"] != errNone {
		t.Fatalf("commit: %v", codes(got))
	}
	// v1: per-partition error, offset -1 for partitions without commit.
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 1
	r.Group = "simple"
	r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "a", Partitions: []int32{0, 1}}}
	resp := h.c.OffsetFetch(context.Background(), r)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("v1 fetch: %+v", resp)
	}
	p0, p1 := resp.Topics[0].Partitions[0], resp.Topics[0].Partitions[1]
	if p0.Offset != 7 || *p0.Metadata != "meta" || p1.Offset != -1 || *p1.Metadata != "" || p1.ErrorCode != errNone {
		t.Fatalf("v1 fetch: %+v %+v", p0, p1)
	}
	// v5+: the leader epoch as committed; null topics: everything.
	r = kmsg.NewPtrOffsetFetchRequest()
	r.Version = 7
	r.Group = "simple"
	resp = h.c.OffsetFetch(context.Background(), r)
	if resp.ErrorCode != errNone || len(resp.Topics) != 2 || resp.Topics[0].Topic != "a" || resp.Topics[1].Topic != "b" ||
		resp.Topics[1].Partitions[0].Offset != 9 || resp.Topics[1].Partitions[0].LeaderEpoch != 5 {
		t.Fatalf("v7 fetch of all: %+v", resp)
	}
	// An unknown group has no offsets.
	if code, got := h.fetch("nobody", map[string][]int32{"a": {0}}); code != errNone || got["a/0"] != -1 {
		t.Fatalf("fetch of an unknown group: %s %v", codeName(code), got)
	}

	// v8 batches groups.
	r = kmsg.NewPtrOffsetFetchRequest()
	r.Version = 8
	r.Groups = []kmsg.OffsetFetchRequestGroup{
		{Group: "simple", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "b", Partitions: []int32{3}}}},
		{Group: "nobody"},
		{Group: "simple"},
	}
	resp = h.c.OffsetFetch(context.Background(), r)
	if len(resp.Groups) != 3 {
		t.Fatalf("v8 fetch: %+v", resp)
	}
	g0, g1, g2 := resp.Groups[0], resp.Groups[1], resp.Groups[2]
	if g0.Group != "simple" || len(g0.Topics) != 1 || g0.Topics[0].Partitions[0].Offset != 9 {
		t.Fatalf("v8 first group: %+v", g0)
	}
	if g1.Group != "nobody" || g1.ErrorCode != errNone || len(g1.Topics) != 0 {
		t.Fatalf("v8 unknown group: %+v", g1)
	}
	if len(g2.Topics) != 2 {
		t.Fatalf("v8 all offsets: %+v", g2)
	}

	// v1 commit with an explicit timestamp, v2 with a retention time.
	c1 := commitReq("old", "", -1, map[string]map[int32]int64{"t": {0: 1}})
	c1.Version = 1
	c1.Topics[0].Partitions[0].Timestamp = 12345
	if got := h.commit(c1); got["t/0"] != errNone {
		t.Fatalf("v1 commit: %v", codes(got))
	}
	c2 := commitReq("old", "", -1, map[string]map[int32]int64{"t": {1: 1}})
	c2.Version = 2
	c2.RetentionTimeMillis = 60_000
	if got := h.commit(c2); got["t/1"] != errNone {
		t.Fatalf("v2 commit: %v", codes(got))
	}
	h.withGroup("old", func(g *group) {
		o0, o1 := g.offsets[zkpaths.TopicPartition{Topic: "t", Partition: 0}], g.offsets[zkpaths.TopicPartition{Topic: "t", Partition: 1}]
		now := h.clock.Now().UnixMilli()
		if o0.commitTimestamp != 12345 || o0.expireTimestamp != -1 || o1.commitTimestamp != now || o1.expireTimestamp != now+60_000 {
			t.Fatalf("stored %+v %+v", o0, o1)
		}
	})
	// The retention time shows in the record (OffsetCommitValue v1).
	recs := h.log.records(t)
	if v, err := decodeOffsetValue(recs[len(recs)-1].Value); err != nil || v.expireTimestamp != h.clock.Now().UnixMilli()+60_000 {
		t.Fatalf("stored value %+v, %v", v, err)
	}
}

func TestOffsetFetchRequireStable(t *testing.T) {
	h := newHarness(t)
	h.log.setAppendErr(nil)
	// Hold a commit in flight by blocking its write's group chain.
	s, _ := h.c.acquire("g")
	gate := make(chan struct{})
	s.writeTails["g"] = gate
	s.mu.Unlock()
	done := make(chan map[string]int16, 1)
	go func() { done <- h.commit(commitReq("g", "", -1, map[string]map[int32]int64{"t": {0: 1}})) }()
	poll.Until(t, waitTimeout, "the commit to be pending", func() bool {
		pending := false
		h.withGroup("g", func(g *group) { pending = g != nil && len(g.pendingCommits) == 1 })
		return pending
	})
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 7
	r.Group = "g"
	r.RequireStable = true
	r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	if p := h.c.OffsetFetch(context.Background(), r).Topics[0].Partitions[0]; p.ErrorCode != errUnstableOffsetCommit {
		t.Fatalf("fetch with a commit in flight: %s", codeName(p.ErrorCode))
	}
	close(gate)
	if got := recv(t, done); got["t/0"] != errNone {
		t.Fatalf("commit: %v", codes(got))
	}
	if p := h.c.OffsetFetch(context.Background(), r).Topics[0].Partitions[0]; p.ErrorCode != errNone || p.Offset != 1 {
		t.Fatalf("fetch after the commit: %+v", p)
	}
}

func TestOffsetDelete(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 1, "subscribed")
	if got := h.commit(commitReq("g", ids[0], gen, map[string]map[int32]int64{"subscribed": {0: 1}, "other": {0: 2}})); got["subscribed/0"] != errNone {
		t.Fatalf("commit: %v", codes(got))
	}
	del := func(group string, tps map[string][]int32) *kmsg.OffsetDeleteResponse {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = group
		for topic, ps := range tps {
			rt := kmsg.OffsetDeleteRequestTopic{Topic: topic}
			for _, p := range ps {
				rt.Partitions = append(rt.Partitions, kmsg.OffsetDeleteRequestTopicPartition{Partition: p})
			}
			r.Topics = append(r.Topics, rt)
		}
		return h.c.OffsetDelete(context.Background(), r)
	}
	resp := del("g", map[string][]int32{"subscribed": {0}, "other": {0}})
	errs := map[string]int16{}
	for _, t := range resp.Topics {
		errs[t.Topic] = t.Partitions[0].ErrorCode
	}
	if resp.ErrorCode != errNone || errs["subscribed"] != errGroupSubscribedToTopic || errs["other"] != errNone {
		t.Fatalf("delete in a Stable consumer group: %+v", resp)
	}
	if _, got := h.fetch("g", nil); got["subscribed/0"] != 1 || len(got) != 1 {
		t.Fatalf("offsets after the delete: %v", got)
	}
	if resp := del("nope", map[string][]int32{"t": {0}}); resp.ErrorCode != errGroupIDNotFound {
		t.Fatalf("delete in an unknown group: %s", codeName(resp.ErrorCode))
	}
	// A simple group deletes anything; left without offsets it is gone.
	h.commit(commitReq("simple", "", -1, map[string]map[int32]int64{"t": {0: 1}}))
	if resp := del("simple", map[string][]int32{"t": {0}}); resp.ErrorCode != errNone || resp.Topics[0].Partitions[0].ErrorCode != errNone {
		t.Fatalf("delete in an Empty group: %+v", resp)
	}
	h.withGroup("simple", func(g *group) {
		if g != nil {
			t.Fatalf("group without offsets left: %s", g.state)
		}
	})
	// The tombstone is in the log.
	recs := h.log.records(t)
	last := recs[len(recs)-1]
	if k, err := decodeKey(last.Key); err != nil || !k.isOffset || k.groupID != "simple" || last.Value != nil {
		t.Fatalf("last record: %+v %v", k, err)
	}
	// A group of another protocol type in use refuses.
	other := joinReq("connect", "", []kmsg.JoinGroupRequestProtocol{{Name: "v1", Metadata: []byte("x")}})
	other.ProtocolType = "connect"
	id := h.join(other).MemberID
	other.MemberID = id
	if r := h.join(other); r.ErrorCode != errNone {
		t.Fatalf("connect join: %s", codeName(r.ErrorCode))
	}
	if resp := del("connect", map[string][]int32{"t": {0}}); resp.ErrorCode != errNonEmptyGroup {
		t.Fatalf("delete in a non-consumer group in use: %s", codeName(resp.ErrorCode))
	}
}

func TestOffsetExpiry(t *testing.T) {
	h := newHarness(t) // retention 24h
	day := 24 * time.Hour

	// Simple commits expire by commit time.
	h.commit(commitReq("simple", "", -1, map[string]map[int32]int64{"t": {0: 1}}))
	// A consumer group: offsets count from when the group became Empty.
	ids, gen := h.stableGroup("g", 1, "sub")
	h.commit(commitReq("g", ids[0], gen, map[string]map[int32]int64{"sub": {0: 1}, "unsub": {0: 2}}))

	h.clock.Advance(day - time.Second)
	h.heartbeat("g", ids[0], gen)
	h.c.expireOffsets(h.clock.Now())
	if _, got := h.fetch("simple", nil); got["t/0"] != 1 {
		t.Fatalf("offset expired early: %v", got)
	}
	h.clock.Advance(time.Second)
	h.heartbeat("g", ids[0], gen)
	h.c.expireOffsets(h.clock.Now())
	if _, got := h.fetch("simple", nil); len(got) != 0 {
		t.Fatalf("offset did not expire: %v", got)
	}
	h.withGroup("simple", func(g *group) {
		if g != nil {
			t.Fatal("simple group without offsets was not deleted")
		}
	})
	// In the Stable consumer group only the offset of a topic nobody
	// subscribes to expired.
	if _, got := h.fetch("g", nil); got["sub/0"] != 1 || len(got) != 1 {
		t.Fatalf("stable group offsets: %v", got)
	}

	// The member leaves: the group is Empty from now, and its offsets live
	// a full retention from now.
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Group, lr.MemberID = "g", ids[0]
	h.c.LeaveGroup(context.Background(), lr)
	if st := h.state("g"); st != "Empty" {
		t.Fatalf("group is %s", st)
	}
	h.clock.Advance(day - time.Second)
	h.c.expireOffsets(h.clock.Now())
	if _, got := h.fetch("g", nil); got["sub/0"] != 1 {
		t.Fatalf("offset of an Empty group expired early: %v", got)
	}
	h.clock.Advance(time.Second)
	h.c.expireOffsets(h.clock.Now())
	h.withGroup("g", func(g *group) {
		if g != nil {
			t.Fatalf("expired group still there: %s", g.state)
		}
	})
	// Its offsets and then the group itself were tombstoned (writes of
	// other groups may come in between).
	poll.Until(t, waitTimeout, "the tombstones of the group and its offsets", func() bool {
		var gRecords []recordKey
		var values [][]byte
		for _, r := range h.log.records(t) {
			if k, err := decodeKey(r.Key); err == nil && k.groupID == "g" {
				gRecords, values = append(gRecords, k), append(values, r.Value)
			}
		}
		n := len(gRecords)
		return n >= 2 && gRecords[n-2].isOffset && gRecords[n-2].tp.Topic == "sub" && values[n-2] == nil &&
			!gRecords[n-1].isOffset && values[n-1] == nil
	})
}

func TestAppendErrorsMapToKafkaCodes(t *testing.T) {
	cases := []struct {
		err          error
		commit, sync int16
	}{
		{kerr.NotLeaderForPartition, errNotCoordinator, errNotCoordinator},
		{kerr.KafkaStorageError, errNotCoordinator, errNotCoordinator},
		{kerr.NotEnoughReplicas, errCoordinatorNotAvailable, errCoordinatorNotAvailable},
		{kerr.NotEnoughReplicasAfterAppend, errCoordinatorNotAvailable, errCoordinatorNotAvailable},
		{kerr.RequestTimedOut, errRequestTimedOut, errRebalanceInProgress},
		{kerr.MessageTooLarge, errInvalidCommitOffsetSize, errUnknownServerError},
		{kerr.RecordListTooLarge, errInvalidCommitOffsetSize, errUnknownServerError},
		{context.DeadlineExceeded, errRequestTimedOut, errRebalanceInProgress},
		{context.Canceled, errNotCoordinator, errNotCoordinator},
	}
	for _, tc := range cases {
		if got := offsetWriteError(tc.err); got != tc.commit {
			t.Errorf("commit write failing with %v: %s, want %s", tc.err, codeName(got), codeName(tc.commit))
		}
		if got := groupWriteError(tc.err); got != tc.sync {
			t.Errorf("group write failing with %v: %s, want %s", tc.err, codeName(got), codeName(tc.sync))
		}
	}

	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2)
	h.commit(commitReq("g", ids[0], gen, map[string]map[int32]int64{"t": {0: 1}}))
	h.log.setAppendErr(kerr.NotEnoughReplicas)
	if got := h.commit(commitReq("g", ids[0], gen, map[string]map[int32]int64{"t": {0: 2}})); got["t/0"] != errCoordinatorNotAvailable {
		t.Fatalf("commit: %v", codes(got))
	}
	// The failed commit left the committed offset alone.
	if _, got := h.fetch("g", nil); got["t/0"] != 1 {
		t.Fatalf("offset after a failed commit: %v", got)
	}
	// A failed group write in SyncGroup: the members get the error and the
	// group rebalances.
	a := h.joinAsync(clientCtx("c"), joinReq("g", ids[0], rangeProtocol("t")))
	h.waitState("g", "PreparingRebalance")
	b := h.join(joinReq("g", ids[1], rangeProtocol("t")))
	recv(t, a)
	follower := h.syncAsync(syncReq("g", ids[1], b.Generation, nil))
	poll.Until(t, waitTimeout, "the follower to await its assignment", func() bool {
		n := 0
		h.withGroup("g", func(g *group) {
			if m := g.members[ids[1]]; m != nil && m.isAwaitingSync() {
				n++
			}
		})
		return n == 1
	})
	leader := recv(t, h.syncAsync(syncReq("g", ids[0], b.Generation, map[string][]byte{ids[0]: []byte("x"), ids[1]: []byte("y")})))
	if leader.ErrorCode != errCoordinatorNotAvailable || recv(t, follower).ErrorCode != errCoordinatorNotAvailable {
		t.Fatalf("sync with a failing write: %s", codeName(leader.ErrorCode))
	}
	if st := h.state("g"); st != "PreparingRebalance" {
		t.Fatalf("group is %s", st)
	}
}

func TestForgetTopicsRemovesTheirOffsets(t *testing.T) {
	h := newHarness(t)
	if got := h.commit(commitReq("both", "", -1, map[string]map[int32]int64{"gone": {0: 3, 1: 4}, "kept": {0: 5}})); got["gone/0"] != errNone {
		t.Fatalf("commit: %v", codes(got))
	}
	if got := h.commit(commitReq("only-gone", "", -1, map[string]map[int32]int64{"gone": {0: 6}})); got["gone/0"] != errNone {
		t.Fatalf("commit: %v", codes(got))
	}
	before := len(h.log.records(t))

	h.c.ForgetTopics([]string{"gone"})

	if code, got := h.fetch("both", nil); code != errNone || len(got) != 1 || got["kept/0"] != 5 {
		t.Fatalf("offsets of group both after its topic gone was deleted: %s %v, want only kept/0 = 5", codeName(code), got)
	}
	if code, got := h.fetch("only-gone", nil); code != errNone || len(got) != 0 {
		t.Fatalf("offsets of group only-gone: %s %v, want none", codeName(code), got)
	}
	h.withGroup("only-gone", func(g *group) {
		if g != nil {
			t.Errorf("group only-gone, left without offsets, is still there (%s)", g.state)
		}
	})
	// The removal is in the log: a reload sees the same.
	// Three tombstones: gone/0 and gone/1 of both, gone/0 of only-gone.
	poll.Until(t, waitTimeout, "three tombstones in the log", func() bool { return len(h.log.records(t)) == before+3 })
	h.start()
	if code, got := h.fetch("both", nil); code != errNone || len(got) != 1 || got["kept/0"] != 5 {
		t.Fatalf("offsets of group both after a reload: %s %v", codeName(code), got)
	}
}
