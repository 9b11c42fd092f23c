package txn

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
)

func TestInitProducerIDValidation(t *testing.T) {
	h := newHarness(t)
	empty := ""
	long := string(make([]byte, 32768))
	cases := []struct {
		name    string
		id      *string
		timeout int32
		want    int16
	}{
		{"null id is the broker's", nil, 1000, errInvalidRequest},
		{"empty id", &empty, 1000, errInvalidRequest},
		{"id too long", &long, 1000, errInvalidRequest},
		{"zero timeout", new("t"), 0, errInvalidTransactionTimeout},
		{"timeout over the max", new("t"), 60_001, errInvalidTransactionTimeout},
	}
	for _, c := range cases {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = c.id, c.timeout
		if got := h.c.InitProducerID(context.Background(), req).ErrorCode; got != c.want {
			t.Errorf("%s: error %d, want %d", c.name, got, c.want)
		}
	}
	if len(h.log.entries(t)) != 0 {
		t.Error("a refused request wrote")
	}
}

func TestInitProducerIDNewAndBump(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("t")
	if pid != 1000 || epoch != 0 {
		t.Fatalf("first init: %d/%d", pid, epoch)
	}
	pid2, epoch2 := h.initOK("t")
	if pid2 != pid || epoch2 != 1 {
		t.Fatalf("second init: %d/%d", pid2, epoch2)
	}
	if got := h.log.states(t, "t"); !slices.Equal(got, []string{"Empty", "Empty"}) {
		t.Fatalf("log: %v", got)
	}
	e := h.log.entries(t)[1].value
	if e.ProducerID != pid || e.ProducerEpoch != 1 || e.TimeoutMillis != 10_000 || e.Topics != nil {
		t.Fatalf("record: %+v", e)
	}
}

// A full transaction: partitions added, committed, markers, CompleteCommit.
func TestCommitFlow(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("t")
	if code := h.end(3, "t", pid, epoch, true); code != errInvalidTxnState {
		t.Fatalf("EndTxn from Empty: %d", code)
	}
	start := h.clock.Advance(time.Second)
	if code := h.add(3, "t", pid, epoch, tp("a", 0), tp("b", 1)); code != errNone {
		t.Fatalf("add: %d", code)
	}
	h.clock.Advance(time.Second)
	if code := h.add(3, "t", pid, epoch, tp("a", 0)); code != errNone {
		t.Fatalf("add again: %d", code)
	}
	m := h.meta("t")
	if m.state != stateOngoing || !m.startTime.Equal(start) || len(m.partitions) != 2 {
		t.Fatalf("after add: %s start %v partitions %v", m.state, m.startTime, m.partitions)
	}
	if code := h.end(3, "t", pid, epoch, true); code != errNone {
		t.Fatalf("commit: %d", code)
	}
	h.waitState("t", stateCompleteCommit)
	calls := h.markers.written()
	if len(calls) != 1 || calls[0].m != (Marker{ProducerID: pid, ProducerEpoch: epoch, CoordinatorEpoch: 1, Commit: true}) ||
		!slices.Equal(calls[0].partitions, []zkpaths.TopicPartition{tp("a", 0), tp("b", 1)}) {
		t.Fatalf("markers: %+v", calls)
	}
	if got := h.log.states(t, "t"); !slices.Equal(got, []string{"Empty", "Ongoing", "PrepareCommit", "CompleteCommit"}) {
		t.Fatalf("log: %v (the second add must not write)", got)
	}
	// Retries: the same result succeeds, the other is refused.
	if code := h.end(3, "t", pid, epoch, true); code != errNone {
		t.Errorf("commit retry: %d", code)
	}
	if code := h.end(3, "t", pid, epoch, false); code != errInvalidTxnState {
		t.Errorf("abort after commit: %d", code)
	}
	st := h.c.Stats()
	if st.Committed != 1 || st.MarkersWritten != 2 || st.Ongoing != 0 || st.CompletedDuration != time.Second {
		t.Errorf("stats: %+v", st)
	}
}

func TestEndTxnWhilePreparing(t *testing.T) {
	h := newHarness(t)
	h.markers.gate = make(chan struct{})
	pid, epoch := h.initOK("t")
	h.add(3, "t", pid, epoch, tp("a", 0))
	if code := h.end(3, "t", pid, epoch, false); code != errNone {
		t.Fatalf("abort: %d", code)
	}
	cases := []struct {
		commit bool
		want   int16
	}{{false, errConcurrentTransactions}, {true, errInvalidTxnState}}
	for _, c := range cases {
		if got := h.end(3, "t", pid, epoch, c.commit); got != c.want {
			t.Errorf("EndTxn(commit=%v) in PrepareAbort: %d, want %d", c.commit, got, c.want)
		}
	}
	if got := h.add(3, "t", pid, epoch, tp("a", 1)); got != errConcurrentTransactions {
		t.Errorf("add in PrepareAbort: %d", got)
	}
	if got := h.init("t", 1000).ErrorCode; got != errConcurrentTransactions {
		t.Errorf("init in PrepareAbort: %d", got)
	}
	if st := h.c.Stats(); st.Ongoing != 1 {
		t.Errorf("ongoing: %d", st.Ongoing)
	}
	close(h.markers.gate)
	h.waitState("t", stateCompleteAbort)
}

func TestAddPartitionsErrors(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("t")
	cases := []struct {
		name    string
		version int16
		id      string
		pid     int64
		epoch   int16
		want    int16
	}{
		{"empty id", 3, "", pid, epoch, errInvalidRequest},
		{"unknown id", 3, "other", pid, epoch, errInvalidProducerIDMapping},
		{"wrong producer id", 3, "t", pid + 1, epoch, errInvalidProducerIDMapping},
		{"old epoch v2", 2, "t", pid, epoch - 1, errProducerFenced},
		{"old epoch v1", 1, "t", pid, epoch - 1, errInvalidProducerEpoch},
		{"future epoch", 3, "t", pid, epoch + 1, errProducerFenced},
	}
	for _, c := range cases {
		if got := h.add(c.version, c.id, c.pid, c.epoch, tp("a", 0)); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}

	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch = 3, "t", pid, epoch
	for _, topic := range []string{"a", "nope"} {
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{0, 7}
		req.Topics = append(req.Topics, rt)
	}
	resp := h.c.AddPartitionsToTxn(context.Background(), req)
	got := map[zkpaths.TopicPartition]int16{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			got[tp(rt.Topic, rp.Partition)] = rp.ErrorCode
		}
	}
	want := map[zkpaths.TopicPartition]int16{
		tp("a", 0): errOperationNotAttempted, tp("a", 7): errUnknownTopicOrPartition,
		tp("nope", 0): errUnknownTopicOrPartition, tp("nope", 7): errUnknownTopicOrPartition,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%v: %d, want %d", k, got[k], v)
		}
	}
	if m := h.meta("t"); m.state != stateEmpty {
		t.Errorf("state %s after refused adds", m.state)
	}
}

func TestAddOffsetsToTxn(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("t")
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.Version, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = 3, "t", pid, epoch, "g"
	if code := h.c.AddOffsetsToTxn(context.Background(), req, tp("__consumer_offsets", 2)).ErrorCode; code != errNone {
		t.Fatalf("AddOffsetsToTxn: %d", code)
	}
	if _, ok := h.meta("t").partitions[tp("__consumer_offsets", 2)]; !ok {
		t.Fatal("offsets partition not in the transaction")
	}
	req.ProducerEpoch = epoch + 1
	req.Version = 1
	if code := h.c.AddOffsetsToTxn(context.Background(), req, tp("__consumer_offsets", 2)).ErrorCode; code != errInvalidProducerEpoch {
		t.Fatalf("fenced v1: %d", code)
	}
}

// A new producer of the same id aborts the open transaction with a bumped
// epoch, which fences the old producer.
func TestInitFencesOngoingTransaction(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("t")
	h.add(3, "t", pid, epoch, tp("a", 0))
	if got := h.init("t", 10_000).ErrorCode; got != errConcurrentTransactions {
		t.Fatalf("init over an open transaction: %d", got)
	}
	h.waitState("t", stateCompleteAbort)
	calls := h.markers.written()
	if len(calls) != 1 || calls[0].m.Commit || calls[0].m.ProducerEpoch != epoch+1 {
		t.Fatalf("markers: %+v", calls)
	}
	if got := h.log.states(t, "t"); !slices.Equal(got, []string{"Empty", "Ongoing", "PrepareAbort", "CompleteAbort"}) {
		t.Fatalf("log: %v", got)
	}
	// The old producer is fenced, in the words of its version.
	if code := h.end(3, "t", pid, epoch, true); code != errProducerFenced {
		t.Errorf("old producer's EndTxn v3: %d", code)
	}
	if code := h.end(1, "t", pid, epoch, true); code != errInvalidProducerEpoch {
		t.Errorf("old producer's EndTxn v1: %d", code)
	}
	_, epoch2 := h.initOK("t")
	if epoch2 != epoch+2 {
		t.Errorf("retried init: epoch %d, want %d", epoch2, epoch+2)
	}
}

func TestEpochExhaustionRotatesProducerID(t *testing.T) {
	h := newHarness(t)
	pid, _ := h.initOK("t")
	s, _ := h.c.acquire("t")
	s.txns["t"].producerEpoch = math.MaxInt16 - 2
	s.mu.Unlock()
	_, epoch := h.initOK("t")
	if epoch != math.MaxInt16-1 {
		t.Fatalf("epoch %d", epoch)
	}
	pid2, epoch2 := h.initOK("t")
	if pid2 == pid || epoch2 != 0 {
		t.Fatalf("after exhaustion: %d/%d, want a new id at epoch 0", pid2, epoch2)
	}
}

func initV3(h *harness, id string, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 3
	req.TransactionalID, req.TransactionTimeoutMillis = &id, 10_000
	req.ProducerID, req.ProducerEpoch = pid, epoch
	return h.c.InitProducerID(context.Background(), req)
}

func TestKIP360(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("t")
	r := initV3(h, "t", pid, epoch)
	if r.ErrorCode != 0 || r.ProducerID != pid || r.ProducerEpoch != epoch+1 {
		t.Fatalf("bump with the current epoch: %+v", r)
	}
	// The client never heard the answer and retries: the same answer.
	r2 := initV3(h, "t", pid, epoch)
	if r2.ErrorCode != 0 || r2.ProducerEpoch != epoch+1 {
		t.Fatalf("retry: %+v", r2)
	}
	// A stale epoch is fenced: INVALID_PRODUCER_EPOCH before v4.
	if r := initV3(h, "t", pid, epoch+5); r.ErrorCode != errInvalidProducerEpoch {
		t.Fatalf("stale epoch v3: %d", r.ErrorCode)
	}
	if r := initV3(h, "t", pid+42, epoch); r.ErrorCode != errInvalidProducerEpoch {
		t.Fatalf("other producer id: %d", r.ErrorCode)
	}
	if r := initV3(h, "t", pid, -1); r.ErrorCode != errInvalidRequest {
		t.Fatalf("half an expected id: %d", r.ErrorCode)
	}

	// The retry of a rotation: the old id and its exhausted epoch.
	s, _ := h.c.acquire("t")
	s.txns["t"].producerEpoch = math.MaxInt16 - 1
	s.mu.Unlock()
	r = initV3(h, "t", pid, math.MaxInt16-1)
	if r.ErrorCode != 0 || r.ProducerID == pid || r.ProducerEpoch != 0 {
		t.Fatalf("rotation: %+v", r)
	}
	r2 = initV3(h, "t", pid, math.MaxInt16-1)
	if r2.ErrorCode != 0 || r2.ProducerID != r.ProducerID || r2.ProducerEpoch != 0 {
		t.Fatalf("retry of rotation: %+v, first %+v", r2, r)
	}
}

func TestFailingAppendLeavesStateUntouched(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("t")
	h.add(3, "t", pid, epoch, tp("a", 0))
	before := h.meta("t")
	h.log.setAppendErr(kerr.NotEnoughReplicas)
	if code := h.end(3, "t", pid, epoch, true); code != errCoordinatorNotAvailable {
		t.Fatalf("commit with a failing log: %d", code)
	}
	if code := h.add(3, "t", pid, epoch, tp("b", 0)); code != errCoordinatorNotAvailable {
		t.Fatalf("add with a failing log: %d", code)
	}
	if code := h.init("t", 10_000).ErrorCode; code != errCoordinatorNotAvailable {
		t.Fatalf("fencing init with a failing log: %d", code)
	}
	h.log.setAppendErr(kerr.NotLeaderForPartition)
	if code := h.init("new", 10_000).ErrorCode; code != errNotCoordinator {
		t.Fatalf("new id with a failing log: %d", code)
	}
	after := h.meta("t")
	if after.state != before.state || after.producerEpoch != before.producerEpoch || len(after.partitions) != 1 || after.pending != nil {
		t.Fatalf("state changed: %+v -> %+v", before, after)
	}
	if h.meta("new") != nil {
		t.Fatal("a never written id stayed")
	}
	if len(h.markers.written()) != 0 {
		t.Fatal("markers written for a transaction not prepared")
	}
	h.log.setAppendErr(nil)
	if code := h.end(3, "t", pid, epoch, true); code != errNone {
		t.Fatalf("commit once the log works: %d", code)
	}
	h.waitState("t", stateCompleteCommit)
}

func TestConcurrentRequestWhileWriting(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("t")
	h.log.mu.Lock()
	h.log.appendGate = make(chan struct{})
	h.log.mu.Unlock()
	done := make(chan int16, 1)
	go func() { done <- h.add(3, "t", pid, epoch, tp("a", 0)) }()
	poll.Until(t, waitTimeout, "the add to wait in Append", func() bool {
		h.log.mu.Lock()
		defer h.log.mu.Unlock()
		return h.log.waiting == 1
	})
	if code := h.end(3, "t", pid, epoch, true); code != errConcurrentTransactions {
		t.Errorf("EndTxn while adding: %d", code)
	}
	if code := h.init("t", 1000).ErrorCode; code != errConcurrentTransactions {
		t.Errorf("init while adding: %d", code)
	}
	if m := h.meta("t"); m.state != stateEmpty {
		t.Errorf("state changed before the write: %s", m.state)
	}
	h.log.mu.Lock()
	close(h.log.appendGate)
	h.log.appendGate = nil
	h.log.mu.Unlock()
	if code := <-done; code != errNone {
		t.Fatalf("add: %d", code)
	}
}

// A coordinator that takes over a partition with a transaction in
// PrepareCommit writes its markers again and completes it.
func TestFailoverMidPrepareCommit(t *testing.T) {
	h := newHarness(t)
	h.markers.gate = make(chan struct{})
	pid, epoch := h.initOK("t")
	h.add(3, "t", pid, epoch, tp("a", 1))
	if code := h.end(3, "t", pid, epoch, true); code != errNone {
		t.Fatalf("commit: %d", code)
	}
	h.c.Resign(0, 1)
	if code := h.end(3, "t", pid, epoch, true); code != errNotCoordinator {
		t.Fatalf("after resigning: %d", code)
	}
	h.c.Close()
	if len(h.markers.written()) != 0 {
		t.Fatal("markers written by the resigned coordinator")
	}

	h.markers.gate = nil
	h.start(2)
	h.waitState("t", stateCompleteCommit)
	calls := h.markers.written()
	if len(calls) != 1 || calls[0].m != (Marker{ProducerID: pid, ProducerEpoch: epoch, CoordinatorEpoch: 2, Commit: true}) ||
		!slices.Equal(calls[0].partitions, []zkpaths.TopicPartition{tp("a", 1)}) {
		t.Fatalf("markers: %+v", calls)
	}
	if got := h.log.states(t, "t"); !slices.Equal(got, []string{"Empty", "Ongoing", "PrepareCommit", "CompleteCommit"}) {
		t.Fatalf("log: %v", got)
	}
}

func TestMarkerRetry(t *testing.T) {
	h := newHarness(t)
	h.markers.fails = 1
	pid, epoch := h.initOK("t")
	h.add(3, "t", pid, epoch, tp("a", 1))
	h.end(3, "t", pid, epoch, false)
	h.waitState("t", stateCompleteAbort)
	if n := len(h.markers.written()); n != 1 {
		t.Fatalf("%d marker writes", n)
	}
}

func TestLoadInProgressAndNotCoordinator(t *testing.T) {
	h := newHarness(t)
	h.cfg.StateTopicPartitions = 2
	c := New(h.cfg, h.ids, h.markers, fakeTopics{})
	defer c.Close()
	gated := &gatedLog{memLog: h.log, gate: make(chan struct{})}
	h.log.appendLocked(txnBatch(t, "x"))
	c.BecomeLeader(PartitionFor("x", 2), 1, gated)
	id := "x"
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID, req.TransactionTimeoutMillis = &id, 1000
	if code := c.InitProducerID(context.Background(), req).ErrorCode; code != errCoordinatorLoadInProgress {
		t.Errorf("while loading: %d", code)
	}
	other := "a" // in the other partition
	if PartitionFor(other, 2) == PartitionFor(id, 2) {
		other = "b"
	}
	req.TransactionalID = &other
	if code := c.InitProducerID(context.Background(), req).ErrorCode; code != errNotCoordinator {
		t.Errorf("partition not held: %d", code)
	}
	if code := c.ListTransactions(context.Background(), kmsg.NewPtrListTransactionsRequest()).ErrorCode; code != errCoordinatorLoadInProgress {
		t.Errorf("list while loading: %d", code)
	}
	close(gated.gate)
}

type gatedLog struct {
	*memLog
	gate chan struct{}
}

func (l *gatedLog) Read(offset int64, maxBytes int) ([]byte, error) {
	<-l.gate
	return l.memLog.Read(offset, maxBytes)
}

func txnBatch(t *testing.T, id string) []byte {
	t.Helper()
	m := newMeta(id, 1, time.Second, time.UnixMilli(0))
	tr, _, _ := m.prepareEpochBump(time.Second, nil, time.UnixMilli(0))
	return buildRecord(id, tr)
}

func TestTimedOutTransactionIsAborted(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("t") // timeout 10 s
	h.add(3, "t", pid, epoch, tp("a", 0))
	h.c.abortTimedOut(h.clock.Advance(10 * time.Second))
	if m := h.meta("t"); m.state != stateOngoing {
		t.Fatalf("aborted at its timeout, not past it: %s", m.state)
	}
	h.c.abortTimedOut(h.clock.Advance(time.Millisecond))
	h.waitState("t", stateCompleteAbort)
	calls := h.markers.written()
	if len(calls) != 1 || calls[0].m.Commit || calls[0].m.ProducerEpoch != epoch+1 {
		t.Fatalf("markers: %+v", calls)
	}
	if code := h.end(3, "t", pid, epoch, true); code != errProducerFenced {
		t.Fatalf("the timed out producer's commit: %d", code)
	}
	if st := h.c.Stats(); st.Aborted != 1 {
		t.Errorf("stats: %+v", st)
	}
}

func TestIdleIDsExpire(t *testing.T) {
	h := newHarness(t)
	h.initOK("idle")
	pid, epoch := h.initOK("busy")
	h.clock.Advance(30 * time.Minute)
	h.add(3, "busy", pid, epoch, tp("a", 0)) // Ongoing: never expires
	h.c.expireIDs(h.clock.Advance(30 * time.Minute))
	if h.meta("idle") != nil {
		t.Fatal("idle id not expired")
	}
	if h.meta("busy") == nil {
		t.Fatal("id with an open transaction expired")
	}
	if got := h.log.states(t, "idle"); !slices.Equal(got, []string{"Empty", "tombstone"}) {
		t.Fatalf("log: %v", got)
	}
	// The expired id starts afresh, with a new producer id.
	if pid2, epoch2 := h.initOK("idle"); pid2 == 1000 || epoch2 != 0 {
		t.Fatalf("after expiry: %d/%d", pid2, epoch2)
	}
	// A reload agrees.
	h.c.Close()
	h.start(2)
	if m := h.meta("busy"); m == nil || m.state != stateOngoing {
		t.Fatalf("busy after reload: %+v", m)
	}
}

func TestExpiryWriteFailureKeepsIDs(t *testing.T) {
	h := newHarness(t)
	h.initOK("idle")
	h.log.setAppendErr(kerr.RequestTimedOut)
	h.c.expireIDs(h.clock.Advance(2 * time.Hour))
	if m := h.meta("idle"); m == nil || m.pending != nil || m.state != stateEmpty {
		t.Fatalf("after a failed expiry: %+v", m)
	}
}

func TestDescribeAndList(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("t1")
	pid2, _ := h.initOK("t2")
	start := h.clock.Advance(time.Second)
	h.add(3, "t1", pid, epoch, tp("b", 2), tp("a", 1))
	h.clock.Advance(5 * time.Second)

	dreq := kmsg.NewPtrDescribeTransactionsRequest()
	dreq.TransactionalIDs = []string{"t1", "missing", ""}
	d := h.c.DescribeTransactions(context.Background(), dreq).TransactionStates
	if d[0].ErrorCode != 0 || d[0].State != "Ongoing" || d[0].ProducerID != pid || d[0].StartTimestamp != start.UnixMilli() ||
		d[0].TimeoutMillis != 10_000 || len(d[0].Topics) != 2 || d[0].Topics[0].Topic != "a" {
		t.Errorf("describe t1: %+v", d[0])
	}
	if d[1].ErrorCode != errTransactionalIDNotFound || d[2].ErrorCode != errInvalidRequest {
		t.Errorf("describe errors: %d %d", d[1].ErrorCode, d[2].ErrorCode)
	}

	list := func(mod func(*kmsg.ListTransactionsRequest)) []string {
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version = 2
		mod(req)
		resp := h.c.ListTransactions(context.Background(), req)
		var ids []string
		for _, s := range resp.TransactionStates {
			ids = append(ids, s.TransactionalID+":"+s.TransactionState)
		}
		return ids
	}
	cases := []struct {
		name string
		mod  func(*kmsg.ListTransactionsRequest)
		want []string
	}{
		{"all", func(*kmsg.ListTransactionsRequest) {}, []string{"t1:Ongoing", "t2:Empty"}},
		{"state", func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Empty", "Bogus"} }, []string{"t2:Empty"}},
		{"unknown state only", func(r *kmsg.ListTransactionsRequest) { r.StateFilters = []string{"Bogus"} }, nil},
		{"producer", func(r *kmsg.ListTransactionsRequest) { r.ProducerIDFilters = []int64{pid2} }, []string{"t2:Empty"}},
		{"duration", func(r *kmsg.ListTransactionsRequest) { r.DurationFilterMillis = 4000 }, []string{"t1:Ongoing"}},
		{"long duration", func(r *kmsg.ListTransactionsRequest) { r.DurationFilterMillis = 6000 }, nil},
		{"pattern", func(r *kmsg.ListTransactionsRequest) { r.TransactionalIDPattern = new("t[2-9]") }, []string{"t2:Empty"}},
	}
	for _, c := range cases {
		if got := list(c.mod); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	req := kmsg.NewPtrListTransactionsRequest()
	req.Version, req.TransactionalIDPattern = 2, new("(")
	if code := h.c.ListTransactions(context.Background(), req).ErrorCode; code != errInvalidRegularExpression {
		t.Errorf("bad pattern: %d", code)
	}
	if st := h.c.Stats(); st.Ongoing != 1 {
		t.Errorf("stats ongoing %d", st.Ongoing)
	}
}

// A leader verifying a partition before a transactional batch opens a
// transaction there (KIP-890, AddPartitionsToTxn v4 verify-only) learns
// whether the partition is in the producer's ongoing transaction.
func TestVerifyPartitionsInTransaction(t *testing.T) {
	h := newHarness(t)
	pid, epoch := h.initOK("t")
	verify := func(id string, pid int64, epoch int16, tps ...zkpaths.TopicPartition) map[zkpaths.TopicPartition]int16 {
		t.Helper()
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.Version = 4
		rt := kmsg.NewAddPartitionsToTxnRequestTransaction()
		rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, rt.VerifyOnly = id, pid, epoch, true
		for _, p := range tps {
			topic := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			topic.Topic, topic.Partitions = p.Topic, []int32{p.Partition}
			rt.Topics = append(rt.Topics, topic)
		}
		req.Transactions = append(req.Transactions, rt)
		resp := h.c.AddPartitionsToTxn(context.Background(), req)
		got := make(map[zkpaths.TopicPartition]int16)
		for _, rt := range resp.Transactions {
			for _, topic := range rt.Topics {
				for _, p := range topic.Partitions {
					got[tp(topic.Topic, p.Partition)] = p.ErrorCode
				}
			}
		}
		return got
	}
	if got := verify("t", pid, epoch, tp("a", 0)); got[tp("a", 0)] != errInvalidTxnState {
		t.Errorf("before any AddPartitionsToTxn: %v, want INVALID_TXN_STATE", got)
	}
	h.add(3, "t", pid, epoch, tp("a", 0))
	if got := verify("t", pid, epoch, tp("a", 0), tp("b", 1)); got[tp("a", 0)] != errNone || got[tp("b", 1)] != errInvalidTxnState {
		t.Errorf("with a-0 added: %v, want a-0 verified and b-1 INVALID_TXN_STATE", got)
	}
	if got := verify("t", pid, epoch+1, tp("a", 0)); got[tp("a", 0)] != errProducerFenced {
		t.Errorf("another epoch: %v, want PRODUCER_FENCED", got)
	}
	if got := verify("t", pid+1, epoch, tp("a", 0)); got[tp("a", 0)] != errInvalidProducerIDMapping {
		t.Errorf("another producer id: %v, want INVALID_PRODUCER_ID_MAPPING", got)
	}
	if got := verify("unknown", pid, epoch, tp("a", 0)); got[tp("a", 0)] != errInvalidProducerIDMapping {
		t.Errorf("unknown id: %v, want INVALID_PRODUCER_ID_MAPPING", got)
	}
	if code := h.end(3, "t", pid, epoch, true); code != errNone {
		t.Fatalf("EndTxn: %d", code)
	}
	h.waitState("t", stateCompleteCommit)
	if got := verify("t", pid, epoch, tp("a", 0)); got[tp("a", 0)] != errInvalidTxnState {
		t.Errorf("after the commit: %v, want INVALID_TXN_STATE", got)
	}
}
