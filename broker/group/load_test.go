package group

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/record/recordtest"
	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
)

// batchOf builds the batch the coordinator writes of records at now.
func batchOf(now time.Time, records ...recordtest.Record) []byte {
	b := record.NewBuilder(now.UnixMilli())
	for _, r := range records {
		b.Append(r.Key, r.Value)
	}
	return b.Build()
}

// TestRecordSchemas checks the coordinator's keys and values with kmsg's
// decoders of Kafka's schemas (the batch around them is record.Builder's,
// tested in broker/record).
func TestRecordSchemas(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_123)
	tp := zkpaths.TopicPartition{Topic: "orders", Partition: 3}
	o := committedOffset{offset: 42, leaderEpoch: 7, metadata: "m", commitTimestamp: now.UnixMilli(), expireTimestamp: -1}
	batch := batchOf(now,
		recordtest.Record{Key: offsetCommitKey("g", tp), Value: offsetCommitValue(o)},
		recordtest.Record{Key: groupMetadataKey("g")},
	)
	if err := checkBatch(batch); err != nil {
		t.Fatal(err)
	}
	l := &memLog{}
	l.appendRaw(batch)
	recs := l.records(t)
	var key kmsg.OffsetCommitKey
	if err := key.ReadFrom(recs[0].Key); err != nil || key.Version != 1 || key.Group != "g" || key.Topic != "orders" || key.Partition != 3 {
		t.Fatalf("offset key: %+v %v", key, err)
	}
	var value kmsg.OffsetCommitValue
	if err := value.ReadFrom(recs[0].Value); err != nil || value.Version != 3 || value.Offset != 42 || value.LeaderEpoch != 7 || value.Metadata != "m" || value.CommitTimestamp != now.UnixMilli() {
		t.Fatalf("offset value: %+v %v", value, err)
	}
	var gk kmsg.GroupMetadataKey
	if err := gk.ReadFrom(recs[1].Key); err != nil || gk.Version != 2 || gk.Group != "g" || recs[1].Value != nil {
		t.Fatalf("group tombstone: %+v %v", gk, err)
	}
}

func TestReloadRestoresGroupsAndOffsets(t *testing.T) {
	h := newHarness(t)
	ids, gen := h.stableGroup("g", 2, "t")
	h.commit(commitReq("g", ids[0], gen, map[string]map[int32]int64{"t": {0: 10, 1: 11}}))
	h.commit(commitReq("g", ids[0], gen, map[string]map[int32]int64{"t": {0: 12}}))
	h.commit(commitReq("simple", "", -1, map[string]map[int32]int64{"x": {0: 5}}))
	h.commit(commitReq("gone", "", -1, map[string]map[int32]int64{"x": {0: 5}}))
	h.commit(commitReq("partly", "", -1, map[string]map[int32]int64{"x": {0: 1, 1: 2}}))
	r := kmsg.NewPtrDeleteGroupsRequest()
	r.Groups = []string{"gone"}
	h.c.DeleteGroups(context.Background(), r)
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "partly"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "x", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}}}
	h.c.OffsetDelete(context.Background(), od)

	describeBefore := h.describe("g")
	h.c.Close()
	h.start()

	after := h.describe("g")
	if after.State != "Stable" || after.Protocol != describeBefore.Protocol || len(after.Members) != 2 {
		t.Fatalf("reloaded group: %+v", after)
	}
	for i, m := range after.Members {
		b := describeBefore.Members[i]
		if m.MemberID != b.MemberID || m.ClientID != b.ClientID || m.ClientHost != b.ClientHost ||
			!bytes.Equal(m.MemberAssignment, b.MemberAssignment) || !bytes.Equal(m.ProtocolMetadata, b.ProtocolMetadata) {
			t.Fatalf("reloaded member %+v, was %+v", m, b)
		}
	}
	// No rebalance: the members go on in their generation.
	for _, id := range ids {
		if code := h.heartbeat("g", id, gen); code != errNone {
			t.Fatalf("heartbeat after the reload: %s", codeName(code))
		}
	}
	h.withGroup("g", func(g *group) {
		if g.leaderID != ids[0] || g.generation != gen {
			t.Fatalf("reloaded leader %s generation %d", g.leaderID, g.generation)
		}
	})
	if _, got := h.fetch("g", nil); len(got) != 2 || got["t/0"] != 12 || got["t/1"] != 11 {
		t.Fatalf("reloaded offsets of g: %v", got)
	}
	if _, got := h.fetch("simple", nil); got["x/0"] != 5 {
		t.Fatalf("reloaded offsets of simple: %v", got)
	}
	if _, got := h.fetch("gone", nil); len(got) != 0 {
		t.Fatalf("deleted group came back: %v", got)
	}
	if _, got := h.fetch("partly", nil); len(got) != 1 || got["x/0"] != 1 {
		t.Fatalf("deleted offset came back: %v", got)
	}
	// Members that do not heartbeat after the failover time out as usual.
	h.tick(11 * time.Second)
	if st := h.state("g"); st != "Empty" {
		t.Fatalf("group is %s", st)
	}
}

func (h *harness) describe(id string) kmsg.DescribeGroupsResponseGroup {
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Groups = []string{id}
	return h.c.DescribeGroups(context.Background(), r).Groups[0]
}

func TestNotCoordinatorAndLoading(t *testing.T) {
	clock := newFakeClock()
	cfg := testConfig(clock)
	cfg.OffsetsTopicPartitions = 2
	c := New(cfg)
	t.Cleanup(c.Close)
	l := &memLog{readGate: make(chan struct{})}
	l.appendRaw(batchOf(clock.Now(), offsetRecord("b", 0, 1)))
	on0, on1 := "b", "g" // hashCodes 98 and 103
	if PartitionFor(on0, 2) != 0 || PartitionFor(on1, 2) != 1 {
		t.Fatal("test groups on unexpected partitions")
	}
	c.BecomeLeader(0, 3, l)

	join := c.JoinGroup(clientCtx("c"), joinReq(on1, "", rangeProtocol("t")))
	if join.ErrorCode != errNotCoordinator {
		t.Fatalf("join of a group of another coordinator: %s", codeName(join.ErrorCode))
	}
	if got := commitCodes(c.OffsetCommit(context.Background(), commitReq(on0, "", -1, map[string]map[int32]int64{"t": {0: 1}}))); got["t/0"] != errCoordinatorLoadInProgress {
		t.Fatalf("commit while loading: %v", codes(got))
	}
	if j := c.JoinGroup(clientCtx("c"), joinReq(on0, "", rangeProtocol("t"))); j.ErrorCode != errCoordinatorLoadInProgress {
		t.Fatalf("join while loading: %s", codeName(j.ErrorCode))
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID = on0, "m"
	if code := c.Heartbeat(context.Background(), hb).ErrorCode; code != errNone {
		t.Fatalf("heartbeat while loading: %s", codeName(code))
	}
	if code := c.SyncGroup(context.Background(), syncReq(on0, "m", 1, nil)).ErrorCode; code != errRebalanceInProgress {
		t.Fatalf("sync while loading: %s", codeName(code))
	}
	lg := kmsg.NewPtrListGroupsRequest()
	if code := c.ListGroups(context.Background(), lg).ErrorCode; code != errCoordinatorLoadInProgress {
		t.Fatalf("list while loading: %s", codeName(code))
	}
	close(l.readGate)
	poll.Until(t, waitTimeout, "the loaded partition to take joins", func() bool {
		j := c.JoinGroup(clientCtx("c"), joinReq(on0, "", rangeProtocol("t")))
		return j.ErrorCode == errMemberIDRequired
	})
}

func TestResignAndEpochs(t *testing.T) {
	h := newHarness(t)
	ids, _ := h.stableGroup("g", 2)
	pending := h.joinAsync(clientCtx("c"), joinReq("g", ids[0], rangeProtocol("t")))
	h.waitState("g", "PreparingRebalance")

	h.c.Resign(0, 0) // an older epoch: ignored
	if st := h.state("g"); st != "PreparingRebalance" {
		t.Fatalf("group is %s after a stale resign", st)
	}
	h.c.Resign(0, 1)
	if r := recv(t, pending); r.ErrorCode != errNotCoordinator {
		t.Fatalf("pending join after resign: %s", codeName(r.ErrorCode))
	}
	if code := h.heartbeat("g", ids[1], 1); code != errNotCoordinator {
		t.Fatalf("heartbeat after resign: %s", codeName(code))
	}
	// A stale hand-over (lower epoch) is ignored; a newer one loads.
	h.c.BecomeLeader(0, 0, h.log)
	if _, held := h.c.shards.Get(0); held {
		t.Fatal("stale BecomeLeader took the partition")
	}
	h.c.BecomeLeader(0, 2, h.log)
	h.waitLoaded(0)
	if st := h.state("g"); st != "Stable" {
		t.Fatalf("reloaded group is %s", st)
	}
	// A newer epoch replaces the held partition, answering its waiters.
	again := h.joinAsync(clientCtx("c"), joinReq("g", ids[0], rangeProtocol("t")))
	h.waitState("g", "PreparingRebalance")
	h.c.BecomeLeader(0, 5, h.log)
	if r := recv(t, again); r.ErrorCode != errNotCoordinator {
		t.Fatalf("pending join after a new epoch: %s", codeName(r.ErrorCode))
	}
	h.waitLoaded(0)

	// Close answers everything still waiting.
	last := h.joinAsync(clientCtx("c"), joinReq("g", ids[0], rangeProtocol("t")))
	h.waitState("g", "PreparingRebalance")
	h.c.Close()
	if r := recv(t, last); r.ErrorCode != errNotCoordinator {
		t.Fatalf("pending join after close: %s", codeName(r.ErrorCode))
	}
}

func TestLoadRetriesFailedReads(t *testing.T) {
	clock := newFakeClock()
	l := &memLog{}
	h := &harness{t: t, clock: clock, log: l, cfg: testConfig(clock)}
	h.start()
	h.commit(commitReq("simple", "", -1, map[string]map[int32]int64{"t": {0: 9}}))
	h.c.Close()
	l.readErrs = []error{errors.New("disk hiccup")}
	h.start()
	if _, got := h.fetch("simple", nil); got["t/0"] != 9 {
		t.Fatalf("offsets after a retried load: %v", got)
	}
}

func offsetRecord(group string, partition int32, offset int64) recordtest.Record {
	return recordtest.Record{
		Key:   offsetCommitKey(group, zkpaths.TopicPartition{Topic: "t", Partition: partition}),
		Value: offsetCommitValue(committedOffset{offset: offset, leaderEpoch: -1, commitTimestamp: 1, expireTimestamp: -1}),
	}
}

// compressedBatch is a batch of records compressed with the codec named
// name, as a producer might have written it.
func compressedBatch(t *testing.T, name string, records ...recordtest.Record) []byte {
	t.Helper()
	for _, codec := range recordtest.Codecs() {
		if codec.Name == name {
			b, err := recordtest.Batch(codec, int32(len(records)), recordtest.Records(records...))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no codec %s", name)
	return nil
}

func TestGarbageInTheLogIsSkipped(t *testing.T) {
	h := newHarness(t)
	l := h.log
	now := time.Now()
	l.appendRaw(batchOf(now, offsetRecord("g", 0, 1)))
	// A batch with a bad CRC.
	bad := batchOf(now, offsetRecord("g", 1, 1))
	bad[len(bad)-1] ^= 0xff
	l.appendRaw(bad)
	// Records with garbage keys and values, an unknown key version, a
	// record without key, a group value that does not decode.
	l.appendRaw(recordtest.Frame(record.CodecNone, 6, recordtest.Records(
		recordtest.Record{Key: []byte{0, 1, 2}, Value: []byte{9}},
		recordtest.Record{Key: []byte{0, 7, 0, 0}, Value: []byte{1}},
		recordtest.Record{Value: []byte("no key")},
		recordtest.Record{Key: groupMetadataKey("g"), Value: []byte{0, 3, 0xff}},
		recordtest.Record{Key: offsetCommitKey("g", zkpaths.TopicPartition{Topic: "t", Partition: 2}), Value: []byte{0, 9}},
		offsetRecord("g", 3, 3),
	)))
	// Records that do not parse at all.
	l.appendRaw(recordtest.Frame(record.CodecNone, 3, []byte{0x7f, 1, 2, 3}))
	// A control batch that is no marker (its key is an offset's) and a
	// transactional batch without a producer are skipped.
	l.appendRaw(recordtest.FrameAttributes(record.ControlBit|record.TransactionalBit, 1, recordtest.Records(offsetRecord("g", 4, 4))))
	l.appendRaw(recordtest.FrameAttributes(record.TransactionalBit, 1, recordtest.Records(offsetRecord("g", 5, 5))))
	// A compressed batch is read (lz4 and gzip).
	l.appendRaw(compressedBatch(t, "lz4", offsetRecord("g", 6, 6)))
	l.appendRaw(compressedBatch(t, "gzip", offsetRecord("g", 7, 7)))
	// An unknown codec is skipped.
	l.appendRaw(recordtest.Frame(6, 1, recordtest.Records(offsetRecord("g", 8, 8))))
	l.appendRaw(batchOf(now, offsetRecord("g", 9, 9)))

	h.c.Close()
	h.start()
	_, got := h.fetch("g", nil)
	want := map[string]int64{"t/0": 1, "t/3": 3, "t/6": 6, "t/7": 7, "t/9": 9}
	if len(got) != len(want) {
		t.Fatalf("loaded %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("loaded %v, want %v", got, want)
		}
	}
}

// TestRandomGarbageNeverPanics feeds the loader random bytes, framed and
// unframed, and checks that a good record after them still loads whenever
// the framing allows reaching it.
func TestRandomGarbageNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		l := &memLog{}
		junk := make([]byte, rng.IntN(200))
		for j := range junk {
			junk[j] = byte(rng.UintN(256))
		}
		framed := i%2 == 0
		if framed {
			l.appendRaw(recordtest.Frame(rng.IntN(8), int32(rng.IntN(5)), junk))
		} else {
			l.appendRaw(append(make([]byte, 8), junk...))
		}
		l.appendRaw(batchOf(time.Now(), offsetRecord("g", 0, 42)))
		st, err := readLog(context.Background(), l, testConfig(newFakeClock()).Logger)
		if err != nil {
			t.Fatal(err)
		}
		if framed && st.offsets["g"][zkpaths.TopicPartition{Topic: "t", Partition: 0}].offset != 42 {
			t.Fatalf("round %d: the good record after a framed bad batch was lost", i)
		}
	}
}

func FuzzReadLog(f *testing.F) {
	f.Add(batchOf(time.Now(), offsetRecord("g", 0, 1)))
	f.Add(recordtest.Frame(record.CodecNone, 2, []byte{1, 2, 3}))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 49})
	f.Fuzz(func(t *testing.T, data []byte) {
		l := &memLog{}
		l.batches = [][]byte{data}
		l.end = 1
		st, err := readLog(context.Background(), l, testConfig(newFakeClock()).Logger)
		if err != nil || st == nil {
			t.Fatalf("readLog: %v", err)
		}
		for id, v := range st.groups {
			groupFromValue(id, v, time.Now())
		}
	})
}
