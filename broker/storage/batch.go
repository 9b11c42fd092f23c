package storage

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

	// batchHeaderSize is the size of the whole header; the records follow it.
	batchHeaderSize = 61
	// logOverhead is the part of a batch up to and including its length field: the length
	// counts the bytes after it.
	logOverhead = 12
	// minBatchLength is the smallest length field a batch can have: a header with no records.
	minBatchLength = batchHeaderSize - logOverhead

	currentMagic = 2
)

// Bits of the batch attributes.
const (
	compressionCodecMask = 0x07
	logAppendTimeBit     = 0x08
	transactionalBit     = 0x10
	controlBit           = 0x20
)

// Compression codecs, as numbered in the attributes.
const (
	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLz4    = 3
	codecZstd   = 4
)

// castagnoli is the CRC-32C table that v2 batch checksums use.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchHeader is the decoded fixed-size header of a magic-v2 record batch.
type batchHeader struct {
	baseOffset      int64
	length          int32
	leaderEpoch     int32
	magic           int8
	crc             uint32
	attributes      int16
	lastOffsetDelta int32
	baseTimestamp   int64
	maxTimestamp    int64
	producerID      int64
	producerEpoch   int16
	baseSequence    int32
	recordCount     int32
}

// parseBatchHeader decodes the header at the start of b, which must hold at least
// batchHeaderSize bytes. It does not validate anything.
func parseBatchHeader(b []byte) batchHeader {
	_ = b[batchHeaderSize-1]
	be := binary.BigEndian
	return batchHeader{
		baseOffset:      int64(be.Uint64(b[baseOffsetField:])),
		length:          int32(be.Uint32(b[lengthField:])),
		leaderEpoch:     int32(be.Uint32(b[leaderEpochField:])),
		magic:           int8(b[magicField]),
		crc:             be.Uint32(b[crcField:]),
		attributes:      int16(be.Uint16(b[attributesField:])),
		lastOffsetDelta: int32(be.Uint32(b[lastOffsetDeltaField:])),
		baseTimestamp:   int64(be.Uint64(b[baseTimestampField:])),
		maxTimestamp:    int64(be.Uint64(b[maxTimestampField:])),
		producerID:      int64(be.Uint64(b[producerIDField:])),
		producerEpoch:   int16(be.Uint16(b[producerEpochField:])),
		baseSequence:    int32(be.Uint32(b[baseSequenceField:])),
		recordCount:     int32(be.Uint32(b[recordCountField:])),
	}
}

// size is the number of bytes the whole batch occupies.
func (h batchHeader) size() int64 { return logOverhead + int64(h.length) }

// lastOffset is the offset of the batch's last record.
func (h batchHeader) lastOffset() int64 { return h.baseOffset + int64(h.lastOffsetDelta) }

// nextOffset is the offset that follows the batch.
func (h batchHeader) nextOffset() int64 { return h.lastOffset() + 1 }

func (h batchHeader) codec() int              { return int(h.attributes & compressionCodecMask) }
func (h batchHeader) usesLogAppendTime() bool { return h.attributes&logAppendTimeBit != 0 }
func (h batchHeader) isTransactional() bool   { return h.attributes&transactionalBit != 0 }
func (h batchHeader) isControl() bool         { return h.attributes&controlBit != 0 }

// hasProducerID reports whether the batch comes from an idempotent or transactional producer.
func (h batchHeader) hasProducerID() bool { return h.producerID >= 0 }

// lastSequence is the sequence number of the batch's last record. Sequences wrap from
// math.MaxInt32 to 0, as producers number them.
func (h batchHeader) lastSequence() int32 {
	return incrementSequence(h.baseSequence, h.lastOffsetDelta)
}

// incrementSequence adds n (>= 0) to a producer sequence number, wrapping past math.MaxInt32 to 0.
func incrementSequence(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

// checkStructure validates what can be checked from the header alone, given how many bytes
// of the batch are available from its start.
func (h batchHeader) checkStructure(available int64) error {
	if h.length < minBatchLength {
		return fmt.Errorf("batch length %d is below the minimum %d: %w", h.length, minBatchLength, kerr.CorruptMessage)
	}
	if h.size() > available {
		return fmt.Errorf("batch of %d bytes truncated to %d: %w", h.size(), available, kerr.CorruptMessage)
	}
	if h.magic != currentMagic {
		return fmt.Errorf("batch magic %d, only %d is supported: %w", h.magic, currentMagic, kerr.CorruptMessage)
	}
	if h.lastOffsetDelta < 0 {
		return fmt.Errorf("batch last offset delta %d is negative: %w", h.lastOffsetDelta, kerr.CorruptMessage)
	}
	if h.recordCount < 0 {
		return fmt.Errorf("batch record count %d is negative: %w", h.recordCount, kerr.CorruptMessage)
	}
	return nil
}

// batchCRC computes the checksum of a whole batch: CRC-32C over everything from the attributes on.
func batchCRC(batch []byte) uint32 {
	return crc32.Checksum(batch[attributesField:], castagnoli)
}

// checkCRC validates the checksum of a whole batch whose header is h.
func (h batchHeader) checkCRC(batch []byte) error {
	if got := batchCRC(batch); got != h.crc {
		return fmt.Errorf("batch at offset %d: crc %#08x, header says %#08x: %w", h.baseOffset, got, h.crc, kerr.CorruptMessage)
	}
	return nil
}

// checkFromClient applies the rules a batch sent by a producer must satisfy beyond being
// well formed: the broker assigns offsets from the record count, so the two must agree.
func (h batchHeader) checkFromClient() error {
	switch {
	case h.recordCount == 0:
		return fmt.Errorf("batch has no records: %w", kerr.CorruptMessage)
	case h.lastOffsetDelta != h.recordCount-1:
		return fmt.Errorf("batch has %d records but last offset delta %d: %w", h.recordCount, h.lastOffsetDelta, kerr.CorruptMessage)
	case h.codec() > codecZstd:
		return fmt.Errorf("batch uses unknown compression codec %d: %w", h.codec(), kerr.CorruptMessage)
	case h.isControl():
		return fmt.Errorf("clients may not write control batches: %w", kerr.InvalidRecord)
	case h.isTransactional() && !h.hasProducerID():
		return fmt.Errorf("transactional batch without a producer id: %w", kerr.InvalidRecord)
	case h.hasProducerID() && (h.producerEpoch < 0 || h.baseSequence < 0):
		return fmt.Errorf("batch of producer %d has epoch %d and sequence %d: %w", h.producerID, h.producerEpoch, h.baseSequence, kerr.InvalidRecord)
	}
	return nil
}

// batchRef locates one batch inside a buffer of batches.
type batchRef struct {
	pos int // of the batch's first byte
	hdr batchHeader
}

func (r batchRef) bytes(buf []byte) []byte { return buf[r.pos : int64(r.pos)+r.hdr.size()] }

// splitBatches validates the framing, magic and CRC of every batch in records and returns
// where each one is. Any problem is an error wrapping kerr.CorruptMessage.
func splitBatches(records []byte) ([]batchRef, error) {
	var refs []batchRef
	for pos := 0; pos < len(records); {
		rest := records[pos:]
		if len(rest) < batchHeaderSize {
			return nil, fmt.Errorf("batch at byte %d: %d bytes left, a header needs %d: %w", pos, len(rest), batchHeaderSize, kerr.CorruptMessage)
		}
		hdr := parseBatchHeader(rest)
		if err := hdr.checkStructure(int64(len(rest))); err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		ref := batchRef{pos: pos, hdr: hdr}
		if err := hdr.checkCRC(ref.bytes(records)); err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		refs = append(refs, ref)
		pos += int(hdr.size())
	}
	return refs, nil
}

// The stamp functions rewrite header fields of a whole batch in place.

func stampBaseOffset(batch []byte, offset int64) {
	binary.BigEndian.PutUint64(batch[baseOffsetField:], uint64(offset))
}

func stampLeaderEpoch(batch []byte, epoch int32) {
	binary.BigEndian.PutUint32(batch[leaderEpochField:], uint32(epoch))
}

// stampLogAppendTime marks the batch's timestamps as set by the broker. Unlike the base
// offset and leader epoch these fields are covered by the CRC, which is recomputed.
func stampLogAppendTime(batch []byte, now int64) {
	attrs := binary.BigEndian.Uint16(batch[attributesField:])
	binary.BigEndian.PutUint16(batch[attributesField:], attrs|logAppendTimeBit)
	binary.BigEndian.PutUint64(batch[maxTimestampField:], uint64(now))
	binary.BigEndian.PutUint32(batch[crcField:], batchCRC(batch))
}
