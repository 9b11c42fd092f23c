package broker

import (
	"math"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/storage"
	"github.com/kzoo/kzoo/zkpaths"
)

// sessionRequest is a Fetch v12 of a session id and epoch naming topic's
// partitions (at fetch offset 0) and forgetting forget's.
func sessionRequest(replicaID, id, epoch int32, topic string, partitions []int32, forget ...int32) *kmsg.FetchRequest {
	in := kmsg.NewPtrFetchRequest()
	in.Version = 12
	in.ReplicaID = replicaID
	in.SessionID, in.SessionEpoch = id, epoch
	if len(partitions) > 0 {
		t := kmsg.NewFetchRequestTopic()
		t.Topic = topic
		for _, p := range partitions {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p
			rp.PartitionMaxBytes = 1 << 20
			t.Partitions = append(t.Partitions, rp)
		}
		in.Topics = append(in.Topics, t)
	}
	if len(forget) > 0 {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic = topic
		ft.Partitions = forget
		in.ForgottenTopics = append(in.ForgottenTopics, ft)
	}
	return in
}

// openSession opens in's session as a follower's (privileged) when in has a
// replica id.
func openSession(c *fetchSessionCache, in *kmsg.FetchRequest, now time.Time) fetchContext {
	return c.open(in, in.ReplicaID >= 0, now)
}

// sessionPartitions lists a session's partitions of topic, in order.
func sessionPartitions(fs *fetchSession) []zkpaths.TopicPartition {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var out []zkpaths.TopicPartition
	for i := range fs.parts {
		out = append(out, fs.parts[i].tp())
		if fs.index[fs.parts[i].tp()] != i {
			panic("session index out of step with its partitions")
		}
	}
	if len(fs.index) != len(fs.parts) {
		panic("session index holds partitions the session does not")
	}
	return out
}

func tps(topic string, partitions ...int32) []zkpaths.TopicPartition {
	var out []zkpaths.TopicPartition
	for _, p := range partitions {
		out = append(out, zkpaths.TopicPartition{Topic: topic, Partition: p})
	}
	return out
}

func equalTPs(a, b []zkpaths.TopicPartition) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestFetchSessionLifecycle walks a session through the protocol: made by a
// full fetch of epoch 0, incremental fetches that add, move and forget
// partitions at the epochs it expects, the errors of a wrong epoch or an
// unknown id, and its closing by epoch -1 or a new epoch 0.
func TestFetchSessionLifecycle(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newFetchSessionCache(10)

	// Sessionless: epoch -1, or a version without sessions.
	if fc := openSession(c, sessionRequest(-1, 0, -1, "t", []int32{0}), now); fc.session != nil || fc.sessionID != 0 || fc.errorCode != 0 {
		t.Fatalf("epoch -1: %+v, want a sessionless fetch", fc)
	}
	old := sessionRequest(-1, 0, 0, "t", []int32{0})
	old.Version = 6
	if fc := openSession(c, old, now); fc.session != nil || c.len() != 0 {
		t.Fatalf("v6: %+v, want a sessionless fetch", fc)
	}
	// Nothing to keep: no session.
	if fc := openSession(c, sessionRequest(-1, 0, 0, "t", nil), now); fc.session != nil || c.len() != 0 {
		t.Fatalf("epoch 0 of no partitions: %+v, want no session", fc)
	}

	// A new session: a full fetch, answered in full.
	fc := openSession(c, sessionRequest(-1, 0, 0, "t", []int32{0, 1, 2}), now)
	if fc.session == nil || fc.sessionID == 0 || fc.incremental || fc.errorCode != 0 {
		t.Fatalf("epoch 0: %+v, want a new session of a full fetch", fc)
	}
	id := fc.sessionID
	if got := sessionPartitions(fc.session); !equalTPs(got, tps("t", 0, 1, 2)) {
		t.Fatalf("session holds %v", got)
	}

	// The next request must carry epoch 1.
	for _, epoch := range []int32{2, math.MaxInt32} {
		if fc := openSession(c, sessionRequest(-1, id, epoch, "t", nil), now); fc.errorCode != kerr.InvalidFetchSessionEpoch.Code {
			t.Fatalf("epoch %d where 1 is expected: %+v, want INVALID_FETCH_SESSION_EPOCH", epoch, fc)
		}
	}
	if fc := openSession(c, sessionRequest(-1, id+1, 1, "t", nil), now); fc.errorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session id: %+v, want FETCH_SESSION_ID_NOT_FOUND", fc)
	}

	// Incremental: partition 3 joins, 1 is forgotten, 0 moves.
	in := sessionRequest(-1, id, 1, "t", []int32{3, 0}, 1)
	in.Topics[0].Partitions[1].FetchOffset = 42
	fc = openSession(c, in, now)
	if fc.errorCode != 0 || !fc.incremental || fc.sessionID != id {
		t.Fatalf("epoch 1: %+v, want an incremental fetch of session %d", fc, id)
	}
	if got := sessionPartitions(fc.session); !equalTPs(got, tps("t", 0, 2, 3)) {
		t.Fatalf("session holds %v after adding 3 and forgetting 1", got)
	}
	if off := fc.session.parts[fc.session.index[zkpaths.TopicPartition{Topic: "t", Partition: 0}]].want.FetchOffset; off != 42 {
		t.Fatalf("partition 0 at offset %d, want the request's 42", off)
	}
	// The same epoch again (a retry the session already took): refused.
	if fc := openSession(c, sessionRequest(-1, id, 1, "t", nil), now); fc.errorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("epoch 1 twice: %+v, want INVALID_FETCH_SESSION_EPOCH", fc)
	}
	// Forgetting a partition the session does not hold changes nothing.
	fc = openSession(c, sessionRequest(-1, id, 2, "t", nil, 7), now)
	if got := sessionPartitions(fc.session); fc.errorCode != 0 || !equalTPs(got, tps("t", 0, 2, 3)) {
		t.Fatalf("epoch 2: %+v holding %v", fc, got)
	}

	// Epoch 0 naming the session closes it and makes another.
	fc = openSession(c, sessionRequest(-1, id, 0, "t", []int32{5}), now)
	if fc.sessionID == 0 || fc.sessionID == id || c.len() != 1 {
		t.Fatalf("epoch 0 of session %d: %+v with %d sessions, want one new session", id, fc, c.len())
	}
	if fc := openSession(c, sessionRequest(-1, id, 3, "t", nil), now); fc.errorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("closed session: %+v, want FETCH_SESSION_ID_NOT_FOUND", fc)
	}
	// Epoch -1 closes it without another.
	if fc := openSession(c, sessionRequest(-1, fc.sessionID, -1, "t", []int32{5}), now); fc.session != nil || c.len() != 0 {
		t.Fatalf("epoch -1: %+v with %d sessions, want none", fc, c.len())
	}
}

// TestFetchSessionEpochWraps: after the largest epoch comes 1.
func TestFetchSessionEpochWraps(t *testing.T) {
	if got := nextSessionEpoch(math.MaxInt32); got != 1 {
		t.Fatalf("next of MaxInt32 = %d, want 1", got)
	}
	if got := nextSessionEpoch(7); got != 8 {
		t.Fatalf("next of 7 = %d", got)
	}
	now := time.Unix(1_700_000_000, 0)
	c := newFetchSessionCache(1)
	fc := openSession(c, sessionRequest(-1, 0, 0, "t", []int32{0}), now)
	fc.session.epoch = math.MaxInt32
	if fc := openSession(c, sessionRequest(-1, fc.sessionID, math.MaxInt32, "t", nil), now); fc.errorCode != 0 {
		t.Fatalf("epoch MaxInt32: %+v", fc)
	}
	if fc := openSession(c, sessionRequest(-1, fc.sessionID, 1, "t", nil), now); fc.errorCode != 0 {
		t.Fatalf("epoch 1 after MaxInt32: %+v", fc)
	}
}

// TestFetchSessionEviction checks Kafka's eviction rules in a full cache: a
// stale session goes for anyone; otherwise a follower's session evicts a
// consumer's, a larger session an older smaller one of its kind, and
// nothing evicts a young session of the same kind.
func TestFetchSessionEviction(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	newSession := func(c *fetchSessionCache, replicaID int32, size int, now time.Time) int32 {
		var ps []int32
		for i := range size {
			ps = append(ps, int32(i))
		}
		return openSession(c, sessionRequest(replicaID, 0, 0, "t", ps), now).sessionID
	}
	has := func(c *fetchSessionCache, id int32) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.sessions[id] != nil
	}

	t.Run("no slots", func(t *testing.T) {
		c := newFetchSessionCache(0)
		if id := newSession(c, 1, 5, t0); id != 0 {
			t.Fatalf("session %d with no slots", id)
		}
	})

	t.Run("young sessions of the same kind stay", func(t *testing.T) {
		c := newFetchSessionCache(2)
		a, b := newSession(c, -1, 5, t0), newSession(c, -1, 5, t0)
		if id := newSession(c, -1, 100, t0.Add(time.Second)); id != 0 || !has(c, a) || !has(c, b) {
			t.Fatalf("a larger consumer session %d evicted a young one", id)
		}
		if id := newSession(c, 2, 1, t0.Add(time.Second)); id == 0 || has(c, a) == has(c, b) {
			t.Fatalf("a follower's session (%d) did not evict exactly one young consumer's", id)
		}
	})

	t.Run("stale goes first", func(t *testing.T) {
		c := newFetchSessionCache(2)
		f1 := newSession(c, 1, 50, t0)
		f2 := newSession(c, 2, 50, t0)
		// f2 keeps being used; f1 is not.
		later := t0.Add(fetchSessionEvictAfter + time.Second)
		if fc := openSession(c, sessionRequest(2, f2, 1, "t", nil), later); fc.errorCode != 0 {
			t.Fatal(fc)
		}
		if id := newSession(c, -1, 1, later); id == 0 || has(c, f1) || !has(c, f2) {
			t.Fatalf("a small consumer session (%d) did not evict the stale follower session", id)
		}
	})

	t.Run("larger evicts smaller old one", func(t *testing.T) {
		c := newFetchSessionCache(2)
		small := newSession(c, -1, 3, t0)
		big := newSession(c, -1, 10, t0)
		now := t0.Add(fetchSessionEvictAfter / 2)
		for _, id := range []int32{small, big} { // both in use
			if fc := openSession(c, sessionRequest(-1, id, 1, "t", nil), now); fc.errorCode != 0 {
				t.Fatal(fc)
			}
		}
		now = t0.Add(fetchSessionEvictAfter + time.Second) // old, not stale
		if id := newSession(c, -1, 3, now); id != 0 {
			t.Fatal("a session no larger than the smallest evicted it")
		}
		if id := newSession(c, -1, 4, now); id == 0 || has(c, small) || !has(c, big) {
			t.Fatalf("a larger session (%d) did not evict the smallest old one", id)
		}
		if got := c.evictions.Load(); got != 1 {
			t.Fatalf("%d evictions counted, want 1", got)
		}
		if got := c.partitions(); got != 14 {
			t.Fatalf("sessions hold %d partitions, want 10 + 4", got)
		}
		// A consumer never evicts a young follower session.
		c2 := newFetchSessionCache(1)
		f := newSession(c2, 1, 1, now)
		if id := newSession(c2, -1, 1000, now.Add(time.Second)); id != 0 || !has(c2, f) {
			t.Fatal("a consumer session evicted a young follower session")
		}
	})
}

// TestFetchSessionAnswer: an incremental answer holds a partition new to the
// session, one with records, an error or a divergence, and one whose high
// watermark, last stable offset or log start moved; nothing else. A
// partition answered with an error is answered again once it recovers, and
// one the fetcher names again is answered in full.
func TestFetchSessionAnswer(t *testing.T) {
	c := newFetchSessionCache(1)
	now := time.Unix(1_700_000_000, 0)
	fc := openSession(c, sessionRequest(1, 0, 0, "t", []int32{0, 1, 2}), now)
	fs := fc.session
	read := func(p int32, hw int64) fetchPartition {
		return fetchPartition{partition: p, highWatermark: hw, lastStable: hw, logStartOffset: 0}
	}
	// The full answer that made the session.
	fs.answeredAll([]fetchTopic{{name: "t", partitions: []fetchPartition{read(0, 10), read(1, 10), read(2, 10)}}})

	answered := func(reads ...fetchPartition) []int32 {
		t.Helper()
		fs.mu.Lock()
		defer fs.mu.Unlock()
		if len(reads) != len(fs.parts) {
			t.Fatalf("%d reads for %d partitions", len(reads), len(fs.parts))
		}
		// reads are in the session's order from fs.start.
		rotated := make([]fetchPartition, len(reads))
		for k := range reads {
			rotated[k] = reads[(fs.start+k)%len(reads)]
		}
		var out []int32
		for _, ft := range fs.answer(rotated) {
			if ft.name != "t" {
				t.Fatalf("answer of topic %q", ft.name)
			}
			for _, p := range ft.partitions {
				out = append(out, p.partition)
			}
		}
		return out
	}
	same := func(got []int32, want ...int32) bool {
		if len(got) != len(want) {
			return false
		}
		seen := map[int32]bool{}
		for _, p := range got {
			seen[p] = true
		}
		for _, p := range want {
			if !seen[p] {
				return false
			}
		}
		return true
	}

	if got := answered(read(0, 10), read(1, 10), read(2, 10)); len(got) != 0 {
		t.Fatalf("nothing changed, answered %v", got)
	}
	if got := answered(read(0, 11), read(1, 10), read(2, 10)); !same(got, 0) {
		t.Fatalf("high watermark of 0 moved, answered %v", got)
	}
	lso := read(1, 10)
	lso.lastStable = 5
	start := read(2, 10)
	start.logStartOffset = 3
	if got := answered(read(0, 11), lso, start); !same(got, 1, 2) {
		t.Fatalf("last stable of 1 and log start of 2 moved, answered %v", got)
	}
	failed := read(0, -1)
	failed.errorCode = kerr.NotLeaderForPartition.Code
	if got := answered(failed, lso, start); !same(got, 0) {
		t.Fatalf("0 failed, answered %v", got)
	}
	if got := answered(failed, lso, start); !same(got, 0) {
		t.Fatalf("0 still failing, answered %v: an error is always answered", got)
	}
	if got := answered(read(0, 11), lso, start); !same(got, 0) {
		t.Fatalf("0 recovered at its old high watermark, answered %v: want it answered", got)
	}
	records := start
	records.records = storage.Slice{Size: 7}
	if got := answered(read(0, 11), lso, records); !same(got, 2) {
		t.Fatalf("2 returned records, answered %v", got)
	}
	if fs.start != 0 {
		t.Fatalf("after records of the last partition, the next read starts at %d, want 0", fs.start)
	}
	records0 := read(0, 11)
	records0.records = storage.Slice{Size: 7}
	if got := answered(records0, lso, start); !same(got, 0) {
		t.Fatalf("0 returned records, answered %v", got)
	}
	if fs.start != 1 {
		t.Fatalf("after records of partition 0, the next read starts at %d, want 1", fs.start)
	}
	div := lso
	div.diverging = true
	if got := answered(read(0, 11), div, start); !same(got, 1) {
		t.Fatalf("1 diverged, answered %v", got)
	}

	// Partition 3 joins; 2 is named again (its answer was of no use).
	in := sessionRequest(1, fc.sessionID, 1, "t", []int32{3, 2})
	if fc := openSession(c, in, now); fc.errorCode != 0 {
		t.Fatal(fc)
	}
	if got := answered(read(0, 11), lso, start, read(3, 0)); !same(got, 2, 3) {
		t.Fatalf("3 joined and 2 named again, answered %v", got)
	}
	if got := answered(read(0, 11), lso, start, read(3, 0)); len(got) != 0 {
		t.Fatalf("nothing changed, answered %v", got)
	}
}
