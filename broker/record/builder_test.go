package record_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/record/recordtest"
)

// builderSample holds records of every shape a Builder writes: null keys and values, and
// lengths whose varints take one, two and three bytes. Its 200 records make offset deltas
// of two bytes too.
func builderSample() []recordtest.Record {
	recs := []recordtest.Record{
		{Key: []byte("k"), Value: []byte("v")},
		{Value: []byte("keyless")},
		{Key: []byte("tombstone")},
		{},
		{Key: []byte{}, Value: []byte{}},
		{Key: bytes.Repeat([]byte("K"), 100), Value: bytes.Repeat([]byte("V"), 10_000)},
	}
	for i := len(recs); i < 200; i++ {
		recs = append(recs, recordtest.Record{Key: []byte{byte(i)}, Value: bytes.Repeat([]byte{'x'}, i)})
	}
	return recs
}

func build(timestamp int64, recs []recordtest.Record) []byte {
	b := record.NewBuilder(timestamp)
	for _, r := range recs {
		b.Append(r.Key, r.Value)
	}
	return b.Build()
}

// TestBuilderWritesWhatKafkaReads checks a built batch with kmsg's decoder: the header a
// broker-written batch has, and the records as recordtest encodes them.
func TestBuilderWritesWhatKafkaReads(t *testing.T) {
	const timestamp = 1_700_000_000_123
	recs := builderSample()
	batch := build(timestamp, recs)

	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		t.Fatal(err)
	}
	n := int32(len(recs))
	want := kmsg.RecordBatch{
		FirstOffset:          0,
		Length:               int32(len(batch) - record.LogOverhead),
		PartitionLeaderEpoch: -1,
		Magic:                2,
		CRC:                  rb.CRC, // checked below
		Attributes:           0,
		LastOffsetDelta:      n - 1,
		FirstTimestamp:       timestamp,
		MaxTimestamp:         timestamp,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           n,
		Records:              recordtest.Records(recs...),
	}
	if !bytes.Equal(rb.Records, want.Records) {
		t.Fatal("records differ from recordtest's encoding")
	}
	rb.Records, want.Records = nil, nil
	if !reflect.DeepEqual(rb, want) {
		t.Fatalf("header %+v\nwant   %+v", rb, want)
	}
	if _, err := record.Split(batch); err != nil {
		t.Fatalf("a built batch fails its CRC or framing: %v", err)
	}
	if err := record.ParseHeader(batch).CheckFromClient(); err != nil {
		t.Fatalf("a built batch breaks a producer's rules: %v", err)
	}
}

// TestBuilderRoundTrip reads a built batch back with the Reader.
func TestBuilderRoundTrip(t *testing.T) {
	recs := builderSample()
	batch := build(42, recs)
	var r record.Reader
	defer r.Close()
	r.Reset(record.ParseHeader(batch), batch, record.Whole, testLimit)
	i := 0
	for ; r.Next(); i++ {
		got, want := r.Record(), recs[i]
		if got.OffsetDelta != int32(i) || got.TimestampDelta != 0 {
			t.Fatalf("record %d: offset delta %d, timestamp delta %d", i, got.OffsetDelta, got.TimestampDelta)
		}
		if !sameNullable(got.Key, want.Key) || !sameNullable(got.Value, want.Value) {
			t.Fatalf("record %d: key %q value of %d bytes, want %q and %d", i, got.Key, len(got.Value), want.Key, len(want.Value))
		}
	}
	if err := r.Err(); err != nil || i != len(recs) {
		t.Fatalf("read %d of %d records: %v", i, len(recs), err)
	}
}

// sameNullable tells whether a and b are equal and both null or both not.
func sameNullable(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// TestBuildTransactional checks the header of a transactional batch with kmsg's decoder:
// the producer's id and epoch, no sequence, the transactional bit and nothing else; the
// records are those Build would write.
func TestBuildTransactional(t *testing.T) {
	const (
		timestamp = 1_700_000_000_456
		producer  = int64(1) << 40
		epoch     = int16(7)
	)
	recs := builderSample()[:10]
	b := record.NewBuilder(timestamp)
	for _, r := range recs {
		b.Append(r.Key, r.Value)
	}
	batch := b.BuildTransactional(producer, epoch)

	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		t.Fatal(err)
	}
	if rb.ProducerID != producer || rb.ProducerEpoch != epoch || rb.FirstSequence != -1 ||
		rb.Attributes != record.TransactionalBit || rb.FirstOffset != 0 || rb.PartitionLeaderEpoch != -1 ||
		rb.NumRecords != int32(len(recs)) || rb.LastOffsetDelta != int32(len(recs)-1) {
		t.Fatalf("header %+v", rb)
	}
	if !bytes.Equal(rb.Records, recordtest.Records(recs...)) {
		t.Fatal("records differ from recordtest's encoding")
	}
	if _, err := record.Split(batch); err != nil {
		t.Fatalf("a transactional batch fails its CRC or framing: %v", err)
	}
	h := record.ParseHeader(batch)
	if !h.IsTransactional() || h.IsControl() || h.ProducerID != producer || h.ProducerEpoch != epoch {
		t.Fatalf("parsed header %+v", h)
	}
	// The same records built plainly differ only in the header's producer fields,
	// attributes and CRC.
	plain := build(timestamp, recs)
	if !bytes.Equal(plain[record.HeaderSize:], batch[record.HeaderSize:]) {
		t.Fatal("the records of a transactional batch differ from a plain one's")
	}
}
