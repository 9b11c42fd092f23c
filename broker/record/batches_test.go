package record_test

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/record/recordtest"
)

// legacyMessage is a message of the old formats at offset: offset, length, then a
// body of length bytes whose fifth is the magic. Nothing checks its CRC.
func legacyMessage(offset int64, magic byte, length int32) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(offset))
	b = binary.BigEndian.AppendUint32(b, uint32(length))
	body := make([]byte, length)
	body[4] = magic
	return append(b, body...)
}

// atOffset is batch with its base offset stamped, as a log holds it.
func atOffset(offset int64, batch []byte) []byte {
	record.StampBaseOffset(batch, offset)
	return batch
}

// step is what Batches yielded for one batch.
type step struct {
	offset, next int64
	magic        int8
	size         int
	corrupt      bool
}

func walk(t *testing.T, data []byte) []step {
	t.Helper()
	var steps []step
	for b, err := range record.Batches(data) {
		if err != nil && !errors.Is(err, kerr.CorruptMessage) {
			t.Fatalf("error %v does not wrap CORRUPT_MESSAGE", err)
		}
		steps = append(steps, step{b.Header.BaseOffset, b.Header.NextOffset(), b.Header.Magic, len(b.Bytes), err != nil})
	}
	return steps
}

func TestBatchesWalksWhatALogHolds(t *testing.T) {
	good := atOffset(0, build(1, builderSample()[:3]))
	legacy := legacyMessage(3, 1, 30)
	badCRC := atOffset(4, build(1, builderSample()[:2]))
	badCRC[len(badCRC)-1] ^= 0xff
	compressed := atOffset(6, mustBatch(t, recordtest.Codecs()[1], 2, recordtest.Records(builderSample()[:2]...)))
	data := slices.Concat(good, legacy, badCRC, compressed)

	want := []step{
		{0, 3, 2, len(good), false},
		{3, 4, 1, len(legacy), false},
		{4, 6, 2, len(badCRC), true},
		{6, 8, 2, len(compressed), false},
	}
	if got := walk(t, data); !slices.Equal(got, want) {
		t.Fatalf("yielded %+v\nwant    %+v", got, want)
	}
	// Each range starts over from the start of the data.
	if got := walk(t, data); !slices.Equal(got, want) {
		t.Fatalf("second walk yielded %+v", got)
	}
	// A reader may stop early.
	for b := range record.Batches(data) {
		if b.Header.BaseOffset != 0 {
			t.Fatal("the walk went on after break")
		}
		break
	}
}

func TestBatchesStopsWhereTheFramingBreaks(t *testing.T) {
	good := build(1, builderSample()[:1])
	truncatedHeader := build(1, builderSample()[:1])
	binary.BigEndian.PutUint32(truncatedHeader[8:], record.MinBatchLength-1)
	tooShort := slices.Concat(binary.BigEndian.AppendUint64(nil, 0), []byte{0, 0, 0, 4, 0, 0, 0, 1}) // length 4
	newerMagic := build(1, builderSample()[:1])
	newerMagic[16] = 3
	// Each case follows a good batch; where what is broken has a length of its own,
	// another good batch follows it, which the walk must not reach.
	cases := map[string][]byte{
		"trailing bytes":           good[:record.LogOverhead+4],
		"length past the end":      good[:len(good)-1],
		"length below a message":   slices.Concat(tooShort, good),
		"negative length":          slices.Concat(binary.BigEndian.AppendUint64(nil, 0), []byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 2}, good),
		"v2 shorter than a header": slices.Concat(truncatedHeader[:record.HeaderSize-1], good),
		"magic kzoo does not know": slices.Concat(newerMagic, good),
	}
	for name, bad := range cases {
		got := walk(t, slices.Concat(good, bad))
		want := []step{{0, 1, 2, len(good), false}, {0, 1, 0, 0, true}} // a zero Batch, with an error
		if !slices.Equal(got, want) {
			t.Errorf("%s: yielded %+v, want %+v", name, got, want)
		}
	}
	if got := walk(t, nil); len(got) != 0 {
		t.Fatalf("no data yielded %+v", got)
	}
}
