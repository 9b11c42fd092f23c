package shards

import (
	"context"
	"errors"
	"testing"

	"github.com/kzoo/kzoo/broker/record"
)

// sliceLog serves whole batches from memory, one batch per Read, as a
// partition read with a small buffer would.
type sliceLog struct {
	batches [][]byte // batch i holds offset i
	readErr error
}

func (l *sliceLog) Read(offset int64, maxBytes int) ([]byte, error) {
	if l.readErr != nil {
		return nil, l.readErr
	}
	if offset >= int64(len(l.batches)) {
		return nil, nil
	}
	return l.batches[offset], nil
}

func (l *sliceLog) LogStartOffset() int64 { return 0 }
func (l *sliceLog) LogEndOffset() int64   { return int64(len(l.batches)) }

func batchAt(offset int64, value string) []byte {
	b := record.NewBuilder(1)
	b.Append([]byte("k"), []byte(value))
	batch := b.Build()
	record.StampBaseOffset(batch, offset)
	return batch
}

func TestReadLogSkipsCorruptBatchesAndKeepsOrder(t *testing.T) {
	log := &sliceLog{}
	for i, v := range []string{"a", "b", "c"} {
		log.batches = append(log.batches, batchAt(int64(i), v))
	}
	log.batches[1][len(log.batches[1])-1] ^= 0xff // b's checksum no longer holds
	var got []int64
	err := ReadLog(context.Background(), log, quietLogger(), func(b record.Batch) { got = append(got, b.Header.BaseOffset) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Errorf("applied the batches at %v, want 0 and 2 (1 is corrupt)", got)
	}
}

func TestReadLogFailsWithTheReadOrTheContext(t *testing.T) {
	boom := errors.New("disk gone")
	log := &sliceLog{batches: [][]byte{batchAt(0, "a")}, readErr: boom}
	if err := ReadLog(context.Background(), log, quietLogger(), func(record.Batch) {}); !errors.Is(err, boom) {
		t.Errorf("got %v, want the read's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	log.readErr = nil
	if err := ReadLog(ctx, log, quietLogger(), func(record.Batch) { t.Error("applied a batch after the context ended") }); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want the context's error", err)
	}
}
