package record

import (
	"encoding/binary"
	"math/bits"
)

// Builder builds one uncompressed magic-v2 batch from keys and values: how the broker
// writes records of its own, such as the group coordinator's commits to
// __consumer_offsets. The batch has base offset 0 and no partition leader epoch, which the
// log stamps as it appends it, no producer, and one create time for all its records.
//
// A Builder builds one batch: start each with [NewBuilder], [Builder.Append] its
// records, and take it with [Builder.Build].
type Builder struct {
	// batch is room for the header, filled in by Build, and the records appended so far.
	batch     []byte
	count     int32
	timestamp int64
}

// NewBuilder starts a batch whose records are all stamped timestamp (Unix milliseconds).
func NewBuilder(timestamp int64) *Builder {
	return &Builder{batch: make([]byte, HeaderSize, 256), timestamp: timestamp}
}

// Append adds a record of key and value, either of them nil for null; a record with a
// null value is a tombstone.
func (b *Builder) Append(key, value []byte) {
	offsetDelta := int64(b.count)
	// Attributes, a zero timestamp delta and a zero header count take a byte each.
	length := 3 + varintSize(offsetDelta) + nullableSize(key) + nullableSize(value)
	b.batch = binary.AppendVarint(b.batch, int64(length))
	b.batch = append(b.batch, 0)              // attributes: none are defined for a record
	b.batch = binary.AppendVarint(b.batch, 0) // timestamp delta: every record has the batch's
	b.batch = binary.AppendVarint(b.batch, offsetDelta)
	b.batch = appendNullable(b.batch, key)
	b.batch = appendNullable(b.batch, value)
	b.batch = binary.AppendVarint(b.batch, 0) // header count
	b.count++
}

// Build completes the header of the batch and returns the batch. The log refuses a batch
// without records, so at least one must have been appended. The Builder is done with
// afterwards.
func (b *Builder) Build() []byte {
	return b.build(0, -1, -1)
}

// BuildTransactional is Build for a batch that belongs to a transaction of the
// producer producerID at producerEpoch: the group coordinator's transactional offset
// commits. The batch carries the producer and the transactional bit, so that the log
// counts it in the producer's open transaction and a marker later commits or aborts it;
// its base sequence is -1 because the broker's own writes are not deduplicated by
// sequence (the log checks only the epoch of a coordinator's write).
func (b *Builder) BuildTransactional(producerID int64, producerEpoch int16) []byte {
	return b.build(TransactionalBit, producerID, producerEpoch)
}

func (b *Builder) build(attributes int16, producerID int64, producerEpoch int16) []byte {
	putHeader(b.batch, Header{
		LeaderEpoch:     -1,
		Magic:           CurrentMagic,
		Attributes:      attributes,
		LastOffsetDelta: b.count - 1,
		BaseTimestamp:   b.timestamp,
		ProducerID:      producerID,
		ProducerEpoch:   producerEpoch,
		BaseSequence:    -1,
	})
	Finish(b.batch, b.count, b.timestamp)
	return b.batch
}

// putHeader writes h over the header at the start of b, the inverse of [ParseHeader]. It
// writes the fields as they are: the CRC is h's, not one computed.
func putHeader(b []byte, h Header) {
	_ = b[HeaderSize-1]
	be := binary.BigEndian
	be.PutUint64(b[baseOffsetField:], uint64(h.BaseOffset))
	be.PutUint32(b[lengthField:], uint32(h.Length))
	be.PutUint32(b[leaderEpochField:], uint32(h.LeaderEpoch))
	b[magicField] = byte(h.Magic)
	be.PutUint32(b[crcField:], h.CRC)
	be.PutUint16(b[attributesField:], uint16(h.Attributes))
	be.PutUint32(b[lastOffsetDeltaField:], uint32(h.LastOffsetDelta))
	be.PutUint64(b[baseTimestampField:], uint64(h.BaseTimestamp))
	be.PutUint64(b[maxTimestampField:], uint64(h.MaxTimestamp))
	be.PutUint64(b[producerIDField:], uint64(h.ProducerID))
	be.PutUint16(b[producerEpochField:], uint16(h.ProducerEpoch))
	be.PutUint32(b[baseSequenceField:], uint32(h.BaseSequence))
	be.PutUint32(b[recordCountField:], uint32(h.RecordCount))
}

// appendNullable appends b as a record field: its length as a varint (-1 for null), then
// its bytes.
func appendNullable(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// nullableSize is how many bytes appendNullable appends for b.
func nullableSize(b []byte) int {
	if b == nil {
		return varintSize(-1)
	}
	return varintSize(int64(len(b))) + len(b)
}

// varintSize is how many bytes v takes as a zigzag varint: seven bits a byte.
func varintSize(v int64) int {
	zigzag := uint64(v)<<1 ^ uint64(v>>63)
	return (bits.Len64(zigzag|1) + 6) / 7
}
