package storage

import (
	"bytes"
	"errors"
	"runtime"
	"testing"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/record/recordtest"
	"github.com/twmb/franz-go/pkg/kerr"
)

// allocatedBy runs fn and returns how many bytes it allocated.
func allocatedBy(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDecompressionBombs appends batches of one record whose value inflates to 80 MiB,
// with every codec, to plain and compacted logs: the append and the cleaner cost memory in
// proportion to the batch, never to what it inflates to. A log whose batches may be 1 MiB
// (64 MiB decompressed) refuses them as too large; one whose batches may be 64 MiB (2 GiB
// decompressed) takes them, as valid, except a raw snappy block that would have to be
// decoded whole past 64 MiB.
func TestDecompressionBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates several hundred MiB")
	}
	const valueSize = 80 << 20
	for _, codec := range recordtest.Codecs()[1:] {
		t.Run(codec.Name, func(t *testing.T) {
			bomb, err := recordtest.Bomb(codec, []byte("key"), valueSize)
			must(t, err)
			// What appending may allocate: the request's own bytes aside, the decoders'
			// buffers (lz4 frames have 4 MiB blocks).
			const budget = 24 << 20
			appendBomb := func(l *Log) error {
				var err error
				batch := bytes.Clone(bomb)
				if got := allocatedBy(func() { _, err = l.AppendAsLeader(batch, testEpoch, OriginClient) }); got > budget {
					t.Errorf("appending a %d-byte batch inflating to %d allocated %d bytes", len(bomb), valueSize, got)
				}
				return err
			}

			for _, compact := range []bool{false, true} {
				cfg := smallConfig()
				if compact {
					cfg = compactedConfig()
				}
				cfg.MaxMessageBytes = 1 << 20
				l := openLogT(t, t.TempDir(), cfg, OpenOptions{})
				if err := appendBomb(l); !errors.Is(err, kerr.MessageTooLarge) {
					t.Fatalf("compact=%v, max.message.bytes 1 MiB: %v, want MESSAGE_TOO_LARGE", compact, err)
				}
			}

			cfg := compactedConfig()
			cfg.MaxMessageBytes = 64 << 20
			clock := newFakeClock()
			l := openLogT(t, t.TempDir(), cfg, OpenOptions{Now: clock.Now})
			err = appendBomb(l)
			if codec.ID == record.CodecSnappy && codec.Framing == record.SnappyRaw {
				if !errors.Is(err, kerr.MessageTooLarge) {
					t.Fatalf("raw snappy block of %d bytes: %v, want MESSAGE_TOO_LARGE", valueSize, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("max.message.bytes 64 MiB: %v", err)
			}
			// A second bomb with the same key supersedes the first, which the cleaner
			// removes, keeping the second whole.
			must(t, appendBomb(l))
			appendT(t, l, keyedBatch(t, keyed(clock.Now().UnixMilli(), kv("other", "v"))))
			l.SetHighWatermark(l.LogEndOffset())
			var res cleanResult
			if got := allocatedBy(func() { res = cleanT(t, l, clock.Now(), true) }); got > 3*uint64(len(bomb))+budget {
				t.Errorf("cleaning two %d-byte batches inflating to %d allocated %d bytes", len(bomb), valueSize, got)
			}
			if res.recordsRemoved != 1 {
				t.Fatalf("clean removed %d records, want the first bomb", res.recordsRemoved)
			}
		})
	}
}
