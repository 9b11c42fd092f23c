// Package record owns the record batch: it is the broker's one codec of magic-v2 batches,
// and knows nothing of partitions, logs or groups. It has the batch header ([Header],
// [ParseHeader]), its CRC-32C, the stamping of offsets and leader epochs, the splitting of
// a buffer into batches (strictly for an append, [Split]; forgivingly for a reader of a
// log, [Batches]), the streaming iteration of a batch's records through their
// decompression with bounded memory ([Reader], with the one size limit
// [DecompressedLimit]), and the [Builder] of the batches the broker writes itself.
//
// Its users: broker/storage validates appends and lets its cleaner rewrite batches with
// it; broker/group reads __consumer_offsets with it and builds its writes with it;
// the broker checks produce timestamps with it. So a batch is judged well formed, or not,
// by one set of rules wherever it comes from.
//
// Batches are kept as the producer sent them; nothing here re-encodes a batch except
// [Finish] and [StripCompression], which the cleaner uses on the copies it writes. Tests
// build batches of every shape, hostile ones included, with package recordtest.
package record

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Byte offsets of the fields of a magic-v2 record batch header.
const (
	baseOffsetField      = 0
	lengthField          = 8
	leaderEpochField     = 12
	magicField           = 16
	crcField             = 17
	attributesField      = 21
	lastOffsetDeltaField = 23
	baseTimestampField   = 27
	maxTimestampField    = 35
	producerIDField      = 43
	producerEpochField   = 51
	baseSequenceField    = 53
	recordCountField     = 57

	// HeaderSize is the size of the whole header; the records follow it.
	HeaderSize = 61
	// LogOverhead is the part of a batch up to and including its length field: the length
	// counts the bytes after it.
	LogOverhead = 12
	// MinBatchLength is the smallest length field a batch can have: a header with no records.
	MinBatchLength = HeaderSize - LogOverhead

	// CurrentMagic is the only batch format kzoo accepts from producers and writes.
	CurrentMagic = 2
)

// Bits of the batch attributes.
const (
	CodecMask        = 0x07
	LogAppendTimeBit = 0x08
	TransactionalBit = 0x10
	ControlBit       = 0x20
)

// Compression codecs, as numbered in the attributes.
const (
	CodecNone   = 0
	CodecGzip   = 1
	CodecSnappy = 2
	CodecLz4    = 3
	CodecZstd   = 4
)

// castagnoli is the CRC-32C table that v2 batch checksums use.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the decoded fixed-size header of a magic-v2 record batch.
type Header struct {
	BaseOffset      int64
	Length          int32
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	BaseTimestamp   int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	RecordCount     int32
}

// ParseHeader decodes the header at the start of b, which must hold at least
// HeaderSize bytes. It does not validate anything.
func ParseHeader(b []byte) Header {
	_ = b[HeaderSize-1]
	be := binary.BigEndian
	return Header{
		BaseOffset:      int64(be.Uint64(b[baseOffsetField:])),
		Length:          int32(be.Uint32(b[lengthField:])),
		LeaderEpoch:     int32(be.Uint32(b[leaderEpochField:])),
		Magic:           int8(b[magicField]),
		CRC:             be.Uint32(b[crcField:]),
		Attributes:      int16(be.Uint16(b[attributesField:])),
		LastOffsetDelta: int32(be.Uint32(b[lastOffsetDeltaField:])),
		BaseTimestamp:   int64(be.Uint64(b[baseTimestampField:])),
		MaxTimestamp:    int64(be.Uint64(b[maxTimestampField:])),
		ProducerID:      int64(be.Uint64(b[producerIDField:])),
		ProducerEpoch:   int16(be.Uint16(b[producerEpochField:])),
		BaseSequence:    int32(be.Uint32(b[baseSequenceField:])),
		RecordCount:     int32(be.Uint32(b[recordCountField:])),
	}
}

// Size is the number of bytes the whole batch occupies.
func (h Header) Size() int64 { return LogOverhead + int64(h.Length) }

// LastOffset is the offset of the batch's last record.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset that follows the batch.
func (h Header) NextOffset() int64 { return h.LastOffset() + 1 }

func (h Header) Codec() int              { return int(h.Attributes & CodecMask) }
func (h Header) UsesLogAppendTime() bool { return h.Attributes&LogAppendTimeBit != 0 }
func (h Header) IsTransactional() bool   { return h.Attributes&TransactionalBit != 0 }
func (h Header) IsControl() bool         { return h.Attributes&ControlBit != 0 }

// HasProducerID reports whether the batch comes from an idempotent or transactional producer.
func (h Header) HasProducerID() bool { return h.ProducerID >= 0 }

// LastSequence is the sequence number of the batch's last record. Sequences wrap from
// math.MaxInt32 to 0, as producers number them.
func (h Header) LastSequence() int32 {
	return IncrementSequence(h.BaseSequence, h.LastOffsetDelta)
}

// IncrementSequence adds n (>= 0) to a producer sequence number, wrapping past math.MaxInt32 to 0.
func IncrementSequence(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// CheckStructure validates what can be checked from the header alone, given how many bytes
// of the batch are available from its start.
func (h Header) CheckStructure(available int64) error {
	if h.Length < MinBatchLength {
		return fmt.Errorf("batch length %d is below the minimum %d: %w", h.Length, MinBatchLength, kerr.CorruptMessage)
	}
	if h.Size() > available {
		return fmt.Errorf("batch of %d bytes truncated to %d: %w", h.Size(), available, kerr.CorruptMessage)
	}
	if h.Magic != CurrentMagic {
		return fmt.Errorf("batch magic %d, only %d is supported: %w", h.Magic, CurrentMagic, kerr.CorruptMessage)
	}
	if h.LastOffsetDelta < 0 {
		return fmt.Errorf("batch last offset delta %d is negative: %w", h.LastOffsetDelta, kerr.CorruptMessage)
	}
	if h.RecordCount < 0 {
		return fmt.Errorf("batch record count %d is negative: %w", h.RecordCount, kerr.CorruptMessage)
	}
	return nil
}

// ComputeCRC computes the checksum of a whole batch: CRC-32C over everything from the attributes on.
func ComputeCRC(batch []byte) uint32 {
	return crc32.Checksum(batch[attributesField:], castagnoli)
}

// CheckCRC validates the checksum of a whole batch whose header is h.
func (h Header) CheckCRC(batch []byte) error {
	if got := ComputeCRC(batch); got != h.CRC {
		return fmt.Errorf("batch at offset %d: crc %#08x, header says %#08x: %w", h.BaseOffset, got, h.CRC, kerr.CorruptMessage)
	}
	return nil
}

// CheckFromClient applies the rules a batch sent by a producer must satisfy beyond being
// well formed: the broker assigns offsets from the record count, so the two must agree;
// only coordinators write control batches; an idempotent or transactional batch carries
// its producer's epoch and sequence. Whether a transactional batch fits the producer's
// transaction on the partition is the log's to judge.
func (h Header) CheckFromClient() error {
	if err := h.checkCountAndCodec(); err != nil {
		return err
	}
	switch {
	case h.IsControl():
		return fmt.Errorf("clients may not write control batches: %w", kerr.InvalidRecord)
	case h.IsTransactional() && !h.HasProducerID():
		return fmt.Errorf("transactional batch without a producer id: %w", kerr.InvalidRecord)
	case h.HasProducerID() && (h.ProducerEpoch < 0 || h.BaseSequence < 0):
		return fmt.Errorf("batch of producer %d has epoch %d and sequence %d: %w", h.ProducerID, h.ProducerEpoch, h.BaseSequence, kerr.InvalidRecord)
	}
	return nil
}

// CheckFromCoordinator applies the rules a batch written by one of the broker's
// coordinators must satisfy: those of CheckFromClient, except that a producer's batch
// needs no sequence (the coordinator's transactional offset commits and transaction
// markers have none) and control batches are allowed, if transactional; whether a
// control batch is a valid marker is [ParseMarker]'s to say.
func (h Header) CheckFromCoordinator() error {
	if err := h.checkCountAndCodec(); err != nil {
		return err
	}
	switch {
	case (h.IsTransactional() || h.IsControl()) && !h.HasProducerID():
		return fmt.Errorf("transactional or control batch without a producer id: %w", kerr.InvalidRecord)
	case h.IsControl() && !h.IsTransactional():
		return fmt.Errorf("control batch without the transactional bit: %w", kerr.InvalidRecord)
	case h.HasProducerID() && h.ProducerEpoch < 0:
		return fmt.Errorf("batch of producer %d has epoch %d: %w", h.ProducerID, h.ProducerEpoch, kerr.InvalidRecord)
	}
	return nil
}

func (h Header) checkCountAndCodec() error {
	switch {
	case h.RecordCount == 0:
		return fmt.Errorf("batch has no records: %w", kerr.CorruptMessage)
	case h.LastOffsetDelta != h.RecordCount-1:
		return fmt.Errorf("batch has %d records but last offset delta %d: %w", h.RecordCount, h.LastOffsetDelta, kerr.CorruptMessage)
	case h.Codec() > CodecZstd:
		return fmt.Errorf("batch uses unknown compression codec %d: %w", h.Codec(), kerr.CorruptMessage)
	}
	return nil
}

// Ref locates one batch inside a buffer of batches.
type Ref struct {
	Pos int // of the batch's first byte
	Hdr Header
}

func (r Ref) Bytes(buf []byte) []byte { return buf[r.Pos : int64(r.Pos)+r.Hdr.Size()] }

// Split validates the framing, magic and CRC of every batch in records and returns
// where each one is. Any problem is an error wrapping kerr.CorruptMessage.
func Split(records []byte) ([]Ref, error) {
	var refs []Ref
	for pos := 0; pos < len(records); {
		rest := records[pos:]
		if len(rest) < HeaderSize {
			return nil, fmt.Errorf("batch at byte %d: %d bytes left, a header needs %d: %w", pos, len(rest), HeaderSize, kerr.CorruptMessage)
		}
		hdr := ParseHeader(rest)
		if err := hdr.CheckStructure(int64(len(rest))); err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		ref := Ref{Pos: pos, Hdr: hdr}
		if err := hdr.CheckCRC(ref.Bytes(records)); err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		refs = append(refs, ref)
		pos += int(hdr.Size())
	}
	return refs, nil
}

// The stamp functions rewrite header fields of a whole batch in place.

func StampBaseOffset(batch []byte, offset int64) {
	binary.BigEndian.PutUint64(batch[baseOffsetField:], uint64(offset))
}

func StampLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[leaderEpochField:], uint32(epoch))
}

// StampLogAppendTime marks the batch's timestamps as set by the broker. Unlike the base
// offset and leader epoch these fields are covered by the CRC, which is recomputed.
func StampLogAppendTime(batch []byte, now int64) {
	attrs := binary.BigEndian.Uint16(batch[attributesField:])
	binary.BigEndian.PutUint16(batch[attributesField:], attrs|LogAppendTimeBit)
	binary.BigEndian.PutUint64(batch[maxTimestampField:], uint64(now))
	binary.BigEndian.PutUint32(batch[crcField:], ComputeCRC(batch))
}

// Finish sets the length, record count and max timestamp of a batch whose header and
// records are in place, and its CRC.
func Finish(batch []byte, count int32, maxTimestamp int64) {
	be := binary.BigEndian
	be.PutUint32(batch[lengthField:], uint32(len(batch)-LogOverhead))
	be.PutUint32(batch[recordCountField:], uint32(count))
	be.PutUint64(batch[maxTimestampField:], uint64(maxTimestamp))
	be.PutUint32(batch[crcField:], ComputeCRC(batch))
}

// StripCompression clears the codec bits of a batch's attributes, for a batch left with
// no records; [Finish] must follow to fix the CRC.
func StripCompression(batch []byte) {
	attrs := binary.BigEndian.Uint16(batch[attributesField:]) &^ CodecMask
	binary.BigEndian.PutUint16(batch[attributesField:], attrs)
}
