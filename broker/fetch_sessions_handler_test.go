package broker

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/config"
	"github.com/kzoo/kzoo/broker/replica"
	"github.com/kzoo/kzoo/coordinator"
)

// sessionFetch runs a Fetch of a session through the handler and decodes
// the answer; wait is its MaxWaitMillis. Partitions named are fetched from
// offsets[p].
func sessionFetch(t *testing.T, s *Server, id, epoch int32, wait time.Duration, offsets map[int32]int64, forget ...int32) *kmsg.FetchResponse {
	t.Helper()
	var ps []int32
	for p := range offsets {
		ps = append(ps, p)
	}
	in := sessionRequest(-1, id, epoch, "t", ps, forget...)
	for i := range in.Topics {
		for j := range in.Topics[i].Partitions {
			rp := &in.Topics[i].Partitions[j]
			rp.FetchOffset = offsets[rp.Partition]
		}
	}
	in.MaxWaitMillis = int32(wait / time.Millisecond)
	in.MinBytes = 1
	in.MaxBytes = 1 << 20
	req := &request{key: in.Key(), version: in.GetVersion(), body: in, listener: "PLAINTEXT", namedClient: true}
	fr := callHandler(s, context.Background(), req).(*fetchResponse)
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(in.Version)
	if err := resp.ReadFrom(assemble(t, fr)); err != nil {
		t.Fatal(err)
	}
	return resp
}

// answeredPartitions maps the partitions of an answer of topic t to their
// record bytes.
func answeredPartitions(t *testing.T, resp *kmsg.FetchResponse) map[int32]kmsg.FetchResponseTopicPartition {
	t.Helper()
	out := map[int32]kmsg.FetchResponseTopicPartition{}
	for _, rt := range resp.Topics {
		if rt.Topic != "t" {
			t.Fatalf("answer of topic %q", rt.Topic)
		}
		for _, rp := range rt.Partitions {
			if _, dup := out[rp.Partition]; dup {
				t.Fatalf("partition %d answered twice", rp.Partition)
			}
			out[rp.Partition] = rp
		}
	}
	return out
}

// TestFetchSessionHandler runs a consumer's session through handleFetch:
// the full fetch that makes it answers every partition; incremental fetches
// answer only the partitions with news, wake on an append to a partition
// the request did not name, and refuse a stale epoch.
func TestFetchSessionHandler(t *testing.T) {
	s, _ := testServer(t, &coordinator.Snapshot{Brokers: liveBrokers(1)})
	s.fetchSessions = newFetchSessionCache(10)
	f := withReplicas(t, s)
	var ps []*replica.Partition
	for p := range int32(3) {
		ps = append(ps, f.lead("t", p, config.Topic{}, 1, []int32{1}, []int32{1}))
	}
	f.appendAsLeader(ps[0], recordBatch(t, "a", "b"))

	resp := sessionFetch(t, s, 0, 0, 0, map[int32]int64{0: 0, 1: 0, 2: 0})
	got := answeredPartitions(t, resp)
	if resp.ErrorCode != 0 || resp.SessionID == 0 || len(got) != 3 {
		t.Fatalf("full fetch: error %d, session %d, %d partitions; want a session and all 3", resp.ErrorCode, resp.SessionID, len(got))
	}
	if len(got[0].RecordBatches) == 0 || got[0].HighWatermark != 2 {
		t.Fatalf("partition 0: %d record bytes, high watermark %d", len(got[0].RecordBatches), got[0].HighWatermark)
	}
	id := resp.SessionID

	// The consumer moves partition 0 past the records: it is answered
	// (named again), with nothing new, and nothing else is.
	resp = sessionFetch(t, s, id, 1, 0, map[int32]int64{0: 2})
	if got := answeredPartitions(t, resp); resp.ErrorCode != 0 || resp.SessionID != id || len(got) != 1 || len(got[0].RecordBatches) != 0 {
		t.Fatalf("epoch 1: error %d, session %d, partitions %v", resp.ErrorCode, resp.SessionID, got)
	}
	// Nothing changed: an empty answer, once the wait is over.
	polled := time.Now()
	resp = sessionFetch(t, s, id, 2, 100*time.Millisecond, nil)
	if got := answeredPartitions(t, resp); resp.ErrorCode != 0 || len(got) != 0 {
		t.Fatalf("epoch 2, nothing new: error %d, partitions %v", resp.ErrorCode, got)
	}
	if waited := time.Since(polled); waited < 100*time.Millisecond {
		t.Fatalf("epoch 2, nothing new: answered after %v, before its wait of 100ms", waited)
	}

	// A long poll of the session answers an append to partition 2, which
	// the request does not name, alone, well before its wait is over
	// (whether it parked before the append or read it at once).
	done := make(chan *kmsg.FetchResponse, 1)
	go func() { done <- sessionFetch(t, s, id, 3, 10*time.Second, nil) }()
	start := time.Now()
	f.appendAsLeader(ps[2], recordBatch(t, "c"))
	select {
	case resp = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not wake on an append to a partition of its session")
	}
	got = answeredPartitions(t, resp)
	if resp.ErrorCode != 0 || len(got) != 1 || len(got[2].RecordBatches) == 0 || got[2].HighWatermark != 1 {
		t.Fatalf("epoch 3 after an append to 2: error %d, partitions %v", resp.ErrorCode, got)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("answered %v after the append", waited)
	}

	// The consumer has not moved partition 2 yet: its records are sent again.
	resp = sessionFetch(t, s, id, 4, 0, nil)
	if got := answeredPartitions(t, resp); len(got) != 1 || len(got[2].RecordBatches) == 0 {
		t.Fatalf("epoch 4, partition 2 not moved: partitions %v, want 2's records again", got)
	}
	// Forgotten, it is no longer answered.
	resp = sessionFetch(t, s, id, 5, 0, nil, 2)
	if got := answeredPartitions(t, resp); len(got) != 0 {
		t.Fatalf("epoch 5, partition 2 forgotten: partitions %v", got)
	}

	// A stale epoch and an unknown session are refused without partitions.
	resp = sessionFetch(t, s, id, 5, 0, nil)
	if resp.ErrorCode != kerr.InvalidFetchSessionEpoch.Code || len(resp.Topics) != 0 || resp.SessionID != 0 {
		t.Fatalf("epoch 5 again: error %d, session %d, %d topics", resp.ErrorCode, resp.SessionID, len(resp.Topics))
	}
	resp = sessionFetch(t, s, id+1, 1, 0, nil)
	if resp.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: error %d", resp.ErrorCode)
	}
	// Epoch -1 closes the session and fetches without one.
	resp = sessionFetch(t, s, id, -1, 0, map[int32]int64{1: 0})
	if got := answeredPartitions(t, resp); resp.ErrorCode != 0 || resp.SessionID != 0 || len(got) != 1 || s.fetchSessions.len() != 0 {
		t.Fatalf("epoch -1: error %d, session %d, partitions %v, %d sessions", resp.ErrorCode, resp.SessionID, got, s.fetchSessions.len())
	}
}
