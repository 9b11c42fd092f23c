package group

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/record/recordtest"
	"github.com/kzoo/kzoo/internal/poll"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// memLog is an in-memory Log: batches in a slice, offsets assigned on
// append. Tests can make appends fail, or hold reads until released.
type memLog struct {
	mu      sync.Mutex
	batches [][]byte // with their base offsets stamped
	start   int64
	end     int64
	// appendErr, when set, is returned by the next appends instead of
	// writing.
	appendErr error
	// appendGate, when set, holds every Append until it is closed;
	// appendsWaiting counts the Appends it holds.
	appendGate     chan struct{}
	appendsWaiting int
	// readGate, when set, holds every Read until it is closed.
	readGate chan struct{}
	// readErrs are returned by the next Reads, one each.
	readErrs []error
	appends  int
}

func (l *memLog) Append(ctx context.Context, batch []byte) (int64, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	if err := checkBatch(batch); err != nil {
		return -1, fmt.Errorf("coordinator wrote a bad batch: %w", err)
	}
	l.mu.Lock()
	if gate := l.appendGate; gate != nil {
		l.appendsWaiting++
		l.mu.Unlock()
		<-gate
		l.mu.Lock()
	}
	defer l.mu.Unlock()
	l.appends++
	if l.appendErr != nil {
		return -1, l.appendErr
	}
	return l.appendRawLocked(batch), nil
}

// magicField is where every message format keeps its magic byte.
const magicField = 16

// appendRaw stores batch as is (only its base offset is stamped), for
// tests that plant data in the log.
func (l *memLog) appendRaw(batch []byte) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendRawLocked(batch)
}

func (l *memLog) appendRawLocked(batch []byte) int64 {
	b := bytes.Clone(batch)
	count := int64(1)
	if len(b) >= record.HeaderSize && b[magicField] == record.CurrentMagic {
		count = max(1, int64(int32(binary.BigEndian.Uint32(b[23:])))+1)
	}
	if len(b) >= 8 {
		binary.BigEndian.PutUint64(b, uint64(l.end))
	}
	l.batches = append(l.batches, b)
	l.end += count
	return l.end - 1
}

func (l *memLog) setAppendErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.appendErr = err
}

func (l *memLog) Read(offset int64, maxBytes int) ([]byte, error) {
	l.mu.Lock()
	gate := l.readGate
	var err error
	if len(l.readErrs) > 0 {
		err, l.readErrs = l.readErrs[0], l.readErrs[1:]
	}
	l.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	pos := int64(0)
	for _, b := range l.batches {
		next := pos + 1
		if len(b) >= record.HeaderSize && b[magicField] == record.CurrentMagic {
			next = int64(binary.BigEndian.Uint64(b)) + int64(int32(binary.BigEndian.Uint32(b[23:]))) + 1
		} else if len(b) >= 8 {
			next = int64(binary.BigEndian.Uint64(b)) + 1
		}
		pos = next
		if next <= offset {
			continue
		}
		if len(out) > 0 && len(out)+len(b) > maxBytes {
			break
		}
		out = append(out, b...)
	}
	return out, nil
}

func (l *memLog) LogStartOffset() int64 { l.mu.Lock(); defer l.mu.Unlock(); return l.start }
func (l *memLog) LogEndOffset() int64   { l.mu.Lock(); defer l.mu.Unlock(); return l.end }

// checkBatch verifies, independently of the coordinator's code, that batch
// is one uncompressed magic-v2 batch with base offset 0, a correct CRC-32C,
// no sequence, and either no producer or (a transactional offset commit)
// a producer and the transactional bit.
func checkBatch(batch []byte) error {
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		return err
	}
	transactional := rb.Attributes == 0x10
	switch {
	case rb.FirstOffset != 0:
		return fmt.Errorf("base offset %d", rb.FirstOffset)
	case rb.Magic != 2:
		return fmt.Errorf("magic %d", rb.Magic)
	case rb.Attributes != 0 && !transactional:
		return fmt.Errorf("attributes %#x", rb.Attributes)
	case transactional != (rb.ProducerID >= 0):
		return fmt.Errorf("producer id %d with attributes %#x", rb.ProducerID, rb.Attributes)
	case rb.ProducerID < 0 && rb.ProducerEpoch != -1, rb.ProducerID >= 0 && rb.ProducerEpoch < 0:
		return fmt.Errorf("producer id %d epoch %d", rb.ProducerID, rb.ProducerEpoch)
	case rb.FirstSequence != -1:
		return fmt.Errorf("sequence %d", rb.FirstSequence)
	case int(rb.Length) != len(batch)-12:
		return fmt.Errorf("length %d for %d bytes", rb.Length, len(batch))
	case uint32(rb.CRC) != crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)):
		return errors.New("bad CRC")
	case rb.NumRecords != rb.LastOffsetDelta+1:
		return fmt.Errorf("%d records, last offset delta %d", rb.NumRecords, rb.LastOffsetDelta)
	}
	return nil
}

// logRecords decodes every record in the log with kmsg, independently of
// the coordinator's decoder.
func (l *memLog) records(t *testing.T) []recordtest.Record {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []recordtest.Record
	for _, b := range l.batches {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			t.Fatalf("batch: %v", err)
		}
		data := rb.Records
		for i := int32(0); i < rb.NumRecords; i++ {
			length, n := binary.Varint(data)
			var r kmsg.Record
			if err := r.ReadFrom(data[:n+int(length)]); err != nil {
				t.Fatalf("record: %v", err)
			}
			data = data[n+int(length):]
			out = append(out, recordtest.Record{Key: r.Key, Value: r.Value})
		}
	}
	return out
}

// harness is a coordinator under test with its clock and log.
type harness struct {
	t     *testing.T
	c     *Coordinator
	clock *fakeClock
	log   *memLog
	cfg   Config
}

func testConfig(clock *fakeClock) Config {
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	return Config{
		OffsetsTopicPartitions:        1,
		MinSessionTimeout:             time.Second,
		MaxSessionTimeout:             time.Minute,
		InitialRebalanceDelay:         0,
		MaxGroupSize:                  100,
		OffsetsRetention:              24 * time.Hour,
		OffsetsRetentionCheckInterval: time.Minute,
		OffsetMetadataMaxBytes:        64,
		Now:                           clock.Now,
		Logger:                        logger,
	}
}

// newHarness starts a coordinator leading partition 0 of a one-partition
// __consumer_offsets, loaded.
func newHarness(t *testing.T, tweak ...func(*Config)) *harness {
	t.Helper()
	clock := newFakeClock()
	cfg := testConfig(clock)
	for _, f := range tweak {
		f(&cfg)
	}
	h := &harness{t: t, clock: clock, log: &memLog{}, cfg: cfg}
	h.start()
	return h
}

// start (re)starts the coordinator over h.log, waiting for the load.
func (h *harness) start() {
	h.t.Helper()
	h.c = New(h.cfg)
	c := h.c
	h.t.Cleanup(c.Close)
	c.BecomeLeader(0, 1, h.log)
	h.waitLoaded(0)
}

func (h *harness) waitLoaded(partition int32) {
	h.t.Helper()
	poll.Until(h.t, waitTimeout, fmt.Sprintf("offsets partition %d to load", partition), func() bool {
		s, ok := h.c.shards.Get(partition)
		if !ok {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.loaded
	})
}

// waitTimeout bounds each wait of these tests for the coordinator's
// goroutines, which take milliseconds: the slack is for a loaded machine.
const waitTimeout = 10 * time.Second

// waitState waits for group id to be in state.
func (h *harness) waitState(id, state string) {
	h.t.Helper()
	poll.UntilSaw(h.t, waitTimeout, fmt.Sprintf("group %s to be %s", id, state), func() (bool, string) {
		st := h.state(id)
		return st == state, st
	})
}

// waitAwaitingJoin waits for n members of group id to wait in a join.
func (h *harness) waitAwaitingJoin(id string, n int) {
	h.t.Helper()
	poll.UntilSaw(h.t, waitTimeout, fmt.Sprintf("%d members of group %s awaiting a join", n, id), func() (bool, string) {
		got := h.awaitingJoin(id)
		return got == n, fmt.Sprintf("%d awaiting", got)
	})
}

// recv waits, up to a deadline, for the answer on ch.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatal("no answer before the deadline")
		panic("unreachable")
	}
}

// noAnswer checks that ch has no answer (yet).
func noAnswer[T any](t *testing.T, ch <-chan T) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected answer %+v", v)
	default:
	}
}

func (h *harness) tick(d time.Duration) {
	h.c.tick(h.clock.Advance(d))
}

// withGroup runs fn on the group's internal state, under its shard's lock.
func (h *harness) withGroup(id string, fn func(g *group)) {
	h.t.Helper()
	s, code := h.c.acquire(id)
	if code != errNone {
		h.t.Fatalf("acquire %q: %v", id, kerr.ErrorForCode(code))
	}
	defer s.mu.Unlock()
	fn(s.groups[id])
}

func (h *harness) state(id string) string {
	st := "none"
	h.withGroup(id, func(g *group) {
		if g != nil {
			st = g.state.String()
		}
	})
	return st
}

func (h *harness) awaitingJoin(id string) int {
	n := 0
	h.withGroup(id, func(g *group) {
		if g != nil {
			n = g.numAwaitingJoin()
		}
	})
	return n
}

// consumerMetadata is a consumer protocol subscription to topics.
func consumerMetadata(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 1
	m.Topics = topics
	return m.AppendTo(nil)
}

func rangeProtocol(topics ...string) []kmsg.JoinGroupRequestProtocol {
	return []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMetadata(topics...)}}
}

// joinReq is a JoinGroup of version 7 for a consumer.
func joinReq(group, memberID string, protocols []kmsg.JoinGroupRequestProtocol) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 7
	r.Group = group
	r.MemberID = memberID
	r.SessionTimeoutMillis = 10_000
	r.RebalanceTimeoutMillis = 20_000
	r.ProtocolType = "consumer"
	r.Protocols = protocols
	return r
}

func clientCtx(clientID string) context.Context {
	return WithClient(context.Background(), clientID, "10.0.0.1")
}

func (h *harness) joinAsync(ctx context.Context, req *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { ch <- h.c.JoinGroup(ctx, req) }()
	return ch
}

func (h *harness) join(req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	h.t.Helper()
	return recv(h.t, h.joinAsync(clientCtx("client"), req))
}

// memberID does the first step of a two-step join and returns the id.
func (h *harness) memberID(group, clientID string) string {
	h.t.Helper()
	resp := h.c.JoinGroup(clientCtx(clientID), joinReq(group, "", rangeProtocol("t")))
	if resp.ErrorCode != errMemberIDRequired {
		h.t.Fatalf("first join: error %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.MemberID
}

func syncReq(group, memberID string, generation int32, assignments map[string][]byte) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 3
	r.Group, r.MemberID, r.Generation = group, memberID, generation
	ids := make([]string, 0, len(assignments))
	for id := range assignments {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: assignments[id]})
	}
	return r
}

func (h *harness) syncAsync(req *kmsg.SyncGroupRequest) <-chan *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { ch <- h.c.SyncGroup(context.Background(), req) }()
	return ch
}

func (h *harness) heartbeat(group, memberID string, generation int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 3
	r.Group, r.MemberID, r.Generation = group, memberID, generation
	return h.c.Heartbeat(context.Background(), r).ErrorCode
}

// stableGroup builds a Stable group of n members subscribed to topics and
// returns their ids (the leader first) and the generation. The leader
// assigns "a-<i>" to the i-th member to join. It needs a zero initial
// rebalance delay.
func (h *harness) stableGroup(group string, n int, topics ...string) (ids []string, generation int32) {
	h.t.Helper()
	if len(topics) == 0 {
		topics = []string{"t"}
	}
	// The first member completes a generation alone; each next one starts
	// a rebalance that waits for the others; the first one's rejoin
	// completes it with everyone.
	ids = append(ids, h.memberID(group, "client0"))
	first := h.join(joinReq(group, ids[0], rangeProtocol(topics...)))
	if first.ErrorCode != errNone {
		h.t.Fatalf("first join: %v", kerr.ErrorForCode(first.ErrorCode))
	}
	joins := []<-chan *kmsg.JoinGroupResponse{nil}
	for i := 1; i < n; i++ {
		client := fmt.Sprintf("client%d", i)
		ids = append(ids, h.memberID(group, client))
		joins = append(joins, h.joinAsync(clientCtx(client), joinReq(group, ids[i], rangeProtocol(topics...))))
		h.waitAwaitingJoin(group, i)
	}
	resps := []*kmsg.JoinGroupResponse{first}
	if n > 1 {
		resps[0] = h.join(joinReq(group, ids[0], rangeProtocol(topics...)))
		for _, ch := range joins[1:] {
			resps = append(resps, recv(h.t, ch))
		}
	}
	generation = resps[0].Generation
	leader := resps[0].LeaderID
	for i, r := range resps {
		if r.ErrorCode != errNone || r.Generation != generation || r.LeaderID != leader {
			h.t.Fatalf("join of %s: %v, generation %d, leader %s", ids[i], kerr.ErrorForCode(r.ErrorCode), r.Generation, r.LeaderID)
		}
	}
	assign := make(map[string][]byte)
	for i, id := range ids {
		assign[id] = []byte(fmt.Sprintf("a-%d", i))
	}
	var syncs []<-chan *kmsg.SyncGroupResponse
	for _, id := range ids {
		var a map[string][]byte
		if id == leader {
			a = assign
		}
		syncs = append(syncs, h.syncAsync(syncReq(group, id, generation, a)))
	}
	for i, ch := range syncs {
		r := recv(h.t, ch)
		if r.ErrorCode != errNone || !bytes.Equal(r.MemberAssignment, assign[ids[i]]) {
			h.t.Fatalf("sync of %s: %v, assignment %q", ids[i], kerr.ErrorForCode(r.ErrorCode), r.MemberAssignment)
		}
	}
	for i, id := range ids {
		if id == leader {
			ids[0], ids[i] = ids[i], ids[0]
		}
	}
	if st := h.state(group); st != "Stable" {
		h.t.Fatalf("group is %s", st)
	}
	return ids, generation
}

func (h *harness) generation(groupID string) int32 {
	var gen int32
	h.withGroup(groupID, func(g *group) {
		if g != nil {
			gen = g.generation
		}
	})
	return gen
}

func commitReq(group, memberID string, generation int32, offsets map[string]map[int32]int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.MemberID, r.Generation = group, memberID, generation
	topics := make([]string, 0, len(offsets))
	for t := range offsets {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = t
		parts := make([]int32, 0, len(offsets[t]))
		for p := range offsets[t] {
			parts = append(parts, p)
		}
		sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
		for _, p := range parts {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = p, offsets[t][p]
			rp.LeaderEpoch = 5
			rp.Metadata = new("meta")
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

// commitCodes returns the error code of each "topic/partition".
func commitCodes(resp *kmsg.OffsetCommitResponse) map[string]int16 {
	out := make(map[string]int16)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[fmt.Sprintf("%s/%d", t.Topic, p.Partition)] = p.ErrorCode
		}
	}
	return out
}

func (h *harness) commit(req *kmsg.OffsetCommitRequest) map[string]int16 {
	return commitCodes(h.c.OffsetCommit(context.Background(), req))
}

// fetch returns the committed offset of each "topic/partition" of group
// (v6, all partitions when topics is nil).
func (h *harness) fetch(group string, topics map[string][]int32) (int16, map[string]int64) {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 6
	r.Group = group
	if topics != nil {
		r.Topics = []kmsg.OffsetFetchRequestTopic{}
		for t, ps := range topics {
			r.Topics = append(r.Topics, kmsg.OffsetFetchRequestTopic{Topic: t, Partitions: ps})
		}
	}
	resp := h.c.OffsetFetch(context.Background(), r)
	out := make(map[string]int64)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[fmt.Sprintf("%s/%d", t.Topic, p.Partition)] = p.Offset
		}
	}
	return resp.ErrorCode, out
}

func codes(m map[string]int16) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = codeName(v)
	}
	return out
}

func codeName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return ke.Message
		}
	}
	return fmt.Sprint(code)
}
