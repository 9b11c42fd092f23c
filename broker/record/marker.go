package record

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Marker is a transaction marker: the control record a transaction coordinator has
// written to each partition of a transaction to end it there, as Kafka's
// EndTransactionMarker. It closes the producer's open transaction on the partition.
type Marker struct {
	ProducerID    int64
	ProducerEpoch int16
	// CoordinatorEpoch is the leader epoch of the __transaction_state partition whose
	// coordinator wrote the marker: a partition refuses markers of an older coordinator.
	CoordinatorEpoch int32
	// Commit is true for a commit marker, false for an abort marker.
	Commit bool
}

// Control record types, the second field of a control record's key.
const (
	controlTypeAbort  = 0
	controlTypeCommit = 1
)

// A marker record's key is version int16 and type int16; its value version int16 and
// coordinator epoch int32. Versions above 0 may add fields after these, as Kafka allows.
const (
	markerKeySize   = 4
	markerValueSize = 6
)

// BuildMarker returns one control batch holding m's marker record, stamped timestamp: base
// offset 0 and no leader epoch (the log stamps both), the control and transactional bits,
// m's producer id and epoch, and no sequence (markers have none).
func BuildMarker(m Marker, timestamp int64) []byte {
	typ := int16(controlTypeAbort)
	if m.Commit {
		typ = controlTypeCommit
	}
	key := binary.BigEndian.AppendUint16(make([]byte, 2, markerKeySize), uint16(typ))
	value := binary.BigEndian.AppendUint32(make([]byte, 2, markerValueSize), uint32(m.CoordinatorEpoch))

	// One record: attributes, timestamp delta and offset delta of a byte each, the key and
	// the value, and no headers.
	body := 3 + nullableSize(key) + nullableSize(value) + 1
	batch := make([]byte, HeaderSize, HeaderSize+varintSize(int64(body))+body)
	batch = binary.AppendVarint(batch, int64(body))
	batch = append(batch, 0)
	batch = binary.AppendVarint(batch, 0)
	batch = binary.AppendVarint(batch, 0)
	batch = appendNullable(batch, key)
	batch = appendNullable(batch, value)
	batch = binary.AppendVarint(batch, 0)
	putHeader(batch, Header{
		LeaderEpoch:   -1,
		Magic:         CurrentMagic,
		Attributes:    ControlBit | TransactionalBit,
		BaseTimestamp: timestamp,
		ProducerID:    m.ProducerID,
		ProducerEpoch: m.ProducerEpoch,
		BaseSequence:  -1,
	})
	Finish(batch, 1, timestamp)
	return batch
}

// ParseMarker decodes the transaction marker of batch, a whole batch whose header is h. A
// batch that is not a well formed marker (not a transactional control batch of one
// record, a control type other than commit or abort, a short key or value) is an error
// wrapping kerr.CorruptMessage; so is one of a negative producer id or epoch.
func ParseMarker(h Header, batch []byte) (Marker, error) {
	bad := func(format string, args ...any) (Marker, error) {
		return Marker{}, fmt.Errorf("transaction marker at offset %d: %s: %w", h.BaseOffset, fmt.Sprintf(format, args...), kerr.CorruptMessage)
	}
	switch {
	case !h.IsControl() || !h.IsTransactional():
		return bad("attributes %#x lack the control or transactional bit", h.Attributes)
	case h.ProducerID < 0 || h.ProducerEpoch < 0:
		return bad("producer %d epoch %d", h.ProducerID, h.ProducerEpoch)
	case h.RecordCount != 1 || h.LastOffsetDelta != 0:
		return bad("%d records, last offset delta %d: a marker is one record", h.RecordCount, h.LastOffsetDelta)
	}
	var r Reader
	defer r.Close()
	r.Reset(h, batch, Whole, minDecompressedLimit)
	if !r.Next() {
		if err := r.Err(); err != nil {
			return Marker{}, fmt.Errorf("transaction marker at offset %d: %w", h.BaseOffset, err)
		}
		return bad("no record")
	}
	rec := r.Record()
	be := binary.BigEndian
	switch {
	case len(rec.Key) < markerKeySize:
		return bad("key of %d bytes", len(rec.Key))
	case int16(be.Uint16(rec.Key)) < 0:
		return bad("key version %d", int16(be.Uint16(rec.Key)))
	case len(rec.Value) < markerValueSize:
		return bad("value of %d bytes", len(rec.Value))
	case int16(be.Uint16(rec.Value)) < 0:
		return bad("value version %d", int16(be.Uint16(rec.Value)))
	}
	m := Marker{
		ProducerID:       h.ProducerID,
		ProducerEpoch:    h.ProducerEpoch,
		CoordinatorEpoch: int32(be.Uint32(rec.Value[2:])),
	}
	switch typ := int16(be.Uint16(rec.Key[2:])); typ {
	case controlTypeAbort:
	case controlTypeCommit:
		m.Commit = true
	default:
		return bad("control type %d is neither commit nor abort", typ)
	}
	for r.Next() {
	}
	if err := r.Err(); err != nil {
		return Marker{}, fmt.Errorf("transaction marker at offset %d: %w", h.BaseOffset, err)
	}
	return m, nil
}
