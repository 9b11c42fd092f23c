package txn

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/internal/poll"
	"github.com/kzoo/kzoo/zkpaths"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// memLog is an in-memory Log: whole batches in a slice, offsets assigned on
// append. Appends can be made to fail or held at a gate.
type memLog struct {
	mu         sync.Mutex
	batches    [][]byte
	end        int64
	appendErr  error
	appendGate chan struct{}
	waiting    int
}

func (l *memLog) Append(ctx context.Context, batch []byte) (int64, error) {
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil || rb.FirstOffset != 0 || rb.Magic != 2 || rb.Attributes != 0 {
		return -1, fmt.Errorf("coordinator wrote a bad batch: %v", err)
	}
	l.mu.Lock()
	if gate := l.appendGate; gate != nil {
		l.waiting++
		l.mu.Unlock()
		select {
		case <-gate:
		case <-ctx.Done():
			return -1, ctx.Err()
		}
		l.mu.Lock()
		l.waiting--
	}
	defer l.mu.Unlock()
	if l.appendErr != nil {
		return -1, l.appendErr
	}
	return l.appendLocked(batch), nil
}

func (l *memLog) appendLocked(batch []byte) int64 {
	b := bytes.Clone(batch)
	count := int64(int32(binary.BigEndian.Uint32(b[23:]))) + 1
	binary.BigEndian.PutUint64(b, uint64(l.end))
	l.batches = append(l.batches, b)
	l.end += count
	return l.end - 1
}

func (l *memLog) Read(offset int64, maxBytes int) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for _, b := range l.batches {
		next := int64(binary.BigEndian.Uint64(b)) + int64(int32(binary.BigEndian.Uint32(b[23:]))) + 1
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

func (l *memLog) LogStartOffset() int64 { return 0 }
func (l *memLog) LogEndOffset() int64   { l.mu.Lock(); defer l.mu.Unlock(); return l.end }

func (l *memLog) setAppendErr(err error) { l.mu.Lock(); defer l.mu.Unlock(); l.appendErr = err }

// entry is one record of the log, decoded with kmsg alone.
type entry struct {
	id    string
	value *kmsg.TxnMetadataValue // nil: a tombstone
}

func (l *memLog) entries(t *testing.T) []entry {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []entry
	for _, b := range l.batches {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			t.Fatalf("batch: %v", err)
		}
		data := rb.Records
		for range rb.NumRecords {
			length, n := binary.Varint(data)
			var r kmsg.Record
			if err := r.ReadFrom(data[:n+int(length)]); err != nil {
				t.Fatalf("record: %v", err)
			}
			data = data[n+int(length):]
			var k kmsg.TxnMetadataKey
			if err := k.ReadFrom(r.Key); err != nil {
				t.Fatalf("key: %v", err)
			}
			e := entry{id: k.TransactionalID}
			if r.Value != nil {
				e.value = new(kmsg.TxnMetadataValue)
				if err := e.value.ReadFrom(r.Value); err != nil {
					t.Fatalf("value: %v", err)
				}
			}
			out = append(out, e)
		}
	}
	return out
}

// states returns the states written for id, in order ("tombstone" for a
// tombstone).
func (l *memLog) states(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	for _, e := range l.entries(t) {
		if e.id != id {
			continue
		}
		if e.value == nil {
			out = append(out, "tombstone")
		} else {
			out = append(out, e.value.State.String())
		}
	}
	return out
}

// fakeMarkers records the markers written; while gate is set, writes wait
// for it (or their context).
type fakeMarkers struct {
	mu    sync.Mutex
	calls []markerCall
	gate  chan struct{}
	fails int // the next calls fail (as if ctx were done) this many times
}

type markerCall struct {
	m          Marker
	partitions []zkpaths.TopicPartition
}

func (f *fakeMarkers) WriteMarkers(ctx context.Context, m Marker, partitions []zkpaths.TopicPartition) error {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fails > 0 {
		f.fails--
		return context.DeadlineExceeded
	}
	f.calls = append(f.calls, markerCall{m, append([]zkpaths.TopicPartition(nil), partitions...)})
	return nil
}

func (f *fakeMarkers) written() []markerCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]markerCall(nil), f.calls...)
}

type fakeIDs struct {
	mu   sync.Mutex
	next int64
}

func (f *fakeIDs) Allocate(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.next
	f.next++
	return id, nil
}

// fakeTopics knows topics "a" and "b" with 3 partitions each, and the
// offsets topic.
type fakeTopics struct{}

func (fakeTopics) PartitionExists(tp zkpaths.TopicPartition) bool {
	return (tp.Topic == "a" || tp.Topic == "b" || tp.Topic == "__consumer_offsets") && tp.Partition >= 0 && tp.Partition < 3
}

const waitTimeout = 10 * time.Second

type harness struct {
	t       *testing.T
	c       *Coordinator
	clock   *fakeClock
	log     *memLog
	markers *fakeMarkers
	ids     *fakeIDs
	cfg     Config
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	clock := &fakeClock{now: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	h := &harness{
		t: t, clock: clock, log: &memLog{}, markers: &fakeMarkers{}, ids: &fakeIDs{next: 1000},
		cfg: Config{
			StateTopicPartitions: 1,
			MaxTimeout:           time.Minute,
			IDExpiration:         time.Hour,
			Now:                  clock.Now,
			Logger:               logger,
		},
	}
	h.start(1)
	return h
}

// start (re)starts a coordinator over h.log at leader epoch epoch and
// waits for its load.
func (h *harness) start(epoch int32) {
	h.t.Helper()
	h.c = New(h.cfg, h.ids, h.markers, fakeTopics{})
	h.t.Cleanup(h.c.Close)
	h.c.BecomeLeader(0, epoch, h.log)
	poll.Until(h.t, waitTimeout, "the partition to load", func() bool {
		s, code := h.c.acquire("x")
		if code == errNone {
			s.mu.Unlock()
		}
		return code == errNone
	})
}

func (h *harness) init(id string, timeoutMs int32) *kmsg.InitProducerIDResponse {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.Version = 4
	req.TransactionalID = &id
	req.TransactionTimeoutMillis = timeoutMs
	return h.c.InitProducerID(context.Background(), req)
}

// initOK initializes id and returns its producer id and epoch.
func (h *harness) initOK(id string) (int64, int16) {
	h.t.Helper()
	resp := h.init(id, 10_000)
	if resp.ErrorCode != 0 {
		h.t.Fatalf("InitProducerID %s: error %d", id, resp.ErrorCode)
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func (h *harness) add(version int16, id string, pid int64, epoch int16, tps ...zkpaths.TopicPartition) int16 {
	h.t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = version
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	for _, tp := range tps {
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic = tp.Topic
		rt.Partitions = []int32{tp.Partition}
		req.Topics = append(req.Topics, rt)
	}
	resp := h.c.AddPartitionsToTxn(context.Background(), req)
	code := resp.Topics[0].Partitions[0].ErrorCode
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != code {
				h.t.Fatalf("partitions answered differently: %+v", resp.Topics)
			}
		}
	}
	return code
}

func (h *harness) end(version int16, id string, pid int64, epoch int16, commit bool) int16 {
	req := kmsg.NewPtrEndTxnRequest()
	req.Version = version
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	return h.c.EndTxn(context.Background(), req).ErrorCode
}

// meta returns a copy of id's metadata (nil if unknown).
func (h *harness) meta(id string) *txnMeta {
	h.t.Helper()
	s, code := h.c.acquire(id)
	if code != errNone {
		h.t.Fatalf("acquire: %d", code)
	}
	defer s.mu.Unlock()
	m := s.txns[id]
	if m == nil {
		return nil
	}
	cp := *m
	return &cp
}

// waitState waits for id to be in state with no transition pending.
func (h *harness) waitState(id string, state txnState) {
	h.t.Helper()
	poll.UntilSaw(h.t, waitTimeout, fmt.Sprintf("%s to be %s", id, state), func() (bool, string) {
		m := h.meta(id)
		if m == nil {
			return false, "unknown"
		}
		return m.state == state && m.pending == nil, m.state.String()
	})
}

func tp(topic string, p int32) zkpaths.TopicPartition {
	return zkpaths.TopicPartition{Topic: topic, Partition: p}
}
