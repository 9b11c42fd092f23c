package group

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/record/recordtest"
	"github.com/kzoo/kzoo/zkpaths"
)

// txnReq is a TxnOffsetCommit of version 3 by producer pid (epoch 3) from
// outside any generation; tests set the KIP-447 fields they need.
func txnReq(group string, pid int64, offsets map[string]map[int32]int64) *kmsg.TxnOffsetCommitRequest {
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.Version = 3
	r.TransactionalID = fmt.Sprintf("txn-%d", pid)
	r.Group, r.ProducerID, r.ProducerEpoch = group, pid, 3
	topics := make([]string, 0, len(offsets))
	for t := range offsets {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = t
		parts := make([]int32, 0, len(offsets[t]))
		for p := range offsets[t] {
			parts = append(parts, p)
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = p, offsets[t][p], 4, new("txn-meta")
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

// txnCommit sends req and returns the error code of each "topic/partition".
func (h *harness) txnCommit(req *kmsg.TxnOffsetCommitRequest) map[string]int16 {
	resp := h.c.TxnOffsetCommit(context.Background(), req)
	if resp.Version != req.Version {
		h.t.Fatalf("response version %d to a request of %d", resp.Version, req.Version)
	}
	out := make(map[string]int16)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[fmt.Sprintf("%s/%d", t.Topic, p.Partition)] = p.ErrorCode
		}
	}
	return out
}

// mustTxnCommit commits offsets in pid's transaction and fails the test on
// any error.
func (h *harness) mustTxnCommit(group string, pid int64, offsets map[string]map[int32]int64) {
	h.t.Helper()
	for k, code := range h.txnCommit(txnReq(group, pid, offsets)) {
		if code != errNone {
			h.t.Fatalf("txn commit of %s: %s", k, codeName(code))
		}
	}
}

// markerBatch is a transaction marker of producer pid as the transaction
// coordinator writes it: a control batch whose record's key is version 0
// and type (0 abort, 1 commit), and whose value is version 0 and a
// coordinator epoch. It is built here with kmsg's encoder, independently of
// the coordinator's reader.
func markerBatch(pid int64, epoch int16, commit bool) []byte {
	key := []byte{0, 0, 0, 0}
	if commit {
		key[3] = 1
	}
	value := []byte{0, 0, 0, 0, 0, 9}
	b := recordtest.FrameAttributes(record.ControlBit|record.TransactionalBit, 1,
		recordtest.Records(recordtest.Record{Key: key, Value: value}))
	binary.BigEndian.PutUint64(b[43:], uint64(pid))
	binary.BigEndian.PutUint16(b[51:], uint16(epoch))
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	return b
}

// endTxn does what the broker does when the transaction coordinator ends
// pid's transaction: it appends the marker to the offsets partition and,
// once it is in, tells the group coordinator.
func (h *harness) endTxn(pid int64, commit bool) {
	h.log.appendRaw(markerBatch(pid, 3, commit))
	h.c.CompleteTxn(pid, []int32{0}, commit)
}

// fetchV7 is an OffsetFetch v7 of the given partitions of topic "t"; it
// returns the group error and each partition's offset and error code.
func (h *harness) fetchV7(group string, requireStable bool, partitions ...int32) (int16, map[int32]int64, map[int32]int16) {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 7
	r.Group = group
	r.RequireStable = requireStable
	r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: partitions}}
	resp := h.c.OffsetFetch(context.Background(), r)
	offsets, codes := make(map[int32]int64), make(map[int32]int16)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			offsets[p.Partition], codes[p.Partition] = p.Offset, p.ErrorCode
		}
	}
	return resp.ErrorCode, offsets, codes
}

// wantOffsets checks the offsets of group as OffsetFetch shows them.
func (h *harness) wantOffsets(group string, want map[string]int64) {
	h.t.Helper()
	_, got := h.fetch(group, nil)
	if len(got) != len(want) {
		h.t.Fatalf("offsets of %s: %v, want %v", group, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			h.t.Fatalf("offsets of %s: %v, want %v", group, got, want)
		}
	}
}

func TestTxnOffsetCommitVisibleOnlyOnceCommitted(t *testing.T) {
	h := newHarness(t)
	h.mustTxnCommit("g", 7, map[string]map[int32]int64{"t": {0: 10, 1: 11}})

	// The group exists (Kafka creates it), but the offsets do not show.
	if st := h.state("g"); st != "Empty" {
		t.Fatalf("group is %s", st)
	}
	h.wantOffsets("g", map[string]int64{})
	if got := h.c.CommittedOffsets(); len(got) != 0 {
		t.Fatalf("committed offsets before the transaction ended: %v", got)
	}
	// They were written as one transactional batch of the producer.
	h.log.mu.Lock()
	hdr := record.ParseHeader(h.log.batches[len(h.log.batches)-1])
	h.log.mu.Unlock()
	if !hdr.IsTransactional() || hdr.IsControl() || hdr.ProducerID != 7 || hdr.ProducerEpoch != 3 || hdr.RecordCount != 2 {
		t.Fatalf("written batch %+v", hdr)
	}

	h.endTxn(7, true)
	h.wantOffsets("g", map[string]int64{"t/0": 10, "t/1": 11})
	_, _, codes := h.fetchV7("g", true, 0, 1)
	if codes[0] != errNone || codes[1] != errNone {
		t.Fatalf("stable fetch after the commit: %v", codes)
	}
	want := []CommittedOffset{{Group: "g", Topic: "t", Partition: 0, Offset: 10}, {Group: "g", Topic: "t", Partition: 1, Offset: 11}}
	if got := h.c.CommittedOffsets(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("committed offsets %v, want %v", got, want)
	}
	var o committedOffset
	h.withGroup("g", func(g *group) { o = g.offsets[tpOf("t", 0)] })
	if o.leaderEpoch != 4 || o.metadata != "txn-meta" || o.commitTimestamp != h.clock.Now().UnixMilli() {
		t.Fatalf("committed %+v", o)
	}
}

func TestTxnOffsetCommitAbortDropsOffsets(t *testing.T) {
	h := newHarness(t)
	h.commit(commitReq("g", "", -1, map[string]map[int32]int64{"t": {0: 5}}))
	h.mustTxnCommit("g", 7, map[string]map[int32]int64{"t": {0: 10, 1: 11}})
	h.mustTxnCommit("g", 8, map[string]map[int32]int64{"t": {2: 12}})

	h.endTxn(7, false)
	h.wantOffsets("g", map[string]int64{"t/0": 5})
	// Another producer's transaction is not touched by the marker.
	if _, _, codes := h.fetchV7("g", true, 0, 1, 2); codes[0] != errNone || codes[1] != errNone || codes[2] != errUnstableOffsetCommit {
		t.Fatalf("stable fetch after the abort: %v", codes)
	}
	h.endTxn(8, true)
	h.wantOffsets("g", map[string]int64{"t/0": 5, "t/2": 12})
	// A marker of a producer with nothing pending, or of a partition this
	// coordinator does not hold, changes nothing.
	h.c.CompleteTxn(7, []int32{0, 3}, true)
	h.wantOffsets("g", map[string]int64{"t/0": 5, "t/2": 12})
}

func TestOffsetFetchRequireStableWithTxnOffsets(t *testing.T) {
	h := newHarness(t)
	h.commit(commitReq("g", "", -1, map[string]map[int32]int64{"t": {0: 5, 1: 6}}))
	h.mustTxnCommit("g", 7, map[string]map[int32]int64{"t": {0: 10}})

	// v7: the partition with a pending transactional commit is
	// UNSTABLE_OFFSET_COMMIT, with offset -1; the group error is NONE.
	groupCode, offsets, codes := h.fetchV7("g", true, 0, 1)
	if groupCode != errNone || codes[0] != errUnstableOffsetCommit || offsets[0] != -1 || codes[1] != errNone || offsets[1] != 6 {
		t.Fatalf("require_stable: group %s, offsets %v, codes %v", codeName(groupCode), offsets, codes)
	}
	// Without require_stable the committed offset shows.
	if _, offsets, codes := h.fetchV7("g", false, 0, 1); codes[0] != errNone || offsets[0] != 5 {
		t.Fatalf("without require_stable: offsets %v, codes %v", offsets, codes)
	}
	// v8: the same, per partition inside the group.
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 8
	r.RequireStable = true
	r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0, 1}}}}}
	resp := h.c.OffsetFetch(context.Background(), r)
	g := resp.Groups[0]
	if g.ErrorCode != errNone || len(g.Topics) != 1 || g.Topics[0].Partitions[0].ErrorCode != errUnstableOffsetCommit || g.Topics[0].Partitions[1].ErrorCode != errNone {
		t.Fatalf("v8 require_stable: %+v", g)
	}

	h.endTxn(7, true)
	if _, offsets, codes := h.fetchV7("g", true, 0, 1); codes[0] != errNone || offsets[0] != 10 || offsets[1] != 6 {
		t.Fatalf("after the commit: offsets %v, codes %v", offsets, codes)
	}
}

// staticMember makes a group of one static member (instance id inst) and
// returns its member id and generation.
func (h *harness) staticMember(group, inst string) (string, int32) {
	h.t.Helper()
	jr := joinReq(group, "", rangeProtocol("t"))
	jr.InstanceID = new(inst)
	resp := h.join(jr)
	if resp.ErrorCode != errNone {
		h.t.Fatalf("static join: %s", codeName(resp.ErrorCode))
	}
	sr := recv(h.t, h.syncAsync(syncReq(group, resp.MemberID, resp.Generation, map[string][]byte{resp.MemberID: []byte("a")})))
	if sr.ErrorCode != errNone {
		h.t.Fatalf("static sync: %s", codeName(sr.ErrorCode))
	}
	return resp.MemberID, resp.Generation
}

func TestTxnOffsetCommitChecksMembers(t *testing.T) {
	h := newHarness(t)
	member, gen := h.staticMember("g", "inst")
	offsets := map[string]map[int32]int64{"t": {0: 10}}
	for _, c := range []struct {
		name       string
		version    int16
		generation int32
		member     string
		instance   *string
		want       int16
	}{
		{"v3 stale generation", 3, gen + 1, member, nil, errIllegalGeneration},
		{"v3 unknown member", 3, gen, "nobody", nil, errUnknownMemberID},
		{"v3 generation without member", 3, gen, "", nil, errUnknownMemberID},
		{"v3 fenced instance", 3, gen, "nobody", new("inst"), errFencedInstanceID},
		{"v3 unknown instance", 3, gen, member, new("other"), errUnknownMemberID},
		{"v3 the member", 3, gen, member, new("inst"), errNone},
		// Without generation and member (all that v0-v2 can send) the
		// commit is taken even though the group has members.
		{"v3 outside the group", 3, -1, "", nil, errNone},
		{"v2 ignores the v3 fields", 2, gen + 1, "nobody", new("other"), errNone},
	} {
		req := txnReq("g", 7, offsets)
		req.Version, req.Generation, req.MemberID, req.InstanceID = c.version, c.generation, c.member, c.instance
		if got := h.txnCommit(req)["t/0"]; got != c.want {
			t.Errorf("%s: %s, want %s", c.name, codeName(got), codeName(c.want))
		}
	}
	// A generation of a group that does not exist: the group is created,
	// and has no such member.
	req := txnReq("new", 7, offsets)
	req.Generation, req.MemberID = 1, "m"
	if got := h.txnCommit(req)["t/0"]; got != errUnknownMemberID {
		t.Fatalf("commit with a generation to a new group: %s", codeName(got))
	}

	// Metadata over offset.metadata.max.bytes is refused per partition.
	req = txnReq("g", 7, map[string]map[int32]int64{"t": {1: 1, 2: 2}})
	req.Topics[0].Partitions[1].Metadata = new(string(make([]byte, 65)))
	if got := h.txnCommit(req); got["t/1"] != errNone || got["t/2"] != errOffsetMetadataTooLarge {
		t.Fatalf("too large metadata: %v", codes(got))
	}
	req = txnReq("", 7, offsets)
	if got := h.txnCommit(req)["t/0"]; got != errInvalidGroupID {
		t.Fatalf("empty group id: %s", codeName(got))
	}
	req = txnReq("g", -1, offsets)
	if got := h.txnCommit(req)["t/0"]; got != errInvalidProducerIDMapping {
		t.Fatalf("no producer id: %s", codeName(got))
	}
}

func TestTxnOffsetCommitWriteErrors(t *testing.T) {
	h := newHarness(t)
	h.log.setAppendErr(kerr.NotEnoughReplicas)
	if got := h.txnCommit(txnReq("g", 7, map[string]map[int32]int64{"t": {0: 10}}))["t/0"]; got != errCoordinatorNotAvailable {
		t.Fatalf("failed write: %s", codeName(got))
	}
	// The failed commit is not pending: the client retries it.
	if _, _, codes := h.fetchV7("g", true, 0); codes[0] != errNone {
		t.Fatalf("after a failed write: %s", codeName(codes[0]))
	}
	h.log.setAppendErr(kerr.InvalidProducerEpoch)
	if got := h.txnCommit(txnReq("g", 7, map[string]map[int32]int64{"t": {0: 10}}))["t/0"]; got != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("fenced producer: %s", codeName(got))
	}
}

// TestTxnCommitOrderAgainstPlainCommits checks Kafka's rule that of two
// commits of a partition the later in the log wins, whichever became
// visible last.
func TestTxnCommitOrderAgainstPlainCommits(t *testing.T) {
	h := newHarness(t)
	// Transactional commit first, plain commit after it: the marker does
	// not bring the older transactional offset back.
	h.mustTxnCommit("g", 7, map[string]map[int32]int64{"t": {0: 10, 1: 11}})
	h.commit(commitReq("g", "", -1, map[string]map[int32]int64{"t": {0: 20}}))
	h.endTxn(7, true)
	h.wantOffsets("g", map[string]int64{"t/0": 20, "t/1": 11})

	// Plain commit first, transactional after: the transaction wins.
	h.commit(commitReq("g", "", -1, map[string]map[int32]int64{"t": {2: 30}}))
	h.mustTxnCommit("g", 8, map[string]map[int32]int64{"t": {2: 5}})
	h.endTxn(8, true)
	h.wantOffsets("g", map[string]int64{"t/0": 20, "t/1": 11, "t/2": 5})

	// A reload reads the same from the log.
	h.c.Close()
	h.start()
	h.wantOffsets("g", map[string]int64{"t/0": 20, "t/1": 11, "t/2": 5})
}

func TestLoadTransactionalOffsets(t *testing.T) {
	h := newHarness(t)
	h.commit(commitReq("g", "", -1, map[string]map[int32]int64{"t": {0: 1, 1: 1}}))
	h.mustTxnCommit("g", 1, map[string]map[int32]int64{"t": {0: 10}}) // committed
	h.mustTxnCommit("g", 2, map[string]map[int32]int64{"t": {1: 20}}) // aborted
	h.mustTxnCommit("g", 3, map[string]map[int32]int64{"t": {2: 30}}) // still open
	h.mustTxnCommit("only-txn", 3, map[string]map[int32]int64{"t": {0: 7}})
	h.endTxn(1, true)
	h.endTxn(2, false)
	// Producer 4: a transaction that was aborted, then one committed.
	h.mustTxnCommit("g", 4, map[string]map[int32]int64{"t": {3: 40}})
	h.endTxn(4, false)
	h.mustTxnCommit("g", 4, map[string]map[int32]int64{"t": {4: 41}})
	h.endTxn(4, true)
	want := map[string]int64{"t/0": 10, "t/1": 1, "t/4": 41}
	h.wantOffsets("g", want)

	h.c.Close()
	h.start()
	h.wantOffsets("g", want)
	// The open transaction is still pending after the load, and its marker
	// still ends it, in both groups.
	if _, _, codes := h.fetchV7("g", true, 0, 2); codes[0] != errNone || codes[2] != errUnstableOffsetCommit {
		t.Fatalf("open transaction after the load: %v", codes)
	}
	if st := h.state("only-txn"); st != "Empty" {
		t.Fatalf("group with only pending offsets is %s after the load", st)
	}
	h.endTxn(3, true)
	want["t/2"] = 30
	h.wantOffsets("g", want)
	h.wantOffsets("only-txn", map[string]int64{"t/0": 7})
}

// TestCompleteTxnWhileLoading ends transactions while their partition
// loads. Producer 1's completion stands for a marker the load did not
// reach (appended after its last read): it is applied once loaded.
// Producer 2's marker is read by the load, and so is its next
// transaction's commit, written after the marker: the completion applied
// after the load must leave that one pending.
func TestCompleteTxnWhileLoading(t *testing.T) {
	h := newHarness(t)
	h.mustTxnCommit("g", 1, map[string]map[int32]int64{"t": {0: 10}})
	h.mustTxnCommit("g", 2, map[string]map[int32]int64{"t": {1: 20}})
	h.c.Close()

	gate := make(chan struct{})
	h.log.mu.Lock()
	h.log.readGate = gate
	h.log.mu.Unlock()
	h.c = New(h.cfg)
	t.Cleanup(h.c.Close)
	released := false
	release := func() {
		if !released {
			released = true
			close(gate)
		}
	}
	t.Cleanup(release) // before Close, which waits for the load
	h.c.BecomeLeader(0, 2, h.log)

	// Loading: old producers get COORDINATOR_NOT_AVAILABLE instead of
	// COORDINATOR_LOAD_IN_PROGRESS.
	req := txnReq("g", 9, map[string]map[int32]int64{"t": {5: 1}})
	req.Version = 1
	if got := h.txnCommit(req)["t/5"]; got != errCoordinatorNotAvailable {
		t.Fatalf("v1 while loading: %s", codeName(got))
	}
	req.Version = 2
	if got := h.txnCommit(req)["t/5"]; got != errCoordinatorLoadInProgress {
		t.Fatalf("v2 while loading: %s", codeName(got))
	}

	h.c.CompleteTxn(1, []int32{0}, true)
	h.endTxn(2, true)
	// Producer 2's next transaction writes after its marker.
	next := record.NewBuilder(h.clock.Now().UnixMilli())
	next.Append(offsetCommitKey("g", tpOf("t", 1)), offsetCommitValue(committedOffset{offset: 21, leaderEpoch: -1, expireTimestamp: -1}))
	h.log.appendRaw(next.BuildTransactional(2, 3))
	release()
	h.waitLoaded(0)

	h.wantOffsets("g", map[string]int64{"t/0": 10, "t/1": 20})
	if _, _, codes := h.fetchV7("g", true, 0, 1); codes[0] != errNone || codes[1] != errUnstableOffsetCommit {
		t.Fatalf("after the load: %v", codes)
	}
	h.endTxn(2, true)
	h.wantOffsets("g", map[string]int64{"t/0": 10, "t/1": 21})
}

func TestPendingTxnOffsetsKeepTheGroup(t *testing.T) {
	h := newHarness(t)
	h.mustTxnCommit("g", 7, map[string]map[int32]int64{"t": {0: 10}})
	// Expiry and deletion of empty groups leave a group whose
	// transaction is open.
	h.c.expireOffsets(h.clock.Advance(48 * time.Hour))
	if st := h.state("g"); st != "Empty" {
		t.Fatalf("group with pending offsets is %s after expiry", st)
	}
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "g"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "other", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
	if resp := h.c.OffsetDelete(context.Background(), od); resp.ErrorCode != errNone {
		t.Fatalf("offset delete: %s", codeName(resp.ErrorCode))
	}
	if st := h.state("g"); st != "Empty" {
		t.Fatalf("group with pending offsets is %s after OffsetDelete", st)
	}
	// Once aborted, the next expiry removes it.
	h.endTxn(7, false)
	h.c.expireOffsets(h.clock.Advance(time.Minute))
	if st := h.state("g"); st != "none" {
		t.Fatalf("group without offsets is %s after expiry", st)
	}

	// DeleteGroups deletes an Empty group whatever is pending, as Kafka;
	// the transaction's end then finds no group.
	h.mustTxnCommit("d", 8, map[string]map[int32]int64{"t": {0: 10}})
	dr := kmsg.NewPtrDeleteGroupsRequest()
	dr.Groups = []string{"d"}
	if resp := h.c.DeleteGroups(context.Background(), dr); resp.Groups[0].ErrorCode != errNone {
		t.Fatalf("delete: %s", codeName(resp.Groups[0].ErrorCode))
	}
	h.endTxn(8, true)
	if st := h.state("d"); st != "none" {
		t.Fatalf("deleted group is %s after its transaction's commit", st)
	}
}

func tpOf(topic string, partition int32) zkpaths.TopicPartition {
	return zkpaths.TopicPartition{Topic: topic, Partition: partition}
}

func TestTxnOffsetsOfDeletedTopicsAndRecommits(t *testing.T) {
	h := newHarness(t)
	// A second commit of a partition in the same transaction replaces the
	// first.
	h.mustTxnCommit("g", 7, map[string]map[int32]int64{"t": {0: 10}, "gone": {0: 1}})
	h.mustTxnCommit("g", 7, map[string]map[int32]int64{"t": {0: 11}})
	// The offsets of a deleted topic go, pending ones included.
	h.c.ForgetTopics([]string{"gone"})
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 7
	r.Group = "g"
	r.RequireStable = true
	r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "gone", Partitions: []int32{0}}}
	if p := h.c.OffsetFetch(context.Background(), r).Topics[0].Partitions[0]; p.ErrorCode != errNone {
		t.Fatalf("pending offset of a deleted topic: %s", codeName(p.ErrorCode))
	}
	h.endTxn(7, true)
	h.wantOffsets("g", map[string]int64{"t/0": 11})
}
