package record_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/kzoo/kzoo/broker/record"
	"github.com/kzoo/kzoo/broker/record/recordtest"
)

func TestMarkerRoundTrip(t *testing.T) {
	for _, m := range []record.Marker{
		{ProducerID: 7, ProducerEpoch: 3, CoordinatorEpoch: 12, Commit: true},
		{ProducerID: 1 << 40, ProducerEpoch: 0, CoordinatorEpoch: 0, Commit: false},
	} {
		batch := record.BuildMarker(m, 1234)
		h := record.ParseHeader(batch)
		if err := h.CheckStructure(int64(len(batch))); err != nil {
			t.Fatal(err)
		}
		if err := h.CheckCRC(batch); err != nil {
			t.Fatal(err)
		}
		if !h.IsControl() || !h.IsTransactional() || h.BaseSequence != -1 || h.LeaderEpoch != -1 ||
			h.RecordCount != 1 || h.MaxTimestamp != 1234 || h.ProducerID != m.ProducerID || h.ProducerEpoch != m.ProducerEpoch {
			t.Fatalf("header %+v", h)
		}
		if err := h.CheckFromCoordinator(); err != nil {
			t.Fatalf("coordinator check: %v", err)
		}
		if err := h.CheckFromClient(); !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("client check: %v, want INVALID_RECORD", err)
		}
		got, err := record.ParseMarker(h, batch)
		if err != nil {
			t.Fatal(err)
		}
		if got != m {
			t.Fatalf("parsed %+v, built %+v", got, m)
		}
	}
}

// controlBatch frames one control record of key and value under the given attributes.
func controlBatch(attrs int16, key, value []byte) []byte {
	b := recordtest.FrameAttributes(attrs, 1, recordtest.Records(recordtest.Record{Key: key, Value: value}))
	binary.BigEndian.PutUint64(b[43:], 5) // producer id
	binary.BigEndian.PutUint16(b[51:], 1) // epoch
	binary.BigEndian.PutUint32(b[53:], 0xffffffff)
	binary.BigEndian.PutUint32(b[17:], record.ComputeCRC(b))
	return b
}

func TestParseMarkerRefusesMalformed(t *testing.T) {
	ctl := int16(record.ControlBit | record.TransactionalBit)
	key := func(typ uint16) []byte { return binary.BigEndian.AppendUint16([]byte{0, 0}, typ) }
	value := []byte{0, 0, 0, 0, 0, 9}
	tests := map[string][]byte{
		"not control":       controlBatch(record.TransactionalBit, key(1), value),
		"not transactional": controlBatch(record.ControlBit, key(1), value),
		"short key":         controlBatch(ctl, []byte{0, 0}, value),
		"short value":       controlBatch(ctl, key(1), []byte{0, 0, 0}),
		"unknown type":      controlBatch(ctl, key(3), value),
		"negative version":  controlBatch(ctl, []byte{0xff, 0xff, 0, 1}, value),
	}
	for name, b := range tests {
		if _, err := record.ParseMarker(record.ParseHeader(b), b); !errors.Is(err, kerr.CorruptMessage) {
			t.Errorf("%s: %v, want CORRUPT_MESSAGE", name, err)
		}
	}
	// The same framing with a good key and value parses: the cases above fail for their reason.
	good := controlBatch(ctl, key(0), value)
	m, err := record.ParseMarker(record.ParseHeader(good), good)
	if err != nil || m.Commit || m.CoordinatorEpoch != 9 || m.ProducerID != 5 || m.ProducerEpoch != 1 {
		t.Fatalf("good marker: %+v, %v", m, err)
	}
}

func TestCheckFromCoordinator(t *testing.T) {
	batch := recordtest.Frame(record.CodecNone, 1, recordtest.Records(recordtest.Record{Key: []byte("k")}))
	tests := []struct {
		name string
		edit func(*record.Header)
		want error
	}{
		{"plain", func(*record.Header) {}, nil},
		{"transactional without sequence", func(h *record.Header) {
			h.Attributes |= record.TransactionalBit
			h.ProducerID, h.ProducerEpoch, h.BaseSequence = 7, 0, -1
		}, nil},
		{"control without producer", func(h *record.Header) { h.Attributes |= record.ControlBit | record.TransactionalBit }, kerr.InvalidRecord},
		{"control not transactional", func(h *record.Header) {
			h.Attributes |= record.ControlBit
			h.ProducerID, h.ProducerEpoch = 7, 0
		}, kerr.InvalidRecord},
		{"negative epoch", func(h *record.Header) { h.ProducerID, h.ProducerEpoch = 7, -1 }, kerr.InvalidRecord},
		{"no records", func(h *record.Header) { h.RecordCount, h.LastOffsetDelta = 0, -1 }, kerr.CorruptMessage},
	}
	for _, tt := range tests {
		h := record.ParseHeader(batch)
		tt.edit(&h)
		if err := h.CheckFromCoordinator(); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}
