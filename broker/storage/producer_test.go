package storage

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestIncrementSequence(t *testing.T) {
	tests := []struct{ seq, n, want int32 }{
		{0, 0, 0},
		{0, 4, 4},
		{math.MaxInt32 - 1, 1, math.MaxInt32},
		{math.MaxInt32, 1, 0},
		{math.MaxInt32 - 2, 5, 2},
	}
	for _, tt := range tests {
		if got := record.IncrementSequence(tt.seq, tt.n); got != tt.want {
			t.Errorf("record.IncrementSequence(%d, %d) = %d, want %d", tt.seq, tt.n, got, tt.want)
		}
	}
}

func TestIdempotentProducer(t *testing.T) {
	const pid = 7
	dir := t.TempDir()
	cfg := smallConfig()
	l, err := Open(dir, cfg, OpenOptions{})
	must(t, err)

	appendT(t, l, makeBatch(t, plain(3, 0))) // offsets 0-2, no producer
	first := appendT(t, l, makeBatch(t, idempotent(5, pid, 0, 0)))
	second := appendT(t, l, makeBatch(t, idempotent(5, pid, 0, 5)))
	if first.FirstOffset != 3 || second.FirstOffset != 8 {
		t.Fatalf("offsets %d and %d, want 3 and 8", first.FirstOffset, second.FirstOffset)
	}

	expectDuplicate := func(l *Log, seq int32, want AppendResult) {
		t.Helper()
		end := l.LogEndOffset()
		res, err := l.AppendAsLeader(makeBatch(t, idempotent(5, pid, 0, seq)), testEpoch, OriginClient)
		if err != nil {
			t.Fatalf("resend of sequence %d: %v", seq, err)
		}
		if !res.Duplicate || res.FirstOffset != want.FirstOffset || res.LastOffset != want.LastOffset {
			t.Fatalf("resend of sequence %d: %+v, want a duplicate at %d-%d", seq, res, want.FirstOffset, want.LastOffset)
		}
		if l.LogEndOffset() != end {
			t.Fatal("duplicate was appended")
		}
	}
	expectError := func(l *Log, spec batchSpec, want error) {
		t.Helper()
		end := l.LogEndOffset()
		if _, err := l.AppendAsLeader(makeBatch(t, spec), testEpoch, OriginClient); !errors.Is(err, want) {
			t.Fatalf("epoch %d sequence %d: got %v, want %v", spec.producerEpoch, spec.baseSequence, err, want)
		}
		if l.LogEndOffset() != end {
			t.Fatal("rejected batch was appended")
		}
	}

	expectDuplicate(l, 0, first)
	expectDuplicate(l, 5, second)
	expectError(l, idempotent(5, pid, 0, 15), kerr.OutOfOrderSequenceNumber) // gap
	expectError(l, idempotent(5, pid, 0, 3), kerr.OutOfOrderSequenceNumber)  // overlaps, not equal
	expectError(l, idempotent(2, pid, 0, 5), kerr.OutOfOrderSequenceNumber)  // same start, different end

	// A request is atomic: a valid batch followed by an out-of-order one appends nothing.
	records := append(makeBatch(t, idempotent(5, pid, 0, 10)), makeBatch(t, idempotent(5, pid, 0, 99))...)
	if _, err := l.AppendAsLeader(records, testEpoch, OriginClient); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Fatalf("request with a bad second batch: %v", err)
	}
	third := appendT(t, l, makeBatch(t, idempotent(5, pid, 0, 10)))
	// Within one request, a batch follows the one before it.
	records = append(makeBatch(t, idempotent(2, pid, 0, 15)), makeBatch(t, idempotent(2, pid, 0, 17))...)
	if _, err := l.AppendAsLeader(records, testEpoch, OriginClient); err != nil {
		t.Fatalf("two consecutive batches in one request: %v", err)
	}

	// The state survives a restart: it is rebuilt from the log.
	closeLog(t, l)
	l = openLogT(t, dir, cfg, OpenOptions{CleanShutdown: true})
	expectDuplicate(l, 10, third)
	expectError(l, idempotent(1, pid, 0, 20), kerr.OutOfOrderSequenceNumber)
	appendT(t, l, makeBatch(t, idempotent(1, pid, 0, 19)))

	// Fencing: an older epoch is refused; a newer one must start at sequence 0.
	expectError(l, idempotent(1, pid, 1, 20), kerr.OutOfOrderSequenceNumber)
	appendT(t, l, makeBatch(t, idempotent(1, pid, 1, 0)))
	expectError(l, idempotent(1, pid, 0, 20), kerr.InvalidProducerEpoch)
	appendT(t, l, makeBatch(t, idempotent(1, pid, 1, 1)))

	// Other producers are independent, and an unknown one may start anywhere.
	appendT(t, l, makeBatch(t, idempotent(3, pid+1, 4, 1000)))
	appendT(t, l, makeBatch(t, idempotent(3, pid+1, 4, 1003)))
}

func TestIdempotentSequenceWrapsAround(t *testing.T) {
	l := openLogT(t, t.TempDir(), smallConfig(), OpenOptions{})
	appendT(t, l, makeBatch(t, idempotent(2, 1, 0, math.MaxInt32-1)))
	appendT(t, l, makeBatch(t, idempotent(2, 1, 0, 0)))
	res, err := l.AppendAsLeader(makeBatch(t, idempotent(2, 1, 0, math.MaxInt32-1)), testEpoch, OriginClient)
	if err != nil || !res.Duplicate {
		t.Fatalf("resend across the wrap: %+v, %v", res, err)
	}
}

func TestDuplicateReportsOriginalAppendTime(t *testing.T) {
	cfg := smallConfig()
	cfg.LogAppendTime = true
	clock := newFakeClock()
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
	batch := makeBatch(t, idempotent(2, 1, 0, 0))
	first, err := l.AppendAsLeader(bytes.Clone(batch), testEpoch, OriginClient)
	must(t, err)
	clock.Advance(1000)
	dup, err := l.AppendAsLeader(bytes.Clone(batch), testEpoch, OriginClient)
	must(t, err)
	if !dup.Duplicate || dup.LogAppendTime != first.LogAppendTime {
		t.Fatalf("duplicate %+v, want the first append's time %d", dup, first.LogAppendTime)
	}
}

func TestProducerStateFollowsRetentionAndTruncation(t *testing.T) {
	cfg := smallConfig()
	l := openLogT(t, t.TempDir(), cfg, OpenOptions{})
	appendT(t, l, makeBatch(t, idempotent(5, 1, 0, 0))) // 0-4
	appendT(t, l, makeBatch(t, idempotent(5, 1, 0, 5))) // 5-9

	// Truncation forgets the batches it removes: sequence 5 is next again.
	must(t, l.TruncateTo(5))
	res := appendT(t, l, makeBatch(t, idempotent(5, 1, 0, 5)))
	if res.Duplicate || res.FirstOffset != 5 {
		t.Fatalf("after truncation, sequence 5: %+v, want a fresh append at 5", res)
	}

	// Retention forgets producers whose batches are all gone: any sequence is accepted.
	appendBatches(t, l, 30)
	cfg.RetentionBytes = 0
	l.UpdateConfig(cfg)
	if _, err := l.DeleteExpiredSegments(); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() <= 9 {
		t.Fatalf("retention kept the producer's batches (log start %d)", l.LogStartOffset())
	}
	appendT(t, l, makeBatch(t, idempotent(1, 1, 0, 500)))
}
